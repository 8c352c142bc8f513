//! Typed access to the current row for the format readers, with every
//! refusal turned into a [`BillError`] naming file, line and column.

use serde_json::Value;

use super::error::{BillError, Problem};
use super::format::Format;
use super::line::{Bill, BillLine, Credit, Meter, Resource, SplitCosts};
use super::table::{Header, Records};
use super::value;

/// The current row of a file.
pub(crate) struct Row<'a> {
    pub records: &'a dyn Records,
    pub file: &'a str,
}

impl<'a> Row<'a> {
    pub(crate) fn error(&self, col: usize, problem: Problem) -> BillError {
        let mut text = self.records.cell(col).unwrap_or("").to_owned();
        if text.len() > 120 {
            let cut = (0..=120)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            text.truncate(cut);
            text.push('…');
        }
        BillError::BadValue {
            file: self.file.to_owned(),
            line: self.records.line(),
            column: self
                .records
                .header()
                .names
                .get(col)
                .cloned()
                .unwrap_or_default(),
            value: text,
            problem,
        }
    }

    /// The text of an optional column.
    pub(crate) fn text(&self, col: Option<usize>) -> Option<&'a str> {
        col.and_then(|c| self.records.cell(c))
    }

    /// The text of an optional column, empty when absent.
    pub(crate) fn text_or_empty(&self, col: Option<usize>) -> &'a str {
        self.text(col).unwrap_or("")
    }

    pub(crate) fn required(&self, col: usize) -> Result<&'a str, BillError> {
        self.records
            .cell(col)
            .ok_or_else(|| self.error(col, Problem::Empty))
    }

    pub(crate) fn number(&self, col: Option<usize>) -> Result<Option<f64>, BillError> {
        let Some(col) = col else { return Ok(None) };
        match self.records.cell(col) {
            None => Ok(None),
            Some(text) => value::number(text)
                .map(Some)
                .map_err(|p| self.error(col, p)),
        }
    }

    /// A cost: a null cost is no charge.
    pub(crate) fn cost(&self, col: Option<usize>) -> Result<f64, BillError> {
        Ok(self.number(col)?.unwrap_or(0.0))
    }

    pub(crate) fn timestamp(&self, col: usize) -> Result<i64, BillError> {
        value::timestamp(self.required(col)?).map_err(|p| self.error(col, p))
    }

    pub(crate) fn json(&self, col: Option<usize>) -> Result<Option<Value>, BillError> {
        let Some(col) = col else { return Ok(None) };
        match self.records.cell(col) {
            None => Ok(None),
            Some(text) => value::json(text).map(Some).map_err(|p| self.error(col, p)),
        }
    }

    pub(crate) fn labels(
        &self,
        col: Option<usize>,
        out: &mut Vec<(String, String)>,
    ) -> Result<(), BillError> {
        let Some(col) = col else { return Ok(()) };
        match self.records.cell(col) {
            None => Ok(()),
            Some(text) => value::labels(text, out).map_err(|p| self.error(col, p)),
        }
    }
}

/// The column of `key` that a format cannot do without.
pub(crate) fn required_column(
    header: &Header,
    file: &str,
    format: Format,
    keys: &[&'static str],
) -> Result<usize, BillError> {
    header
        .find_any(keys)
        .ok_or_else(|| BillError::MissingColumn {
            file: file.to_owned(),
            format,
            column: keys[0],
        })
}

/// One line as a format reader produced it, before interning.
pub(crate) struct Parsed {
    pub start_unix_s: i64,
    pub end_unix_s: i64,
    pub meter: Meter,
    pub resource: Resource,
    pub usage_quantity: f64,
    pub billed_cost: f64,
    pub effective_cost: f64,
    pub list_cost: Option<f64>,
    pub credits: Vec<Credit>,
    pub split_costs: Option<SplitCosts>,
}

impl Parsed {
    /// Adds the line to `bill`; a period that ends before it starts is
    /// refused with the end column named.
    pub(crate) fn push(self, bill: &mut Bill, row: &Row, end_col: usize) -> Result<(), BillError> {
        if self.end_unix_s < self.start_unix_s {
            return Err(row.error(end_col, Problem::EndsBeforeStart));
        }
        let meter = bill.intern_meter(self.meter);
        let resource = bill.intern_resource(self.resource);
        let credits = bill.push_credits(&self.credits);
        if let Some(split) = self.split_costs {
            bill.push_split(split);
        }
        bill.lines.push(BillLine {
            start_unix_s: self.start_unix_s,
            end_unix_s: self.end_unix_s,
            meter,
            resource,
            usage_quantity: self.usage_quantity,
            billed_cost: self.billed_cost,
            effective_cost: self.effective_cost,
            list_cost: self.list_cost,
            credits,
        });
        Ok(())
    }
}
