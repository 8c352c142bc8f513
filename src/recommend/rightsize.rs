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
#[cfg_attr(feature = "analyze", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "analyze", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "analyze", derive(schemars::JsonSchema))]
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
    let current = current(history, template);
    let inputs = Inputs {
        config,
        history,
        template,
        current: &current,
        containers,
    };
    let verdict = Verdict::of(&current, decide(strategy, &inputs));
    Recommendation {
        namespace: key.namespace.clone(),
        workload_kind: key.workload_kind.clone(),
        workload_name: key.workload_name.clone(),
        container: key.container.clone(),
        strategy: strategy.as_str(),
        current,
        recommended: verdict.recommended,
        monthly_savings_usd: monthly_savings_usd(history, &current, &verdict.recommended),
        confidence: confidence(history),
        reason: verdict.reason,
        undecided: verdict.undecided,
        init_container: template.is_init,
        evidence: evidence(history, template),
    }
}

/// The template's requests where known, else what the pods ran with.
fn current(history: &History, template: &Template) -> RequestsAndLimits {
    RequestsAndLimits {
        cpu_request_cores: template
            .current
            .cpu_request_cores
            .or(Some(history.cpu_request_cores())),
        memory_request_bytes: template
            .current
            .memory_request_bytes
            .or(Some(history.memory_request_bytes())),
        ..template.current
    }
}

/// What the window measured, shown beside the recommendation.
fn evidence(history: &History, template: &Template) -> Evidence {
    let cpu = history.cpu_pooled();
    Evidence {
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
    }
}

/// A month of the requests given back (negative when raised), at the unit
/// prices this container's pods were charged and its average pod count.
fn monthly_savings_usd(
    history: &History,
    current: &RequestsAndLimits,
    recommended: &RequestsAndLimits,
) -> f64 {
    let delta_cpu =
        current.cpu_request_cores.unwrap_or(0.0) - recommended.cpu_request_cores.unwrap_or(0.0);
    let delta_memory = current.memory_request_bytes.unwrap_or(0.0)
        - recommended.memory_request_bytes.unwrap_or(0.0);
    (delta_cpu * history.core_hour_usd() + delta_memory / GIB * history.gib_hour_usd())
        * history.average_pods()
        * HOURS_PER_MONTH
}

/// What [`one`] reports of a decision.
struct Verdict {
    /// The decision's resources, or `current` when it cannot decide.
    recommended: RequestsAndLimits,
    undecided: bool,
    reason: String,
}

impl Verdict {
    fn of(current: &RequestsAndLimits, decision: Result<Decision, Undecided>) -> Verdict {
        match decision {
            Ok(decision) => Verdict {
                recommended: decision.resources,
                undecided: false,
                reason: decision.reasons.join("; "),
            },
            Err(why) => Verdict {
                recommended: *current,
                undecided: true,
                reason: format!("cannot decide: {why}"),
            },
        }
    }
}

/// What every rule reads about one container.
struct Inputs<'a> {
    config: &'a vpa::Config,
    history: &'a History,
    template: &'a Template,
    current: &'a RequestsAndLimits,
    /// Containers in the pod (VPA splits its per-pod minimums across them).
    containers: usize,
}

/// A strategy's resources and why, in the order the rules applied.
struct Decision {
    resources: RequestsAndLimits,
    reasons: Vec<String>,
}

/// The resources an HPA scales the workload on: left as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HpaScaled {
    cpu: bool,
    memory: bool,
}

impl HpaScaled {
    fn of(template: &Template) -> HpaScaled {
        HpaScaled {
            cpu: template.hpa_metrics.iter().any(|m| m == "cpu"),
            memory: template.hpa_metrics.iter().any(|m| m == "memory"),
        }
    }
}

/// The strategies' rules: the strategy's own, then leaving alone what no
/// sample measured.
fn decide(strategy: Strategy, inputs: &Inputs<'_>) -> Result<Decision, Undecided> {
    if inputs.history.samples == 0 {
        return Err(Undecided::NoUsageHistory);
    }
    let mut reasons: Vec<String> = Vec::new();
    let resources = match strategy {
        Strategy::Vpa => vpa_rule(inputs, &mut reasons),
        Strategy::KrrSimple => krr_simple_rule(inputs, &mut reasons)?,
        Strategy::Kubetally => kubetally_rule(inputs, &mut reasons)?,
    };
    let resources = keep_unmeasured(inputs.history, inputs.current, resources, &mut reasons);
    Ok(Decision { resources, reasons })
}

/// `Err` when the window has fewer than `needed` samples.
fn enough(history: &History, needed: u64) -> Result<(), Undecided> {
    if history.samples < needed {
        Err(Undecided::NotEnoughData {
            samples: history.samples,
            needed,
        })
    } else {
        Ok(())
    }
}

