//! Reading a price CSV into validated rows, with every problem located by
//! line and column.
//!
//! Both price files (machine prices in `catalog`, disks, load balancers,
//! fees and Autopilot in `resources`) share this reader, so they report
//! problems, ragged rows and duplicate keys in the same words. Validation
//! collects every problem instead of stopping at the first, because a user
//! fixing a 400-line price sheet wants the whole list at once.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use chrono::NaiveDate;

/// One problem in a price file, located by line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogProblem {
    /// 1-based line number (1 is the header).
    pub line: usize,
    /// The column at fault, when one is.
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for CatalogProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "line {}, column {column}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// A price file that failed validation, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {} problem(s), first: {}", .problems.len(), .problems.first().map(ToString::to_string).unwrap_or_default())]
pub struct CatalogError {
    /// The file (or `embedded catalog`).
    pub origin: String,
    pub problems: Vec<CatalogProblem>,
}

/// The longest cell a price file may hold. The longest real values (a
/// source note citing a page) are a few hundred bytes; a cell of megabytes
/// is a damaged or hostile file, refused by line and column rather than
/// carried into every price lookup and message.
pub const MAX_CELL_BYTES: usize = 4_096;

/// What a price file's rows are, for [`read_table`].
pub(super) struct TableSpec<'a> {
    /// The file's columns.
    pub columns: &'a [&'a str],
    /// Columns the header may leave out (read as empty).
    pub optional: &'a [&'a str],
    /// What two rows with the same key share, for the duplicate message
    /// (`provider, region and sku`).
    pub key_description: &'a str,
}

/// The column names of a CSV text's header, or `None` when it has none.
pub(super) fn header_columns(text: &str) -> Option<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers().ok()?;
    Some(headers.iter().map(str::to_owned).collect())
}

/// Reads every record of `text` with `parse_row`, rejecting a header that
/// lacks a required column, ragged rows and rows whose `key` repeats an
/// earlier row's. Blank rows are skipped.
///
/// # Errors
///
/// [`CatalogError`] with every problem `parse_row` and the reader found.
pub(super) fn read_table<R, K: Eq + Hash>(
    text: &str,
    origin: &str,
    spec: &TableSpec<'_>,
    mut parse_row: impl FnMut(&Fields<'_>, &mut RowProblems<'_>) -> Option<R>,
    key: impl Fn(&R) -> K,
) -> Result<Vec<R>, CatalogError> {
    let fail = |problems| CatalogError {
        origin: origin.to_owned(),
        problems,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(headers) => headers.clone(),
        Err(error) => {
            return Err(fail(vec![CatalogProblem {
                line: 1,
                column: None,
                message: format!("unreadable header: {error}"),
            }]));
        }
    };
    let index: HashMap<&str, usize> = headers.iter().enumerate().map(|(i, h)| (h, i)).collect();
    let mut problems: Vec<CatalogProblem> = spec
        .columns
        .iter()
        .filter(|column| !spec.optional.contains(column) && !index.contains_key(**column))
        .map(|column| CatalogProblem {
            line: 1,
            column: Some((*column).to_owned()),
            message: "missing from the header".to_owned(),
        })
        .collect();
    if !problems.is_empty() {
        return Err(fail(problems));
    }

    let mut rows = Vec::new();
    let mut first_line_of: HashMap<K, usize> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line() as usize);
                problems.push(CatalogProblem {
                    line,
                    column: None,
                    message: csv_error_message(&error),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if let Some((at, cell)) = record
            .iter()
            .enumerate()
            .find(|(_, cell)| cell.len() > MAX_CELL_BYTES)
        {
            problems.push(CatalogProblem {
                line,
                column: Some(headers.get(at).unwrap_or("?").to_owned()),
                message: format!("a value of {} bytes; at most {MAX_CELL_BYTES}", cell.len()),
            });
            continue;
        }
        let fields = Fields {
            index: &index,
            record: &record,
            line,
        };
        let mut row_problems = RowProblems {
            line,
            problems: &mut problems,
            found: false,
        };
        let Some(row) = parse_row(&fields, &mut row_problems) else {
            continue;
        };
        let row_key = key(&row);
        if let Some(first) = first_line_of.get(&row_key) {
            problems.push(CatalogProblem {
                line,
                column: None,
                message: format!(
                    "duplicate key (same {} as line {first})",
                    spec.key_description
                ),
            });
            continue;
        }
        first_line_of.insert(row_key, line);
        rows.push(row);
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(fail(problems))
    }
}

/// The problems of one row, so that each field parser can add its own.
pub(super) struct RowProblems<'a> {
    line: usize,
    problems: &'a mut Vec<CatalogProblem>,
    /// Whether this row has a problem yet.
    pub found: bool,
}

impl RowProblems<'_> {
    /// Records a problem in `column` of this row.
    pub fn add(&mut self, column: &str, message: String) {
        self.found = true;
        self.problems.push(CatalogProblem {
            line: self.line,
            column: Some(column.to_owned()),
            message,
        });
    }

    /// A price in USD: `None` when empty or bad (a bad one is recorded).
    pub fn price(&mut self, column: &str, text: &str) -> Option<f64> {
        if text.is_empty() {
            return None;
        }
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() && value >= 0.0 => Some(value),
            Ok(_) => {
                self.add(
                    column,
                    format!("bad number {text:?}: a price is finite and not negative"),
                );
                None
            }
            Err(_) => {
                self.add(column, format!("bad number {text:?}"));
                None
            }
        }
    }

    /// The `as_of` date: `None` when empty or bad (a bad one is recorded).
    pub fn date(&mut self, column: &str, text: &str) -> Option<NaiveDate> {
        if text.is_empty() {
            return None;
        }
        match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(date) => Some(date),
            Err(_) => {
                self.add(
                    column,
                    format!("bad date {text:?} (expected YYYY-MM-DD, or empty when unknown)"),
                );
                None
            }
        }
    }

    /// A value that must not be empty: recorded as a problem when it is.
    pub fn required<'t>(&mut self, column: &str, text: &'t str, why: &str) -> &'t str {
        if text.is_empty() {
            self.add(column, format!("empty: {why}"));
        }
        text
    }
}

/// One record's fields by column name; absent optional columns read as empty.
pub(super) struct Fields<'a> {
    index: &'a HashMap<&'a str, usize>,
    record: &'a csv::StringRecord,
    /// 1-based line of the record.
    pub line: usize,
}

impl<'a> Fields<'a> {
    /// The trimmed text of column `name`, empty when the header lacks it.
    pub fn get(&self, name: &str) -> &'a str {
        self.index
            .get(name)
            .and_then(|&i| self.record.get(i))
            .unwrap_or("")
    }
}

fn csv_error_message(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_owned(),
        _ => error.to_string(),
    }
}
