//! The dataset: schemas, record batches, Parquet files and their layout.
//! Only this module imports arrow and parquet.

pub mod batch;
pub mod dataset;
pub mod rows;
pub mod schema;

pub use dataset::{Dataset, DatasetError, parquet_bytes, write_atomically};
pub use rows::{allocation_batch, nodes_batch, samples_batch};
