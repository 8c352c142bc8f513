//! GKE Autopilot billing and shared GPUs, end to end: the simulator over
//! real HTTP, the real collector, the Parquet files read back.
//!
//! Autopilot rates are round user rows: general-purpose $0.04 a vCPU-hour
//! and $0.005 a GiB-hour, Spot $0.01 and $0.001; Scale-Out has none. A pod
//! is billed for its requests rounded up as Autopilot rounds them (at least
//! ¼ vCPU, in ¼-vCPU steps, at least ½ GiB and 1 GiB per vCPU). The GPU
//! nodes are the simulator's (`--gpu-nodes`), priced from the embedded
//! catalog.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kubetally::allocate::TenantRules;
use kubetally::collect::{Collector, Summary};
use kubetally::pricing::{PriceBook, PricingOptions, RowOrigin, parse_catalog, parse_resources};
use kubetally::sim::scenario::Scenario;
use kubetally::sim::{ClusterSpec, SimConfig, SimServer};

use crate::collect::{
    PRICES, Row, SPEED, assert_close, collect_by, collect_config, number, read, rows,
};
use crate::support::{start, stop};

const AUTOPILOT_PRICES: &str = "kind,provider,region,sku,capacity_type,unit,usd,as_of,source
autopilot,gcp,us-central1,general-purpose,on_demand,vcpu_hour,0.04,2026-11-01,test
autopilot,gcp,us-central1,general-purpose,on_demand,gib_hour,0.005,2026-11-01,test
autopilot,gcp,us-central1,general-purpose,spot,vcpu_hour,0.01,2026-11-01,test
autopilot,gcp,us-central1,general-purpose,spot,gib_hour,0.001,2026-11-01,test
";

/// Autopilot nodes as GKE names them (the simulator gives pods on
/// `nap-spot` a Spot selector, on `nap-scale-out` the Scale-Out class).
const AUTOPILOT: &str = r#"{
  "nodes": [
    {"name": "gk3-kubetally-sim-pool-1-0a1b2c3d-0000", "machine_type": "e2-standard-8", "vcpus": 8, "memory_gib": 32},
    {"name": "gk3-kubetally-sim-nap-spot-0a1b2c3d-0001", "machine_type": "e2-standard-8", "capacity": "spot", "vcpus": 8, "memory_gib": 32},
    {"name": "gk3-kubetally-sim-nap-scale-out-0a1b2c3d-0002", "machine_type": "t2d-standard-8", "vcpus": 8, "memory_gib": 32}
  ],
  "pods": [
    {"namespace": "shop", "name": "web-1", "node": "gk3-kubetally-sim-pool-1-0a1b2c3d-0000",
     "containers": [{"name": "web", "cpu_request": "500m", "memory_request": "2Gi", "cpu_usage": "2", "memory_usage": "3Gi"}]},
    {"namespace": "shop", "name": "tiny-1", "node": "gk3-kubetally-sim-pool-1-0a1b2c3d-0000",
     "containers": [{"name": "tiny", "cpu_request": "100m", "memory_request": "128Mi", "cpu_usage": "50m", "memory_usage": "64Mi"}]},
    {"namespace": "shop", "name": "pair-1", "node": "gk3-kubetally-sim-pool-1-0a1b2c3d-0000",
     "containers": [
       {"name": "app", "cpu_request": "300m", "memory_request": "1Gi", "cpu_usage": "100m", "memory_usage": "512Mi"},
       {"name": "proxy", "cpu_request": "200m", "memory_request": "1Gi", "cpu_usage": "100m", "memory_usage": "512Mi"}]},
    {"namespace": "shop", "name": "job-1", "node": "gk3-kubetally-sim-pool-1-0a1b2c3d-0000",
     "start": 600, "end": 2400,
     "containers": [{"name": "job", "cpu_request": "500m", "memory_request": "2Gi", "cpu_usage": "500m", "memory_usage": "1Gi"}]},
    {"namespace": "batch", "name": "spotty-1", "node": "gk3-kubetally-sim-nap-spot-0a1b2c3d-0001",
     "containers": [{"name": "work", "cpu_request": "1", "memory_request": "4Gi", "cpu_usage": "1", "memory_usage": "2Gi"}]},
    {"namespace": "batch", "name": "scaler-1", "node": "gk3-kubetally-sim-nap-scale-out-0a1b2c3d-0002",
     "containers": [{"name": "work", "cpu_request": "1", "memory_request": "4Gi", "cpu_usage": "1", "memory_usage": "2Gi"}]},
    {"namespace": "kube-system", "name": "agent-1", "node": "gk3-kubetally-sim-pool-1-0a1b2c3d-0000",
     "containers": [{"name": "agent", "cpu_request": "100m", "memory_request": "100Mi", "cpu_usage": "10m", "memory_usage": "50Mi"}]}
  ]
}"#;