/// VPA's target for this container, its per-pod minimums split across
/// the pod's containers.
fn vpa_target(inputs: &Inputs<'_>) -> vpa::ResourceAmounts {
    let all: Vec<&vpa::Aggregate> =
        std::iter::repeat_n(&inputs.history.vpa, inputs.containers.max(1)).collect();
    vpa::recommend(inputs.config, &all)
        .first()
        .map(|r| r.target)
        .unwrap_or_default()
}

/// `vpa`: VPA's target; each limit keeps its ratio to its request.
fn vpa_rule(inputs: &Inputs<'_>, reasons: &mut Vec<String>) -> RequestsAndLimits {
    let target = vpa_target(inputs);
    let cpu = target.cpu_millicores as f64 / 1000.0;
    let memory = target.memory_bytes as f64;
    let current = inputs.current;
    reasons.push("VPA target".into());
    RequestsAndLimits {
        cpu_request_cores: Some(cpu),
        cpu_limit_cores: scale_limit(current.cpu_limit_cores, current.cpu_request_cores, cpu),
        memory_request_bytes: Some(memory),
        memory_limit_bytes: scale_limit(
            current.memory_limit_bytes,
            current.memory_request_bytes,
            memory,
        ),
    }
}

/// `limit` at the same ratio to the `new` request as to the `old` one
/// (none without a positive old request).
fn scale_limit(limit: Option<f64>, old: Option<f64>, new: f64) -> Option<f64> {
    limit
        .zip(old)
        .filter(|(_, o)| *o > 0.0)
        .map(|(l, o)| l * new / o)
}

/// `krr-simple`: the highest pod p95 for CPU, no CPU limit, the peak ×
/// 1.15 for memory request and limit; what an HPA scales on is kept.
fn krr_simple_rule(
    inputs: &Inputs<'_>,
    reasons: &mut Vec<String>,
) -> Result<RequestsAndLimits, Undecided> {
    let (history, current) = (inputs.history, inputs.current);
    enough(history, KRR_SAMPLES)?;
    let hpa = HpaScaled::of(inputs.template);
    let cpu = krr_cpu_p95(history)
        .filter(|_| !hpa.cpu)
        .map(|p95| krr_cpu_round(p95).max(0.010));
    let memory = history
        .memory_max_bytes
        .filter(|_| !hpa.memory)
        .map(|max| round_up(max * 1.15, MIB).max(MEMORY_FLOOR_BYTES));
    if hpa.cpu || hpa.memory {
        reasons.push("HPA detected: the scaled resource is left as is".into());
    }
    reasons.push("KRR simple".into());
    Ok(RequestsAndLimits {
        cpu_request_cores: cpu.or(current.cpu_request_cores),
        cpu_limit_cores: None,
        memory_request_bytes: memory.or(current.memory_request_bytes),
        memory_limit_bytes: memory.or(current.memory_limit_bytes),
    })
}

/// `kubetally`: VPA's CPU target without a CPU limit, the decayed p90 of
/// daily memory peaks, a memory limit over the peak (raised after OOM
/// kills); what an HPA scales on is kept.
fn kubetally_rule(
    inputs: &Inputs<'_>,
    reasons: &mut Vec<String>,
) -> Result<RequestsAndLimits, Undecided> {
    let (history, current) = (inputs.history, inputs.current);
    enough(history, KUBETALLY_SAMPLES)?;
    let hpa = HpaScaled::of(inputs.template);
    let cpu = if hpa.cpu {
        reasons.push("an HPA scales on CPU: lowering the request would scale it out, raising it in; CPU left as is".into());
        current.cpu_request_cores
    } else {
        Some(vpa_target(inputs).cpu_millicores as f64 / 1000.0)
    };
    let memory = if hpa.memory {
        reasons.push("an HPA scales on memory: memory request left as is".into());
        current.memory_request_bytes
    } else {
        Some(kubetally_memory_request(history))
    };
    let limit = history
        .memory_max_bytes
        .map(|max| round_up(max * MEMORY_LIMIT_HEADROOM, MIB))
        .or(current.memory_limit_bytes);
    let limit = after_oom_kills(
        history.oom_kills,
        current.memory_limit_bytes,
        limit,
        reasons,
    );
    reasons.push("kubetally rule".into());
    Ok(RequestsAndLimits {
        cpu_request_cores: cpu,
        cpu_limit_cores: None,
        memory_request_bytes: memory,
        memory_limit_bytes: at_least_request(limit, memory),
    })
}

/// VPA's decayed p90 of daily memory peaks without its margin, rounded up
/// to the MiB, at least [`MEMORY_FLOOR_BYTES`].
fn kubetally_memory_request(history: &History) -> f64 {
    round_up(history.vpa.memory_peaks.percentile(0.9), MIB).max(MEMORY_FLOOR_BYTES)
}

