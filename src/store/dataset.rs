//! The dataset's layout and atomic, idempotent publishing.
//!
//! `<root>/<table>/cluster=<name>/date=<YYYY-MM-DD>/part-<HH>-<writer>-<seq>.parquet`
//!
//! Names are a function of (table, cluster, hour, writer, seq), so publishing
//! an hour again (a retry, a restart, the full hour after a partial flush)
//! replaces the earlier files instead of adding to them; files of that hour
//! and writer beyond the new count are removed. Readers never see half a
//! file: on a local file system each file is written under a temporary name,
//! synced, then renamed; in object storage each file is one PUT.

use std::fs;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use chrono::{DateTime, Timelike, Utc};
use parquet::arrow::add_encoded_arrow_schema_to_metadata;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

use super::encode::RowGroupEncoder;

use super::object::ObjectTarget;
use super::schema::Table;
use super::target::Target;

/// Rows per Parquet file; an hour with more rows is split into several files.
pub const ROWS_PER_FILE: usize = 1_000_000;

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("writing {path}")]
    Io {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error("making the rows of {table}")]
    Rows {
        table: &'static str,
        #[source]
        cause: ArrowError,
    },
    #[error("encoding {table} as Parquet")]
    Parquet {
        table: &'static str,
        #[source]
        cause: parquet::errors::ParquetError,
    },
    // object_store's errors print their own causes: no `#[source]`, or a
    // chain would print them twice.
    #[error("uploading {location}: {cause}")]
    Put {
        location: String,
        cause: object_store::Error,
    },
    #[error("listing {location}: {cause}")]
    List {
        location: String,
        cause: object_store::Error,
    },
    #[error("removing the stale file {location}: {cause}")]
    Delete {
        location: String,
        cause: object_store::Error,
    },
    #[error("publishing {location}: the runtime shut down before the write finished")]
    Cancelled { location: String },
}

impl DatasetError {
    /// The file, folder or object the error is about, for a log line.
    pub fn location(&self) -> String {
        match self {
            DatasetError::Io { path, .. } => path.display().to_string(),
            DatasetError::Parquet { table, .. } | DatasetError::Rows { table, .. } => {
                format!("the {table} table")
            }
            DatasetError::Put { location, .. }
            | DatasetError::List { location, .. }
            | DatasetError::Delete { location, .. }
            | DatasetError::Cancelled { location } => location.clone(),
        }
    }
}

/// Columns that change on every row of a table: a dictionary only costs
/// bytes there. Integers sorted by container and time differ little from one
/// row to the next, which `DELTA_BINARY_PACKED` stores in a few bits (it is
/// in the Parquet format since 2.0 and every engine we test reads it). On
/// `samples` this takes a row from 11.9 to ~4 bytes (docs/performance.md).
fn delta_columns(table: &Table) -> &'static [&'static str] {
    use super::schema::col;
    match table.name {
        "samples" => &[col::TS, col::CPU_USAGE_MILLICORES, col::MEMORY_USAGE_BYTES],
        _ => &[],
    }
}