/// The embedded catalog with the test's machine and Autopilot rows.
fn price_book() -> PriceBook {
    let machines = parse_catalog(PRICES, "test prices", RowOrigin::User).unwrap();
    let resources = parse_resources(AUTOPILOT_PRICES, "test autopilot", RowOrigin::User).unwrap();
    PriceBook::new(machines, PricingOptions::default())
        .unwrap()
        .with_resource_rows(resources)
}

/// Collects `duration` of sample time from `server` into `out`.
async fn collect(server: &SimServer, out: &Path, duration: chrono::Duration) -> Summary {
    let config = collect_config(out, price_book(), TenantRules::new(None), duration);
    collect_by(&Collector::default(), server, &config).await
}

/// A dataset collected once for every test of a cluster: 70 simulated minutes.
fn dataset(
    cell: &'static OnceLock<(tempfile::TempDir, PathBuf, Summary)>,
    config: fn() -> SimConfig,
) -> (&'static Path, &'static Summary) {
    let (_, path, summary) = cell.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_owned();
        let summary = crate::support::runtime().block_on(async {
            let server = start(&config()).await;
            let summary = collect(&server, &out, chrono::Duration::minutes(70)).await;
            stop(server).await;
            summary
        });
        (dir, out, summary)
    });
    (path, summary)
}

fn autopilot() -> (&'static Path, &'static Summary) {
    static DATASET: OnceLock<(tempfile::TempDir, PathBuf, Summary)> = OnceLock::new();
    dataset(&DATASET, || SimConfig {
        scenario: Some(Scenario::parse(AUTOPILOT, "autopilot").unwrap()),
        speed: SPEED,
        ..SimConfig::default()
    })
}

fn gpus() -> (&'static Path, &'static Summary) {
    static DATASET: OnceLock<(tempfile::TempDir, PathBuf, Summary)> = OnceLock::new();
    dataset(&DATASET, || SimConfig {
        cluster: ClusterSpec {
            nodes: 3,
            pods: 12,
            gpu_nodes: true,
            ..ClusterSpec::default()
        },
        speed: SPEED,
        ..SimConfig::default()
    })
}

const FIRST_HOUR: &str = "2026-11-02T00:00:00";

/// Hour 0's rows of `table`.
fn first_hour(root: &Path, table: &str) -> Vec<Row> {
    rows(&read(root, table))
        .into_iter()
        .filter(|r| r["start_time"] == FIRST_HOUR)
        .collect()
}

/// The hour-0 rows of `pod`.
fn of_pod<'a>(rows: &'a [Row], pod: &str) -> Vec<&'a Row> {
    let found: Vec<&Row> = rows.iter().filter(|r| r["pod"] == pod).collect();
    assert!(!found.is_empty(), "no hour-0 row of {pod}");
    found
}

fn total(rows: &[&Row]) -> f64 {
    rows.iter().map(|r| number(r, "total_cost_usd")).sum()
}

