//! What Kubernetes actually reserves, billed exactly: in-place resizes,
//! pod overhead, pod-level resources, init containers and sidecars, bound
//! pods that wait, and overcommitted nodes. One hand-written cluster served
//! by the simulator over HTTP, collected once by the real collector for 70
//! simulated minutes; each test checks one rule on hour 0's rows.
//!
//! Prices are `collect::PRICES`' e2 on-demand rates: $0.02 per core-hour,
//! $0.004 per GiB-hour. Every pod runs the whole hour unless it says.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kubetally::model::reserve::{OVERHEAD, RESERVED};
use kubetally::sim::SimConfig;
use kubetally::sim::scenario::Scenario;

use crate::collect::{
    Row, SPEED, assert_bill_adds_up, assert_close, collect_from, number, read, rows,
};
use crate::support::{start, stop};

const SCENARIO: &str = r#"{
  "nodes": [
    {"name": "n-big", "machine_type": "e2-standard-16", "vcpus": 16, "memory_gib": 64},
    {"name": "n-tight", "machine_type": "e2-standard-4", "vcpus": 4, "memory_gib": 16}
  ],
  "pods": [
    {"namespace": "shop", "name": "resized", "node": "n-big",
     "containers": [{"name": "app", "cpu_request": "1", "memory_request": "1Gi", "cpu_usage": "100m", "memory_usage": "256Mi"}],
     "resizes": [{"at": 1800, "container": "app", "cpu_request": "2", "outcome": "done"}]},
    {"namespace": "shop", "name": "refused", "node": "n-big",
     "containers": [{"name": "app", "cpu_request": "1", "memory_request": "1Gi", "cpu_usage": "100m", "memory_usage": "256Mi"}],
     "resizes": [{"at": 1200, "container": "app", "cpu_request": "32", "outcome": "infeasible"}]},
    {"namespace": "shop", "name": "deferred", "node": "n-big",
     "containers": [{"name": "app", "cpu_request": "500m", "memory_request": "512Mi", "cpu_usage": "50m", "memory_usage": "128Mi"}],
     "resizes": [{"at": 1200, "container": "app", "cpu_request": "6", "memory_request": "2Gi", "outcome": "deferred"}]},
    {"namespace": "sandbox", "name": "sandboxed", "node": "n-big", "runtime_class": "gvisor",
     "overhead": {"cpu": "250m", "memory": "64Mi"},
     "containers": [{"name": "app", "cpu_request": "500m", "memory_request": "512Mi", "cpu_usage": "100m", "memory_usage": "128Mi"}]},
    {"namespace": "shop", "name": "migrating", "node": "n-big",
     "init_containers": [{"name": "migrate", "cpu_request": "3", "memory_request": "1Gi"}],
     "containers": [{"name": "app", "cpu_request": "1", "memory_request": "2Gi", "cpu_usage": "200m", "memory_usage": "512Mi"}]},
    {"namespace": "shop", "name": "sidecars", "node": "n-big",
     "init_containers": [
       {"name": "proxy", "sidecar": true, "cpu_request": "500m", "memory_request": "256Mi", "cpu_usage": "50m", "memory_usage": "64Mi"},
       {"name": "setup", "cpu_request": "2", "memory_request": "1Gi"}],
     "containers": [{"name": "app", "cpu_request": "500m", "memory_request": "512Mi", "cpu_usage": "100m", "memory_usage": "128Mi"}]},
    {"namespace": "shop", "name": "pooled", "node": "n-big",
     "resources": {"cpu_request": "2", "memory_request": "4Gi"},
     "containers": [
       {"name": "app", "cpu_request": "1", "memory_request": "1Gi", "cpu_usage": "300m", "memory_usage": "512Mi"},
       {"name": "helper", "cpu_usage": "100m", "memory_usage": "256Mi"}]},
    {"namespace": "shop", "name": "waiting", "node": "n-big",
     "waiting": {"reason": "ImagePullBackOff", "until": 900},
     "containers": [{"name": "app", "cpu_request": "1", "memory_request": "1Gi", "cpu_usage": "100m", "memory_usage": "256Mi"}]},
    {"namespace": "batch", "name": "burst-a", "node": "n-tight",
     "containers": [{"name": "work", "cpu_request": "1", "memory_request": "1Gi", "cpu_usage": "3", "memory_usage": "1Gi"}]},
    {"namespace": "batch", "name": "burst-b", "node": "n-tight",
     "containers": [{"name": "work", "cpu_request": "1", "memory_request": "1Gi", "cpu_usage": "3", "memory_usage": "1Gi"}]}
  ]
}"#;

