//! Grouped aggregates computed beside polars: the `SELECT`s of a statement
//! that only group one dataset table by string columns (and `cluster`,
//! `date`) and aggregate its number columns (`SUM`, `MIN`, `MAX`) are
//! folded here from the files' dictionary codes, and polars runs the rest
//! of the statement on their groups.
//!
//! Why: polars 0.55 groups by decoding every key string of every row into a
//! view and hashing it, turns each SQL `SUM` into three reductions (sum,
//! null count, length), and leaves its streaming engine for a `MAX` or for
//! arithmetic on aggregates. At 150,000 pods the bundled
//! `chargeback_by_tenant` spent 1.4 s of its 2 s in one such `SELECT`
//! (`allocation` by tenant, 40 M rows), where DuckDB, grouping on the
//! dictionary codes, needs 0.4 s, and the report's unused-volumes statement
//! peaked at 946 MiB (docs/performance.md, Analysis). The report has done
//! the same for its facts since issue 6 (`report::scan`).
//!
//! What a statement returns does not change: the SQL stays the definition
//! (`Session::statements` records it as given, and the other engines run
//! it). Only the `SELECT`s of [`shape`]'s shape are replaced, each by the
//! same outputs over a frame of its groups (keys and aggregates under
//! hidden names), so polars still names and types every output and
//! computes what surrounds the aggregates; anything the fold does not read
//! exactly as polars would makes the whole statement run unchanged
//! ([`fold`]). Sums may differ from polars' in the last bits (the same
//! additions in another order). Tests: `tests/pushdown.rs` runs every
//! bundled query both ways.

mod cond;
mod fold;
mod shape;
mod totals;

use polars::prelude::DataFrame;

use super::session::TableFiles;

/// What [`prepare`] made of a statement: the SQL polars runs, and the
/// frames it reads, to register under their names first.
#[derive(Debug)]
pub(super) struct Prepared {
    pub sql: String,
    pub frames: Vec<(String, DataFrame)>,
}

/// Frame names start with this, which no dataset table does.
const PREFIX: &str = "__kubetally_pushdown_";

/// `sql` with its foldable `SELECT`s computed from `tables`' files on
/// `threads` threads; `None` when it has none, or when any of them finds
/// the files are not what it reads (polars then runs `sql` as it is).
pub(super) fn prepare(sql: &str, tables: &[TableFiles], threads: usize) -> Option<Prepared> {
    let names: Vec<&str> = tables.iter().map(|t| t.name).collect();
    let rewritten = shape::rewrite(sql, &names, PREFIX)?;
    let mut frames = Vec::with_capacity(rewritten.plans.len());
    for (name, plan) in &rewritten.plans {
        let table = tables.iter().find(|t| t.name == plan.table)?;
        frames.push((name.clone(), fold::fold(plan, &table.files, threads)?));
    }
    Some(Prepared {
        sql: rewritten.sql,
        frames,
    })
}
