//! `list_tables` and `describe_table`: the dataset's tables as
//! `store::schema` declares them (the source `docs/schema.md` is checked
//! against), with what this server lets SQL read of each.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analyze::Session;
use crate::mcp::{Config, ToolError};
use crate::store::schema::{Column, PARTITION_COLUMNS, TABLES};

/// The tables.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TableList {
    pub tables: Vec<TableSummary>,
    /// What a tenant-restricted server lets SQL read, when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restriction: Option<String>,
}

/// One table, briefly.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TableSummary {
    pub name: String,
    /// What one row is.
    pub grain: String,
    pub columns: usize,
    /// Whether the `query` tool can read it here (it has files, or a
    /// tenant-restricted server keeps it).
    pub queryable: bool,
    /// Data files in the dataset.
    pub files: usize,
}

/// `describe_table`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribeInput {
    /// A table name from list_tables (allocation, nodes, samples, …).
    pub table: String,
}

/// A table's columns with their types and units.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TableDescription {
    pub name: String,
    pub grain: String,
    pub queryable: bool,
    pub columns: Vec<ColumnDescription>,
}

/// One column.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ColumnDescription {
    pub name: String,
    /// As docs/schema.md writes it (`float64`, `string (dictionary)`, …).
    #[serde(rename = "type")]
    pub kind: String,
    pub nullable: bool,
    /// `USD`, `core-hours`, `GiB-hours`, `bytes`, `cores`, `seconds`, … or `-`.
    pub unit: String,
    pub description: String,
    /// A partition column (from the folder names: prune by it).
    pub partition: bool,
}

/// Lists the tables.
///
/// # Errors
///
/// When the dataset cannot be opened.
pub fn list(config: &Config) -> Result<TableList, ToolError> {
    let session = config.scope.sql_session(&config.root, config.cost)?;
    let queryable = session.table_names();
    let files = Session::open(&config.root)?;
    let tables = TABLES
        .iter()
        .map(|table| TableSummary {
            name: table.name.to_owned(),
            grain: table.grain.to_owned(),
            columns: table.columns.len() + PARTITION_COLUMNS.len(),
            queryable: queryable.iter().any(|q| q == table.name),
            files: files
                .tables()
                .iter()
                .find(|t| t.name == table.name)
                .map_or(0, |t| t.files.len()),
        })
        .collect();
    Ok(TableList {
        tables,
        restriction: config.scope.tenant().map(|tenant| {
            format!(
                "SQL sees only tenant {tenant:?}'s rows: the tables with a tenant column \
                 (samples, allocation, resources, workloads) filtered to it; the others \
                 are no one tenant's and are not queryable"
            )
        }),
    })
}

/// Describes one table.
///
/// # Errors
///
/// [`ToolError::BadInput`] for a table the dataset's schema does not have.
pub fn describe(config: &Config, input: &DescribeInput) -> Result<TableDescription, ToolError> {
    let Some(table) = TABLES.iter().find(|t| t.name == input.table) else {
        let known: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        return Err(ToolError::BadInput(format!(
            "unknown table {:?}: the tables are {}",
            input.table,
            known.join(", ")
        )));
    };
    let session = config.scope.sql_session(&config.root, config.cost)?;
    let column = |c: &Column, partition: bool| ColumnDescription {
        name: c.name.to_owned(),
        kind: c.kind.doc_name().to_owned(),
        nullable: c.nullable,
        unit: c.unit.to_owned(),
        description: c.doc.to_owned(),
        partition,
    };
    let mut columns: Vec<ColumnDescription> =
        table.columns.iter().map(|c| column(c, false)).collect();
    columns.extend(PARTITION_COLUMNS.iter().map(|c| column(c, true)));
    Ok(TableDescription {
        name: table.name.to_owned(),
        grain: table.grain.to_owned(),
        queryable: session.table_names().iter().any(|q| q == table.name),
        columns,
    })
}
