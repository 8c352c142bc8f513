//! Where an export's row groups go: encoded by a [`GroupEncoder`] on the
//! thread that made them, appended by the one [`FocusWriter`] to their
//! billing period's staged file, and published whole.
//!
//! Encoding is a large part of an export's time (~80 M rows × 72 columns),
//! so it is not done where the files are written: each exporting thread
//! encodes its own batches into column chunks (`store::encode`: the shared
//! text from its dictionary keys, the rest with arrow-rs's column writer),
//! and the writer only splices finished chunks into the file, in the order
//! it is handed them.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use parquet::arrow::add_encoded_arrow_schema_to_metadata;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

use super::batch::{self, FocusBatch};
use super::{
    COLUMNS, FocusFileError, Format, PARTITION, STATISTICS_COLUMNS, Source, UNIQUE_COLUMNS, io,
    memory_schema, schema,
};
use crate::store::encode::{EncodedRowGroup, RowGroupEncoder};
use crate::store::object::ObjectTarget;
use crate::store::target::Target;

fn encode_error(error: impl std::fmt::Display) -> FocusFileError {
    FocusFileError::Encode(error.to_string())
}

/// Where an export goes: one file, or a folder (prefix) of
/// `billing_period=YYYY-MM/part-0000.<ext>` files.
#[derive(Debug, Clone)]
pub struct Destination {
    target: Target,
    single_file: bool,
    format: Format,
}

impl Destination {
    /// `-o`'s target: a single file when its name ends with `.parquet` or
    /// `.csv`, else a directory (object store prefix) partitioned by billing
    /// period.
    pub fn new(target: Target, format: Format) -> Destination {
        let name = match &target {
            Target::Local(path) => path.display().to_string(),
            Target::Object(object) => object.prefix().to_string(),
        };
        let single_file = name.ends_with(".parquet") || name.ends_with(".csv");
        Destination {
            target,
            single_file,
            format,
        }
    }

    pub fn is_single_file(&self) -> bool {
        self.single_file
    }

    /// Opens a writer, creating the staging place first, so an unwritable
    /// output fails before any data is read.
    ///
    /// # Errors
    ///
    /// [`FocusFileError::Io`] naming the folder that cannot be created or
    /// written.
    pub fn writer(&self) -> Result<FocusWriter, FocusFileError> {
        // Beside the output (same file system, so publishing is a rename),
        // not in it: the output appears only when published.
        let staging = match &self.target {
            Target::Local(path) => path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .join(format!(".kubetally-export-{}", std::process::id())),
            Target::Object(_) => {
                std::env::temp_dir().join(format!("kubetally-export-{}", std::process::id()))
            }
        };
        let encoder = GroupEncoder::new(self.format)?;
        fs::create_dir_all(&staging).map_err(io(&staging))?;
        Ok(FocusWriter {
            destination: self.clone(),
            staging,
            files: BTreeMap::new(),
            encoder,
            published: false,
        })
    }
}

/// The Parquet settings of every file of an export, with the file's Arrow
/// schema (plain text) stored for readers that look for it.
fn properties() -> Result<WriterProperties, FocusFileError> {
    // zstd level 1: the costs, quantities and details of ~80 M rows are
    // most of an export's bytes and a tenth of its time at level 3.
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).map_err(encode_error)?,
        ))
        .set_dictionary_enabled(true);
    // Near-unique per row: a dictionary would only be tried and abandoned,
    // in every row group.
    let properties = UNIQUE_COLUMNS.iter().fold(properties, |properties, name| {
        properties.set_column_dictionary_enabled(ColumnPath::from(*name), false)
    });
    // A column kubetally never fills is a few bytes of levels a row group,
    // and arrow-rs makes a zstd compression and decompression context for
    // each column chunk it compresses, allocated and freed per row group
    // (a third of an export's page faults in a profile). Such columns are
    // left uncompressed.
    let properties = COLUMNS
        .iter()
        .filter(|column| matches!(column.source, Source::Null))
        .fold(properties, |properties, column| {
            properties
                .set_column_compression(ColumnPath::from(column.name), Compression::UNCOMPRESSED)
        });
    // Statistics only where a query prunes (`STATISTICS_COLUMNS`). Never on
    // decimals: arrow-rs (60) encodes a decimal column chunk into one
    // buffer and its min/max are slices of it, so statistics kept in the
    // file's metadata until the footer held every decimal chunk of the
    // export in memory (~6.5 GB of a 150,000-pod week; found with heaptrack).
    let properties = properties.set_statistics_enabled(EnabledStatistics::None);
    let mut properties = STATISTICS_COLUMNS
        .iter()
        .fold(properties, |properties, name| {
            properties
                .set_column_statistics_enabled(ColumnPath::from(*name), EnabledStatistics::Page)
        })
        .build();
    add_encoded_arrow_schema_to_metadata(&schema(), &mut properties);
    Ok(properties)
}

