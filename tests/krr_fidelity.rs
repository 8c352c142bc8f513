//! `--strategy krr-simple` says what Robusta KRR's `simple` strategy says
//! on the same usage, though it reads hourly `allocation` rows and KRR
//! reads raw samples: on a fast-clock demo's dataset, every workload
//! container's CPU request is within 2 % or 1 millicore of KRR's formula
//! run on the dataset's raw `samples` (each pod's p95 with Prometheus'
//! interpolation, the highest over pods, rounded up to 1m, at least 10m),
//! and its memory request is KRR's exactly.

use std::collections::BTreeMap;
use std::path::Path;

use kubetally::model::units::MIB;

use crate::collect::{number, read, rows};

/// Prometheus' `quantile_over_time`: linear interpolation between the
/// order statistics at rank φ × (n − 1).
fn prometheus_quantile(mut values: Vec<f64>, phi: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = phi * (values.len() - 1) as f64;
    let below = rank.floor() as usize;
    let above = (below + 1).min(values.len() - 1);
    let weight = rank - below as f64;
    values[below] * (1.0 - weight) + values[above] * weight
}

/// A workload container: namespace/kind/name/container.
type Key = String;

/// KRR simple's (CPU cores, memory bytes) per workload container with at
/// least 100 samples, from the raw `samples` of `out`. KRR's series are by
/// pod name (Prometheus' `pod` label).
fn krr_on_raw_samples(out: &Path) -> BTreeMap<Key, (f64, f64)> {
    let mut cpu: BTreeMap<Key, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    let mut memory: BTreeMap<Key, f64> = BTreeMap::new();
    for row in rows(&read(out, "samples")) {
        let key = format!(
            "{}/{}/{}/{}",
            row["namespace"], row["workload_kind"], row["workload_name"], row["container"]
        );
        cpu.entry(key.clone())
            .or_default()
            .entry(row["pod"].clone())
            .or_default()
            .push(number(&row, "cpu_usage_millicores") / 1000.0);
        let bytes = number(&row, "memory_usage_bytes");
        let peak = memory.entry(key).or_insert(bytes);
        *peak = peak.max(bytes);
    }
    cpu.into_iter()
        .filter(|(_, pods)| pods.values().map(Vec::len).sum::<usize>() >= 100)
        .map(|(key, pods)| {
            let p95 = pods
                .into_values()
                .map(|values| prometheus_quantile(values, 0.95))
                .fold(0.0, f64::max);
            let cores = ((p95 * 1000.0).ceil() / 1000.0).max(0.010);
            let bytes = ((memory[&key] * 1.15 / MIB).ceil() * MIB).max(100.0 * MIB);
            (key, (cores, bytes))
        })
        .collect()
}

#[test]
fn krr_simple_from_hourly_rows_matches_krr_on_raw_samples() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    crate::support::small_demo(&out);
    let krr = krr_on_raw_samples(&out);
    // `kubetally recommend --strategy krr-simple`, as a user runs it.
    let mut args: Vec<std::ffi::OsString> = [
        "recommend",
        "--strategy",
        "krr-simple",
        "--format",
        "json",
        "--data",
    ]
    .iter()
    .map(Into::into)
    .collect();
    args.push(out.clone().into());
    let stdout = crate::support::kubetally(args);
    let plan: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    let ours = plan["rightsizing"].as_array().cloned().unwrap_or_default();
    let mut compared = 0;
    let mut worst = (0.0_f64, String::new());
    for r in &ours {
        let key = format!(
            "{}/{}/{}/{}",
            r["namespace"].as_str().unwrap_or_default(),
            r["workload_kind"].as_str().unwrap_or_default(),
            r["workload_name"].as_str().unwrap_or_default(),
            r["container"].as_str().unwrap_or_default()
        );
        let Some((cores, bytes)) = krr.get(&key) else {
            assert_eq!(
                r["undecided"], true,
                "{key}: KRR has under 100 samples, we decided"
            );
            continue;
        };
        assert_eq!(r["undecided"], false, "{key}: {}", r["reason"]);
        let hpa = |resource: &str| {
            r["evidence"]["hpa_metrics"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m == resource))
        };
        let recommended = &r["recommended"];
        if !hpa("cpu") {
            let got = recommended["cpu_request_cores"]
                .as_f64()
                .unwrap_or(f64::NAN);
            let error = (got - cores).abs();
            assert!(
                error <= (0.02 * cores).max(0.001) + 1e-9,
                "{key}: CPU {got} vs KRR's {cores}"
            );
            if error / cores >= worst.0 {
                worst = (error / cores, format!("{key}: {got} vs {cores}"));
            }
            compared += 1;
        }
        if !hpa("memory") {
            assert_eq!(
                recommended["memory_request_bytes"].as_f64(),
                Some(*bytes),
                "{key}"
            );
        }
    }
    assert!(compared >= 10, "{compared} containers compared");
    eprintln!(
        "krr-simple vs KRR on raw samples: {compared} containers' CPU, worst error {:.2} % ({})",
        100.0 * worst.0,
        worst.1
    );
}