/// Encodes a batch as one Parquet file: zstd, dictionaries (but on the
/// columns [`delta_columns`] names), statistics.
///
/// The embedded Arrow schema (the `ARROW:schema` hint Arrow readers follow)
/// is [`reader_schema`]'s, not the batch's: strings stay dictionary-encoded
/// in the Parquet pages, but readers are told they are plain strings.
///
/// # Errors
///
/// [`DatasetError::Parquet`] if the writer refuses the batch.
pub fn parquet_bytes(table: &Table, batch: &RecordBatch) -> Result<Vec<u8>, DatasetError> {
    let mut writer = FileWriter::new(table, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()
}

/// Rows per row group of every file.
const ROW_GROUP_ROWS: usize = 256 * 1024;

/// [`parquet_bytes`] of `rows` at `range`, made a row group at a time: the
/// same file, without the whole range as one batch.
pub fn rows_bytes(
    table: &Table,
    rows: &dyn Rows,
    range: Range<usize>,
) -> Result<Vec<u8>, DatasetError> {
    let made = |at: usize| {
        rows.batch(at..range.end.min(at + ROW_GROUP_ROWS))
            .map_err(|cause| match cause {
                // Rows read from a file (the write-ahead log): worth a retry.
                ArrowError::IoError(path, cause) => DatasetError::Io {
                    path: path.into(),
                    cause,
                },
                cause => DatasetError::Rows {
                    table: table.name,
                    cause,
                },
            })
    };
    // The writer takes its schema from the first batch (an empty range is
    // one empty batch: still a file).
    let first = made(range.start)?;
    let mut file = FileWriter::new(table, &first.schema())?;
    file.write(&first)?;
    drop(first);
    for at in (range.start + ROW_GROUP_ROWS..range.end).step_by(ROW_GROUP_ROWS) {
        file.write(&made(at)?)?;
    }
    file.finish()
}

/// A Parquet file being written in memory with the dataset's settings: zstd,
/// dictionaries (but on the columns [`delta_columns`] names), statistics,
/// row groups of [`ROW_GROUP_ROWS`].
struct FileWriter {
    encoder: RowGroupEncoder,
    file: SerializedFileWriter<Vec<u8>>,
    table: &'static str,
}

impl FileWriter {
    fn new(table: &Table, schema: &SchemaRef) -> Result<FileWriter, DatasetError> {
        let wrap = |cause| DatasetError::Parquet {
            table: table.name,
            cause,
        };
        let mut properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(wrap)?))
            .set_dictionary_enabled(true)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
        for column in delta_columns(table) {
            let path = ColumnPath::from(*column);
            properties = properties
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
        }
        let mut properties = properties.build();
        add_encoded_arrow_schema_to_metadata(&reader_schema(schema), &mut properties);
        let encoder = RowGroupEncoder::new(schema.clone(), properties).map_err(wrap)?;
        let file = encoder.file(Vec::new()).map_err(wrap)?;
        Ok(FileWriter {
            encoder,
            file,
            table: table.name,
        })
    }

    /// Appends `batch`'s rows, [`ROW_GROUP_ROWS`] to a row group (an empty
    /// batch adds none).
    fn write(&mut self, batch: &RecordBatch) -> Result<(), DatasetError> {
        let table = self.table;
        let wrap = |cause| DatasetError::Parquet { table, cause };
        for at in (0..batch.num_rows()).step_by(ROW_GROUP_ROWS) {
            let rows = batch.slice(at, ROW_GROUP_ROWS.min(batch.num_rows() - at));
            self.encoder
                .encode(&rows)
                .and_then(|group| group.append_to(&mut self.file))
                .map_err(wrap)?;
        }
        Ok(())
    }

    /// The file's bytes, footer included.
    fn finish(self) -> Result<Vec<u8>, DatasetError> {
        let table = self.table;
        self.file
            .into_inner()
            .map_err(|cause| DatasetError::Parquet { table, cause })
    }
}

