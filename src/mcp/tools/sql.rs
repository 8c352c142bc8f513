//! `query`: an agent's read-only SQL (or a bundled query) over the dataset,
//! through the same [`Session`](crate::analyze::Session) and JSON writer as
//! `kubetally query --format json`, after the [`guard`](crate::mcp::guard)
//! and with a row cap.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::analyze::{self, QueryFile};
use crate::mcp::{Config, ToolError, guard};

/// `query`'s input: `sql`, or `name` of a bundled query with its `params`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryInput {
    /// One SELECT (or WITH … SELECT) over the tables list_tables names,
    /// polars SQL (close to PostgreSQL). Anything else is refused.
    pub sql: Option<String>,
    /// Instead of `sql`: a bundled query (resources kubetally://queries/NAME).
    pub name: Option<String>,
    /// Values of the bundled query's `{{NAME}}` parameters.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Rows to return at most (default 100; capped by the server, 1000 unless configured).
    #[serde(default, deserialize_with = "crate::mcp::tools::lenient::number")]
    pub max_rows: Option<usize>,
}

/// `query`'s result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct QueryResult {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// One object per row, as `kubetally query --format json` writes them.
    pub rows: Vec<Map<String, Value>>,
    pub row_count: usize,
    /// Whether more rows matched than were returned (raise max_rows, or aggregate).
    pub truncated: bool,
    /// The SQL that ran (a bundled query's with its parameters filled).
    pub sql: String,
}

/// Runs the query.
///
/// # Errors
///
/// [`ToolError::BadInput`] without SQL or with both kinds, or for a bad
/// bundled query or parameter; [`ToolError::Refused`] for SQL that is not
/// one read-only query; [`ToolError::Analyze`] when polars fails.
pub fn run(config: &Config, input: &QueryInput) -> Result<QueryResult, ToolError> {
    let sql = match (&input.sql, &input.name) {
        (Some(sql), None) => QueryFile::parse(sql)
            .and_then(|query| query.render(&[]))
            .map_err(|e| ToolError::BadInput(e.to_string()))?,
        (None, Some(name)) => {
            let params: Vec<(String, String)> = input
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            analyze::find(name)?
                .query
                .render(&params)
                .map_err(|e| ToolError::BadInput(e.to_string()))?
        }
        _ => {
            return Err(ToolError::BadInput(
                "give `sql` (one SELECT) or `name` (a bundled query), not both".into(),
            ));
        }
    };
    let limit = input
        .max_rows
        .unwrap_or(config.limits.default_rows)
        .clamp(1, config.limits.max_rows);
    let mut session = config.scope.sql_session(&config.root, config.cost)?;
    let tables = session.table_names();
    let names: Vec<&str> = tables.iter().map(String::as_str).collect();
    guard::check(&analyze::dialect::quote_cluster(&sql), &names)?;
    let mut frame = session.query_head(&sql, limit + 1)?;
    let truncated = frame.height() > limit;
    if truncated {
        frame = frame.head(Some(limit));
    }
    let columns = frame
        .get_column_names()
        .iter()
        .map(|name| name.to_string())
        .collect();
    let rows = super::rows(&mut frame)?;
    Ok(QueryResult {
        columns,
        row_count: rows.len(),
        rows,
        truncated,
        sql,
    })
}