/// Turns a finished [`FocusBatch`] into a row group ready to append: a
/// clone for each thread that makes batches.
#[derive(Clone)]
pub struct GroupEncoder {
    format: Format,
    parquet: Option<RowGroupEncoder>,
}

impl GroupEncoder {
    fn new(format: Format) -> Result<GroupEncoder, FocusFileError> {
        let parquet = match format {
            Format::Csv => None,
            Format::Parquet => {
                Some(RowGroupEncoder::new(memory_schema(), properties()?).map_err(encode_error)?)
            }
        };
        Ok(GroupEncoder { format, parquet })
    }

    /// Encodes `batch` as one row group (Parquet column chunks, or CSV lines).
    ///
    /// # Errors
    ///
    /// [`FocusFileError::Encode`] if arrow or parquet refuses it (a defect).
    pub fn encode(&self, batch: FocusBatch) -> Result<EncodedGroup, FocusFileError> {
        let period = batch.period().flatten();
        let rows = batch.len();
        let record = batch.finish()?;
        let body = match (&self.parquet, self.format) {
            (Some(parquet), _) => Body::Parquet(parquet.encode(&record).map_err(encode_error)?),
            (None, _) => {
                let mut out = Vec::new();
                batch::csv(&record, &mut out);
                Body::Csv(out)
            }
        };
        Ok(EncodedGroup { period, rows, body })
    }
}

/// An encoded row group and the billing period it belongs to.
pub struct EncodedGroup {
    period: Option<DateTime<Utc>>,
    rows: usize,
    body: Body,
}

enum Body {
    Parquet(EncodedRowGroup),
    Csv(Vec<u8>),
}

/// One file being written under the staging folder.
struct Staged {
    path: PathBuf,
    file: File,
}

enum File {
    Parquet(Box<SerializedFileWriter<BufWriter<fs::File>>>),
    Csv(BufWriter<fs::File>),
}

/// Writes an export's row groups; nothing is visible at the destination
/// until [`FocusWriter::publish`]. Dropped unpublished, it removes what it
/// staged.
pub struct FocusWriter {
    destination: Destination,
    staging: PathBuf,
    /// By billing period (`YYYY-MM`; `""` for a single file).
    files: BTreeMap<String, Staged>,
    encoder: GroupEncoder,
    published: bool,
}

impl FocusWriter {
    /// The encoder of this export's row groups, for a thread that makes them.
    pub fn encoder(&self) -> GroupEncoder {
        self.encoder.clone()
    }

    /// Appends an encoded row group to its billing period's file.
    ///
    /// # Errors
    ///
    /// [`FocusFileError`] when the staged file cannot be created or written.
    pub fn append(&mut self, group: EncodedGroup) -> Result<(), FocusFileError> {
        if group.rows == 0 {
            return Ok(());
        }
        let period = match group.period {
            Some(start) if !self.destination.single_file => start.format("%Y-%m").to_string(),
            _ => String::new(),
        };
        if !self.files.contains_key(&period) {
            let staged = self.open(&period)?;
            self.files.insert(period.clone(), staged);
        }
        let Some(staged) = self.files.get_mut(&period) else {
            return Ok(());
        };
        match (&mut staged.file, group.body) {
            (File::Parquet(file), Body::Parquet(group)) => {
                group.append_to(file).map_err(encode_error)?;
            }
            (File::Csv(out), Body::Csv(lines)) => {
                out.write_all(&lines).map_err(io(&staged.path))?;
            }
            _ => return Err(encode_error("a row group of another format")),
        }
        Ok(())
    }

