//! The collector end to end: a hand-written cluster served by the simulator
//! over real HTTP, the real kube client, Parquet files read back.
//!
//! Prices are round user rows, so every expected cost below is worked out
//! by hand in the comments.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type};
use kubetally::allocate::{Pattern, TenantRules};
use kubetally::collect::{CollectConfig, Collector, StopAfter, Summary};
use kubetally::pricing::{PriceBook, PricingOptions, RowOrigin, parse_catalog};
use kubetally::sim::scenario::Scenario;
use kubetally::sim::{SimConfig, SimServer};
use kubetally::store::Dataset;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::support::{kube_config, start, stop};

/// e2 on-demand: $0.02 per core-hour, $0.004 per GiB-hour; spot: $0.006 and $0.001.
pub(crate) const PRICES: &str = "provider,region,machine_family,machine_type,capacity_type,vcpu_hour_usd,memory_gib_hour_usd,gpu_type,gpu_hour_usd,instance_hour_usd,as_of,source
gcp,us-central1,e2,,on_demand,0.02,0.004,,,,2026-11-01,test
gcp,us-central1,e2,,spot,0.006,0.001,,,,2026-11-01,test
";

/// Times are seconds from the simulated epoch.
const SCENARIO: &str = r#"{
  "nodes": [
    {"name": "n-e2", "machine_type": "e2-standard-4", "vcpus": 4, "memory_gib": 16},
    {"name": "n-spot", "machine_type": "e2-standard-4", "capacity": "spot", "vcpus": 4, "memory_gib": 16},
    {"name": "n-unknown", "machine_type": "z9-mega-4", "vcpus": 4, "memory_gib": 16}
  ],
  "namespaces": [{"name": "shop", "labels": {"tenant": "acme"}}],
  "pods": [
    {"namespace": "shop", "name": "api-1", "node": "n-e2", "owner": {"kind": "Deployment", "name": "api"},
     "containers": [{"name": "api", "cpu_request": "1", "memory_request": "2Gi", "cpu_usage": "500m", "memory_usage": "1Gi"}]},
    {"namespace": "web", "name": "hog-1", "node": "n-e2", "labels": {"tenant": "globex"},
     "containers": [{"name": "hog", "cpu_request": "500m", "memory_request": "512Mi", "cpu_usage": "1", "memory_usage": "1Gi"}]},
    {"namespace": "shop", "name": "nightly-1", "node": "n-e2", "owner": {"kind": "CronJob", "name": "nightly"},
     "start": 600, "end": 620,
     "containers": [{"name": "job", "cpu_request": "2", "memory_request": "1Gi", "cpu_usage": "2", "memory_usage": "1Gi"}]},
    {"namespace": "web", "name": "spotty-1", "node": "n-spot",
     "containers": [{"name": "spotty", "cpu_request": "1", "memory_request": "1Gi", "cpu_usage": "100m", "memory_usage": "100Mi"}]},
    {"namespace": "kube-system", "name": "dns-1", "node": "n-unknown", "owner": {"kind": "DaemonSet", "name": "dns"},
     "containers": [{"name": "dns", "cpu_request": "100m", "memory_request": "128Mi", "cpu_usage": "10m", "memory_usage": "64Mi"}]},
    {"namespace": "lab", "name": "exp-1", "node": "n-e2",
     "containers": [{"name": "exp", "cpu_request": "250m", "memory_request": "256Mi", "cpu_usage": "250m", "memory_usage": "256Mi"}]}
  ]
}"#;

pub(crate) fn price_book() -> PriceBook {
    let rows = parse_catalog(PRICES, "test prices", RowOrigin::User).unwrap();
    let mut options = PricingOptions::default();
    options.default_rates.vcpu_hour_usd = 0.05;
    options.default_rates.memory_gib_hour_usd = 0.01;
    PriceBook::new(rows, options).unwrap()
}

/// Simulated seconds per real second: a simulated hour takes 6 s.
pub(crate) const SPEED: f64 = 600.0;

