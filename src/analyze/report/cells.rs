//! The report's tables as rows of formatted cells, shared by the Markdown
//! and HTML renderers so both print the same figures the same way.

use super::model::{Group, Pool, Report, Savings, UnusedVolume, Waste};
use super::numbers::{change_pct, hours, pct, usd};

/// A table: header cells, which columns are numbers (right-aligned), rows.
pub struct Table {
    pub header: Vec<String>,
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

/// Group lines shown before one "… more" line (CSV and JSON carry them all).
pub const MAX_GROUPS: usize = 25;

fn header(names: &[&str], numeric_from: usize) -> (Vec<String>, Vec<bool>) {
    (
        names.iter().map(|n| (*n).to_owned()).collect(),
        (0..names.len()).map(|i| i >= numeric_from).collect(),
    )
}

pub fn groups(r: &Report) -> Table {
    let (mut header, numeric) = header(
        &[
            "",
            "CPU core-h",
            "memory GiB-h",
            "compute",
            "storage",
            "network",
            "shared",
            "idle",
            "total",
            "previous",
            "change",
        ],
        1,
    );
    header[0] = r.group_by.clone();
    let row = |g: &Group| {
        vec![
            g.name.clone(),
            hours(g.cpu_core_hours),
            hours(g.memory_gib_hours),
            usd(g.compute_cost_usd),
            usd(g.storage_cost_usd),
            usd(g.network_cost_usd),
            usd(g.shared_cost_usd),
            usd(g.idle_cost_usd),
            usd(g.total_cost_usd),
            g.previous_total_cost_usd.map_or_else(|| "–".into(), usd),
            change_pct(g.total_cost_usd, g.previous_total_cost_usd),
        ]
    };
    let mut rows: Vec<Vec<String>> = r.groups.iter().take(MAX_GROUPS).map(row).collect();
    if r.groups.len() > MAX_GROUPS {
        let rest = &r.groups[MAX_GROUPS..];
        let sum: f64 = rest.iter().map(|g| g.total_cost_usd).sum();
        let mut more = vec![String::new(); header.len()];
        more[0] = format!("… {} more", rest.len());
        more[8] = usd(sum);
        rows.push(more);
    }
    Table {
        header,
        numeric,
        rows,
    }
}

/// `namespace/Kind/name`.
pub fn workload(w: &Waste) -> String {
    format!("{}/{}/{}", w.namespace, w.workload_kind, w.workload_name)
}

pub fn waste(r: &Report) -> Table {
    let (header, numeric) = header(
        &[
            "workload",
            "cluster",
            "CPU core-h requested / used",
            "memory GiB-h requested / used",
            "cost",
            "waste",
        ],
        2,
    );
    let rows = r
        .waste
        .iter()
        .map(|w| {
            vec![
                workload(w),
                w.cluster.clone(),
                format!(
                    "{} / {}",
                    hours(w.cpu_request_core_hours),
                    hours(w.cpu_usage_core_hours)
                ),
                format!(
                    "{} / {}",
                    hours(w.memory_request_gib_hours),
                    hours(w.memory_usage_gib_hours)
                ),
                usd(w.cost_usd),
                usd(w.waste_usd),
            ]
        })
        .collect();
    Table {
        header,
        numeric,
        rows,
    }
}

/// The disks no pod mounted, costliest first; the first [`MAX_GROUPS`],
/// then one line summing the rest.
pub fn unused_volumes(r: &Report) -> Table {
    let (header, numeric) = header(
        &[
            "volume", "cluster", "state", "tenant", "claim", "class", "GiB", "hours", "cost",
        ],
        6,
    );
    let row = |v: &UnusedVolume| {
        let or_dash = |text: &str| {
            if text.is_empty() {
                "–".to_owned()
            } else {
                text.to_owned()
            }
        };
        vec![
            v.volume.clone(),
            v.cluster.clone(),
            v.state.clone(),
            v.tenant.clone(),
            or_dash(&v.claim),
            or_dash(&v.storage_class),
            hours(v.size_gib),
            hours(v.hours),
            usd(v.cost_usd),
        ]
    };
    let mut rows: Vec<Vec<String>> = r.unused_volumes.iter().take(MAX_GROUPS).map(row).collect();
    if r.unused_volumes.len() > MAX_GROUPS {
        let rest = &r.unused_volumes[MAX_GROUPS..];
        let mut more = vec![String::new(); header.len()];
        more[0] = format!("… {} more", rest.len());
        more[8] = usd(rest.iter().map(|v| v.cost_usd).sum());
        rows.push(more);
    }
    Table {
        header,
        numeric,
        rows,
    }
}

/// The idle share of a pool's cost, `–` without cost.
pub fn idle_share(p: &Pool) -> Option<f64> {
    let idle = p.idle_cost_usd?;
    (p.cost_usd > 0.0).then(|| 100.0 * idle / p.cost_usd)
}

pub fn pools(r: &Report) -> Table {
    let scoped = r.tenant.is_some();
    let mut names = vec![
        "cluster",
        "pool",
        "machine type",
        "capacity",
        "nodes",
        "node-hours",
    ];
    names.extend(if scoped {
        &["your cost"][..]
    } else {
        &["cost", "idle", "idle share"][..]
    });
    let (header, numeric) = header(&names, 4);
    let rows = r
        .pools
        .iter()
        .map(|p| {
            let mut row = vec![
                p.cluster.clone(),
                p.pool.clone(),
                p.machine_types.clone(),
                p.capacity_type.clone(),
                p.nodes.to_string(),
                hours(p.node_hours),
                usd(p.cost_usd),
            ];
            if let Some(idle) = p.idle_cost_usd {
                row.push(usd(idle));
                row.push(idle_share(p).map_or_else(|| "–".into(), pct));
            }
            row
        })
        .collect();
    Table {
        header,
        numeric,
        rows,
    }
}

/// The savings section's intro line (shared by Markdown and HTML).
pub fn savings_intro(r: &Report) -> String {
    match &r.savings {
        None => "No recommendations in the dataset: `kubetally recommend --write` (daily, for example) puts what they save here.".into(),
        Some(s) => format!(
            "From the newest `kubetally recommend --write` run ({} strategy, {} UTC). The three kinds overlap (a workload right-sized and moved to spot saves less than both), so they are not added up.",
            s.strategy,
            s.generated_at.format("%Y-%m-%d %H:%M")
        ),
    }
}

pub fn savings_totals(s: &Savings) -> Table {
    let (header, numeric) = header(&["advice", "items", "per month"], 1);
    let row = |name: &str, items: usize, monthly: f64| {
        vec![name.to_owned(), items.to_string(), usd(monthly)]
    };
    Table {
        header,
        numeric,
        rows: vec![
            row(
                "right-size requests and limits",
                s.rightsizing_items,
                s.rightsizing_monthly_usd,
            ),
            row(
                "move to spot / preemptible",
                s.spot_items,
                s.spot_monthly_usd,
            ),
            row(
                "change machine family",
                s.machine_family_items,
                s.machine_family_monthly_usd,
            ),
        ],
    }
}

pub fn savings_top(s: &Savings) -> Table {
    let (header, numeric) = header(&["what", "cluster", "advice", "per month", "why"], 3);
    let mut numeric = numeric;
    numeric[4] = false;
    let rows = s
        .top
        .iter()
        .map(|item| {
            vec![
                item.target.clone(),
                item.cluster.clone(),
                item.kind.replace('_', " "),
                usd(item.monthly_usd),
                item.reason.clone(),
            ]
        })
        .collect();
    Table {
        header,
        numeric,
        rows,
    }
}
