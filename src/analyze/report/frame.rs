//! Typed columns out of a polars result: the report's queries return small
//! aggregated frames, read here once into plain vectors.

use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::{DataFrame, DataType};

use super::ReportError;
use crate::analyze::Session;

/// Runs one query, naming the step in its error.
pub(super) fn run(
    session: &mut Session,
    step: &'static str,
    sql: &str,
) -> Result<Frame, ReportError> {
    let frame = session
        .query(sql)
        .map_err(|cause| ReportError::Query { step, cause })?;
    Ok(Frame { step, frame })
}

/// One query's result, named for error messages.
pub(super) struct Frame {
    pub step: &'static str,
    pub frame: DataFrame,
}

impl Frame {
    pub fn len(&self) -> usize {
        self.frame.height()
    }

    fn column(&self, name: &str, to: &DataType) -> Result<polars::prelude::Column, ReportError> {
        let shape = |message: String| ReportError::Shape {
            step: self.step,
            message,
        };
        self.frame
            .column(name)
            .map_err(|e| shape(e.to_string()))?
            .cast(to)
            .map_err(|e| shape(format!("{name}: {e}")))
    }

    fn shape(&self, name: &str, error: impl std::fmt::Display) -> ReportError {
        ReportError::Shape {
            step: self.step,
            message: format!("{name}: {error}"),
        }
    }

    /// Floats, null as 0.
    pub fn f64s(&self, name: &str) -> Result<Vec<f64>, ReportError> {
        let column = self.column(name, &DataType::Float64)?;
        let values = column.f64().map_err(|e| self.shape(name, e))?;
        Ok(values.iter().map(|v| v.unwrap_or(0.0)).collect())
    }

    /// Integers, null as `None`.
    pub fn opt_i64s(&self, name: &str) -> Result<Vec<Option<i64>>, ReportError> {
        let column = self.column(name, &DataType::Int64)?;
        let values = column.i64().map_err(|e| self.shape(name, e))?;
        Ok(values.iter().collect())
    }

    /// Integers, null as 0.
    pub fn i64s(&self, name: &str) -> Result<Vec<i64>, ReportError> {
        Ok(self
            .opt_i64s(name)?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect())
    }

    /// Strings, null as empty.
    pub fn strings(&self, name: &str) -> Result<Vec<String>, ReportError> {
        let column = self.column(name, &DataType::String)?;
        let values = column.str().map_err(|e| self.shape(name, e))?;
        Ok(values
            .iter()
            .map(|v| v.unwrap_or_default().to_owned())
            .collect())
    }

    /// Dates (the `date` partition column).
    pub fn dates(&self, name: &str) -> Result<Vec<NaiveDate>, ReportError> {
        let epoch = NaiveDate::default();
        let days = self.column(name, &DataType::Int32)?;
        let days = days.i32().map_err(|e| self.shape(name, e))?;
        days.iter()
            .map(|d| {
                d.and_then(|d| epoch.checked_add_signed(chrono::Duration::days(d.into())))
                    .ok_or_else(|| self.shape(name, "null or out of range"))
            })
            .collect()
    }

    /// Timestamps (milliseconds, UTC), null as `None`.
    pub fn times(&self, name: &str) -> Result<Vec<Option<DateTime<Utc>>>, ReportError> {
        Ok(self
            .opt_i64s(name)?
            .into_iter()
            .map(|ms| ms.and_then(DateTime::<Utc>::from_timestamp_millis))
            .collect())
    }
}