/// The scenario's cluster at [`SPEED`], without faults.
pub(crate) fn scenario_config() -> SimConfig {
    let scenario = Scenario::parse(SCENARIO, "test").unwrap();
    SimConfig {
        scenario: Some(scenario),
        speed: SPEED,
        ..SimConfig::default()
    }
}

/// Runs the collector against the scenario for `duration` of simulated time.
pub(crate) async fn collect(out: &Path, duration: chrono::Duration) -> Summary {
    let server = start(&scenario_config()).await;
    let summary = collect_from(&server, out, duration).await;
    stop(server).await;
    summary
}

/// Runs the collector in-process against `server` (sampling once a simulated
/// minute) until `duration` of sample time has passed.
pub(crate) async fn collect_from(
    server: &SimServer,
    out: &Path,
    duration: chrono::Duration,
) -> Summary {
    collect_with(&Collector::default(), server, out, duration).await
}

/// [`collect_from`] with `collector`, whose shared state the caller reads
/// afterwards.
pub(crate) async fn collect_with(
    collector: &Collector,
    server: &SimServer,
    out: &Path,
    duration: chrono::Duration,
) -> Summary {
    let mut tenants = TenantRules::new(Some("tenant".into()));
    tenants.map = vec![(Pattern::new("la*"), "research".into())];
    let mut config = collect_config(out, price_book(), tenants, duration);
    config.write_samples = true;
    collect_by(collector, server, &config).await
}

/// How the tests collect: one sample a simulated minute at [`SPEED`] into
/// `out` (cluster `test`), logged to `out/_wal`, until `duration` of
/// sample time has passed; no `samples` table.
pub(crate) fn collect_config(
    out: &Path,
    prices: PriceBook,
    tenants: TenantRules,
    duration: chrono::Duration,
) -> CollectConfig {
    CollectConfig {
        dataset: Dataset {
            target: kubetally::store::Target::Local(out.to_owned()),
            cluster: "test".into(),
            writer: "0".into(),
        },
        interval: std::time::Duration::from_secs_f64(60.0 / SPEED),
        stop: StopAfter {
            samples: None,
            duration: Some(duration),
        },
        write_samples: false,
        tenants,
        prices: Arc::new(prices),
        wal_dir: Some(out.join("_wal")),
        leader: None,
        metrics_limits: Default::default(),
    }
}

/// Runs `collector` with `config` against `server` over HTTP until it stops.
pub(crate) async fn collect_by(
    collector: &Collector,
    server: &SimServer,
    config: &CollectConfig,
) -> Summary {
    let client = kube::Client::try_from(kube_config(server)).unwrap();
    collector
        .run(client, config, std::future::pending())
        .await
        .unwrap_or_else(|error| panic!("{error:#}"))
}

/// Every row of a table, from all its Parquet files.
pub(crate) fn read(root: &Path, table: &str) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    let mut stack = vec![root.join(table)];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let file = std::fs::File::open(&path).unwrap();
                let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                    .and_then(|b| b.build())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                batches.extend(reader.map(|b| b.unwrap()));
            }
        }
    }
    batches
}

/// A row as column name → printable value, for lookups by key.
pub(crate) type Row = BTreeMap<String, String>;

pub(crate) fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut rows = Vec::new();
    for batch in batches {
        let options = arrow::util::display::FormatOptions::default();
        // Timestamps print without their zone (always UTC here).
        let plain =
            arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None);
        let columns: Vec<Arc<dyn Array>> = batch
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                arrow::datatypes::DataType::Timestamp(..) => {
                    arrow::compute::cast(c, &plain).unwrap()
                }
                _ => c.clone(),
            })
            .collect();
        let formatters: Vec<_> = columns
            .iter()
            .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for index in 0..batch.num_rows() {
            let mut row = Row::new();
            for (field, formatter) in batch.schema().fields().iter().zip(&formatters) {
                row.insert(field.name().clone(), formatter.value(index).to_string());
            }
            rows.push(row);
        }
    }
    rows
}

pub(crate) fn number(row: &Row, column: &str) -> f64 {
    row.get(column)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{column} of {row:?}"))
}

