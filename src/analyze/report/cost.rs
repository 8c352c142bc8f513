//! The report's word on its dollars: list prices, or the bill's — and then
//! how much of the period the bill covers, what share of it landed on
//! metered resources (the match rate), what was metered but not billed,
//! and the bill's lines no resource claims. Figures from
//! `reconcile::factors`, the rule shared with queries and the FOCUS export.

use std::collections::BTreeMap;

use super::ReportError;
use super::frame::run;
use super::model::{CostNote, UnallocatedLine};
use super::sql::Fragments;
use crate::analyze::Session;

/// The cost note of `fragments`' period; a tenant's report (`scoped`)
/// gets no figure of the cluster's bill.
pub(super) fn note(
    session: &mut Session,
    fragments: &Fragments,
    scoped: bool,
) -> Result<CostNote, ReportError> {
    let rows = run(session, "reading the period's hours", &fragments.hours())?;
    let (clusters, hours) = (rows.strings("cl")?, rows.times("h")?);
    let factors = session.factors();
    let mut billed = 0;
    for (cluster, hour) in clusters.iter().zip(&hours) {
        if hour.is_some_and(|h| factors.covers(cluster, h.timestamp_millis())) {
            billed += 1;
        }
    }
    let period = fragments.period();
    let (from, to) = (
        period.start.timestamp_millis(),
        period.end.timestamp_millis(),
    );
    let mut note = CostNote {
        basis: factors.basis().as_str().to_owned(),
        hours: hours.len() as u64,
        hours_billed: billed,
        bill_total_usd: None,
        match_rate_pct: None,
        not_billed_resources: 0,
        not_billed_list_usd: 0.0,
        unallocated: Vec::new(),
    };
    if scoped || !factors.repricing() {
        return Ok(note);
    }
    let coverage = factors.coverage(from, to);
    note.bill_total_usd = Some(coverage.bill_total);
    note.match_rate_pct =
        (coverage.bill_total > 0.0).then(|| 100.0 * coverage.matched / coverage.bill_total);
    note.not_billed_resources = coverage.not_billed;
    note.not_billed_list_usd = coverage.not_billed_list;
    let mut lines: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for u in factors.unallocated(from, to) {
        *lines.entry((&u.service, &u.sku)).or_default() += u.cost;
    }
    note.unallocated = lines
        .into_iter()
        .map(|((service, sku), cost_usd)| UnallocatedLine {
            service: service.to_owned(),
            sku: sku.to_owned(),
            cost_usd,
        })
        .collect();
    note.unallocated
        .sort_by(|a, b| b.cost_usd.total_cmp(&a.cost_usd));
    Ok(note)
}
