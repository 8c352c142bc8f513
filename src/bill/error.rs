//! What can go wrong reading a bill: every error names the file, and where a
//! value is at fault, its line and column.

use std::fmt;

use super::format::Format;

/// Why a cell's value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Not a decimal number.
    NotANumber,
    /// Not a date or timestamp in any form an export writes.
    NotADate,
    /// Empty where the format requires a value.
    Empty,
    /// Not the JSON (or Python-literal) object or list the column holds.
    NotJson,
    /// Not one of the values the format allows here.
    UnknownValue,
    /// A charge period that ends before it starts.
    EndsBeforeStart,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Problem::NotANumber => "not a number",
            Problem::NotADate => "not a date",
            Problem::Empty => "empty",
            Problem::NotJson => "not valid JSON",
            Problem::UnknownValue => "not a known value",
            Problem::EndsBeforeStart => "ends before the period starts",
        })
    }
}

/// Reading one billing export failed; nothing of that file was kept.
#[derive(Debug, thiserror::Error)]
pub enum BillError {
    #[error("{file}: cannot read")]
    ReadFailed {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: no header: the file is empty")]
    Empty { file: String },
    #[error(
        "{file}: not a billing export: its columns match none of {tried} (first columns: {columns})"
    )]
    UnknownFormat {
        file: String,
        /// The formats tried, comma-separated.
        tried: String,
        columns: String,
    },
    #[error("{file}: column {column} is missing; the {format} reader needs it")]
    MissingColumn {
        file: String,
        format: Format,
        column: &'static str,
    },
    #[error("{file}:{line}: column {column}: {problem}: {value:?}")]
    BadValue {
        file: String,
        /// The line of a CSV or JSON-lines file (the header is line 1), the
        /// record of a JSON array or the row of a Parquet file (from 1).
        line: u64,
        column: String,
        value: String,
        problem: Problem,
    },
    #[error("{file}:{line}: malformed record")]
    MalformedRecord {
        file: String,
        line: u64,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl BillError {
    /// The line (or record) at fault, where there is one.
    pub fn line(&self) -> Option<u64> {
        match self {
            BillError::BadValue { line, .. } | BillError::MalformedRecord { line, .. } => {
                Some(*line)
            }
            _ => None,
        }
    }

    /// The column at fault, where there is one.
    pub fn column(&self) -> Option<&str> {
        match self {
            BillError::BadValue { column, .. } => Some(column),
            BillError::MissingColumn { column, .. } => Some(column),
            _ => None,
        }
    }
}
