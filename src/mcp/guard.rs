//! The SQL an agent may run: one `SELECT` (or `WITH … SELECT`) over the
//! dataset's tables, and nothing else.
//!
//! polars' SQL engine can do more than read the registered tables: it runs
//! `CREATE TABLE`, `DROP`, `TRUNCATE`, `DELETE` on its context, and its
//! `read_parquet('/any/path')`/`read_csv(…)` table functions open any file
//! the process can read, which would also bypass a tenant's filtered
//! tables. So the statement is parsed here first, with the parser and the
//! options polars-sql uses (sqlparser's generic dialect, trailing commas),
//! and every `FROM` item is checked against an allow list: a table the
//! session registered, a CTE the statement defines, a subquery, a join or
//! `UNNEST`. What the guard cannot parse is refused, never passed on.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    ObjectName, ObjectNamePart, Query, Select, SetExpr, Statement, TableFactor, Visit, Visitor,
};

/// Why a statement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the SQL does not parse: {0}")]
    Syntax(String),
    #[error("no SQL: give one SELECT statement")]
    Empty,
    #[error("{0} statements: give exactly one SELECT statement (no `;`-separated scripts)")]
    Several(usize),
    #[error(
        "{0} statements are refused: this server is read-only and runs only one SELECT \
         (or WITH … SELECT) over the dataset's tables"
    )]
    NotSelect(String),
    #[error("SELECT … INTO is refused: this server is read-only")]
    SelectInto,
    #[error(
        "table function {0}(…) is refused: only the dataset's tables can be read \
         (see list_tables)"
    )]
    TableFunction(String),
    #[error("{0} in FROM is refused: read the dataset's tables, subqueries or UNNEST")]
    FromItem(&'static str),
    #[error("unknown table {name:?}: the tables here are {known}")]
    UnknownTable { name: String, known: String },
}

/// Checks `sql` is one read-only query over `tables` (names as registered).
///
/// # Errors
///
/// [`Refused`], saying what to change.
pub fn check(sql: &str, tables: &[&str]) -> Result<(), Refused> {
    let statements =
        crate::analyze::dialect::parse(sql).map_err(|e| Refused::Syntax(e.to_string()))?;
    let statement = match statements.as_slice() {
        [] => return Err(Refused::Empty),
        [one] => one,
        several => return Err(Refused::Several(several.len())),
    };
    if !matches!(statement, Statement::Query(_)) {
        return Err(Refused::NotSelect(kind(statement)));
    }
    let mut walk = Walk {
        tables,
        ctes: BTreeSet::new(),
    };
    match statement.visit(&mut walk) {
        ControlFlow::Break(refused) => Err(refused),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// The statement's leading keywords, for the message: `INSERT`, `CREATE TABLE`.
fn kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        [first, second]
            if second.chars().all(|c| c.is_ascii_alphabetic())
                && second.to_ascii_uppercase() == *second =>
        {
            format!("{first} {second}")
        }
        [first, ..] => (*first).to_owned(),
        [] => "empty".to_owned(),
    }
}

struct Walk<'a> {
    tables: &'a [&'a str],
    /// Names the statement's `WITH` clauses define (seen before their uses:
    /// a query is visited before its body).
    ctes: BTreeSet<String>,
}

impl Visitor for Walk<'_> {
    type Break = Refused;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Refused> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.insert(cte.alias.name.value.clone());
            }
        }
        if into(&query.body) {
            return ControlFlow::Break(Refused::SelectInto);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<Refused> {
        if select.into.is_some() {
            return ControlFlow::Break(Refused::SelectInto);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Refused> {
        let refused = match factor {
            TableFactor::Table { args: None, .. }
            | TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. }
            | TableFactor::UNNEST { .. } => return ControlFlow::Continue(()),
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            } => Refused::TableFunction(name.to_string()),
            TableFactor::TableFunction { .. } | TableFactor::Function { .. } => {
                Refused::TableFunction(factor.to_string())
            }
            _ => Refused::FromItem("this kind of item"),
        };
        ControlFlow::Break(refused)
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<Refused> {
        let name = match relation.0.as_slice() {
            [ObjectNamePart::Identifier(ident)] => ident.value.clone(),
            _ => relation.to_string(),
        };
        if self.tables.contains(&name.as_str()) || self.ctes.contains(&name) {
            return ControlFlow::Continue(());
        }
        ControlFlow::Break(Refused::UnknownTable {
            name,
            known: self.tables.join(", "),
        })
    }
}

/// Whether a query body selects `INTO` a table anywhere in a set operation.
fn into(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => select.into.is_some(),
        SetExpr::SetOperation { left, right, .. } => into(left) || into(right),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLES: [&str; 2] = ["allocation", "nodes"];

    fn refused(sql: &str) -> String {
        match check(sql, &TABLES) {
            Ok(()) => panic!("accepted: {sql}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn accepts_one_select_over_the_tables_with_ctes_subqueries_and_unnest() {
        for sql in [
            "SELECT tenant, SUM(total_cost_usd) AS usd FROM allocation GROUP BY tenant",
            "select * from nodes;",
            "WITH t AS (SELECT * FROM allocation) SELECT COUNT(*) FROM t",
            "SELECT a.pod, l.value FROM allocation AS a CROSS JOIN UNNEST(a.labels) AS l",
            "SELECT * FROM (SELECT node FROM nodes) AS n JOIN allocation AS a ON a.node = n.node",
            "SELECT 1 AS one UNION ALL SELECT 2",
        ] {
            assert_eq!(check(sql, &TABLES), Ok(()), "{sql}");
        }
    }

    #[test]
    fn refuses_writes_and_scripts_with_a_message_saying_why() {
        assert!(refused("INSERT INTO nodes VALUES (1)").contains("INSERT"));
        assert!(refused("CREATE TABLE x AS SELECT * FROM nodes").contains("CREATE TABLE"));
        assert!(refused("DROP TABLE nodes").contains("read-only"));
        assert!(refused("DELETE FROM nodes").contains("read-only"));
        assert!(refused("TRUNCATE nodes").contains("read-only"));
        assert!(refused("COPY nodes TO '/tmp/x'").contains("read-only"));
        assert!(refused("SELECT 1; SELECT 2").contains("exactly one"));
        assert!(refused("   ").contains("no SQL"));
        assert!(refused("SELEC 1").contains("does not parse"));
        assert!(refused("SELECT * INTO copy FROM nodes").contains("INTO"));
    }

    #[test]
    fn refuses_files_and_tables_outside_the_dataset() {
        assert!(refused("SELECT * FROM read_parquet('/etc/passwd')").contains("table function"));
        assert!(refused("SELECT * FROM read_csv('/etc/passwd')").contains("table function"));
        let unknown = refused("SELECT * FROM samples");
        assert!(unknown.contains("unknown table \"samples\""), "{unknown}");
        assert!(unknown.contains("allocation, nodes"), "{unknown}");
        assert!(refused("SELECT * FROM other.nodes").contains("unknown table"));
        assert!(
            refused("SELECT * FROM nodes WHERE node IN (SELECT x FROM secrets)")
                .contains("secrets")
        );
    }
}