#[test]
fn an_autopilot_pod_costs_its_rounded_requests_at_its_class_rate() {
    let (root, _) = autopilot();
    let allocation = first_hour(root, "allocation");
    // 500m and 2 GiB, whatever it uses: 0.5 × 0.04 + 2 × 0.005 = 0.03.
    let web = of_pod(&allocation, "web-1");
    assert_close(total(&web), 0.03, "web-1");
    assert_close(
        number(web[0], "cpu_billed_core_hours"),
        0.5,
        "usage above request is not billed",
    );
    assert_eq!(web[0]["price_source"], "autopilot");
    assert_eq!(web[0]["gpu_cost_usd"], "0.0");
    // 100m and 128 MiB round up to ¼ vCPU and ½ GiB: 0.01 + 0.0025.
    let tiny = of_pod(&allocation, "tiny-1");
    assert_close(number(tiny[0], "cpu_billed_core_hours"), 0.25, "tiny-1 cpu");
    assert_close(
        number(tiny[0], "memory_billed_gib_hours"),
        0.5,
        "tiny-1 memory",
    );
    assert_close(total(&tiny), 0.0125, "tiny-1");
    // Spot: 1 × 0.01 + 4 × 0.001.
    assert_close(total(&of_pod(&allocation, "spotty-1")), 0.014, "spotty-1");
    // 30 minutes of 500m and 2 GiB.
    assert_close(total(&of_pod(&allocation, "job-1")), 0.015, "job-1");
}

