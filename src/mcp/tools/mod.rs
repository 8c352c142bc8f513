//! The tools' inputs, outputs and work, one file per tool family. Each
//! tool is a plain function from its typed input to its typed output (the
//! JSON schemas an agent sees are derived from these types), run by
//! [`super::server`] on a blocking thread under the time limit.

pub mod advice;
pub mod bill;
pub mod catalog;
pub mod change;
pub mod cost;
mod lenient;
pub mod sql;

use chrono::NaiveDate;
use polars::prelude::DataFrame;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::ToolError;
use crate::analyze::report::{Basis, By, Options, ShareIdle, ShareShared, Window};

/// The period of a cost tool, as the report's `--from/--to/--last` say it.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowInput {
    /// First UTC day of the period (YYYY-MM-DD, inclusive). Not with `last_days`/`last_hours`.
    pub from: Option<String>,
    /// UTC day the period ends at (YYYY-MM-DD, exclusive: the midnight starting it).
    /// Default: the end of the newest hour of data.
    pub to: Option<String>,
    /// The period is this many days, ending at `to` or at the newest hour of data.
    #[serde(default, deserialize_with = "lenient::number")]
    pub last_days: Option<u32>,
    /// The period is this many hours, ending at `to` or at the newest hour of data.
    #[serde(default, deserialize_with = "lenient::number")]
    pub last_hours: Option<u32>,
}

/// Days a window may span at most: ten years is already no cluster's data.
const MAX_DAYS: u32 = 3660;

impl WindowInput {
    /// The report's window; without any field, the last seven complete
    /// UTC days of data (the report's default).
    ///
    /// # Errors
    ///
    /// [`ToolError::BadInput`] for a date that does not parse or is out of
    /// range, `from` with `last_*`, or an absurd length.
    pub fn window(&self) -> Result<Window, ToolError> {
        let from = date("from", self.from.as_deref())?;
        let to = date("to", self.to.as_deref())?;
        let hours = match (self.last_days, self.last_hours) {
            (Some(_), Some(_)) => {
                return Err(ToolError::BadInput(
                    "give last_days or last_hours, not both".into(),
                ));
            }
            (Some(days), None) => Some(i64::from(days) * 24),
            (None, Some(hours)) => Some(i64::from(hours)),
            (None, None) => None,
        };
        if let Some(hours) = hours {
            if hours == 0 {
                return Err(ToolError::BadInput(
                    "the window must be longer than zero".into(),
                ));
            }
            if hours > i64::from(MAX_DAYS) * 24 {
                return Err(ToolError::BadInput(format!(
                    "a window of {hours} hours is longer than {MAX_DAYS} days: ask for less"
                )));
            }
        }
        Ok(match (from, hours, to) {
            (Some(_), Some(_), _) => {
                return Err(ToolError::BadInput(
                    "from and last_days/last_hours: give one of them (to may go with either)"
                        .into(),
                ));
            }
            (Some(from), None, to) => Window::Range { from, to },
            (None, None, None) => Window::default(),
            (None, hours, to) => Window::Last {
                length: chrono::Duration::hours(hours.unwrap_or(7 * 24)),
                to,
            },
        })
    }
}

/// A date input, between 1970 and 2200 (anything else is a mistake, and
/// far dates would overflow the period arithmetic).
fn date(field: &str, text: Option<&str>) -> Result<Option<NaiveDate>, ToolError> {
    let Some(text) = text else { return Ok(None) };
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ToolError::BadInput(format!(
            "{field} {text:?}: not a date (expected YYYY-MM-DD)"
        ))
    })?;
    let year = chrono::Datelike::year(&day);
    if !(1970..=2200).contains(&year) {
        return Err(ToolError::BadInput(format!(
            "{field} {text}: the year must be between 1970 and 2200"
        )));
    }
    Ok(Some(day))
}

/// What a container is charged for.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BasisInput {
    /// max(request, usage): the allocation table's billed cost (default).
    #[default]
    Max,
    /// Requests only (GKE cost allocation).
    Request,
    /// Usage only.
    Usage,
}

/// How idle cost is spread.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShareIdleInput {
    /// In proportion to each line's compute cost (default).
    #[default]
    Proportional,
    /// Not spread: one unshared remainder.
    None,
}

/// How the shared namespaces' cost is spread.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShareSharedInput {
    /// In proportion to each line's compute cost (default).
    #[default]
    Proportional,
    /// In equal parts over the lines.
    Even,
    /// Not spread: one unshared remainder.
    None,
}

/// The report's options for a window, grouping and rules.
///
/// # Errors
///
/// [`ToolError::BadInput`] for a bad window or grouping.
pub fn report_options(
    window: &WindowInput,
    by: Option<&str>,
    basis: BasisInput,
    share_idle: ShareIdleInput,
    share_shared: ShareSharedInput,
) -> Result<Options, ToolError> {
    let by =
        By::parse(by.unwrap_or("tenant")).map_err(|e| ToolError::BadInput(format!("by {e}")))?;
    Ok(Options {
        window: window.window()?,
        by,
        basis: match basis {
            BasisInput::Max => Basis::Max,
            BasisInput::Request => Basis::Request,
            BasisInput::Usage => Basis::Usage,
        },
        share_idle: match share_idle {
            ShareIdleInput::Proportional => ShareIdle::Proportional,
            ShareIdleInput::None => ShareIdle::None,
        },
        share_shared: match share_shared {
            ShareSharedInput::Proportional => ShareShared::Proportional,
            ShareSharedInput::Even => ShareShared::Even,
            ShareSharedInput::None => ShareShared::None,
        },
        ..Options::default()
    })
}

/// A result's rows as JSON objects, written by the same writer as
/// `kubetally query --format json`, so the two print the same values.
///
/// # Errors
///
/// When polars cannot encode a value.
pub fn rows(frame: &mut DataFrame) -> Result<Vec<Map<String, Value>>, ToolError> {
    let mut out = Vec::new();
    crate::analyze::write(frame, crate::analyze::ResultFormat::Json, &mut out)?;
    let value: Value =
        serde_json::from_slice(&out).map_err(|e| ToolError::Internal(e.to_string()))?;
    Ok(match value {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::Object(map) => Some(map),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// A number of a result row (0 when null or absent).
pub fn number(row: &Map<String, Value>, key: &str) -> f64 {
    row.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

/// A string of a result row (empty when null or absent).
pub fn text(row: &Map<String, Value>, key: &str) -> String {
    row.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(json: &str) -> Result<Window, String> {
        let input: WindowInput = serde_json::from_str(json).map_err(|e| e.to_string())?;
        input.window().map_err(|e| e.to_string())
    }

    #[test]
    fn a_window_follows_the_report_flags_and_refuses_absurd_ones() {
        assert_eq!(window("{}"), Ok(Window::default()));
        assert!(matches!(
            window(r#"{"last_hours": 3}"#),
            Ok(Window::Last { to: None, .. })
        ));
        assert!(window(r#"{"from": "2026-11-01", "last_days": 2}"#).is_err());
        assert!(window(r#"{"last_days": 0}"#).is_err());
        assert!(window(r#"{"last_days": 4000000}"#).is_err());
        assert!(window(r#"{"from": "0001-01-01"}"#).is_err());
        assert!(window(r#"{"from": "yesterday"}"#).is_err());
        assert!(window(r#"{"last_days": -1}"#).is_err());
        assert!(window(r#"{"since": "2026-11-01"}"#).is_err());
    }
}
