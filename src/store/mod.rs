//! The dataset: its schemas and layout. (The Parquet writer, write-ahead log
//! and object storage arrive with the collector.) Only this module imports
//! arrow and parquet.

pub mod schema;