#[test]
fn containers_share_their_pods_bill_by_request() {
    let (root, _) = autopilot();
    let allocation = first_hour(root, "allocation");
    // 300m + 200m and 1 + 1 GiB: the pod's 0.02 of CPU splits 3:2, its
    // 0.01 of memory evenly.
    let pair = of_pod(&allocation, "pair-1");
    let container = |name: &str| {
        pair.iter()
            .find(|r| r["container"] == name)
            .copied()
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_close(total(&[container("app")]), 0.012 + 0.005, "app");
    assert_close(total(&[container("proxy")]), 0.008 + 0.005, "proxy");
}

#[test]
fn system_pods_are_free_and_a_missing_class_rate_stands_in_counted() {
    let (root, summary) = autopilot();
    let allocation = first_hour(root, "allocation");
    let agent = of_pod(&allocation, "agent-1");
    assert_eq!(
        (agent[0]["price_source"].as_str(), total(&agent)),
        ("autopilot_system", 0.0)
    );
    // No Scale-Out rate: general-purpose's, flagged, and counted.
    let scaler = of_pod(&allocation, "scaler-1");
    assert_eq!(scaler[0]["price_source"], "autopilot_default");
    assert_close(total(&scaler), 0.04 + 4.0 * 0.005, "scaler-1");
    assert!(
        summary
            .errors
            .get("autopilot_rate")
            .is_some_and(|n| *n >= 1),
        "{:?}",
        summary.errors
    );
}

#[test]
fn autopilot_nodes_cost_nothing_and_the_bill_is_the_pods() {
    let (root, summary) = autopilot();
    let nodes = rows(&read(root, "nodes"));
    assert!(!nodes.is_empty());
    for node in &nodes {
        assert_eq!(number(node, "total_cost_usd"), 0.0, "{node:?}");
        assert_eq!(number(node, "idle_cost_usd"), 0.0, "{node:?}");
        assert_eq!(node["price_source"], "autopilot");
    }
    // Hour 0 is the sum of the bills above, worked by hand.
    let pods = 0.03 + 0.0125 + 0.03 + 0.015 + 0.014 + 0.06;
    let allocation = first_hour(root, "allocation");
    let hour: f64 = allocation.iter().map(|r| number(r, "total_cost_usd")).sum();
    assert_close(hour, pods, "hour 0");
    // Every hour: what tenants are charged is the Autopilot bill.
    let all: f64 = rows(&read(root, "allocation"))
        .iter()
        .map(|r| number(r, "total_cost_usd"))
        .sum();
    assert_close(summary.autopilot_cost_usd, all, "summary");
    assert_eq!((summary.node_cost_usd, summary.idle_cost_usd), (0.0, 0.0));
}

#[cfg(feature = "analyze")]
#[test]
fn the_report_reconciles_an_autopilot_cluster_to_its_pod_bills() {
    use kubetally::analyze::report::{self, Options};
    let (root, _) = autopilot();
    let pods: f64 = rows(&read(root, "allocation"))
        .iter()
        .map(|r| number(r, "total_cost_usd"))
        .sum();
    // Beside the pods' bills: the Autopilot fee, disks and load balancers.
    let resources: f64 = rows(&read(root, "resources"))
        .iter()
        .map(|r| number(r, "cost_usd"))
        .sum();
    let all = pods + resources;
    let mut session = kubetally::analyze::Session::open(root).unwrap();
    let report = report::build(&mut session, &Options::default()).unwrap();
    assert!(
        (report.total_cost_usd - all).abs() < 1e-9,
        "{} != {all}",
        report.total_cost_usd
    );
    assert!(
        report.reconciliation.difference_usd.abs() < 1e-9,
        "{:?}",
        report.reconciliation
    );
}

/// The embedded catalog's us-central1 on-demand GPU prices.
const A100_HOUR_USD: f64 = 2.93391;
const L4_HOUR_USD: f64 = 0.560040239;

#[test]
fn a_shared_gpu_node_is_priced_for_its_physical_gpu_and_each_slice_for_its_fraction() {
    let (root, _) = gpus();
    let nodes = first_hour(root, "nodes");
    let node = |name: &str| {
        nodes
            .iter()
            .find(|n| n["node"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let (a100, l4) = (
        node("gke-gpu-a100-mig-00000"),
        node("gke-gpu-l4-shared-00000"),
    );
    // One A100 (not its four MIG devices), one L4 (not its four replicas).
    assert_eq!((a100["gpus"].as_str(), l4["gpus"].as_str()), ("1", "1"));
    assert_close(number(a100, "gpu_cost_usd"), A100_HOUR_USD, "A100 node");
    assert_close(number(l4, "gpu_cost_usd"), L4_HOUR_USD, "L4 node");

    let allocation = first_hour(root, "allocation");
    let gpu_of = |workload: &str| -> Vec<f64> {
        allocation
            .iter()
            .filter(|r| r["workload_name"] == workload)
            .map(|r| number(r, "gpu_cost_usd"))
            .collect()
    };
    // MIG 1g.5gb: 1/7 of the A100; 3g.20gb: 3/7; an L4 replica: 1/4.
    let notebook = gpu_of("notebook");
    assert_eq!(notebook.len(), 2);
    for cost in &notebook {
        assert_close(*cost, A100_HOUR_USD / 7.0, "1g.5gb slice");
    }
    assert_eq!(gpu_of("trainer").len(), 1);
    assert_close(
        gpu_of("trainer")[0],
        3.0 * A100_HOUR_USD / 7.0,
        "3g.20gb slice",
    );
    let inference = gpu_of("inference");
    assert_eq!(inference.len(), 3);
    for cost in &inference {
        assert_close(*cost, L4_HOUR_USD / 4.0, "L4 replica");
    }
}

#[test]
fn every_node_hour_adds_up_with_gpu_slices() {
    let (root, _) = gpus();
    let nodes = rows(&read(root, "nodes"));
    let allocation = rows(&read(root, "allocation"));
    for node in &nodes {
        let charged: Vec<&Row> = allocation
            .iter()
            .filter(|r| r["node"] == node["node"] && r["start_time"] == node["start_time"])
            .collect();
        let gpu: f64 = charged.iter().map(|r| number(r, "gpu_cost_usd")).sum();
        let cost = number(node, "total_cost_usd");
        let slack = 1e-9 * cost.max(1.0);
        assert!(
            (total(&charged) + number(node, "idle_cost_usd") - cost).abs() <= slack,
            "{node:?}"
        );
        assert!(gpu <= number(node, "gpu_cost_usd") + slack, "{node:?}");
    }
    // The A100's free 2g.10gb slice and the L4's free replica are idle.
    let hour0 = |name: &str| {
        nodes
            .iter()
            .find(|n| n["node"] == name && n["start_time"] == FIRST_HOUR)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let idle_gpu = |name: &str| {
        let node = hour0(name);
        let gpu: f64 = allocation
            .iter()
            .filter(|r| r["node"] == name && r["start_time"] == FIRST_HOUR)
            .map(|r| number(r, "gpu_cost_usd"))
            .sum();
        number(node, "gpu_cost_usd") - gpu
    };
    assert_close(
        idle_gpu("gke-gpu-a100-mig-00000"),
        2.0 * A100_HOUR_USD / 7.0,
        "A100 idle",
    );
    assert_close(
        idle_gpu("gke-gpu-l4-shared-00000"),
        L4_HOUR_USD / 4.0,
        "L4 idle",
    );
}
