//! Right-sizing: each strategy's requests and limits for a workload
//! container from its [`History`], with the evidence, a confidence, the
//! reason, and the monthly savings at the prices its pods were charged.
//!
//! [`one`] is the only place a strategy's rules live: `kubetally
//! recommend` calls it on the dataset's folded `allocation` rows, and the
//! backtest on a trace's points folded into the same hourly rows
//! (`super::backtest`), so what the backtest scores is what ships.
//!
//! - `vpa`: the VPA recommender's target ([`super::vpa`]); limits keep the
//!   current limit/request ratio.
//! - `krr-simple`: Robusta KRR's default: CPU request = the highest of each
//!   pod's p95 (Prometheus' interpolating `quantile_over_time`, read from
//!   the pods' sketches within 1 %), rounded up to 1m, at least 10m; no CPU
//!   limit; memory request = limit = the peak × 1.15, rounded up to 1 MiB,
//!   at least 100 MiB; "not enough data" under 100 samples; a resource an
//!   HPA scales on is left as is.
//! - `kubetally`: CPU request = VPA's target, no CPU limit; memory request =
//!   VPA's decayed p90 of daily peaks without its margin (≥ 100 MiB);
//!   memory limit = the peak × 1.3 (≥ the request; ≥ 1.2 × the current
//!   limit after OOM kills); HPA-scaled resources left as is; "not enough
//!   data" under 10 samples.
//!
//! Every strategy: no sample in the window → it cannot decide; a resource
//! no sample measured (a memory-only trace) is left as it is.

use std::collections::BTreeMap;

use serde::Serialize;

use super::history::{ContainerKey, History};
use super::strategy::Strategy;
use super::vpa;
use crate::model::units::{GIB, MIB};
use crate::pricing::HOURS_PER_MONTH;

/// Requests and limits; `None` is unset.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct RequestsAndLimits {
    pub cpu_request_cores: Option<f64>,
    pub cpu_limit_cores: Option<f64>,
    pub memory_request_bytes: Option<f64>,
    pub memory_limit_bytes: Option<f64>,
}

/// What the workload template says now (the `workloads` table).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    pub current: RequestsAndLimits,
    /// Resources an HPA scales this workload on (`cpu`, `memory`, …).
    pub hpa_metrics: Vec<String>,
    /// Containers in the pod (VPA splits its per-pod minimums across them).
    pub containers_in_pod: usize,
    /// An init container (a native sidecar, when it keeps running): a patch
    /// must name it under `initContainers`.
    pub is_init: bool,
}

/// What the recommendation rests on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub window_hours: i64,
    pub samples: u64,
    pub cpu_p50_cores: f64,
    pub cpu_p90_cores: f64,
    pub cpu_p95_cores: f64,
    pub cpu_max_cores: Option<f64>,
    pub memory_max_bytes: Option<f64>,
    pub oom_kills: u64,
    pub restarts: u64,
    pub hpa_metrics: Vec<String>,
    pub average_pods: f64,
}

/// One workload container's recommendation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub namespace: String,
    pub workload_kind: String,
    pub workload_name: String,
    pub container: String,
    pub strategy: &'static str,
    pub current: RequestsAndLimits,
    pub recommended: RequestsAndLimits,
    pub monthly_savings_usd: f64,
    /// `low` (under a day of history), `medium` (under a week), `high`.
    pub confidence: &'static str,
    /// Why, or why it cannot decide (then `recommended` = `current`).
    pub reason: String,
    pub undecided: bool,
    /// Whether the pod template lists it under `initContainers`.
    pub init_container: bool,
    pub evidence: Evidence,
}

/// Why a strategy cannot size a container: said, never guessed (then
/// `recommended` = `current`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undecided {
    /// Fewer usage samples than the strategy needs.
    NotEnoughData { samples: u64, needed: u64 },
    /// No usage sample at all in the window.
    NoUsageHistory,
}

impl std::fmt::Display for Undecided {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undecided::NotEnoughData { samples, needed } => {
                write!(f, "not enough data: {samples} samples, {needed} needed")
            }
            Undecided::NoUsageHistory => f.write_str("no usage history"),
        }
    }
}

/// KRR's `points_required`.
const KRR_SAMPLES: u64 = 100;
/// kubetally's minimum: ten minutes at metrics-server's one a minute.
const KUBETALLY_SAMPLES: u64 = 10;
/// kubetally's memory limit over the highest working set seen.
const MEMORY_LIMIT_HEADROOM: f64 = 1.3;
/// KRR's and kubetally's memory floor (KRR's `--mem-min`, 100 MiB).
const MEMORY_FLOOR_BYTES: f64 = 100.0 * MIB;

fn round_up(value: f64, unit: f64) -> f64 {
    (value / unit).ceil() * unit
}

