//! Columns of a dataset record batch by name, with errors that name the
//! file: the readers of `recommend` (observed times, backtest samples) need
//! the same two lookups.

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::DataType;

use super::history::HistoryError;

/// The column `name` of `batch`, read from `path`.
pub fn column(batch: &RecordBatch, name: &str, path: &str) -> Result<ArrayRef, HistoryError> {
    batch
        .column_by_name(name)
        .cloned()
        .ok_or_else(|| HistoryError::File {
            path: path.to_owned(),
            message: format!("no column {name}"),
        })
}

/// The string column `name` as plain `Utf8`, whether the file holds it as
/// strings or (an older writer's) dictionary.
pub fn text(batch: &RecordBatch, name: &str, path: &str) -> Result<ArrayRef, HistoryError> {
    arrow::compute::cast(&column(batch, name, path)?, &DataType::Utf8).map_err(|e| {
        HistoryError::File {
            path: path.to_owned(),
            message: format!("{name}: {e}"),
        }
    })
}