pub(crate) fn assert_close(actual: f64, expected: f64, what: &str) {
    let tolerance = 1e-9 * expected.abs().max(1e-12);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} != {expected}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_collector_prices_a_known_cluster_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let summary = collect(dir.path(), chrono::Duration::minutes(75)).await;
    assert!(summary.samples > 0, "{summary:?}");

    let allocation = rows(&read(dir.path(), "allocation"));
    let first_hour = "2026-11-02T00:00:00";
    let pod = |name: &str| -> &Row {
        allocation
            .iter()
            .find(|r| r["pod"] == name && r["start_time"] == first_hour)
            .unwrap_or_else(|| panic!("no first-hour row for {name}: {allocation:?}"))
    };
    // api-1: 1 core and 2 GiB requested all hour, using less: billed by request.
    // 1 × 0.02 + 2 × 0.004 = 0.028.
    let api = pod("api-1");
    assert_close(number(api, "running_seconds"), 3600.0, "api running");
    assert_close(number(api, "cpu_usage_core_hours"), 0.5, "api usage");
    assert_close(number(api, "total_cost_usd"), 0.028, "api cost");
    assert_eq!(api["tenant"], "acme", "namespace label");
    assert_eq!(
        (api["workload_kind"].as_str(), api["workload_name"].as_str()),
        ("Deployment", "api")
    );
    // hog-1: uses 1 core and 1 GiB above its 0.5 / 0.5 GiB request: billed by usage.
    // 1 × 0.02 + 1 × 0.004 = 0.024.
    let hog = pod("hog-1");
    assert_close(number(hog, "cpu_billed_core_hours"), 1.0, "hog billed cpu");
    assert_close(number(hog, "total_cost_usd"), 0.024, "hog cost");
    assert_eq!(hog["tenant"], "globex", "pod label");
    assert_eq!(
        hog["workload_kind"], "Pod",
        "a naked pod is its own workload"
    );
    // nightly-1: 20 seconds of 2 cores and 1 GiB: (2 × 0.02 + 1 × 0.004) × 20 / 3600.
    let job = pod("nightly-1");
    assert_close(number(job, "running_seconds"), 20.0, "job running");
    assert_close(
        number(job, "total_cost_usd"),
        0.044 * 20.0 / 3600.0,
        "job cost",
    );
    assert_eq!(
        (job["workload_kind"].as_str(), job["workload_name"].as_str()),
        ("CronJob", "nightly")
    );
    // spotty-1 on the spot node: 1 × 0.006 + 1 × 0.001.
    let spot = pod("spotty-1");
    assert_eq!(spot["capacity_type"], "spot");
    assert_close(number(spot, "total_cost_usd"), 0.007, "spot cost");
    assert_eq!(spot["tenant"], "web", "no label: the namespace");
    // dns-1 on the unknown machine type: default rates 0.05 and 0.01, flagged.
    // 0.1 × 0.05 + 0.125 × 0.01 = 0.00625.
    let dns = pod("dns-1");
    assert_eq!(dns["price_source"], "default");
    assert_close(
        number(dns, "total_cost_usd"),
        0.00625,
        "default-priced cost",
    );
    assert_eq!(dns["tenant"], "__shared__");
    // exp-1: the tenant map wins: 0.25 × 0.02 + 0.25 × 0.004 = 0.006.
    let exp = pod("exp-1");
    assert_eq!(exp["tenant"], "research");
    assert_close(number(exp, "total_cost_usd"), 0.006, "mapped cost");

    // Nodes: e2-standard-4 = 4 × 0.02 + 16 × 0.004 = 0.144 an hour.
    let nodes = rows(&read(dir.path(), "nodes"));
    let e2 = nodes
        .iter()
        .find(|r| r["node"] == "n-e2" && r["start_time"] == first_hour)
        .unwrap_or_else(|| panic!("{nodes:?}"));
    assert_close(number(e2, "total_cost_usd"), 0.144, "node cost");
    assert_close(
        number(e2, "allocated_cost_usd"),
        0.028 + 0.024 + 0.044 * 20.0 / 3600.0 + 0.006,
        "allocated",
    );
    assert_bill_adds_up(&allocation, &nodes);

    // Workloads of the first hour: controllers from the watch cache, the
    // naked pod from itself, tenants as their pods'.
    let workloads = rows(&read(dir.path(), "workloads"));
    let workload = |kind: &str, name: &str| -> &Row {
        workloads
            .iter()
            .find(|r| {
                r["workload_kind"] == kind
                    && r["workload_name"] == name
                    && r["start_time"] == first_hour
            })
            .unwrap_or_else(|| panic!("no {kind} {name}: {workloads:?}"))
    };
    assert_eq!(workload("Deployment", "api")["tenant"], "acme");
    assert_eq!(workload("Deployment", "api")["pod_count"], "1");
    assert_eq!(workload("Pod", "hog-1")["tenant"], "globex");
    assert_eq!(workload("CronJob", "nightly")["namespace"], "shop");
    assert_eq!(workload("DaemonSet", "dns")["has_pdb"], "false");

    // Each file's rows come in the documented order.
    assert_sorted(
        dir.path(),
        "allocation",
        &[
            "namespace",
            "workload_kind",
            "workload_name",
            "container",
            "pod_uid",
        ],
    );
    assert_sorted(
        dir.path(),
        "workloads",
        &["namespace", "workload_kind", "workload_name"],
    );
}

