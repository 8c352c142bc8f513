//! Batches made of Rust values, for the unit tests of readers outside
//! `store` (which do not import arrow), and a table to write test files as.

use std::sync::Arc;

use arrow::array::{ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::Int32Type;

use super::Batch;
use crate::store::schema::Table;

/// A table of no documented columns, for writing files of any batch.
pub(crate) static TABLE: Table = Table {
    name: "things",
    grain: "a test row",
    columns: &[],
};

fn batch(name: &str, column: ArrayRef) -> Batch {
    let batch = RecordBatch::try_from_iter([(name, column)]).unwrap();
    Batch {
        batch,
        path: Arc::from("test.parquet"),
    }
}

/// A batch of one plain string column.
pub(crate) fn plain(name: &str, rows: &[Option<&str>]) -> Batch {
    batch(name, Arc::new(StringArray::from(rows.to_vec())))
}

/// Batches of one dictionary-coded string column, all sharing one
/// dictionary of `values`, as the batches of a column chunk do.
pub(crate) fn coded(name: &str, values: &[&str], batches: &[&[Option<i32>]]) -> Vec<Batch> {
    let values: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
    batches
        .iter()
        .map(|codes| {
            let keys = Int32Array::from(codes.to_vec());
            let dictionary = DictionaryArray::<Int32Type>::try_new(keys, values.clone()).unwrap();
            batch(name, Arc::new(dictionary))
        })
        .collect()
}

/// Writes a Parquet file at `path` of one plain string column, for tests
/// that need a table to have a file and do not read it.
pub(crate) fn write_plain(path: &std::path::Path, name: &str, rows: &[Option<&str>]) {
    let bytes = crate::store::parquet_bytes(&TABLE, &plain(name, rows).batch).unwrap();
    std::fs::write(path, bytes).unwrap();
}
