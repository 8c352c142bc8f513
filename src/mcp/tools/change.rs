//! `cost_change`: two periods compared line by line, the largest movers
//! first, each with the drivers that explain it: more pods, more hours,
//! bigger requests, higher unit prices.
//!
//! The totals are the report's: the later period's report, against the
//! report's own previous period of the same length, or against a second
//! report when the call gives the earlier window. The drivers come from
//! one sum over `allocation` per period (pods, container-hours, requested
//! core- and GiB-hours, billed cost and quantities, whose quotient is the
//! unit price the report's rule uses).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    BasisInput, ShareIdleInput, ShareSharedInput, WindowInput, number, report_options, text,
};
use crate::analyze::Session;
use crate::analyze::report::{self, By, Report, literal, window_filter};
use crate::mcp::{Config, ToolError};

/// `cost_change`'s input.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeInput {
    /// The later period (default: the last seven complete UTC days of data).
    #[serde(default, deserialize_with = "crate::mcp::tools::lenient::object")]
    pub after: WindowInput,
    /// The earlier period (default: the period of the same length just before `after`).
    #[serde(
        default,
        deserialize_with = "crate::mcp::tools::lenient::optional_object"
    )]
    pub before: Option<WindowInput>,
    /// Lines by `tenant` (default), `namespace`, `workload` or `label:KEY`
    /// (label lines get totals but no drivers).
    pub by: Option<String>,
    /// What containers are charged for (default max(request, usage)).
    #[serde(default)]
    pub basis: BasisInput,
    /// Movers to return (default 10, at most 100).
    #[serde(default, deserialize_with = "crate::mcp::tools::lenient::number")]
    pub top: Option<usize>,
}

/// Two periods compared.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CostChange {
    pub before_start: DateTime<Utc>,
    pub before_end: DateTime<Utc>,
    pub after_start: DateTime<Utc>,
    pub after_end: DateTime<Utc>,
    /// `tenant`, `namespace`, `workload` or `label_<KEY>`.
    pub group_by: String,
    /// What the report accounts for in each period (the cluster, or the tenant).
    pub before_total_usd: Option<f64>,
    pub after_total_usd: f64,
    pub change_usd: Option<f64>,
    /// The lines whose cost moved most (up or down), largest first.
    pub movers: Vec<Mover>,
}

/// One line's change.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Mover {
    pub name: String,
    /// Its total (compute + storage + network + shared + idle); null when it had no cost then.
    pub before_usd: Option<f64>,
    pub after_usd: f64,
    pub change_usd: f64,
    pub before: Option<Drivers>,
    pub after: Option<Drivers>,
    /// The drivers that moved, as sentences (largest relative change first).
    pub why: Vec<String>,
}

/// What a line's compute cost is made of in a period.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Drivers {
    pub pods: u64,
    pub container_hours: f64,
    pub cpu_request_core_hours: f64,
    pub memory_request_gib_hours: f64,
    /// Billed compute ÷ billed core-hours: the average node price paid per core-hour.
    pub cpu_usd_per_core_hour: Option<f64>,
    pub memory_usd_per_gib_hour: Option<f64>,
    pub compute_cost_usd: f64,
}

