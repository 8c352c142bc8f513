//! The dataset: schemas, record batches, Parquet files, their layout and
//! where they go (a local directory or object storage).
//! Only this module imports arrow, parquet and object_store, and only it
//! touches the dataset's files: writers publish them, [`read`] lists and
//! decodes them for every reader but polars' SQL scans (which it lists).

pub mod batch;
pub mod clear;
pub mod dataset;
mod encode;
pub mod focus;
pub mod mirror;
pub mod object;
pub mod partition;
pub mod read;
pub mod rows;
pub mod schema;
pub mod target;
pub mod wal;

/// What building a table's rows fails with (a defect), for callers that
/// report it without importing arrow.
pub use arrow::error::ArrowError;
pub use dataset::{
    Dataset, DatasetError, Rows, parquet_bytes, reader_schema, rows_bytes, write_atomically,
};
pub use object::ObjectTarget;
pub use rows::{
    HourPart, HourTable, RecommendationRow, RecommendationRun, ReconciliationRow,
    ReconciliationRun, Sizes, allocation_batch, nodes_batch, recommendations_batch,
    reconciliation_batch, resources_batch, samples_batch, workloads_batch,
};
pub use target::{Target, TargetError};