    fn open(&self, period: &str) -> Result<Staged, FocusFileError> {
        let name = if period.is_empty() {
            "export".to_owned()
        } else {
            format!("{PARTITION}={period}")
        };
        let path = self
            .staging
            .join(format!("{name}.{}", self.destination.format.extension()));
        let out = BufWriter::new(fs::File::create(&path).map_err(io(&path))?);
        let file = match &self.encoder.parquet {
            Some(parquet) => File::Parquet(Box::new(parquet.file(out).map_err(encode_error)?)),
            None => {
                let mut out = out;
                out.write_all(batch::csv_header().as_bytes())
                    .map_err(io(&path))?;
                File::Csv(out)
            }
        };
        Ok(Staged { path, file })
    }

    /// Finishes every file and publishes them: renamed into place, or each
    /// sent in one PUT. Returns where they went.
    ///
    /// # Errors
    ///
    /// [`FocusFileError`] when a file cannot be finished, moved or uploaded;
    /// the staged files are removed.
    pub fn publish(mut self) -> Result<Vec<String>, FocusFileError> {
        let files = std::mem::take(&mut self.files);
        let mut finished = Vec::with_capacity(files.len());
        for (period, staged) in files {
            finish(staged.file, &staged.path)?;
            finished.push((period, staged.path));
        }
        let extension = self.destination.format.extension();
        let relative = |period: &str| format!("{PARTITION}={period}/part-0000.{extension}");
        let mut written = Vec::with_capacity(finished.len());
        match &self.destination.target {
            Target::Local(root) => {
                for (period, staged) in &finished {
                    let path = if self.destination.single_file {
                        root.clone()
                    } else {
                        let path = root.join(relative(period));
                        if let Some(dir) = path.parent() {
                            fs::create_dir_all(dir).map_err(io(dir))?;
                        }
                        path
                    };
                    fs::rename(staged, &path).map_err(io(&path))?;
                    written.push(path.display().to_string());
                }
            }
            Target::Object(object) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(FocusFileError::Runtime)?;
                for (period, staged) in &finished {
                    let bytes = fs::read(staged).map_err(io(staged))?;
                    let (key, shown) = if self.destination.single_file {
                        (object.prefix().clone(), object.url().to_owned())
                    } else {
                        let relative = relative(period);
                        let key = object.key(relative.split('/'));
                        (key, object.display(&relative))
                    };
                    runtime
                        .block_on(put(object, &key, bytes))
                        .map_err(|cause| FocusFileError::Put {
                            location: shown.clone(),
                            cause,
                        })?;
                    written.push(shown);
                }
            }
        }
        self.published = true;
        let _ = fs::remove_dir_all(&self.staging);
        Ok(written)
    }
}

async fn put(
    object: &ObjectTarget,
    key: &object_store::path::Path,
    bytes: Vec<u8>,
) -> object_store::Result<()> {
    object.put(key, bytes).await
}

impl Drop for FocusWriter {
    fn drop(&mut self) {
        // Unpublished (an error on the way), or published and already gone.
        if !self.published {
            self.files.clear();
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Closes a file: the Parquet footer, or the CSV flushed; synced.
fn finish(file: File, path: &Path) -> Result<(), FocusFileError> {
    let out = match file {
        File::Parquet(writer) => writer.into_inner().map_err(encode_error)?,
        File::Csv(out) => out,
    };
    let out = out.into_inner().map_err(|e| io(path)(e.into_error()))?;
    out.sync_all().map_err(io(path))
}