/// Compares the periods.
///
/// # Errors
///
/// [`ToolError::BadInput`] for bad windows or grouping; the report's errors.
pub fn compare(config: &Config, input: &ChangeInput) -> Result<CostChange, ToolError> {
    let options = |window: &WindowInput| {
        report_options(
            window,
            input.by.as_deref(),
            input.basis,
            ShareIdleInput::Proportional,
            ShareSharedInput::Proportional,
        )
        .map(|mut o| {
            o.top_waste = 0;
            config.scope.report(o)
        })
    };
    let after_options = options(&input.after)?;
    let mut session = config.session()?;
    let after = report::build(&mut session, &after_options)?;
    let (before_start, before_end, before_totals, before_total) = match &input.before {
        Some(window) => {
            let before = report::build(&mut session, &options(window)?)?;
            let totals = line_totals(&before);
            (
                before.period.start,
                before.period.end,
                totals,
                Some(before.total_cost_usd),
            )
        }
        None => {
            let totals = after
                .groups
                .iter()
                .filter_map(|g| g.previous_total_cost_usd.map(|usd| (g.name.clone(), usd)))
                .collect();
            (
                after.period.previous_start,
                after.period.start,
                totals,
                after.previous_total_cost_usd,
            )
        }
    };
    let by = after_options.by.clone();
    let drivers_before = drivers(config, &mut session, &by, before_start, before_end)?;
    let drivers_after = drivers(
        config,
        &mut session,
        &by,
        after.period.start,
        after.period.end,
    )?;
    let after_totals = line_totals(&after);
    let mut names: Vec<&String> = after_totals.keys().chain(before_totals.keys()).collect();
    names.sort();
    names.dedup();
    let mut movers: Vec<Mover> = names
        .into_iter()
        .map(|name| {
            let before_usd = before_totals.get(name).copied();
            let after_usd = after_totals.get(name).copied().unwrap_or(0.0);
            let before = drivers_before.get(name).cloned();
            let after = drivers_after.get(name).cloned();
            Mover {
                name: name.clone(),
                change_usd: after_usd - before_usd.unwrap_or(0.0),
                before_usd,
                after_usd,
                why: why(before.as_ref(), after.as_ref()),
                before,
                after,
            }
        })
        .collect();
    movers.sort_by(|a, b| b.change_usd.abs().total_cmp(&a.change_usd.abs()));
    movers.truncate(input.top.unwrap_or(10).min(100));
    Ok(CostChange {
        before_start,
        before_end,
        after_start: after.period.start,
        after_end: after.period.end,
        group_by: after.group_by.clone(),
        before_total_usd: before_total,
        after_total_usd: after.total_cost_usd,
        change_usd: before_total.map(|b| after.total_cost_usd - b),
        movers,
    })
}

fn line_totals(report: &Report) -> BTreeMap<String, f64> {
    report
        .groups
        .iter()
        .map(|g| (g.name.clone(), g.total_cost_usd))
        .collect()
}