/// KRR's `_round_value` for CPU: up to the millicore (`ceil(v × 1000) / 1000`).
fn krr_cpu_round(cores: f64) -> f64 {
    (cores * 1000.0).ceil() / 1000.0
}

/// KRR simple's CPU: the highest of each pod's p95 (Prometheus'
/// `quantile_over_time`, interpolated), from the pods' sketches.
fn krr_cpu_p95(history: &History) -> Option<f64> {
    history
        .cpu_by_pod
        .iter()
        .filter_map(|pod| pod.quantile(0.95))
        .reduce(f64::max)
}

fn confidence(history: &History) -> &'static str {
    let days = history.vpa.confidence(chrono::Duration::hours(24));
    if days < 1.0 {
        "low"
    } else if days < 7.0 {
        "medium"
    } else {
        "high"
    }
}

/// Recommends for every container of `histories` with `strategy`.
pub fn recommend(
    strategy: Strategy,
    histories: &BTreeMap<ContainerKey, History>,
    templates: &BTreeMap<ContainerKey, Template>,
) -> Vec<Recommendation> {
    let config = vpa::Config::default();
    // Containers per workload, for VPA's per-pod minimums.
    let mut per_workload: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for key in histories.keys() {
        *per_workload
            .entry((&key.namespace, &key.workload_kind, &key.workload_name))
            .or_default() += 1;
    }
    histories
        .iter()
        .map(|(key, history)| {
            let template = templates.get(key).cloned().unwrap_or_default();
            let containers = template.containers_in_pod.max(
                per_workload
                    .get(&(
                        key.namespace.as_str(),
                        key.workload_kind.as_str(),
                        key.workload_name.as_str(),
                    ))
                    .copied()
                    .unwrap_or(1),
            );
            one(strategy, &config, key, history, &template, containers)
        })
        .collect()
}

/// One workload container's recommendation by `strategy`: every rule
/// (the strategy's, HPA, OOM kills, floors, when it cannot decide) is
/// here, for `kubetally recommend` and the backtest alike. `containers` is
/// how many the pod has (VPA splits its per-pod minimums across them).
pub fn one(
    strategy: Strategy,
    config: &vpa::Config,
    key: &ContainerKey,
    history: &History,
    template: &Template,
    containers: usize,
) -> Recommendation {
    // The template's requests where known, else what the pods ran with.
    let current = RequestsAndLimits {
        cpu_request_cores: template
            .current
            .cpu_request_cores
            .or(Some(history.cpu_request_cores())),
        memory_request_bytes: template
            .current
            .memory_request_bytes
            .or(Some(history.memory_request_bytes())),
        ..template.current
    };
    let cpu = history.cpu_pooled();
    let evidence = Evidence {
        window_hours: match (history.first_hour, history.last_hour) {
            (Some(first), Some(last)) => (last - first).num_hours() + 1,
            _ => 0,
        },
        samples: history.samples,
        cpu_p50_cores: cpu.quantile(0.5).unwrap_or(0.0),
        cpu_p90_cores: cpu.quantile(0.9).unwrap_or(0.0),
        cpu_p95_cores: cpu.quantile(0.95).unwrap_or(0.0),
        cpu_max_cores: history.cpu_max_cores,
        memory_max_bytes: history.memory_max_bytes,
        oom_kills: history.oom_kills,
        restarts: history.restarts,
        hpa_metrics: template.hpa_metrics.clone(),
        average_pods: history.average_pods(),
    };
    let mut reasons: Vec<String> = Vec::new();
    let decision = decide(
        strategy,
        config,
        history,
        template,
        &current,
        containers,
        &mut reasons,
    );
    let (recommended, undecided, reason) = match decision {
        Ok(resources) => (resources, false, reasons.join("; ")),
        Err(why) => (current, true, format!("cannot decide: {why}")),
    };
    let delta_cpu =
        current.cpu_request_cores.unwrap_or(0.0) - recommended.cpu_request_cores.unwrap_or(0.0);
    let delta_memory = current.memory_request_bytes.unwrap_or(0.0)
        - recommended.memory_request_bytes.unwrap_or(0.0);
    let monthly_savings_usd = (delta_cpu * history.core_hour_usd()
        + delta_memory / GIB * history.gib_hour_usd())
        * history.average_pods()
        * HOURS_PER_MONTH;
    Recommendation {
        namespace: key.namespace.clone(),
        workload_kind: key.workload_kind.clone(),
        workload_name: key.workload_name.clone(),
        container: key.container.clone(),
        strategy: strategy.as_str(),
        current,
        recommended,
        monthly_savings_usd,
        confidence: confidence(history),
        reason,
        undecided,
        init_container: template.is_init,
        evidence,
    }
}

