//! The report's savings section: the newest `kubetally recommend --write`
//! run in the dataset's `recommendations` table, read rather than computed,
//! so a weekly report costs no more with it (recommending reads two weeks
//! of histograms) and shows exactly what the team's recommend job decided.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::ReportError;
use super::frame::Frame;
use super::model::{Savings, SavingsItem};
use crate::analyze::Session;

/// A workload of one of the report's clusters: (cluster, namespace, kind, name).
pub type ClusterWorkload = (String, String, String, String);

/// How many items the section lists.
const TOP: usize = 10;

/// Aliased `rec`, not `r`: polars' SQL context keeps a derived table's
/// alias from an earlier statement of the session (the report's SQL names
/// several `r`), and `r.action` then resolves against that one.
const ROWS: &str = "SELECT rec.cluster AS cl, rec.strategy AS strategy, rec.generated_at AS at, \
     rec.kind AS kind, rec.action AS action, rec.namespace AS namespace, \
     rec.workload_kind AS workload_kind, rec.workload_name AS workload_name, \
     rec.container AS container, rec.node_pool AS node_pool, \
     rec.monthly_savings_usd AS usd, rec.reason AS reason \
     FROM recommendations AS rec \
     WHERE rec.action IN ('resize', 'move_to_spot', 'switch')";

/// The savings of the newest run per cluster; `scope` keeps only those
/// workloads' items and leaves out pools (a tenant's report).
///
/// # Errors
///
/// [`ReportError`] when the table cannot be read.
pub fn read(
    session: &mut Session,
    scope: Option<&BTreeSet<ClusterWorkload>>,
) -> Result<Option<Savings>, ReportError> {
    if !session.tables().iter().any(|t| t.name == "recommendations") {
        return Ok(None);
    }
    let frame = session.query(ROWS).map_err(|cause| ReportError::Query {
        step: "reading the recommendations",
        cause,
    })?;
    let rows = Frame {
        step: "reading the recommendations",
        frame,
    };
    let (cluster, strategy, at) = (
        rows.strings("cl")?,
        rows.strings("strategy")?,
        rows.times("at")?,
    );
    let (kind, namespace) = (rows.strings("kind")?, rows.strings("namespace")?);
    let (workload_kind, workload_name) = (
        rows.strings("workload_kind")?,
        rows.strings("workload_name")?,
    );
    let (container, pool) = (rows.strings("container")?, rows.strings("node_pool")?);
    let (usd, reason) = (rows.f64s("usd")?, rows.strings("reason")?);

    // Per cluster, the run to show: kubetally's newest, else the newest.
    let mut chosen: BTreeMap<&str, (bool, DateTime<Utc>, &str)> = BTreeMap::new();
    for i in 0..rows.len() {
        let Some(time) = at[i] else { continue };
        let candidate = (strategy[i] == "kubetally", time, strategy[i].as_str());
        let best = chosen.entry(&cluster[i]).or_insert(candidate);
        if (candidate.0, candidate.1) > (best.0, best.1) {
            *best = candidate;
        }
    }
    let Some(&(_, newest, first_strategy)) = chosen.values().max_by_key(|c| c.1) else {
        return Ok(None);
    };
    let mut savings = Savings {
        generated_at: newest,
        strategy: first_strategy.to_owned(),
        rightsizing_monthly_usd: 0.0,
        rightsizing_items: 0,
        spot_monthly_usd: 0.0,
        spot_items: 0,
        machine_family_monthly_usd: 0.0,
        machine_family_items: 0,
        top: Vec::new(),
    };
    for i in 0..rows.len() {
        let Some(&(_, time, run)) = chosen.get(cluster[i].as_str()) else {
            continue;
        };
        if at[i] != Some(time) || strategy[i] != run {
            continue;
        }
        let workload = (
            cluster[i].clone(),
            namespace[i].clone(),
            workload_kind[i].clone(),
            workload_name[i].clone(),
        );
        let in_scope =
            scope.is_none_or(|keep| kind[i] != "machine_family" && keep.contains(&workload));
        if !in_scope {
            continue;
        }
        let target = match kind[i].as_str() {
            "rightsizing" => {
                savings.rightsizing_monthly_usd += usd[i];
                savings.rightsizing_items += 1;
                format!(
                    "{}/{}/{}/{}",
                    namespace[i], workload_kind[i], workload_name[i], container[i]
                )
            }
            "spot" => {
                savings.spot_monthly_usd += usd[i];
                savings.spot_items += 1;
                format!("{}/{}/{}", namespace[i], workload_kind[i], workload_name[i])
            }
            _ => {
                savings.machine_family_monthly_usd += usd[i];
                savings.machine_family_items += 1;
                pool[i].clone()
            }
        };
        savings.top.push(SavingsItem {
            cluster: cluster[i].clone(),
            kind: kind[i].clone(),
            target,
            monthly_usd: usd[i],
            reason: reason[i].clone(),
        });
    }
    savings.top.sort_by(|a, b| {
        b.monthly_usd
            .total_cmp(&a.monthly_usd)
            .then_with(|| a.target.cmp(&b.target))
    });
    savings.top.truncate(TOP);
    Ok(Some(savings))
}
