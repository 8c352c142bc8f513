//! Right-sizing from the dataset: each strategy's requests and limits for a
//! workload container, with the evidence, a confidence, the reason, and the
//! monthly savings at the prices its pods were charged.

use std::collections::BTreeMap;

use serde::Serialize;

use super::history::{ContainerKey, History};
use super::strategy::Strategy;
use super::vpa;
use crate::pricing::HOURS_PER_MONTH;

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// Requests and limits; `None` is unset.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Resources {
    pub cpu_request_cores: Option<f64>,
    pub cpu_limit_cores: Option<f64>,
    pub memory_request_bytes: Option<f64>,
    pub memory_limit_bytes: Option<f64>,
}

/// What the workload template says now (the `workloads` table).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    pub current: Resources,
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
    pub current: Resources,
    pub recommended: Resources,
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

fn round_up(value: f64, unit: f64) -> f64 {
    (value / unit).ceil() * unit
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

fn one(
    strategy: Strategy,
    config: &vpa::Config,
    key: &ContainerKey,
    history: &History,
    template: &Template,
    containers: usize,
) -> Recommendation {
    // The template's requests where known, else what the pods ran with.
    let current = Resources {
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
    let evidence = Evidence {
        window_hours: match (history.first_hour, history.last_hour) {
            (Some(first), Some(last)) => (last - first).num_hours() + 1,
            _ => 0,
        },
        samples: history.samples,
        cpu_p50_cores: history.cpu_plain.percentile(0.5),
        cpu_p90_cores: history.cpu_plain.percentile(0.9),
        cpu_p95_cores: history.cpu_plain.percentile(0.95),
        cpu_max_cores: history.cpu_max_cores,
        memory_max_bytes: history.memory_max_bytes,
        oom_kills: history.oom_kills,
        restarts: history.restarts,
        hpa_metrics: template.hpa_metrics.clone(),
        average_pods: history.average_pods(),
    };
    let hpa_cpu = template.hpa_metrics.iter().any(|m| m == "cpu");
    let hpa_memory = template.hpa_metrics.iter().any(|m| m == "memory");
    let vpa_target = {
        let all: Vec<&vpa::Aggregate> =
            std::iter::repeat_n(&history.vpa, containers.max(1)).collect();
        vpa::recommend(config, &all).first().map(|r| r.target)
    };
    let mut reasons: Vec<String> = Vec::new();
    let decision: Result<Resources, String> = match strategy {
        Strategy::Vpa => vpa_target
            .map(|target| {
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
                Resources {
                    cpu_request_cores: Some(cpu),
                    cpu_limit_cores: scale(current.cpu_limit_cores, current.cpu_request_cores, cpu),
                    memory_request_bytes: Some(memory),
                    memory_limit_bytes: scale(
                        current.memory_limit_bytes,
                        current.memory_request_bytes,
                        memory,
                    ),
                }
            })
            .ok_or_else(|| "no usage history".to_owned()),
        Strategy::KrrSimple => {
            if history.samples < 100 {
                Err(format!(
                    "not enough data: {} samples, 100 needed",
                    history.samples
                ))
            } else {
                let cpu = (!hpa_cpu).then(|| round_up(evidence.cpu_p95_cores, 0.001).max(0.010));
                let memory = (!hpa_memory)
                    .then_some(history.memory_max_bytes)
                    .flatten()
                    .map(|max| round_up(max * 1.15, MIB).max(100.0 * MIB));
                if hpa_cpu || hpa_memory {
                    reasons.push("HPA detected: the scaled resource is left as is".into());
                }
                reasons.push("KRR simple".into());
                Ok(Resources {
                    cpu_request_cores: cpu.or(current.cpu_request_cores),
                    cpu_limit_cores: None,
                    memory_request_bytes: memory.or(current.memory_request_bytes),
                    memory_limit_bytes: memory.or(current.memory_limit_bytes),
                })
            }
        }
        Strategy::Kubetally => {
            if history.samples < 10 {
                Err(format!(
                    "not enough data: {} samples, 10 needed",
                    history.samples
                ))
            } else {
                let cpu = if hpa_cpu {
                    reasons.push("an HPA scales on CPU: lowering the request would scale it out, raising it in; CPU left as is".into());
                    current.cpu_request_cores
                } else {
                    vpa_target.map(|t| t.cpu_millicores as f64 / 1000.0)
                };
                let memory = if hpa_memory {
                    reasons.push("an HPA scales on memory: memory request left as is".into());
                    current.memory_request_bytes
                } else {
                    Some(round_up(history.vpa.memory_peaks.percentile(0.9), MIB).max(100.0 * MIB))
                };
                let mut limit = history
                    .memory_max_bytes
                    .map(|max| round_up(max * 1.3, MIB))
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
                Ok(Resources {
                    cpu_request_cores: cpu,
                    cpu_limit_cores: None,
                    memory_request_bytes: memory,
                    memory_limit_bytes: limit,
                })
            }
        }
    };
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