/// The drivers of each line (tenant, namespace or workload; none for a
/// label grouping) in [start, end).
fn drivers(
    config: &Config,
    session: &mut Session,
    by: &By,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<BTreeMap<String, Drivers>, ToolError> {
    if matches!(by, By::Label(_)) {
        return Ok(BTreeMap::new());
    }
    let tenant = match config.scope.tenant() {
        Some(tenant) => format!(" AND a.tenant = {}", literal(tenant)),
        None => String::new(),
    };
    let sql = format!(
        "SELECT a.tenant AS tenant, a.namespace AS namespace, a.workload_kind AS kind, \
         a.workload_name AS name, COUNT(DISTINCT a.pod_uid) AS pods, \
         SUM(a.running_seconds) / 3600 AS hours, SUM(a.cpu_request_core_hours) AS cpu_req, \
         SUM(a.memory_request_gib_hours) AS mem_req, SUM(a.cpu_cost_usd) AS cpu_usd, \
         SUM(a.cpu_billed_core_hours) AS cpu_billed, SUM(a.memory_cost_usd) AS mem_usd, \
         SUM(a.memory_billed_gib_hours) AS mem_billed, SUM(a.total_cost_usd) AS usd \
         FROM allocation AS a WHERE {window}{tenant} \
         GROUP BY a.tenant, a.namespace, a.workload_kind, a.workload_name",
        window = window_filter("a", start, end),
    );
    let mut frame = session.query(&sql)?;
    let mut sums: BTreeMap<String, (Drivers, [f64; 4])> = BTreeMap::new();
    for row in super::rows(&mut frame)? {
        let key = match by {
            By::Tenant => text(&row, "tenant"),
            By::Namespace => text(&row, "namespace"),
            _ => format!(
                "{}/{}/{}",
                text(&row, "namespace"),
                text(&row, "kind"),
                text(&row, "name")
            ),
        };
        let (d, prices) = sums.entry(key).or_default();
        d.pods += number(&row, "pods") as u64;
        d.container_hours += number(&row, "hours");
        d.cpu_request_core_hours += number(&row, "cpu_req");
        d.memory_request_gib_hours += number(&row, "mem_req");
        d.compute_cost_usd += number(&row, "usd");
        prices[0] += number(&row, "cpu_usd");
        prices[1] += number(&row, "cpu_billed");
        prices[2] += number(&row, "mem_usd");
        prices[3] += number(&row, "mem_billed");
    }
    Ok(sums
        .into_iter()
        .map(
            |(key, (mut d, [cpu_usd, cpu_billed, mem_usd, mem_billed]))| {
                d.cpu_usd_per_core_hour = (cpu_billed > 0.0).then(|| cpu_usd / cpu_billed);
                d.memory_usd_per_gib_hour = (mem_billed > 0.0).then(|| mem_usd / mem_billed);
                (key, d)
            },
        )
        .collect())
}

/// The drivers that moved by 5 % or more, largest relative change first.
fn why(before: Option<&Drivers>, after: Option<&Drivers>) -> Vec<String> {
    let (before, after) = match (before, after) {
        (None, None) => {
            return vec!["no compute in either period (disks or load balancers only)".into()];
        }
        (None, Some(a)) => {
            return vec![format!(
                "new: {} pods ran {:.1} container-hours",
                a.pods, a.container_hours
            )];
        }
        (Some(b), None) => {
            return vec![format!(
                "gone: {} pods ran {:.1} container-hours before",
                b.pods, b.container_hours
            )];
        }
        (Some(b), Some(a)) => (b, a),
    };
    let per_hour = |q: f64, h: f64| if h > 0.0 { q / h } else { 0.0 };
    let mut moves: Vec<(f64, String)> = Vec::new();
    let mut moved = |label: &str, b: f64, a: f64, unit: &str, decimals: usize| {
        if b > 0.0 {
            let ratio = a / b - 1.0;
            if ratio.abs() >= 0.05 {
                moves.push((
                    ratio.abs(),
                    format!(
                        "{label}: {b:.decimals$} → {a:.decimals$}{unit} ({:+.0} %)",
                        ratio * 100.0
                    ),
                ));
            }
        } else if a > 0.0 {
            moves.push((
                f64::INFINITY,
                format!("{label}: none → {a:.decimals$}{unit}"),
            ));
        }
    };
    moved(
        "more or fewer pods",
        before.pods as f64,
        after.pods as f64,
        "",
        0,
    );
    moved(
        "container-hours",
        before.container_hours,
        after.container_hours,
        " h",
        1,
    );
    moved(
        "CPU request per container-hour",
        per_hour(before.cpu_request_core_hours, before.container_hours),
        per_hour(after.cpu_request_core_hours, after.container_hours),
        " cores",
        3,
    );
    moved(
        "memory request per container-hour",
        per_hour(before.memory_request_gib_hours, before.container_hours),
        per_hour(after.memory_request_gib_hours, after.container_hours),
        " GiB",
        3,
    );
    moved(
        "price per core-hour",
        before.cpu_usd_per_core_hour.unwrap_or(0.0),
        after.cpu_usd_per_core_hour.unwrap_or(0.0),
        " USD",
        5,
    );
    moved(
        "price per GiB-hour",
        before.memory_usd_per_gib_hour.unwrap_or(0.0),
        after.memory_usd_per_gib_hour.unwrap_or(0.0),
        " USD",
        5,
    );
    moves.sort_by(|a, b| b.0.total_cmp(&a.0));
    if moves.is_empty() {
        return vec!["no driver moved by 5 % or more (shared or idle cost changed)".into()];
    }
    moves.into_iter().map(|(_, sentence)| sentence).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn why_names_the_driver_that_moved_most_first() {
        let before = Drivers {
            pods: 4,
            container_hours: 100.0,
            cpu_request_core_hours: 50.0,
            memory_request_gib_hours: 100.0,
            cpu_usd_per_core_hour: Some(0.03),
            memory_usd_per_gib_hour: Some(0.004),
            compute_cost_usd: 2.0,
        };
        let after = Drivers {
            pods: 8,
            container_hours: 200.0,
            cpu_request_core_hours: 100.0,
            memory_request_gib_hours: 200.0,
            ..before.clone()
        };
        let why = why(Some(&before), Some(&after));
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].starts_with("more or fewer pods: 4 → 8"), "{why:?}");
        assert!(why[1].starts_with("container-hours"), "{why:?}");
        assert!(super::why(None, Some(&after))[0].starts_with("new"));
    }
}