/// The schema readers are told to use: the batch's, units and time zones
/// included, with each dictionary column declared as its value type.
///
/// An Arrow dictionary in the hint makes polars read the column as a
/// Categorical and intern every string of every row group again: that was
/// ~80 % of the weekly report's time over a 150,000-pod week, 1.9x DuckDB's
/// (docs/performance.md). Declared as strings, polars decodes the Parquet
/// dictionary pages straight into string views. DuckDB, Spark and BigQuery
/// ignore the hint.
pub fn reader_schema(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| match field.data_type() {
            DataType::Dictionary(_, value) => field.as_ref().clone().with_data_type(*value.clone()),
            _ => field.as_ref().clone(),
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// A dataset: where it lives, and whose files this writer publishes.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// A local directory or an object store prefix.
    pub target: Target,
    /// The `cluster=` partition of every file.
    pub cluster: String,
    /// The writer id in file names, stable across restarts.
    pub writer: String,
}

impl Dataset {
    /// The folder of `table`'s files for the date of `hour`, relative to the
    /// target's root: `<table>/cluster=<c>/date=<YYYY-MM-DD>`.
    pub fn partition(&self, table: &Table, hour: DateTime<Utc>) -> String {
        self.partition_parts(table, hour).join("/")
    }

    fn partition_parts(&self, table: &Table, hour: DateTime<Utc>) -> [String; 3] {
        let [cluster, date] = super::partition::folders(&self.cluster, hour.date_naive());
        [table.name.to_owned(), cluster, date]
    }

    fn file_name(&self, hour: DateTime<Utc>, seq: usize) -> String {
        format!("{}{seq:04}.parquet", self.file_stem(hour))
    }

    fn file_stem(&self, hour: DateTime<Utc>) -> String {
        super::partition::file_stem(hour.hour(), &self.writer)
    }

    /// Whether `name` is this writer's file of `hour` with a sequence number
    /// of `files` or more: left over from an earlier, larger publish.
    fn is_stale(&self, name: &str, hour: DateTime<Utc>, files: usize) -> bool {
        name.strip_prefix(&self.file_stem(hour))
            .and_then(|rest| rest.strip_suffix(".parquet"))
            .filter(|seq| !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|seq| seq.parse::<usize>().ok())
            .is_some_and(|seq| seq >= files)
    }

    /// Publishes an hour of `table` (split into files of [`ROWS_PER_FILE`]
    /// rows), replacing what this writer published for that hour before, and
    /// returns where the files went (paths or URLs, for messages).
    ///
    /// Locally the work runs on tokio's blocking pool (temp file, fsync,
    /// rename); in object storage each file is one PUT, then stale files are
    /// listed and deleted. Either way, a failed publish can be retried: the
    /// same names are written again.
    ///
    /// # Errors
    ///
    /// [`DatasetError`] naming the file that could not be encoded, written,
    /// listed or removed.
    pub async fn publish(
        &self,
        table: &'static Table,
        hour: DateTime<Utc>,
        batch: &RecordBatch,
    ) -> Result<Vec<String>, DatasetError> {
        self.publish_rows(table, hour, Arc::new(batch.clone()))
            .await
    }

    /// [`Dataset::publish`] of rows made a file at a time by `rows`: an hour
    /// of `samples` at 150,000 pods is 11 M rows, 630 MB as one Arrow batch.
    ///
    /// # Errors
    ///
    /// As [`Dataset::publish`], and [`DatasetError::Rows`] when a file's
    /// rows cannot be made.
    pub async fn publish_rows(
        &self,
        table: &'static Table,
        hour: DateTime<Utc>,
        rows: Arc<dyn Rows>,
    ) -> Result<Vec<String>, DatasetError> {
        match &self.target {
            Target::Local(root) => {
                let dataset = self.clone();
                let root = root.clone();
                let location = root.display().to_string();
                blocking(location, move || {
                    dataset.publish_local(&root, table, hour, &*rows)
                })
                .await
            }
            Target::Object(object) => self.publish_object(object, table, hour, rows).await,
        }
    }

    fn publish_local(
        &self,
        root: &Path,
        table: &'static Table,
        hour: DateTime<Utc>,
        rows: &dyn Rows,
    ) -> Result<Vec<String>, DatasetError> {
        let dir = self
            .partition_parts(table, hour)
            .iter()
            .fold(root.to_owned(), |dir, part| dir.join(part));
        fs::create_dir_all(&dir).map_err(|cause| DatasetError::Io {
            path: dir.clone(),
            cause,
        })?;
        let files = file_count(rows);
        let mut written = Vec::with_capacity(files);
        for seq in 0..files {
            let bytes = rows_bytes(table, rows, file_range(rows, seq))?;
            let path = dir.join(self.file_name(hour, seq));
            write_atomically(&path, &bytes)?;
            written.push(path.display().to_string());
        }
        // A smaller republish must not leave files of the earlier one behind.
        let entries = fs::read_dir(&dir).map_err(|cause| DatasetError::Io {
            path: dir.clone(),
            cause,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if self.is_stale(&name.to_string_lossy(), hour, files) {
                let stale = entry.path();
                fs::remove_file(&stale).map_err(|cause| DatasetError::Io { path: stale, cause })?;
            }
        }
        sync_dir(&dir)?;
        Ok(written)
    }

    async fn publish_object(
        &self,
        object: &ObjectTarget,
        table: &'static Table,
        hour: DateTime<Utc>,
        rows: Arc<dyn Rows>,
    ) -> Result<Vec<String>, DatasetError> {
        let parts = self.partition_parts(table, hour);
        let partition = parts.join("/");
        let dir = object.key(parts.iter().map(String::as_str));
        let files = file_count(&*rows);
        let mut written = Vec::with_capacity(files);
        for seq in 0..files {
            let name = self.file_name(hour, seq);
            let location = object.display(&format!("{partition}/{name}"));
            let rows = rows.clone();
            // Making and encoding rows is CPU work: keep it off the async workers.
            let bytes = blocking(location.clone(), move || {
                rows_bytes(table, &*rows, file_range(&*rows, seq))
            })
            .await?;
            object
                .put(&dir.clone().join(name.as_str()), bytes)
                .await
                .map_err(|cause| DatasetError::Put {
                    location: location.clone(),
                    cause,
                })?;
            written.push(location);
        }
        // A smaller republish must not leave files of the earlier one behind.
        let names = object
            .names(&dir)
            .await
            .map_err(|cause| DatasetError::List {
                location: object.display(&partition),
                cause,
            })?;
        for name in names.iter().filter(|n| self.is_stale(n, hour, files)) {
            object
                .delete(&dir.clone().join(name.as_str()))
                .await
                .map_err(|cause| DatasetError::Delete {
                    location: object.display(&format!("{partition}/{name}")),
                    cause,
                })?;
        }
        Ok(written)
    }
}

/// A table's rows for one publish, made a file at a time.
pub trait Rows: Send + Sync {
    fn num_rows(&self) -> usize;
    /// The rows at `range` (within `0..num_rows()`).
    ///
    /// # Errors
    ///
    /// When the rows do not fit the table's schema (a defect).
    fn batch(&self, range: Range<usize>) -> Result<RecordBatch, ArrowError>;
}

impl Rows for RecordBatch {
    fn num_rows(&self) -> usize {
        RecordBatch::num_rows(self)
    }

    fn batch(&self, range: Range<usize>) -> Result<RecordBatch, ArrowError> {
        Ok(self.slice(range.start, range.len()))
    }
}

/// How many files an hour of `rows` takes (one even when empty, so an
/// empty republish still replaces the earlier files).
fn file_count(rows: &dyn Rows) -> usize {
    rows.num_rows().div_ceil(ROWS_PER_FILE).max(1)
}

/// The rows of file `seq` of `rows`.
fn file_range(rows: &dyn Rows, seq: usize) -> Range<usize> {
    let offset = seq * ROWS_PER_FILE;
    offset..rows.num_rows().min(offset + ROWS_PER_FILE)
}

/// Runs `work` on tokio's blocking pool; a panic there resumes here.
async fn blocking<T: Send + 'static>(
    location: String,
    work: impl FnOnce() -> Result<T, DatasetError> + Send + 'static,
) -> Result<T, DatasetError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(DatasetError::Cancelled { location }),
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, renames it.
///
/// # Errors
///
/// [`DatasetError::Io`] naming the path.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DatasetError> {
    let io = |cause| DatasetError::Io {
        path: path.to_owned(),
        cause,
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{file_name}.tmp"));
    let written = fs::File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temporary, path));
    if written.is_err() {
        // A full disk leaves part of the file: remove it, which also gives
        // the space back (readers skip dot-names, so it was never visible).
        let _ = fs::remove_file(&temporary);
    }
    written.map_err(io)
}

