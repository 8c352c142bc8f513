//! One `kubetally recommend` run over a dataset: pick the cluster and the
//! window, read the histories once, and derive the three kinds of advice
//! from them. The CLI, the report's savings section and the benchmark all
//! call [`plan`], so what they show and what they measure is one thing.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::advice::{self, FamilyItem, SpotItem};
use super::history::{self, HistoryError, Scope};
use super::observed;
use super::rightsize::{self, Recommendation, RequestsAndLimits};
use super::strategy::Strategy;
use crate::pricing::PriceBook;
use crate::store::{RecommendationRow, RecommendationRun, Sizes};

/// What to recommend on.
#[derive(Debug, Clone)]
pub struct Options {
    pub strategy: Strategy,
    /// The window, ending at the end of the newest day of data; rounded up
    /// to whole UTC days, as the dataset is partitioned by day.
    pub last: Duration,
    pub namespace: Option<String>,
    /// The `cluster=` partition; may be left out when there is only one.
    pub cluster: Option<String>,
    /// Right-sizing worth less per month either way is left out, unless
    /// the container was OOM-killed.
    pub min_savings_usd: f64,
}

/// Everything one run recommends.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "analyze", derive(schemars::JsonSchema))]
pub struct Plan {
    pub cluster: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub strategy: &'static str,
    /// Sorted by monthly savings, largest first.
    pub rightsizing: Vec<Recommendation>,
    pub spot: Vec<SpotItem>,
    pub machine_family: Vec<FamilyItem>,
}

