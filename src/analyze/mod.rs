//! Analysis of the dataset: ad hoc and bundled SQL over the Parquet tables,
//! run by polars' SQL engine inside the binary (`kubetally query`).
//!
//! The one decision that shapes this module: the dataset's Parquet files are
//! the only interface. Tables are lazy scans of the published files (never a
//! copy in memory, never a private format), and the bundled queries
//! (`queries/*.sql`) are the same text users run on DuckDB, Spark or
//! BigQuery, so an answer here and an answer in a warehouse agree. A dataset
//! in object storage is mirrored into a local cache first (see
//! [`crate::store::mirror`] for why), then read like a local one.

pub(crate) mod dialect;
mod library;
mod output;
mod pushdown;
mod query_file;
pub mod report;
mod reprice;
mod session;

pub use library::{Bundled, bundled, find};
pub use output::{ResultFormat, write};
pub use query_file::{ENGINES, EngineChange, Param, QueryFile, QueryFileError, parse_param};
pub use session::{Session, TableFiles};

/// The threads polars' pool has — `POLARS_MAX_THREADS`, else the
/// machine's available parallelism (polars-config's default) — which the
/// report's own pass over `allocation` uses too, and `benches/analysis`
/// gives DuckDB.
pub fn threads() -> usize {
    std::env::var("POLARS_MAX_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n: &usize| n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
}

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("{location}: no kubetally dataset here: {reason}")]
    NoDataset { location: String, reason: String },
    #[error("reading the {table} table: {message}")]
    Scan {
        table: &'static str,
        message: String,
    },
    #[error("SQL: {message}")]
    Sql { message: String },
    #[error(transparent)]
    Cost(#[from] crate::reconcile::FactorsError),
    #[error("no bundled query named {name:?} (`kubetally query --list` shows them: {known})")]
    UnknownQuery { name: String, known: String },
    #[error("bundled query {file}")]
    BadBundled {
        file: &'static str,
        #[source]
        cause: QueryFileError,
    },
    #[error("writing the result as {format}")]
    Output {
        format: &'static str,
        #[source]
        cause: std::io::Error,
    },
    #[error("writing the result as {format}: {message}")]
    Write {
        format: &'static str,
        message: String,
    },
}