/// Every file of `table` has its rows sorted by `keys`, with no two equal.
fn assert_sorted(root: &Path, table: &str, keys: &[&str]) {
    let filter = kubetally::store::read::Filter::default();
    let files = kubetally::store::read::files(root, table, &filter).unwrap();
    assert!(!files.is_empty(), "no {table} files");
    for file in files.into_iter().map(|f| f.path) {
        let handle = std::fs::File::open(&file).unwrap();
        let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(handle)
            .and_then(|b| b.build())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .map(|b| b.unwrap())
            .collect();
        let found: Vec<Vec<String>> = rows(&batches)
            .iter()
            .map(|row| keys.iter().map(|k| row[*k].clone()).collect())
            .collect();
        assert!(found.len() > 1, "{}", file.display());
        assert!(
            found.windows(2).all(|pair| pair[0] < pair[1]),
            "{}: {found:?}",
            file.display()
        );
    }
}

/// Σ allocation over a node-hour + idle = the node's cost, for every node-hour.
pub(crate) fn assert_bill_adds_up(allocation: &[Row], nodes: &[Row]) {
    let mut charged: BTreeMap<(String, String), f64> = BTreeMap::new();
    for row in allocation {
        *charged
            .entry((row["node"].clone(), row["start_time"].clone()))
            .or_default() += number(row, "total_cost_usd");
    }
    assert!(!nodes.is_empty());
    for node in nodes {
        let key = (node["node"].clone(), node["start_time"].clone());
        let sum = charged.get(&key).copied().unwrap_or(0.0) + number(node, "idle_cost_usd");
        let total = number(node, "total_cost_usd");
        assert!(
            (sum - total).abs() <= 1e-6 * total.max(1e-9),
            "{key:?}: {sum} != {total}"
        );
    }
}

#[test]
fn written_files_carry_the_documented_schema() {
    let runtime = crate::support::runtime();
    let dir = tempfile::tempdir().unwrap();
    runtime.block_on(collect(dir.path(), chrono::Duration::minutes(5)));
    for table in [
        kubetally::store::schema::ALLOCATION,
        kubetally::store::schema::NODES,
        kubetally::store::schema::SAMPLES,
        kubetally::store::schema::WORKLOADS,
    ] {
        let batches = read(dir.path(), table.name);
        let first = batches
            .first()
            .unwrap_or_else(|| panic!("no {} files", table.name));
        // What readers are told: the table's types, strings as strings.
        let expected = kubetally::store::reader_schema(&table.schema());
        let names = |s: &arrow::datatypes::Schema| {
            s.fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&first.schema()), names(&expected), "{}", table.name);
        for field in first.schema().fields() {
            assert!(
                field.metadata().contains_key("unit"),
                "{}.{}: no unit",
                table.name,
                field.name()
            );
        }
    }
    // A histogram has weights that sum to the sample count.
    let allocation = read(dir.path(), "allocation");
    let batch = &allocation[0];
    let counts = batch
        .column_by_name("sample_count")
        .map(|c| c.as_primitive::<Int32Type>().clone())
        .unwrap_or_else(|| panic!("sample_count"));
    let histograms = batch
        .column_by_name("cpu_usage_histogram")
        .map(|c| c.as_list::<i32>().clone())
        .unwrap_or_else(|| panic!("histogram"));
    for row in 0..batch.num_rows() {
        let entries = histograms.value(row);
        let weights = entries
            .as_struct()
            .column(1)
            .as_primitive::<Float64Type>()
            .clone();
        let total: f64 = weights.iter().flatten().sum();
        assert_eq!(total, f64::from(counts.value(row)));
    }
}