impl Plan {
    /// What every row of this run shares in the `recommendations` table.
    pub fn run(&self, generated_at: DateTime<Utc>) -> RecommendationRun<'_> {
        RecommendationRun {
            generated_at,
            window_start: self.window_start,
            window_end: self.window_end,
            strategy: self.strategy,
        }
    }

    /// The plan as `recommendations` rows: right-sizing, then spot, then
    /// machine families.
    pub fn rows(&self) -> Vec<RecommendationRow> {
        let sizes = |r: &RequestsAndLimits| -> Sizes {
            [
                r.cpu_request_cores,
                r.cpu_limit_cores,
                r.memory_request_bytes,
                r.memory_limit_bytes,
            ]
        };
        let mut rows: Vec<RecommendationRow> = Vec::new();
        for r in &self.rightsizing {
            rows.push(RecommendationRow {
                kind: "rightsizing",
                action: if r.undecided {
                    "undecided"
                } else if r.recommended == r.current {
                    "keep"
                } else {
                    "resize"
                },
                namespace: r.namespace.clone(),
                workload_kind: r.workload_kind.clone(),
                workload_name: r.workload_name.clone(),
                container: r.container.clone(),
                current: sizes(&r.current),
                recommended: sizes(&r.recommended),
                monthly_savings_usd: if r.undecided {
                    0.0
                } else {
                    r.monthly_savings_usd
                },
                confidence: r.confidence.to_owned(),
                reason: r.reason.clone(),
                ..RecommendationRow::default()
            });
        }
        for s in &self.spot {
            let failed: Vec<String> = s
                .checks
                .iter()
                .filter(|c| c.verdict == "fail")
                .map(|c| format!("{} {}: {}", c.id, c.name, c.reason))
                .collect();
            rows.push(RecommendationRow {
                kind: "spot",
                action: if s.eligible { "move_to_spot" } else { "stay" },
                namespace: s.namespace.clone(),
                workload_kind: s.workload_kind.clone(),
                workload_name: s.workload_name.clone(),
                monthly_savings_usd: s.monthly_savings_usd,
                reason: match &s.change {
                    Some(change) if s.eligible => change.clone(),
                    _ => failed.join("; "),
                },
                ..RecommendationRow::default()
            });
        }
        for f in &self.machine_family {
            let better = f.options.first().filter(|o| o.monthly_savings_usd > 0.0);
            let mut reason = match better {
                Some(o) => format!(
                    "{} → {}: {:.2} → {:.2} USD/month at effective prices",
                    f.current_family, o.family, f.current_monthly_usd, o.effective_monthly_usd
                ),
                None => format!(
                    "{} is the cheapest family for this capacity",
                    f.current_family
                ),
            };
            if let Some(note) = &f.needs_faster {
                reason = format!("{reason}; {note}");
            }
            rows.push(RecommendationRow {
                kind: "machine_family",
                action: if better.is_some() { "switch" } else { "keep" },
                node_pool: f.pool.clone(),
                monthly_savings_usd: better.map_or(0.0, |o| o.monthly_savings_usd),
                reason,
                ..RecommendationRow::default()
            });
        }
        rows
    }
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("--last must be longer than zero")]
    EmptyWindow,
    #[error("{root}: no {table} files (is this a kubetally dataset?)")]
    NoData { root: String, table: &'static str },
    #[error("{root} holds clusters {clusters}: pick one with --cluster")]
    SeveralClusters { root: String, clusters: String },
    #[error("--cluster {cluster}: not in {root} (it holds {clusters})")]
    UnknownCluster {
        cluster: String,
        root: String,
        clusters: String,
    },
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// Recommends for the dataset at `root`, prices from `book`.
///
/// # Errors
///
/// [`PlanError`]: no data, an ambiguous or unknown cluster, a file that
/// cannot be read.
pub fn plan(root: &Path, book: &PriceBook, options: &Options) -> Result<Plan, PlanError> {
    plan_reporting(root, book, options, &|_, _| {})
}

/// [`plan`], calling `on_file` as each `allocation` file of the window is
/// folded (the long part on a large dataset).
///
/// # Errors
///
/// As [`plan`].
pub fn plan_reporting(
    root: &Path,
    book: &PriceBook,
    options: &Options,
    on_file: history::OnFile<'_>,
) -> Result<Plan, PlanError> {
    if options.last <= Duration::zero() {
        return Err(PlanError::EmptyWindow);
    }
    let cluster = pick_cluster(root, "allocation", options.cluster.as_deref())?;
    let everything = Scope {
        since: None,
        cluster: Some(cluster.clone()),
        ..Scope::default()
    };
    let newest = history::table_files(root, "allocation", &everything)?
        .last()
        .map(|file| file.date)
        .ok_or_else(|| PlanError::NoData {
            root: root.display().to_string(),
            table: "allocation",
        })?;
    let window_end = (newest + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .ok_or_else(|| PlanError::NoData {
            root: root.display().to_string(),
            table: "allocation",
        })?;
    let days = (options.last.num_seconds() + 86_399) / 86_400;
    let window_start = window_end - Duration::days(days);
    let scope = Scope {
        since: Some(window_start),
        cluster: Some(cluster.clone()),
        cpu_sketch: options.strategy == Strategy::KrrSimple,
    };

    let mut histories = history::read_reporting(root, &scope, on_file)?;
    histories.retain(|key, h| {
        h.last_hour.is_some_and(|l| l >= window_start)
            && options
                .namespace
                .as_ref()
                .is_none_or(|ns| &key.namespace == ns)
    });
    let mut templates = history::read_templates(root, &scope)?;
    observed::apply(&observed::read(root, &scope)?, &mut templates.workloads);
    let mut rightsizing = rightsize::recommend(options.strategy, &histories, &templates.containers);
    // Asking for more is kept when it is worth as much, or when the
    // container was OOM-killed: that is about staying up, not money.
    rightsizing.retain(|r| {
        r.monthly_savings_usd.abs() >= options.min_savings_usd || r.evidence.oom_kills > 0
    });
    rightsizing.sort_by(|a, b| b.monthly_savings_usd.total_cmp(&a.monthly_savings_usd));
    let mut spot = advice::spot_items(book, &histories, &templates.workloads);
    spot.retain(|s| {
        options
            .namespace
            .as_ref()
            .is_none_or(|ns| &s.namespace == ns)
    });
    spot.sort_by(|a, b| b.monthly_savings_usd.total_cmp(&a.monthly_savings_usd));
    // Pools are shared by every namespace: a namespace's run leaves them out.
    let machine_family = if options.namespace.is_some() {
        Vec::new()
    } else {
        advice::family_items(book, root, &scope)?
    };
    Ok(Plan {
        cluster,
        window_start,
        window_end,
        strategy: options.strategy.as_str(),
        rightsizing,
        spot,
        machine_family,
    })
}

/// The cluster of `table` to read: `wanted`, or the only one.
///
/// # Errors
///
/// [`PlanError`] when `table` has no cluster, or not `wanted`, or several
/// and none was named.
pub fn pick_cluster(
    root: &Path,
    table: &'static str,
    wanted: Option<&str>,
) -> Result<String, PlanError> {
    let clusters = crate::store::read::clusters(root, table).map_err(HistoryError::from)?;
    let shown = || root.display().to_string();
    match (wanted, clusters.as_slice()) {
        (_, []) => Err(PlanError::NoData {
            root: shown(),
            table,
        }),
        (Some(wanted), names) if names.iter().any(|n| n == wanted) => Ok(wanted.to_owned()),
        (Some(wanted), names) => Err(PlanError::UnknownCluster {
            cluster: wanted.to_owned(),
            root: shown(),
            clusters: names.join(", "),
        }),
        (None, [only]) => Ok(only.clone()),
        (None, names) => Err(PlanError::SeveralClusters {
            root: shown(),
            clusters: names.join(", "),
        }),
    }
}