fn sync_dir(dir: &Path) -> Result<(), DatasetError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|cause| DatasetError::Io {
            path: dir.to_owned(),
            cause,
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use chrono::TimeZone;
    use object_store::memory::InMemory;
    use object_store::{ObjectStore, ObjectStoreExt};

    use super::*;
    use crate::store::read::testing::TABLE;

    fn batch(rows: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(0..rows))],
        )
        .unwrap()
    }

    fn hour() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 7, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("a valid hour"))
    }

    fn dataset(target: Target) -> Dataset {
        Dataset {
            target,
            cluster: "c1".into(),
            writer: "w".into(),
        }
    }

    #[test]
    fn a_file_made_a_row_group_at_a_time_is_the_file_made_from_one_batch() {
        let rows = i64::try_from(ROW_GROUP_ROWS * 2 + 17).unwrap();
        let whole = batch(rows);
        let at_once = parquet_bytes(&TABLE, &whole).unwrap();
        let in_groups = rows_bytes(&TABLE, &whole, 0..whole.num_rows()).unwrap();
        assert!(at_once == in_groups, "the same bytes");
        // A file that starts part-way: its rows and nothing else.
        let tail = rows_bytes(&TABLE, &whole, 5..whole.num_rows()).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(
            bytes::Bytes::from(tail),
            1 << 20,
        )
        .unwrap();
        let read: Vec<i64> = reader
            .flat_map(|b| {
                let b = b.unwrap();
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(read, (5..rows).collect::<Vec<_>>());
    }

    #[test]
    fn only_this_writers_files_of_the_hour_beyond_the_count_are_stale() {
        let dataset = dataset(Target::Local(PathBuf::new()));
        let stale = |name| dataset.is_stale(name, hour(), 2);
        assert!(stale("part-07-w-0002.parquet"));
        assert!(stale("part-07-w-0013.parquet"));
        assert!(!stale("part-07-w-0001.parquet"), "within the new count");
        assert!(!stale("part-08-w-0005.parquet"), "another hour");
        assert!(!stale("part-07-x-0005.parquet"), "another writer");
        assert!(!stale("part-07-w-+005.parquet"));
        assert!(!stale(".part-07-w-0005.parquet.tmp"));
    }

    #[tokio::test]
    async fn a_local_republish_replaces_and_never_leaves_stale_files() {
        let dir = tempfile::tempdir().unwrap();
        let dataset = dataset(Target::Local(dir.path().to_owned()));
        let partition = dir.path().join("things/cluster=c1/date=2026-11-02");
        let extra = partition.join("part-07-w-0003.parquet");
        std::fs::create_dir_all(&partition).unwrap();
        std::fs::write(&extra, b"left over").unwrap();
        let written = dataset.publish(&TABLE, hour(), &batch(10)).await.unwrap();
        assert_eq!(
            written,
            [partition
                .join("part-07-w-0000.parquet")
                .display()
                .to_string()]
        );
        assert!(!extra.exists(), "stale file removed across a gap");
    }

    #[tokio::test]
    async fn an_object_publish_puts_deterministic_names_and_removes_stale_ones() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let object = ObjectTarget::new("memory://bucket/root", store.clone(), "root".into());
        let dataset = dataset(Target::Object(object));
        let key = |name: &str| {
            object_store::path::Path::from(format!("root/things/cluster=c1/date=2026-11-02/{name}"))
        };
        for name in ["part-07-w-0001.parquet", "part-07-x-0001.parquet"] {
            store
                .put(&key(name), b"older".to_vec().into())
                .await
                .unwrap();
        }
        let written = dataset.publish(&TABLE, hour(), &batch(10)).await.unwrap();
        assert_eq!(
            written,
            ["memory://bucket/root/things/cluster=c1/date=2026-11-02/part-07-w-0000.parquet"]
        );
        let exists = async |name: &str| store.head(&key(name)).await.is_ok();
        assert!(exists("part-07-w-0000.parquet").await);
        assert!(!exists("part-07-w-0001.parquet").await, "stale, removed");
        assert!(exists("part-07-x-0001.parquet").await, "another writer's");
    }

    #[test]
    fn strings_stay_dictionary_pages_but_read_as_strings_with_units_and_zones() {
        use arrow::array::{DictionaryArray, TimestampMillisecondArray};
        use arrow::datatypes::{Int32Type, TimeUnit};
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use parquet::basic::Encoding;

        let unit = std::collections::HashMap::from([("unit".to_owned(), "ms".to_owned())]);
        let ts_type = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", ts_type.clone(), false).with_metadata(unit.clone()),
            Field::new_dictionary("namespace", DataType::Int32, DataType::Utf8, false),
        ]));
        let names: DictionaryArray<Int32Type> = ["a", "b", "a", "a"].into_iter().collect();
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![1, 2, 3, 4]).with_timezone("UTC")),
                Arc::new(names),
            ],
        )
        .unwrap();
        let bytes = parquet_bytes(&TABLE, &batch).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
        let pages = reader
            .metadata()
            .row_group(0)
            .column(1)
            .encodings()
            .collect::<Vec<_>>();
        assert!(pages.contains(&Encoding::RLE_DICTIONARY), "{pages:?}");
        let read = reader.schema().clone();
        assert_eq!(read.field(0).data_type(), &ts_type);
        assert_eq!(read.field(0).metadata(), &unit);
        assert_eq!(read.field(1).data_type(), &DataType::Utf8);
        let rows: Vec<RecordBatch> = reader.build().unwrap().collect::<Result<_, _>>().unwrap();
        let strings = arrow::array::AsArray::as_string::<i32>(rows[0].column(1).as_ref());
        assert_eq!(
            strings.iter().flatten().collect::<Vec<_>>(),
            ["a", "b", "a", "a"]
        );
    }
}
