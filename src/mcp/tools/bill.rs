//! `reconciliation`: what `kubetally reconcile` found when it matched the
//! cloud's bill to the metered resources (its `reconciliation` table,
//! docs/reconcile.md), summed by status and kind.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{number, text};
use crate::analyze::report::literal;
use crate::mcp::{Config, ToolError};

/// `reconciliation`'s input.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BillInput {
    /// Only this cluster.
    pub cluster: Option<String>,
}

/// The reconciliation's summary.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BillSummary {
    /// Whether the dataset holds a reconciliation (else run `kubetally reconcile --bill …`).
    pub available: bool,
    /// Per status (matched, not_billed, unallocated) and kind (node, disk, …).
    pub lines: Vec<BillLine>,
    pub list_cost_usd: f64,
    pub billed_cost: f64,
    pub effective_cost: f64,
    /// effective_cost ÷ list cost of the matched rows: what re-prices the allocation.
    pub effective_factor: Option<f64>,
}

/// One status and kind.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BillLine {
    pub status: String,
    pub kind: String,
    pub currency: String,
    pub rows: u64,
    pub matched_lines: u64,
    pub list_cost_usd: f64,
    pub billed_cost: f64,
    pub effective_cost: f64,
}

/// Sums the reconciliation.
///
/// # Errors
///
/// [`ToolError::Forbidden`] on a tenant-restricted server (the bill is the
/// cluster's); a table that cannot be read.
pub fn summarise(config: &Config, input: &BillInput) -> Result<BillSummary, ToolError> {
    config
        .scope
        .refuse_shared("the reconciliation with the cloud bill")?;
    let mut session = config.session()?;
    if !session.tables().iter().any(|t| t.name == "reconciliation") {
        return Ok(BillSummary {
            available: false,
            lines: Vec::new(),
            list_cost_usd: 0.0,
            billed_cost: 0.0,
            effective_cost: 0.0,
            effective_factor: None,
        });
    }
    let cluster = match &input.cluster {
        Some(cluster) => format!(" WHERE r.cluster = {}", literal(cluster)),
        None => String::new(),
    };
    let sql = format!(
        "SELECT r.status AS status, r.kind AS kind, r.currency AS currency, COUNT(*) AS n, \
         SUM(r.matched_lines) AS matched_lines, SUM(COALESCE(r.list_cost_usd, 0)) AS list_usd, \
         SUM(r.billed_cost) AS billed, SUM(r.effective_cost) AS effective \
         FROM reconciliation AS r{cluster} GROUP BY r.status, r.kind, r.currency \
         ORDER BY status, kind"
    );
    let mut frame = session.query(&sql)?;
    let lines: Vec<BillLine> = super::rows(&mut frame)?
        .iter()
        .map(|row| BillLine {
            status: text(row, "status"),
            kind: text(row, "kind"),
            currency: text(row, "currency"),
            rows: number(row, "n") as u64,
            matched_lines: number(row, "matched_lines") as u64,
            list_cost_usd: number(row, "list_usd"),
            billed_cost: number(row, "billed"),
            effective_cost: number(row, "effective"),
        })
        .collect();
    let matched = lines.iter().filter(|l| l.status == "matched");
    let (matched_list, matched_effective) = matched.fold((0.0, 0.0), |(l, e), line| {
        (l + line.list_cost_usd, e + line.effective_cost)
    });
    Ok(BillSummary {
        available: !lines.is_empty(),
        list_cost_usd: lines.iter().map(|l| l.list_cost_usd).sum(),
        billed_cost: lines.iter().map(|l| l.billed_cost).sum(),
        effective_cost: lines.iter().map(|l| l.effective_cost).sum(),
        effective_factor: (matched_list > 0.0).then(|| matched_effective / matched_list),
        lines,
    })
}
