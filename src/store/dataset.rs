//! The dataset's layout and atomic, idempotent publishing.
//!
//! `<root>/<table>/cluster=<name>/date=<YYYY-MM-DD>/part-<HH>-<writer>-<seq>.parquet`
//!
//! Names are a function of (table, cluster, hour, writer, seq), so publishing
//! an hour again (a retry, a restart, the full hour after a partial flush)
//! replaces the earlier files instead of adding to them; files of that hour
//! and writer beyond the new count are removed. Each file is written under a
//! temporary name, synced, then renamed: readers never see half a file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use chrono::{DateTime, Timelike, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::schema::Table;

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
    #[error("encoding {table} as Parquet")]
    Parquet {
        table: &'static str,
        #[source]
        cause: parquet::errors::ParquetError,
    },
}

/// Encodes a batch as one Parquet file: zstd, dictionaries, statistics.
///
/// # Errors
///
/// [`DatasetError::Parquet`] if the writer refuses the batch.
pub fn parquet_bytes(table: &Table, batch: &RecordBatch) -> Result<Vec<u8>, DatasetError> {
    let wrap = |cause| DatasetError::Parquet {
        table: table.name,
        cause,
    };
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(wrap)?))
        .set_dictionary_enabled(true)
        .set_max_row_group_row_count(Some(256 * 1024))
        .build();
    let mut bytes = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).map_err(wrap)?;
    writer.write(batch).map_err(wrap)?;
    writer.close().map_err(wrap)?;
    Ok(bytes)
}

/// A dataset on a local file system (a directory, or a PVC in the cluster).
#[derive(Debug, Clone)]
pub struct Dataset {
    pub root: PathBuf,
    pub cluster: String,
    pub writer: String,
}

impl Dataset {
    /// The folder of `table`'s files for the date of `hour`.
    pub fn partition(&self, table: &Table, hour: DateTime<Utc>) -> PathBuf {
        self.root
            .join(table.name)
            .join(format!("cluster={}", self.cluster))
            .join(format!("date={}", hour.format("%Y-%m-%d")))
    }

    fn file_name(&self, hour: DateTime<Utc>, seq: usize) -> String {
        format!("part-{:02}-{}-{seq:04}.parquet", hour.hour(), self.writer)
    }

    /// Publishes an hour of `table` (split into files of [`ROWS_PER_FILE`]
    /// rows), replacing what this writer published for that hour before.
    ///
    /// # Errors
    ///
    /// [`DatasetError`] naming the file that could not be encoded or written.
    pub fn publish(
        &self,
        table: &'static Table,
        hour: DateTime<Utc>,
        batch: &RecordBatch,
    ) -> Result<Vec<PathBuf>, DatasetError> {
        let dir = self.partition(table, hour);
        fs::create_dir_all(&dir).map_err(|cause| DatasetError::Io {
            path: dir.clone(),
            cause,
        })?;
        let rows = batch.num_rows();
        let files = rows.div_ceil(ROWS_PER_FILE).max(1);
        let mut written = Vec::with_capacity(files);
        for seq in 0..files {
            let offset = seq * ROWS_PER_FILE;
            let slice = batch.slice(offset, ROWS_PER_FILE.min(rows - offset));
            let bytes = parquet_bytes(table, &slice)?;
            let path = dir.join(self.file_name(hour, seq));
            write_atomically(&path, &bytes)?;
            written.push(path);
        }
        // A smaller republish must not leave files of the earlier one behind.
        let mut seq = files;
        loop {
            let stale = dir.join(self.file_name(hour, seq));
            if fs::remove_file(&stale).is_err() {
                break;
            }
            seq += 1;
        }
        sync_dir(&dir)?;
        Ok(written)
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
    let mut file = fs::File::create(&temporary).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&temporary, path).map_err(io)
}

fn sync_dir(dir: &Path) -> Result<(), DatasetError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|cause| DatasetError::Io {
            path: dir.to_owned(),
            cause,
        })
}