/// Runs `kubetally collect` against `server` writing to `out`, for
/// `duration` of sample time or, with none, until it is signalled.
fn spawn_collector(
    kubeconfig: &Path,
    prices: &Path,
    out: &Path,
    duration: Option<&str>,
) -> std::process::Child {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kubetally"));
    command
        .args(["collect", "--kubeconfig"])
        .arg(kubeconfig)
        .arg("--out")
        .arg(out)
        .arg("--pricing")
        .arg(prices)
        .args([
            "--default-vcpu-hour-usd",
            "0.05",
            "--default-memory-gib-hour-usd",
            "0.01",
            "--cluster-name",
            "test",
            "--tenant-label",
            "tenant",
            "--interval",
            "100ms",
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(std::process::Stdio::null());
    if let Some(duration) = duration {
        command.args(["--duration", duration]);
    }
    command.spawn().unwrap()
}

/// Starts the scenario's cluster at 600× and writes a kubeconfig for it.
/// Its CronJob pod is deleted at 00:11:40, a minute and a half after it
/// finished (as a Job's `ttlSecondsAfterFinished` does): a collector that
/// restarts after that never sees it in the API.
async fn scenario_server(dir: &Path) -> (kubetally::sim::SimServer, std::path::PathBuf) {
    let mut config = scenario_config();
    for pod in config.scenario.iter_mut().flat_map(|s| s.pods.iter_mut()) {
        if pod.name == "nightly-1" {
            pod.deleted = Some(700);
        }
    }
    let server = start(&config).await;
    let kubeconfig = dir.join(format!("kubeconfig-{}", server.addr.port()));
    std::fs::write(&kubeconfig, server.kubeconfig()).unwrap();
    (server, kubeconfig)
}

/// Hour 0's rows of `allocation` by pod: (running s, CPU usage core-h, cost).
fn first_hour_totals(out: &Path) -> BTreeMap<String, (f64, f64, f64)> {
    rows(&read(out, "allocation"))
        .into_iter()
        .filter(|r| r["start_time"] == "2026-11-02T00:00:00")
        .map(|r| {
            let totals = (
                number(&r, "running_seconds"),
                number(&r, "cpu_usage_core_hours"),
                number(&r, "total_cost_usd"),
            );
            (r["pod"].clone(), totals)
        })
        .collect()
}

/// Bytes of the files directly in `dir` (0 when it does not exist).
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Waits up to 15 s of real time for the simulated clock to pass `minutes`
/// and the collector writing to `out` to have logged samples; false if not.
async fn wait_until_logged(server: &SimServer, out: &Path, minutes: i64) -> bool {
    let wal = out.join("_wal").join("test");
    for _ in 0..300 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let now = (server.sim.clock.now() - kubetally::sim::epoch()).num_minutes();
        if now >= minutes && dir_bytes(&wal) > 0 {
            return true;
        }
    }
    false
}

/// `kill -9` in the middle of an hour, then a restart: the write-ahead log
/// brings back what was sampled, and the hour's totals equal an
/// uninterrupted run's — nothing lost, nothing counted twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_collector_killed_mid_hour_restarts_from_its_log_to_the_same_totals() {
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.csv");
    std::fs::write(&prices, PRICES).unwrap();

    let (server, kubeconfig) = scenario_server(dir.path()).await;
    let steady = dir.path().join("steady");
    let status = spawn_collector(&kubeconfig, &prices, &steady, Some("70m"))
        .wait()
        .unwrap();
    assert!(status.success());
    stop(server).await;

    let (server, kubeconfig) = scenario_server(dir.path()).await;
    let killed = dir.path().join("killed");
    let mut child = spawn_collector(&kubeconfig, &prices, &killed, Some("70m"));
    // Kill it once it has logged samples, a third of the way into hour 0.
    let wal = killed.join("_wal").join("test");
    assert!(
        wait_until_logged(&server, &killed, 20).await,
        "the collector logged nothing in 15 s"
    );
    child.kill().unwrap();
    let _ = child.wait();
    // What the log held at the moment of the kill must all be published.
    let logged: std::collections::BTreeSet<(String, String, String)> =
        kubetally::store::wal::Wal::open(&killed.join("_wal"), "test", "0")
            .and_then(|wal| wal.replay())
            .unwrap()
            .log
            .samples
            .iter()
            .map(|s| {
                (
                    s.context.pod.to_string(),
                    s.context.container.to_string(),
                    s.ts.format("%H:%M:%S").to_string(),
                )
            })
            .collect();
    assert!(!logged.is_empty());
    assert!(
        !killed.join("allocation").exists(),
        "nothing is published before the hour ends"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let status = spawn_collector(&kubeconfig, &prices, &killed, Some("70m"))
        .wait()
        .unwrap();
    assert!(status.success());
    stop(server).await;

    let (expected, actual) = (first_hour_totals(&steady), first_hour_totals(&killed));
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        actual.keys().collect::<Vec<_>>()
    );
    for (pod, (running, usage, cost)) in &expected {
        let (r, u, c) = actual[pod];
        assert_close(r, *running, &format!("{pod} running"));
        // A 20-second job is sampled only when a tick (one a simulated
        // minute) falls within its run, so its usage differs between runs
        // by luck; its cost is billed by request either way.
        if pod != "nightly-1" {
            assert_close(u, *usage, &format!("{pod} usage"));
        }
        assert_close(c, *cost, &format!("{pod} cost"));
    }
    // The CronJob's pod ran 20 s, finished at 00:10:20 and was deleted at
    // 00:11:40, before the kill: the restarted collector never sees it in
    // the API, so its bill comes from the log alone — exactly once.
    let nightly: Vec<Row> = rows(&read(&killed, "allocation"))
        .into_iter()
        .filter(|r| r["pod"] == "nightly-1")
        .collect();
    assert_eq!(nightly.len(), 1, "{nightly:?}");
    assert_close(
        number(&nightly[0], "running_seconds"),
        20.0,
        "nightly-1 running",
    );
    assert_close(
        number(&nightly[0], "cpu_request_core_hours"),
        2.0 * 20.0 / 3600.0,
        "nightly-1 requests",
    );
    // Every logged sample is in the published samples, and none twice.
    let published: Vec<(String, String, String)> = rows(&read(&killed, "samples"))
        .into_iter()
        .map(|r| {
            (
                r["pod"].clone(),
                r["container"].clone(),
                r["ts"][11..19].to_owned(),
            )
        })
        .collect();
    let unique: std::collections::BTreeSet<_> = published.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        published.len(),
        "a sample was published twice"
    );
    let lost: Vec<_> = logged.difference(&unique).collect();
    assert!(
        lost.is_empty(),
        "logged before the kill but not published: {lost:?}"
    );
    // The published hour left no log behind.
    let left: Vec<_> = std::fs::read_dir(&wal)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("2026-11-02T00"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

/// Hour 0's files of `table` (`part-00-…`).
fn first_hour_files(out: &Path, table: &str) -> Vec<std::path::PathBuf> {
    let partition = out.join(table).join("cluster=test").join("date=2026-11-02");
    std::fs::read_dir(&partition)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("part-00-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits up to `limit` for `child` to exit; kills it and fails if it does not.
async fn exit_status(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the collector did not exit within {limit:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// SIGTERM in the middle of an hour: the collector publishes the open hour
/// as a partial hour, exits 0, and keeps the hour in its write-ahead log, so
/// a restart completes it, replacing the partial files.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_publishes_the_open_hour_as_partial_and_a_restart_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.csv");
    std::fs::write(&prices, PRICES).unwrap();
    let (server, kubeconfig) = scenario_server(dir.path()).await;
    let out = dir.path().join("out");

    let mut child = spawn_collector(&kubeconfig, &prices, &out, None);
    assert!(
        wait_until_logged(&server, &out, 20).await,
        "the collector logged nothing in 15 s"
    );
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(sent.success(), "kill -TERM {pid}: {sent:?}");
    let status = exit_status(&mut child, std::time::Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "{status:?}");

    for table in ["allocation", "nodes", "samples"] {
        let files = first_hour_files(&out, table);
        assert_eq!(files.len(), 1, "{table}: {files:?}");
    }
    let first_hour = "2026-11-02T00:00:00";
    let allocation = rows(&read(&out, "allocation"));
    let nodes = rows(&read(&out, "nodes"));
    let api = allocation
        .iter()
        .find(|r| r["pod"] == "api-1" && r["start_time"] == first_hour)
        .unwrap_or_else(|| panic!("no partial hour-0 row for api-1: {allocation:?}"));
    let running = number(api, "running_seconds");
    assert!(running > 0.0 && running < 3600.0, "api running {running}");
    // A partial hour is priced for the part that ran: 0.028 an hour.
    assert_close(
        number(api, "total_cost_usd"),
        0.028 * running / 3600.0,
        "api partial cost",
    );
    let e2 = nodes
        .iter()
        .find(|r| r["node"] == "n-e2" && r["start_time"] == first_hour)
        .unwrap_or_else(|| panic!("no partial hour-0 row for n-e2: {nodes:?}"));
    let node_running = number(e2, "running_seconds");
    assert!(
        node_running > 0.0 && node_running < 3600.0,
        "n-e2 running {node_running}"
    );
    assert_bill_adds_up(&allocation, &nodes);
    let samples = rows(&read(&out, "samples"));
    let api_samples = samples.iter().filter(|r| r["pod"] == "api-1").count();
    assert!(api_samples > 0, "no hour-0 samples published");
    assert_eq!(
        number(api, "sample_count"),
        api_samples as f64,
        "the partial row counts the published samples"
    );

    // The log still holds the hour: every published sample of api-1 is in it.
    let log = kubetally::store::wal::Wal::open(&out.join("_wal"), "test", "0")
        .and_then(|wal| wal.replay())
        .unwrap()
        .log;
    let logged = log
        .samples
        .iter()
        .filter(|s| &*s.context.pod == "api-1")
        .count();
    assert_eq!(logged, api_samples, "the log keeps the partial hour");
    assert!(
        log.samples
            .iter()
            .all(|s| s.hour() == kubetally::sim::epoch()),
        "only hour 0 is open"
    );

    // A restart replays the log and completes hour 0, replacing the partial files.
    let mut child = spawn_collector(&kubeconfig, &prices, &out, Some("61m"));
    let status = exit_status(&mut child, std::time::Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}");
    stop(server).await;
    for table in ["allocation", "nodes", "samples"] {
        let files = first_hour_files(&out, table);
        assert_eq!(files.len(), 1, "{table} after the restart: {files:?}");
    }
    let allocation = rows(&read(&out, "allocation"));
    let api: Vec<&Row> = allocation
        .iter()
        .filter(|r| r["pod"] == "api-1" && r["start_time"] == first_hour)
        .collect();
    assert_eq!(api.len(), 1, "{api:?}");
    assert_close(number(api[0], "running_seconds"), 3600.0, "api running");
    assert_close(number(api[0], "total_cost_usd"), 0.028, "api cost");
    assert!(
        number(api[0], "sample_count") > api_samples as f64,
        "the restart adds to the logged samples: {api:?}"
    );
    assert_bill_adds_up(&allocation, &rows(&read(&out, "nodes")));
}