/// The dataset the scenario's collection wrote, made once for every test.
fn dataset() -> &'static Path {
    static DATASET: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = DATASET.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_owned();
        let scenario = Scenario::parse(SCENARIO, "billing").unwrap();
        let config = SimConfig {
            scenario: Some(scenario),
            speed: SPEED,
            ..SimConfig::default()
        };
        crate::support::runtime().block_on(async {
            let server = start(&config).await;
            collect_from(&server, &out, chrono::Duration::minutes(70)).await;
            stop(server).await;
        });
        (dir, out)
    });
    path
}

/// Hour 0's `allocation` rows of pod `pod`, container `container`.
fn row(pod: &str, container: &str) -> Row {
    let mut found: Vec<Row> = rows(&read(dataset(), "allocation"))
        .into_iter()
        .filter(|r| {
            r["start_time"] == "2026-11-02T00:00:00"
                && r["pod"] == pod
                && r["container"] == container
        })
        .collect();
    assert_eq!(found.len(), 1, "{pod}/{container}: {found:?}");
    found.remove(0)
}

/// Hour 0's rows of `pod`, by container.
fn containers_of(pod: &str) -> Vec<String> {
    let mut names: Vec<String> = rows(&read(dataset(), "allocation"))
        .into_iter()
        .filter(|r| r["start_time"] == "2026-11-02T00:00:00" && r["pod"] == pod)
        .map(|r| r["container"].clone())
        .collect();
    names.sort();
    names
}

#[test]
fn an_in_place_resize_bills_the_granted_request_over_each_span() {
    // 1 core until the kubelet granted 2 at 00:30; the collector sees the
    // status change at its next tick (one a simulated minute), so the switch
    // lands between 00:30 and 00:31: 1.5 core-hours, or a minute's core less.
    let resized = row("resized", "app");
    let cpu = number(&resized, "cpu_request_core_hours");
    assert!(
        (1.5 - 2.0 / 60.0..=1.5 + 1e-9).contains(&cpu),
        "resized: {cpu} core-hours"
    );
    assert_close(number(&resized, "memory_request_gib_hours"), 1.0, "memory");
    // Usage stays below the request, so billed = requested, priced at $0.02.
    assert_close(number(&resized, "cpu_billed_core_hours"), cpu, "billed");
    assert_close(
        number(&resized, "cpu_cost_usd"),
        cpu * 0.02,
        "cost of the granted request",
    );
    // The samples carry the request of their moment.
    let samples = rows(&read(dataset(), "samples"));
    let request_at = |hhmm: &str| {
        samples
            .iter()
            .find(|s| s["pod"] == "resized" && s["ts"].contains(hhmm))
            .map(|s| number(s, "cpu_request_cores"))
    };
    assert_eq!(request_at("T00:20:"), Some(1.0));
    assert_eq!(request_at("T00:45:"), Some(2.0));
}

#[test]
fn a_resize_the_kubelet_refused_or_deferred_bills_the_old_request() {
    // The spec asks 32 cores (Infeasible) and 6 cores (Deferred); the
    // kubelet still runs the pods with 1 and 0.5.
    let refused = row("refused", "app");
    assert_close(number(&refused, "cpu_request_core_hours"), 1.0, "refused");
    let deferred = row("deferred", "app");
    assert_close(
        number(&deferred, "cpu_request_core_hours"),
        0.5,
        "deferred cpu",
    );
    assert_close(
        number(&deferred, "memory_request_gib_hours"),
        0.5,
        "deferred memory",
    );
}

#[test]
fn pod_overhead_is_billed_on_the_pods_own_row() {
    assert_eq!(containers_of("sandboxed"), [OVERHEAD, "app"]);
    let overhead = row("sandboxed", OVERHEAD);
    assert_close(number(&overhead, "cpu_request_core_hours"), 0.25, "cpu");
    assert_close(
        number(&overhead, "memory_request_gib_hours"),
        64.0 / 1024.0,
        "memory",
    );
    assert_close(
        number(&overhead, "total_cost_usd"),
        0.25 * 0.02 + 64.0 / 1024.0 * 0.004,
        "cost",
    );
    assert_eq!(number(&overhead, "sample_count"), 0.0);
    assert_eq!(
        overhead["tenant"], "sandbox",
        "the pod's tenant, like its containers"
    );
    assert_close(
        number(&row("sandboxed", "app"), "cpu_request_core_hours"),
        0.5,
        "app",
    );
}

