//! Why a dataset could not be read: every error names the folder, file or
//! column at fault, so bad input ends in one line a user can act on.

use std::path::PathBuf;

/// Why listing or reading a dataset failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("listing {folder}")]
    List {
        folder: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error("{folder}: not a partition folder (expected date=YYYY-MM-DD)")]
    Partition { folder: PathBuf },
    /// The file cannot be opened, is not Parquet, or a page of it cannot
    /// be decoded (arrow's and parquet's messages carry no cause chain).
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{path}: column {column} is missing or not {expected}")]
    Column {
        path: String,
        column: String,
        expected: &'static str,
    },
}

/// Makes [`ReadError::File`]s naming `path`.
pub(super) fn file_error(path: &str) -> impl Fn(String) -> ReadError + '_ {
    move |message| ReadError::File {
        path: path.to_owned(),
        message,
    }
}
