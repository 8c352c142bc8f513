//! Cloud billing exports read into one normalised line type, the ground
//! that reconciling kubetally's list prices with what was paid stands on.
//!
//! Four families of export (FOCUS, GCP's detailed export, AWS CUR, Azure
//! cost details) in four containers (CSV, gzipped CSV, JSON lines or
//! arrays, Parquet) become [`BillLine`]s of one [`Bill`]. The decision that
//! shapes the module is to keep each export's *own* notion of billed and
//! effective cost rather than recompute one: FOCUS `EffectiveCost`, GCP
//! cost plus credits, AWS amortised cost, Azure amortised cost — so a
//! reconciliation adds up to the figures the customer's finance team sees
//! (`docs/billing.md` lists the column behind each).
//!
//! A month of a 5,000-node cluster is ≈ 7 M lines, so lines hold numbers
//! and 4-byte ids; strings, meters, resources and label sets are interned
//! per [`Bill`] (see [`line`]'s notes on size).
//!
//! ```no_run
//! use kubetally::bill::{Bill, FormatChoice};
//! let mut bill = Bill::default();
//! bill.read_path("bill.csv.gz".as_ref(), FormatChoice::Auto)?;
//! for line in bill.iter().filter(|l| l.is_additive()) {
//!     println!("{} {} {}", line.resource_id(), line.line.billed_cost, line.line.effective_cost);
//! }
//! # Ok::<(), kubetally::bill::BillError>(())
//! ```

mod aws;
mod azure;
mod error;
mod focus;
mod format;
mod gcp;
pub mod line;
mod row;
mod strings;
mod table;
mod value;

use std::path::Path;

use bytes::Bytes;

pub use error::{BillError, Problem};
pub use format::{Format, FormatChoice, SIGNATURES};
pub use line::{
    Bill, BillFile, BillLine, ChargeCategory, Cloud, Credit, CreditKind, CreditSpan, LabelSet,
    LineView, Meter, MeterId, Resource, ResourceKey, Split, SplitCosts, Totals,
};
pub use strings::Sym;

use row::Row;
use table::{Input, Records};

/// A format's reader, its columns resolved against one file's header.
enum Reader {
    Focus(focus::Columns),
    Gcp(gcp::Columns),
    Aws(aws::Columns),
    Azure(azure::Columns),
}

impl Reader {
    fn new(format: Format, records: &dyn Records, file: &str) -> Result<Reader, BillError> {
        let header = records.header();
        Ok(match format {
            Format::Focus => Reader::Focus(focus::Columns::resolve(header, file)?),
            Format::Gcp => Reader::Gcp(gcp::Columns::resolve(header, file)?),
            Format::AwsCur2 | Format::AwsCurLegacy => {
                Reader::Aws(aws::Columns::resolve(header, file, format)?)
            }
            Format::Azure => Reader::Azure(azure::Columns::resolve(header, file)?),
        })
    }

    fn read(
        &self,
        row: &Row,
        bill: &mut Bill,
        labels: &mut Vec<(String, String)>,
    ) -> Result<(), BillError> {
        match self {
            Reader::Focus(columns) => columns.read(row, bill, labels),
            Reader::Gcp(columns) => columns.read(row, bill, labels),
            Reader::Aws(columns) => columns.read(row, bill, labels),
            Reader::Azure(columns) => columns.read(row, bill, labels),
        }
    }
}

/// The export `records` holds, by choice or by its columns.
fn choose(records: &dyn Records, file: &str, choice: FormatChoice) -> Result<Format, BillError> {
    match choice {
        FormatChoice::Exactly(format) => Ok(format),
        FormatChoice::Auto => {
            format::detect(records.header()).ok_or_else(|| BillError::UnknownFormat {
                file: file.to_owned(),
                tried: format::tried(),
                columns: records.header().preview(),
            })
        }
    }
}

/// Recognises the export of the file at `path` (by its columns, unless
/// `choice` names it) without reading its rows.
///
/// # Errors
///
/// The file cannot be read, or matches no format ([`BillError::UnknownFormat`]).
pub fn detect_path(path: &Path, choice: FormatChoice) -> Result<Format, BillError> {
    let name = path.display().to_string();
    let records = table::open(&name, Input::Path(path))?;
    choose(records.as_ref(), &name, choice)
}

impl Bill {
    /// Reads the billing export at `path` (CSV, CSV.gz, JSON lines or
    /// array, Parquet: told apart by their first bytes) and appends its
    /// lines.
    ///
    /// # Errors
    ///
    /// The file cannot be read, is none of the formats, lacks a column its
    /// format needs, or has a value that does not parse; the error names
    /// the file, line and column, and none of the file's lines are kept.
    pub fn read_path(&mut self, path: &Path, choice: FormatChoice) -> Result<&BillFile, BillError> {
        let name = path.display().to_string();
        self.read_input(&name, Input::Path(path), choice)
    }

    /// Reads a billing export held in memory (an object fetched from a
    /// store); `name` is only used in errors and [`BillFile::name`].
    ///
    /// # Errors
    ///
    /// As [`Bill::read_path`].
    pub fn read_bytes(
        &mut self,
        name: &str,
        bytes: impl Into<Bytes>,
        choice: FormatChoice,
    ) -> Result<&BillFile, BillError> {
        self.read_input(name, Input::Bytes(bytes.into()), choice)
    }

    fn read_input(
        &mut self,
        name: &str,
        input: Input,
        choice: FormatChoice,
    ) -> Result<&BillFile, BillError> {
        let (lines_before, credits_before) = (self.lines.len(), self.credit_count());
        let result = self.read_records(name, input, choice);
        match result {
            Ok(format) => {
                self.files.push(BillFile {
                    name: name.to_owned(),
                    format,
                    lines: lines_before..self.lines.len(),
                });
                Ok(&self.files[self.files.len() - 1])
            }
            Err(error) => {
                self.truncate(lines_before, credits_before);
                Err(error)
            }
        }
    }

    fn read_records(
        &mut self,
        name: &str,
        input: Input,
        choice: FormatChoice,
    ) -> Result<Format, BillError> {
        let mut records = table::open(name, input)?;
        let format = choose(records.as_ref(), name, choice)?;
        let reader = Reader::new(format, records.as_ref(), name)?;
        let mut labels = Vec::new();
        while records.advance()? {
            let row = Row {
                records: records.as_ref(),
                file: name,
            };
            reader.read(&row, self, &mut labels)?;
        }
        Ok(format)
    }
}

#[cfg(test)]
mod tests;