/// The strategies' rules; `reasons` says why, in order.
fn decide(
    strategy: Strategy,
    config: &vpa::Config,
    history: &History,
    template: &Template,
    current: &RequestsAndLimits,
    containers: usize,
    reasons: &mut Vec<String>,
) -> Result<RequestsAndLimits, Undecided> {
    if history.samples == 0 {
        return Err(Undecided::NoUsageHistory);
    }
    // A resource no sample measured (a memory-only trace) is left as it is.
    let has_cpu = !history.cpu_by_pod.is_empty() || history.cpu_max_cores.is_some();
    let has_memory = history.memory_max_bytes.is_some();
    let hpa_cpu = template.hpa_metrics.iter().any(|m| m == "cpu");
    let hpa_memory = template.hpa_metrics.iter().any(|m| m == "memory");
    let vpa_target = || {
        let all: Vec<&vpa::Aggregate> =
            std::iter::repeat_n(&history.vpa, containers.max(1)).collect();
        vpa::recommend(config, &all)
            .first()
            .map(|r| r.target)
            .unwrap_or_default()
    };
    let enough = |needed: u64| {
        if history.samples < needed {
            Err(Undecided::NotEnoughData {
                samples: history.samples,
                needed,
            })
        } else {
            Ok(())
        }
    };
    let resources = match strategy {
        Strategy::Vpa => {
            let target = vpa_target();
            let cpu = target.cpu_millicores as f64 / 1000.0;
            let memory = target.memory_bytes as f64;
            // VPA keeps each limit's ratio to its request.
            let scale = |limit: Option<f64>, old: Option<f64>, new: f64| {
                limit
                    .zip(old)
                    .filter(|(_, o)| *o > 0.0)
                    .map(|(l, o)| l * new / o)
            };
            reasons.push("VPA target".into());
            RequestsAndLimits {
                cpu_request_cores: Some(cpu),
                cpu_limit_cores: scale(current.cpu_limit_cores, current.cpu_request_cores, cpu),
                memory_request_bytes: Some(memory),
                memory_limit_bytes: scale(
                    current.memory_limit_bytes,
                    current.memory_request_bytes,
                    memory,
                ),
            }
        }
        Strategy::KrrSimple => {
            enough(KRR_SAMPLES)?;
            let cpu = krr_cpu_p95(history)
                .filter(|_| !hpa_cpu)
                .map(|p95| krr_cpu_round(p95).max(0.010));
            let memory = history
                .memory_max_bytes
                .filter(|_| !hpa_memory)
                .map(|max| round_up(max * 1.15, MIB).max(MEMORY_FLOOR_BYTES));
            if hpa_cpu || hpa_memory {
                reasons.push("HPA detected: the scaled resource is left as is".into());
            }
            reasons.push("KRR simple".into());
            RequestsAndLimits {
                cpu_request_cores: cpu.or(current.cpu_request_cores),
                cpu_limit_cores: None,
                memory_request_bytes: memory.or(current.memory_request_bytes),
                memory_limit_bytes: memory.or(current.memory_limit_bytes),
            }
        }
        Strategy::Kubetally => {
            enough(KUBETALLY_SAMPLES)?;
            let cpu = if hpa_cpu {
                reasons.push("an HPA scales on CPU: lowering the request would scale it out, raising it in; CPU left as is".into());
                current.cpu_request_cores
            } else {
                Some(vpa_target().cpu_millicores as f64 / 1000.0)
            };
            let memory = if hpa_memory {
                reasons.push("an HPA scales on memory: memory request left as is".into());
                current.memory_request_bytes
            } else {
                Some(
                    round_up(history.vpa.memory_peaks.percentile(0.9), MIB).max(MEMORY_FLOOR_BYTES),
                )
            };
            let mut limit = history
                .memory_max_bytes
                .map(|max| round_up(max * MEMORY_LIMIT_HEADROOM, MIB))
                .or(current.memory_limit_bytes);
            if history.oom_kills > 0 {
                reasons.push(format!(
                    "{} OOM kill(s): memory limit at least 1.2 × the current one",
                    history.oom_kills
                ));
                let bumped = current.memory_limit_bytes.map(|l| l * 1.2);
                limit = match (limit, bumped) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
            let limit = limit.zip(memory).map(|(l, m)| l.max(m)).or(limit);
            reasons.push("kubetally rule".into());
            RequestsAndLimits {
                cpu_request_cores: cpu,
                cpu_limit_cores: None,
                memory_request_bytes: memory,
                memory_limit_bytes: limit,
            }
        }
    };
    let mut resources = resources;
    if !has_cpu {
        reasons.push("no CPU usage measured: CPU left as is".into());
        resources.cpu_request_cores = current.cpu_request_cores;
        resources.cpu_limit_cores = current.cpu_limit_cores;
    }
    if !has_memory {
        reasons.push("no memory usage measured: memory left as is".into());
        resources.memory_request_bytes = current.memory_request_bytes;
        resources.memory_limit_bytes = current.memory_limit_bytes;
    }
    Ok(resources)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;
    use crate::recommend::replay;
    use crate::recommend::trace::Point;

    /// One pod's usage at one a minute: `cpu(minute)` cores, 300 MiB.
    fn pod(minutes: i64, cpu: impl Fn(i64) -> Option<f64>) -> Vec<Point> {
        let t0 = Utc
            .with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
            .single()
            .unwrap_or_default();
        (0..minutes)
            .map(|m| Point {
                time: t0 + Duration::minutes(m),
                cpu_cores: cpu(m),
                memory_bytes: Some(300.0 * MIB),
            })
            .collect()
    }

    fn decide(strategy: Strategy, history: &History, template: &Template) -> Recommendation {
        let key = ContainerKey {
            namespace: "shop".into(),
            workload_kind: "Deployment".into(),
            workload_name: "api".into(),
            container: "api".into(),
        };
        one(
            strategy,
            &vpa::Config::default(),
            &key,
            history,
            template,
            1,
        )
    }

    fn template() -> Template {
        Template {
            current: RequestsAndLimits {
                cpu_request_cores: Some(2.0),
                cpu_limit_cores: None,
                memory_request_bytes: Some(GIB),
                memory_limit_bytes: Some(GIB),
            },
            containers_in_pod: 1,
            ..Template::default()
        }
    }

    #[test]
    fn krr_takes_the_highest_of_each_pods_p95_not_the_pooled_one() {
        // Pod a: 100 minutes, a fifth of them at 1 core; pod b: 900 at
        // 0.1. KRR: max(p95 a ≈ 1.0, p95 b = 0.1); pooled, p95 is 0.1.
        let mut history = replay::history(
            &pod(100, |m| Some(if m % 5 == 0 { 1.0 } else { 0.1 })),
            2.0,
            GIB,
        );
        let other = replay::history(&pod(900, |_| Some(0.1)), 2.0, GIB);
        history.cpu_by_pod.extend(other.cpu_by_pod);
        let krr = decide(Strategy::KrrSimple, &history, &template());
        assert!(!krr.undecided, "{}", krr.reason);
        let cpu = krr.recommended.cpu_request_cores.unwrap_or_default();
        assert!((0.99..=1.011).contains(&cpu), "{cpu}");
        assert!(
            (krr.evidence.cpu_p95_cores - 0.1).abs() < 0.002,
            "{:?}",
            krr.evidence
        );
        // 300 MiB × 1.15 rounded up to the MiB; limit = request.
        assert_eq!(krr.recommended.memory_request_bytes, Some(345.0 * MIB));
        assert_eq!(krr.recommended.memory_limit_bytes, Some(345.0 * MIB));
    }

    #[test]
    fn without_usage_no_strategy_decides() {
        let history = replay::history(&[], 2.0, GIB);
        for strategy in Strategy::ALL {
            let r = decide(strategy, &history, &template());
            assert!(r.undecided, "{strategy:?}");
            assert_eq!(r.reason, "cannot decide: no usage history");
            assert_eq!(r.recommended, r.current);
        }
    }

    #[test]
    fn a_resource_no_sample_measured_is_left_as_it_is() {
        let history = replay::history(&pod(200, |_| None), 2.0, GIB);
        for strategy in Strategy::ALL {
            let r = decide(strategy, &history, &template());
            assert!(!r.undecided, "{strategy:?}: {}", r.reason);
            assert_eq!(r.recommended.cpu_request_cores, Some(2.0), "{strategy:?}");
            assert!(r.reason.contains("no CPU usage measured"), "{}", r.reason);
            assert_ne!(
                r.recommended.memory_request_bytes,
                Some(GIB),
                "{strategy:?}"
            );
        }
    }

    #[test]
    fn kubetally_leaves_what_an_hpa_scales_on_and_bumps_after_oom_kills() {
        let mut history = replay::history(&pod(200, |_| Some(0.5)), 2.0, GIB);
        let mut with_hpa = template();
        with_hpa.hpa_metrics = vec!["cpu".into()];
        let r = decide(Strategy::Kubetally, &history, &with_hpa);
        assert_eq!(r.recommended.cpu_request_cores, Some(2.0));
        assert!(r.reason.contains("an HPA scales on CPU"), "{}", r.reason);
        history.oom_kills = 1;
        let r = decide(Strategy::Kubetally, &history, &template());
        assert_eq!(r.recommended.memory_limit_bytes, Some(1.2 * GIB));
    }
}