/// The OOM rule: after any kill in the window the memory `limit` is at
/// least 1.2 × the `current_limit` the pods were killed under.
fn after_oom_kills(
    oom_kills: u64,
    current_limit: Option<f64>,
    limit: Option<f64>,
    reasons: &mut Vec<String>,
) -> Option<f64> {
    if oom_kills == 0 {
        return limit;
    }
    reasons.push(format!(
        "{oom_kills} OOM kill(s): memory limit at least 1.2 × the current one"
    ));
    let bumped = current_limit.map(|l| l * 1.2);
    match (limit, bumped) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// A memory `limit` never under the `request`.
fn at_least_request(limit: Option<f64>, request: Option<f64>) -> Option<f64> {
    limit.zip(request).map(|(l, m)| l.max(m)).or(limit)
}

/// A resource no sample measured (a memory-only trace) is left as it is.
fn keep_unmeasured(
    history: &History,
    current: &RequestsAndLimits,
    mut resources: RequestsAndLimits,
    reasons: &mut Vec<String>,
) -> RequestsAndLimits {
    let has_cpu = !history.cpu_by_pod.is_empty() || history.cpu_max_cores.is_some();
    if !has_cpu {
        reasons.push("no CPU usage measured: CPU left as is".into());
        resources.cpu_request_cores = current.cpu_request_cores;
        resources.cpu_limit_cores = current.cpu_limit_cores;
    }
    if history.memory_max_bytes.is_none() {
        reasons.push("no memory usage measured: memory left as is".into());
        resources.memory_request_bytes = current.memory_request_bytes;
        resources.memory_limit_bytes = current.memory_limit_bytes;
    }
    resources
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

    #[test]
    fn an_oom_kill_raises_the_memory_limit_to_1_2_times_the_current_one() {
        let mut reasons = Vec::new();
        let limit = Some(500.0 * MIB);
        assert_eq!(after_oom_kills(0, Some(GIB), limit, &mut reasons), limit);
        assert!(reasons.is_empty(), "{reasons:?}");
        assert_eq!(
            after_oom_kills(2, Some(GIB), limit, &mut reasons),
            Some(1.2 * GIB)
        );
        assert_eq!(
            reasons,
            ["2 OOM kill(s): memory limit at least 1.2 × the current one"]
        );
        // A higher limit stays; either side alone is taken.
        let mut reasons = Vec::new();
        let high = Some(2.0 * GIB);
        assert_eq!(after_oom_kills(1, Some(GIB), high, &mut reasons), high);
        assert_eq!(after_oom_kills(1, None, high, &mut reasons), high);
        assert_eq!(
            after_oom_kills(1, Some(GIB), None, &mut reasons),
            Some(1.2 * GIB)
        );
        assert_eq!(after_oom_kills(1, None, None, &mut reasons), None);
    }

    #[test]
    fn a_memory_limit_is_never_under_the_request() {
        assert_eq!(
            at_least_request(Some(GIB), Some(2.0 * GIB)),
            Some(2.0 * GIB)
        );
        assert_eq!(at_least_request(Some(GIB), Some(MIB)), Some(GIB));
        assert_eq!(at_least_request(Some(GIB), None), Some(GIB));
        assert_eq!(at_least_request(None, Some(GIB)), None);
    }

    #[test]
    fn only_an_hpa_on_cpu_or_memory_keeps_a_resource() {
        let mut with_hpa = template();
        with_hpa.hpa_metrics = vec!["memory".into(), "requests_per_second".into()];
        assert_eq!(
            HpaScaled::of(&with_hpa),
            HpaScaled {
                cpu: false,
                memory: true
            }
        );
        let history = replay::history(&pod(200, |_| Some(0.5)), 2.0, GIB);
        let r = decide(Strategy::Kubetally, &history, &with_hpa);
        assert_eq!(r.recommended.memory_request_bytes, Some(GIB));
        assert_ne!(r.recommended.cpu_request_cores, Some(2.0));
        assert!(r.reason.contains("an HPA scales on memory"), "{}", r.reason);
        let r = decide(Strategy::KrrSimple, &history, &with_hpa);
        assert_eq!(r.recommended.memory_request_bytes, Some(GIB));
        assert_eq!(r.recommended.memory_limit_bytes, Some(GIB));
        assert!(r.reason.starts_with("HPA detected"), "{}", r.reason);
    }

    #[test]
    fn vpa_keeps_each_limits_ratio_to_its_request() {
        assert_eq!(scale_limit(Some(4.0), Some(2.0), 0.5), Some(1.0));
        assert_eq!(scale_limit(Some(4.0), Some(0.0), 0.5), None);
        assert_eq!(scale_limit(None, Some(2.0), 0.5), None);
    }
}