#[test]
fn an_init_container_larger_than_the_containers_holds_its_request_all_along() {
    // migrate asks 3 cores and 1 GiB, app 1 core and 2 GiB: the pod holds
    // 3 cores and 2 GiB, so 2 cores (and no memory) are the pod's reserve.
    let reserved = row("migrating", RESERVED);
    assert_close(number(&reserved, "cpu_request_core_hours"), 2.0, "cpu");
    assert_eq!(number(&reserved, "memory_request_gib_hours"), 0.0);
    assert_close(
        number(&reserved, "total_cost_usd") + number(&row("migrating", "app"), "total_cost_usd"),
        3.0 * 0.02 + 2.0 * 0.004,
        "the pod's bill",
    );
}

#[test]
fn a_sidecar_declared_before_an_init_container_counts_beside_it() {
    // proxy (sidecar, 0.5 core, 256 MiB) then setup (2 cores, 1 GiB):
    // setup holds 2.5 cores and 1.25 GiB beside proxy; afterwards app +
    // proxy hold 1 core and 768 MiB. The pod holds 2.5 cores and 1.25 GiB.
    assert_eq!(containers_of("sidecars"), [RESERVED, "app", "proxy"]);
    assert_close(
        number(&row("sidecars", "proxy"), "cpu_request_core_hours"),
        0.5,
        "proxy",
    );
    let reserved = row("sidecars", RESERVED);
    assert_close(number(&reserved, "cpu_request_core_hours"), 1.5, "cpu");
    assert_close(number(&reserved, "memory_request_gib_hours"), 0.5, "memory");
}

#[test]
fn a_pod_level_request_is_shared_by_the_containers_without_their_own() {
    // The pod asks 2 cores and 4 GiB; app asks 1 core and 1 GiB of it;
    // helper, with no request, is billed the rest.
    assert_eq!(containers_of("pooled"), ["app", "helper"]);
    let helper = row("pooled", "helper");
    assert_close(number(&helper, "cpu_request_core_hours"), 1.0, "helper cpu");
    assert_close(
        number(&helper, "memory_request_gib_hours"),
        3.0,
        "helper memory",
    );
    assert_close(
        number(&row("pooled", "app"), "cpu_request_core_hours"),
        1.0,
        "app cpu",
    );
}

#[test]
fn a_bound_pod_waiting_for_its_image_is_billed_its_requests() {
    // Bound at 00:00, pulling its image until 00:15: the node holds its
    // requests all along, though metrics see it only from 00:15.
    let waiting = row("waiting", "app");
    assert_eq!(number(&waiting, "running_seconds"), 3600.0);
    assert_close(number(&waiting, "cpu_billed_core_hours"), 1.0, "billed");
    let samples = number(&waiting, "sample_count");
    assert!((40.0..=46.0).contains(&samples), "{samples} samples");
}

#[test]
fn an_overcommitted_node_hour_never_bills_more_than_the_node_costs() {
    // Two pods request 1 core each of a 4-core node and burst to 3: billed
    // 6 cores of 4. The 4 above request shrink to 2, so each is billed 2.
    let allocation = rows(&read(dataset(), "allocation"));
    let nodes = rows(&read(dataset(), "nodes"));
    assert_bill_adds_up(&allocation, &nodes);
    for pod in ["burst-a", "burst-b"] {
        let burst = row(pod, "work");
        assert_close(number(&burst, "cpu_usage_core_hours"), 3.0, "usage");
        assert_close(number(&burst, "cpu_billed_core_hours"), 2.0, "billed");
    }
    let tight = nodes
        .iter()
        .find(|n| n["node"] == "n-tight" && n["start_time"] == "2026-11-02T00:00:00")
        .unwrap_or_else(|| panic!("no n-tight row"));
    let charged: f64 = ["burst-a", "burst-b"]
        .iter()
        .map(|pod| number(&row(pod, "work"), "cpu_cost_usd"))
        .sum();
    assert_close(
        charged,
        number(tight, "cpu_cost_usd"),
        "CPU charged = the node's CPU cost",
    );
    for node in &nodes {
        assert!(number(node, "idle_cost_usd") >= -1e-12, "{node:?}");
    }
}
