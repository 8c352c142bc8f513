//! `kubetally query` and the `queries/` library, on a dataset the real
//! collector wrote from a simulated cluster: every bundled query gives the
//! same rows in polars (the library `kubetally query` runs) and in DuckDB
//! (through `tests/queries_duckdb.py`), the chargeback adds up to the node
//! cost, and a date filter skips other partitions' files. The command line
//! is tested in `query_cli.rs` on the same dataset.
//!
//! The collector runs two simulated hours (and ten minutes); those hours are
//! then replayed on later days and into a second cluster folder (timestamps
//! shifted, files otherwise as written) so the weekly, daily and
//! multi-cluster queries have more than one period and cluster to compare.
//! The scenario has no disks or load balancers (its `resources` rows are the
//! cluster fee): [`DISKS_AND_BALANCERS`] are added to its first two hours
//! before the replays, at round prices.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, TimestampMillisecondArray};
use arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use kubetally::analyze::{self, QueryFile, ResultFormat, Session};
use kubetally::sim::SimConfig;
use kubetally::sim::scenario::Scenario;
use serde_json::Value;

use crate::collect::{SPEED, collect_from};
use crate::duckdb::run_duckdb_script;
use crate::support::{runtime, start, stop};

const DUCKDB_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/queries_duckdb.py");

/// Two node pools (one spot), a node of an unknown machine type (priced at
/// the default rate), tenants by namespace label, a shared namespace, pods
/// with and without `app`/`team` labels, a short CronJob and a late starter.
const SCENARIO: &str = r#"{
  "nodes": [
    {"name": "general-1", "machine_type": "e2-standard-4", "vcpus": 4, "memory_gib": 16, "pool": "general"},
    {"name": "general-2", "machine_type": "e2-standard-4", "vcpus": 4, "memory_gib": 16, "pool": "general", "zone": 1},
    {"name": "spot-1", "machine_type": "e2-standard-4", "capacity": "spot", "vcpus": 4, "memory_gib": 16, "pool": "spot"},
    {"name": "odd-1", "machine_type": "z9-mega-4", "vcpus": 4, "memory_gib": 16}
  ],
  "namespaces": [
    {"name": "shop", "labels": {"tenant": "acme"}},
    {"name": "web", "labels": {"tenant": "globex"}}
  ],
  "pods": [
    {"namespace": "shop", "name": "api-1", "node": "general-1", "owner": {"kind": "Deployment", "name": "api"},
     "labels": {"app": "api", "team": "payments"},
     "containers": [{"name": "api", "cpu_request": "1", "memory_request": "2Gi", "cpu_usage": "300m", "memory_usage": "1Gi"},
                    {"name": "proxy", "cpu_request": "100m", "memory_request": "128Mi", "cpu_usage": "20m", "memory_usage": "64Mi"}]},
    {"namespace": "shop", "name": "api-2", "node": "general-2", "owner": {"kind": "Deployment", "name": "api"},
     "labels": {"app": "api", "team": "payments"},
     "containers": [{"name": "api", "cpu_request": "1", "memory_request": "2Gi", "cpu_usage": "700m", "memory_usage": "1500Mi"}]},
    {"namespace": "shop", "name": "nightly-1", "node": "general-2", "owner": {"kind": "CronJob", "name": "nightly"},
     "labels": {"app": "nightly"}, "start": 600, "end": 1500,
     "containers": [{"name": "job", "cpu_request": "2", "memory_request": "1Gi", "cpu_usage": "2", "memory_usage": "1Gi"}]},
    {"namespace": "web", "name": "front-1", "node": "spot-1", "owner": {"kind": "Deployment", "name": "front"},
     "labels": {"app": "front", "team": "web"},
     "containers": [{"name": "front", "cpu_request": "500m", "memory_request": "1Gi", "cpu_usage": "100m", "memory_usage": "200Mi"}]},
    {"namespace": "web", "name": "hog-1", "node": "general-1",
     "containers": [{"name": "hog", "cpu_request": "250m", "memory_request": "256Mi", "cpu_usage": "1", "memory_usage": "1Gi"}]},
    {"namespace": "kube-system", "name": "dns-1", "node": "odd-1", "owner": {"kind": "DaemonSet", "name": "dns"},
     "labels": {"app": "dns"},
     "containers": [{"name": "dns", "cpu_request": "100m", "memory_request": "128Mi", "cpu_usage": "10m", "memory_usage": "64Mi"}]},
    {"namespace": "lab", "name": "exp-1", "node": "odd-1", "labels": {"team": "research"}, "start": 3700,
     "containers": [{"name": "exp", "cpu_request": "250m", "memory_request": "256Mi", "cpu_usage": "250m", "memory_usage": "256Mi"}]}
  ]
}"#;

/// Where the collected hours are replayed: (cluster, days later, hours of
/// the day copied; none: all).
const REPLAYS: [(&str, i64, Option<&str>); 4] = [
    ("test", 1, None),
    ("test", 7, Some("00")),
    ("test", 8, Some("01")),
    ("test-b", 0, Some("00")),
];

const TABLES: [&kubetally::store::schema::Table; 5] = [
    &kubetally::store::schema::SAMPLES,
    &kubetally::store::schema::ALLOCATION,
    &kubetally::store::schema::NODES,
    &kubetally::store::schema::RESOURCES,
    &kubetally::store::schema::WORKLOADS,
];

/// A disk or load balancer added to the scenario's hours.
struct Billed {
    kind: &'static str,
    name: &'static str,
    namespace: &'static str,
    tenant: &'static str,
    claim: &'static str,
    state: &'static str,
    size_gib: f64,
    hourly_usd: f64,
}

/// Disks and a load balancer of the scenario's namespaces, each hour.
/// `shop`'s data disk is mounted, its scratch disk not (acme's waste); a
/// released disk no claim holds is overhead; `web` (globex) has a balancer.
const DISKS_AND_BALANCERS: [Billed; 4] = [
    Billed {
        kind: "disk",
        name: "pvc-data",
        namespace: "shop",
        tenant: "acme",
        claim: "shop/data-api-0",
        state: "mounted",
        size_gib: 100.0,
        hourly_usd: 0.01,
    },
    Billed {
        kind: "disk",
        name: "pvc-scratch",
        namespace: "shop",
        tenant: "acme",
        claim: "shop/scratch",
        state: "unmounted",
        size_gib: 50.0,
        hourly_usd: 0.005,
    },
    Billed {
        kind: "disk",
        name: "pvc-old-reports",
        namespace: "",
        tenant: "__shared__",
        claim: "web/old-reports",
        state: "released",
        size_gib: 200.0,
        hourly_usd: 0.02,
    },
    Billed {
        kind: "load_balancer",
        name: "front",
        namespace: "web",
        tenant: "globex",
        claim: "",
        state: "provisioned",
        size_gib: 0.0,
        hourly_usd: 0.025,
    },
];

/// Writes [`DISKS_AND_BALANCERS`] as a `resources` file of each of the
/// collected day's first two hours, beside the collector's own.
fn add_disks_and_balancers(root: &Path) {
    use kubetally::allocate::resources::ResourceCost;
    let epoch = kubetally::sim::epoch();
    let dir = root
        .join("resources/cluster=test")
        .join(format!("date={}", epoch.date_naive()));
    std::fs::create_dir_all(&dir).unwrap();
    for hour in 0..2 {
        let start = epoch + chrono::Duration::hours(hour);
        let rows: Vec<ResourceCost> = DISKS_AND_BALANCERS
            .iter()
            .map(|b| {
                let Billed {
                    kind,
                    name,
                    namespace,
                    tenant,
                    claim,
                    state,
                    size_gib: size,
                    hourly_usd: hourly,
                } = *b;
                let text = |t: &str| (!t.is_empty()).then(|| Arc::from(t));
                ResourceCost {
                    start_time: start,
                    end_time: start + chrono::Duration::hours(1),
                    kind,
                    resource_id: Arc::from(name),
                    resource_name: Arc::from(name),
                    provider_resource_id: Some(Arc::from(format!("handle-{name}"))),
                    namespace: text(namespace),
                    tenant: Arc::from(tenant),
                    claim: (!claim.is_empty()).then(|| claim.to_owned()),
                    storage_class: (kind == "disk").then(|| Arc::from("standard-rwo")),
                    state,
                    provider: "gcp".to_owned(),
                    region: "us-central1".to_owned(),
                    sku: Some(
                        if kind == "disk" {
                            "pd-balanced"
                        } else {
                            "forwarding_rule"
                        }
                        .to_owned(),
                    ),
                    size_gib: (kind == "disk").then_some(size),
                    running_seconds: 3600.0,
                    hourly_usd: hourly,
                    cost_usd: hourly,
                    price_source: "catalog",
                    price_note: None,
                }
            })
            .collect();
        let batch = kubetally::store::resources_batch(&rows).unwrap();
        let bytes =
            kubetally::store::parquet_bytes(&kubetally::store::schema::RESOURCES, &batch).unwrap();
        std::fs::write(
            dir.join(format!("part-{hour:02}-disks-0000.parquet")),
            bytes,
        )
        .unwrap();
    }
}

/// The dataset every test here reads, made once per test run. It lives in
/// cargo's per-target scratch folder and is left there (tests share it and
/// none knows it is the last); the next run removes those of finished runs.
pub(crate) fn dataset() -> &'static Path {
    static DATASET: OnceLock<PathBuf> = OnceLock::new();
    DATASET.get_or_init(|| {
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        remove_finished_runs(scratch, "query-dataset-");
        let root = scratch.join(format!("query-dataset-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let scenario = Scenario::parse(SCENARIO, "query test").unwrap();
        let config = SimConfig {
            scenario: Some(scenario),
            speed: SPEED,
            ..SimConfig::default()
        };
        runtime().block_on(async {
            let server = start(&config).await;
            collect_from(&server, &root, chrono::Duration::minutes(130)).await;
            stop(server).await;
        });
        add_disks_and_balancers(&root);
        for (cluster, days, hour) in REPLAYS {
            for table in TABLES {
                replay(&root, table, cluster, days, hour);
            }
        }
        export_focus(&root);
        root
    })
}

/// The FOCUS export of the whole dataset in its `focus/` folder, where
/// `kubetally query` (and the DuckDB and Spark scripts) read it as the
/// table `focus`: what `kubetally export focus --data DIR -o DIR/focus` writes.
fn export_focus(root: &Path) {
    use kubetally::focus::{self, CostBasis, Pricing, Window};
    use kubetally::store::Target;
    use kubetally::store::focus::{Destination, Format};
    let pricing = Pricing::open(root, Some(CostBasis::List)).unwrap();
    let destination = Destination::new(Target::Local(root.join("focus")), Format::Parquet);
    let mut writer = destination.writer().unwrap();
    let request = focus::Request {
        root,
        window: Window {
            start: i64::MIN,
            end: i64::MAX,
        },
        days: (None, None),
        billing_account: None,
        pricing: &pricing,
        window_name: "the query dataset".to_owned(),
    };
    focus::export(&request, &mut writer).unwrap();
    writer.publish().unwrap();
}

/// Removes `<prefix><pid>` folders whose process has ended (where `/proc`
/// tells; elsewhere they stay).
pub(crate) fn remove_finished_runs(scratch: &Path, prefix: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(scratch) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(prefix) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Copies `table`'s files of the collected day into `cluster` `days` later
/// (only hour `hour`'s files when given), timestamps shifted to match.
fn replay(
    root: &Path,
    table: &kubetally::store::schema::Table,
    cluster: &str,
    days: i64,
    hour: Option<&str>,
) {
    let day = kubetally::sim::epoch().date_naive();
    let source = root
        .join(table.name)
        .join("cluster=test")
        .join(format!("date={day}"));
    let target = root
        .join(table.name)
        .join(format!("cluster={cluster}"))
        .join(format!(
            "date={}",
            day + chrono::Days::new(days.unsigned_abs())
        ));
    std::fs::create_dir_all(&target).unwrap();
    let entries = std::fs::read_dir(&source).unwrap();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let wanted = hour.is_none_or(|h| name.starts_with(&format!("part-{h}-")));
        if !wanted || !name.ends_with(".parquet") {
            continue;
        }
        copy_shifted(table, &entry.path(), &target.join(&name), days * 86_400_000);
    }
}

/// Writes the Parquet file `from` of `table` to `to` with every timestamp
/// moved by `millis` (an empty file is skipped).
pub(crate) fn copy_shifted(
    table: &kubetally::store::schema::Table,
    from: &Path,
    to: &Path,
    millis: i64,
) {
    let file = std::fs::File::open(from).unwrap();
    let batches: Vec<RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
    let Some(first) = batches.first() else {
        return;
    };
    let batch = arrow::compute::concat_batches(&first.schema(), &batches).unwrap();
    let shifted = shift(&batch, millis);
    let bytes = kubetally::store::parquet_bytes(table, &shifted).unwrap();
    std::fs::write(to, bytes).unwrap();
}

/// `batch` with every millisecond timestamp column moved by `millis`.
fn shift(batch: &RecordBatch, millis: i64) -> RecordBatch {
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|column| match column.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, zone) => {
                let moved: TimestampMillisecondArray = column
                    .as_primitive::<TimestampMillisecondType>()
                    .unary(|t| t + millis);
                Arc::new(moved.with_timezone_opt(zone.clone())) as ArrayRef
            }
            _ => column.clone(),
        })
        .collect();
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

/// A query's result: column names and rows, values as polars' JSON writer
/// writes them.
#[derive(Debug)]
struct Rows {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

/// Runs `sql` with the library, as `kubetally query` does.
fn polars_rows(root: &Path, sql: &str) -> Rows {
    let mut session = Session::open(root).unwrap();
    let mut frame = session.query(sql).unwrap_or_else(|e| panic!("{e}\n{sql}"));
    let columns = frame
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>();
    let mut json = Vec::new();
    analyze::write(&mut frame, ResultFormat::Json, &mut json).unwrap();
    let objects: Vec<BTreeMap<String, Value>> = serde_json::from_slice(&json).unwrap();
    let rows = objects
        .into_iter()
        .map(|mut object| {
            columns
                .iter()
                .map(|c| object.remove(c).unwrap_or(Value::Null))
                .collect()
        })
        .collect();
    Rows { columns, rows }
}

/// A query to compare: its name, the file and `--param` values.
type Case = (String, QueryFile, Vec<(String, String)>);

/// The cases: every bundled query with its defaults, plus the parameters
/// that change what a query does.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for bundled in analyze::bundled().unwrap() {
        let name = bundled.name().to_owned();
        let extra: Vec<(&str, Vec<(&str, &str)>)> = match name.as_str() {
            "cost_by_label" => vec![("team", vec![("label", "team")])],
            "gke_usage_metering" => vec![("consumption", vec![("measure", "usage")])],
            "chargeback_by_tenant" => vec![(
                "second_week",
                vec![("from", "2026-11-09"), ("to", "2026-11-16")],
            )],
            "top_waste_workloads" => vec![("top_2", vec![("top", "2")])],
            "storage_waste" => vec![("first_day", vec![("to", "2026-11-03")])],
            _ => Vec::new(),
        };
        cases.push((name.clone(), bundled.query.clone(), Vec::new()));
        for (suffix, params) in extra {
            let params = params
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            cases.push((format!("{name}/{suffix}"), bundled.query.clone(), params));
        }
    }
    cases
}

/// Rows in an order both engines agree on: sorted by their values, floats
/// rounded so last-bit differences do not reorder them.
fn sorted(rows: &[Vec<Value>]) -> Vec<Vec<Value>> {
    let mut keyed: Vec<(String, Vec<Value>)> = rows
        .iter()
        .map(|row| {
            let key: Vec<Value> = row.iter().map(rounded).collect();
            (Value::Array(key).to_string(), row.clone())
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, row)| row).collect()
}

fn rounded(value: &Value) -> Value {
    match value {
        Value::Number(n) => n
            .as_f64()
            .map(|f| Value::String(format!("{f:.6e}")))
            .unwrap_or_else(|| value.clone()),
        Value::Array(items) => Value::Array(items.iter().map(rounded).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), rounded(v))).collect())
        }
        other => other.clone(),
    }
}

/// Equal, numbers within 1e-9 relative (engines sum in different orders).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-3),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn every_bundled_query_gives_the_same_rows_in_polars_and_duckdb() {
    let root = dataset();
    let cases = cases();
    let mut polars = BTreeMap::new();
    let mut duck_input = Vec::new();
    for (name, query, params) in &cases {
        let sql = query
            .render(params)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let rows = polars_rows(root, &sql);
        assert!(!rows.rows.is_empty(), "{name}: no rows in polars");
        polars.insert(name.clone(), rows);
        let duck_sql = query
            .render_for("duckdb", params)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        duck_input.push(serde_json::json!({"name": name, "sql": duck_sql}));
    }
    let input = Value::Array(duck_input).to_string();
    let duck = match run_duckdb_script(DUCKDB_SCRIPT, &[root.as_os_str()], Some(&input)) {
        Ok(duck) => duck,
        Err(reason) => {
            eprintln!(
                "SKIP every_bundled_query_gives_the_same_rows_in_polars_and_duckdb: {reason}"
            );
            return;
        }
    };
    for (name, ours) in &polars {
        let theirs = &duck[name];
        assert!(
            theirs["error"].is_null(),
            "{name}: DuckDB: {}",
            theirs["error"]
        );
        let columns: Vec<&str> = theirs["columns"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: {theirs}"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(columns, ours.columns, "{name}: columns");
        let their_rows: Vec<Vec<Value>> = serde_json::from_value(theirs["rows"].clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(their_rows.len(), ours.rows.len(), "{name}: row count");
        for (a, b) in sorted(&ours.rows).iter().zip(sorted(&their_rows).iter()) {
            assert!(
                a.iter().zip(b).all(|(x, y)| same(x, y)),
                "{name}: polars {a:?}\n  != DuckDB {b:?}"
            );
        }
    }
}

/// The rows of a bundled query as column → value maps.
fn bundled_rows(name: &str, params: &[(&str, &str)]) -> Vec<BTreeMap<String, Value>> {
    let query = analyze::find(name).unwrap().query;
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let sql = query.render(&params).unwrap();
    let rows = polars_rows(dataset(), &sql);
    rows.rows
        .into_iter()
        .map(|row| rows.columns.iter().cloned().zip(row).collect())
        .collect()
}

fn float(row: &BTreeMap<String, Value>, column: &str) -> f64 {
    row[column]
        .as_f64()
        .unwrap_or_else(|| panic!("{column} of {row:?}"))
}

/// `SQL`'s one number, by polars.
fn one_number(sql: &str) -> f64 {
    let mut session = Session::open(dataset()).unwrap();
    let frame = session.query(sql).unwrap();
    frame
        .column("usd")
        .ok()
        .and_then(|c| c.get(0).ok())
        .and_then(|v| v.extract::<f64>())
        .unwrap_or_else(|| panic!("{frame}"))
}

#[test]
fn the_chargeback_adds_up_to_what_the_cluster_cost() {
    let rows = bundled_rows("chargeback_by_tenant", &[]);
    let line = |kind: &str| -> Vec<&BTreeMap<String, Value>> {
        rows.iter().filter(|r| r["line"] == kind).collect()
    };
    let tenants: Vec<&str> = line("tenant")
        .iter()
        .filter_map(|r| r["tenant"].as_str())
        .collect();
    let mut sorted_tenants = tenants.clone();
    sorted_tenants.sort_unstable();
    assert_eq!(sorted_tenants, ["acme", "globex", "research"], "{rows:?}");
    assert_eq!(line("shared").len(), 1, "kube-system is shared");
    let total = line("total")[0];
    // Every money column of the lines adds up to the total line's, and each
    // line's parts to its cost.
    let money = [
        "compute_cost_usd",
        "storage_cost_usd",
        "network_cost_usd",
        "cluster_fee_usd",
        "cost_usd",
    ];
    for column in money {
        let lines: f64 = rows
            .iter()
            .filter(|r| r["line"] != "total")
            .map(|r| float(r, column))
            .sum();
        let want = float(total, column);
        assert!(
            (lines - want).abs() <= 1e-9 * want.max(1.0),
            "{column}: {lines} != {want}"
        );
    }
    for row in &rows {
        let parts: f64 = money[..4].iter().map(|c| float(row, c)).sum();
        assert!((parts - float(row, "cost_usd")).abs() < 1e-12, "{row:?}");
    }
    // The total is the nodes plus every resource; its parts are the kinds'.
    let nodes = one_number("SELECT SUM(total_cost_usd) AS usd FROM nodes");
    let kind = |kind: &str| {
        one_number(&format!(
            "SELECT SUM(cost_usd) AS usd FROM resources WHERE kind = '{kind}'"
        ))
    };
    let close = |a: f64, b: f64, what: &str| {
        assert!((a - b).abs() <= 1e-9 * b.max(1.0), "{what}: {a} != {b}");
    };
    close(float(total, "compute_cost_usd"), nodes, "compute = nodes");
    close(
        float(total, "storage_cost_usd"),
        kind("disk"),
        "storage = disks",
    );
    close(
        float(total, "network_cost_usd"),
        kind("load_balancer"),
        "network",
    );
    close(float(total, "cluster_fee_usd"), kind("cluster_fee"), "fee");
    // The added disks and balancer, hour by hour in three clusters-days of
    // replays: acme's two disks, globex's balancer, the released disk shared.
    let tenant = |name: &str| rows.iter().find(|r| r["tenant"] == name).unwrap();
    let hours = float(tenant("acme"), "storage_cost_usd") / 0.015;
    assert!(
        hours > 2.0 && (hours - hours.round()).abs() < 1e-9,
        "{hours}"
    );
    close(
        float(tenant("globex"), "network_cost_usd"),
        0.025 * hours,
        "globex",
    );
    close(
        float(tenant("__shared__"), "storage_cost_usd"),
        0.02 * hours,
        "released",
    );
    assert!(float(tenant("__shared__"), "cluster_fee_usd") > 0.0);
    assert_eq!(float(tenant("research"), "storage_cost_usd"), 0.0);
    assert!((float(total, "share_pct") - 100.0).abs() < 1e-9);
}

/// Tenant → cost_usd of a chargeback's tenant, shared and idle lines.
fn tenant_costs(rows: &[BTreeMap<String, Value>]) -> BTreeMap<String, f64> {
    rows.iter()
        .filter(|row| row["line"] != "total")
        .map(|row| {
            (
                row["tenant"].as_str().unwrap().to_owned(),
                float(row, "cost_usd"),
            )
        })
        .collect()
}

fn assert_same_costs(engine: &str, ours: &BTreeMap<String, f64>, focus: &BTreeMap<String, f64>) {
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        focus.keys().collect::<Vec<_>>(),
        "{engine}: tenants"
    );
    for (tenant, cost) in ours {
        let from_focus = focus[tenant];
        assert!(
            (cost - from_focus).abs() <= 1e-9 * cost.abs().max(1.0),
            "{engine}: {tenant}: chargeback {cost} != FOCUS {from_focus}"
        );
    }
}

#[test]
fn the_focus_chargeback_equals_chargeback_by_tenant_in_polars_and_duckdb() {
    for params in [vec![], vec![("from", "2026-11-09"), ("to", "2026-11-16")]] {
        let ours = tenant_costs(&bundled_rows("chargeback_by_tenant", &params));
        let focus = tenant_costs(&bundled_rows("focus_chargeback_by_tenant", &params));
        assert!(ours.len() > 3, "{ours:?}");
        assert_same_costs("polars", &ours, &focus);
    }
    let root = dataset();
    let sql = |name: &str| {
        let query = analyze::find(name).unwrap().query;
        serde_json::json!({"name": name, "sql": query.render_for("duckdb", &[]).unwrap()})
    };
    let input = Value::Array(vec![
        sql("chargeback_by_tenant"),
        sql("focus_chargeback_by_tenant"),
    ]);
    let duck = match run_duckdb_script(DUCKDB_SCRIPT, &[root.as_os_str()], Some(&input.to_string()))
    {
        Ok(duck) => duck,
        Err(reason) => {
            eprintln!("SKIP the_focus_chargeback_equals_chargeback_by_tenant (DuckDB): {reason}");
            return;
        }
    };
    let rows = |name: &str| -> Vec<BTreeMap<String, Value>> {
        let result = &duck[name];
        let columns: Vec<String> = serde_json::from_value(result["columns"].clone()).unwrap();
        let rows: Vec<Vec<Value>> = serde_json::from_value(result["rows"].clone())
            .unwrap_or_else(|e| panic!("{name}: {e}: {result}"));
        rows.into_iter()
            .map(|row| columns.iter().cloned().zip(row).collect())
            .collect()
    };
    let ours = tenant_costs(&rows("chargeback_by_tenant"));
    let focus = tenant_costs(&rows("focus_chargeback_by_tenant"));
    assert_same_costs("DuckDB", &ours, &focus);
}

#[test]
fn storage_waste_lists_the_disks_no_pod_mounted_with_their_money() {
    let rows = bundled_rows("storage_waste", &[]);
    let volumes: std::collections::BTreeSet<(&str, &str, &str)> = rows
        .iter()
        .filter_map(|r| {
            Some((
                r["volume"].as_str()?,
                r["state"].as_str()?,
                r["tenant"].as_str()?,
            ))
        })
        .collect();
    assert_eq!(
        volumes.into_iter().collect::<Vec<_>>(),
        [
            ("pvc-old-reports", "released", "__shared__"),
            ("pvc-scratch", "unmounted", "acme")
        ],
        "{rows:?}"
    );
    for row in &rows {
        let hourly = if row["state"] == "released" {
            0.02
        } else {
            0.005
        };
        let cost = float(row, "hours") * hourly;
        assert!((float(row, "cost_usd") - cost).abs() < 1e-9, "{row:?}");
        assert!(
            (float(row, "monthly_usd") - hourly * 730.0).abs() < 1e-9,
            "{row:?}"
        );
    }
    let costs: Vec<f64> = rows.iter().map(|r| float(r, "cost_usd")).collect();
    assert!(
        costs.windows(2).all(|w| w[0] >= w[1]),
        "costliest first: {costs:?}"
    );
}

#[test]
fn the_library_queries_see_what_the_scenario_holds() {
    let unpriced = bundled_rows("unpriced_nodes", &[]);
    let nodes: Vec<(&str, &str)> = unpriced
        .iter()
        .filter_map(|r| Some((r["cluster"].as_str()?, r["node"].as_str()?)))
        .collect();
    assert_eq!(nodes.len(), 2, "{unpriced:?}");
    assert!(nodes.iter().all(|(_, node)| *node == "odd-1"), "{nodes:?}");
    assert_eq!(unpriced[0]["price_source"], "default");

    // Week 45 (four collected-or-replayed hours a day) against week 46.
    let weekly = bundled_rows("weekly_cost_by_namespace", &[]);
    let shop: Vec<&BTreeMap<String, Value>> = weekly
        .iter()
        .filter(|r| r["namespace"] == "shop" && r["cluster"] == "test")
        .collect();
    assert_eq!(shop.len(), 2, "{weekly:?}");
    assert_eq!(shop[0]["week"], "2026-W45");
    assert!(shop[0]["previous_week_cost_usd"].is_null());
    assert_eq!(shop[1]["week"], "2026-W46");
    let change = float(shop[1], "cost_usd") - float(shop[0], "cost_usd");
    assert!(
        (float(shop[1], "change_usd") - change).abs() < 1e-9,
        "{shop:?}"
    );
    assert!(change < 0.0, "week 46 holds fewer hours: {shop:?}");

    // Pods without the label are one line with a NULL value.
    let by_team = bundled_rows("cost_by_label", &[("label", "team")]);
    let values: Vec<Value> = by_team.iter().map(|r| r["label_value"].clone()).collect();
    for expected in ["payments", "web", "research"] {
        assert!(values.contains(&Value::from(expected)), "{values:?}");
    }
    assert!(values.contains(&Value::Null), "{values:?}");
    let labelled: f64 = by_team.iter().map(|r| float(r, "cost_usd")).sum();
    let all = bundled_rows("chargeback_by_tenant", &[]);
    let charged: f64 = all
        .iter()
        .filter(|r| r["line"] == "tenant" || r["line"] == "shared")
        .map(|r| float(r, "compute_cost_usd"))
        .sum();
    assert!(
        (labelled - charged).abs() <= 1e-9 * charged,
        "{labelled} != {charged}"
    );

    // GKE's units: CPU core-seconds and byte-seconds.
    let gke = bundled_rows("gke_usage_metering", &[]);
    let units: std::collections::BTreeSet<(&str, &str)> = gke
        .iter()
        .filter_map(|r| Some((r["resource_name"].as_str()?, r["usage_unit"].as_str()?)))
        .collect();
    assert_eq!(
        units.into_iter().collect::<Vec<_>>(),
        [("cpu", "seconds"), ("memory", "byte-seconds")]
    );
}

#[test]
fn a_date_filter_skips_other_partitions_files() {
    // A copy of the dataset with an unreadable file in an older partition:
    // a query filtered to later dates must never open it.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&dataset().join("nodes"), &copy.path().join("nodes"));
    let bad = copy.path().join("nodes/cluster=test/date=2026-10-01");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("part-00-0-0000.parquet"), b"not parquet").unwrap();
    let mut session = Session::open(copy.path()).unwrap();
    let frame = session
        .query("SELECT COUNT(*) AS n FROM nodes WHERE date >= '2026-11-02'")
        .unwrap_or_else(|e| panic!("the filter did not prune: {e}"));
    assert!(frame.height() == 1, "{frame}");
    let unfiltered = session.query("SELECT COUNT(*) AS n FROM nodes");
    assert!(unfiltered.is_err(), "the bad file is read without a filter");
}

/// Files written before the string columns were declared as strings (an
/// Arrow dictionary in `ARROW:schema`, which polars reads as Categorical)
/// and newer files in one table: a query reads both, with the same answer.
#[test]
fn files_of_an_older_writer_read_with_newer_ones() {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(
        &dataset().join("allocation"),
        &copy.path().join("allocation"),
    );
    let sql = "SELECT namespace, COUNT(*) AS n, SUM(total_cost_usd) AS usd FROM allocation \
               GROUP BY namespace ORDER BY namespace";
    let before = polars_rows(copy.path(), sql);
    let mut files = Vec::new();
    let mut stack = vec![copy.path().join("allocation")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    let old = files.first().unwrap_or_else(|| panic!("no files"));
    let reader = std::fs::File::open(old).unwrap();
    let batches: Vec<RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(reader)
            .and_then(|b| b.build())
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let recast: Vec<RecordBatch> = batches
        .iter()
        .map(|batch| {
            let columns: Vec<ArrayRef> = batch
                .columns()
                .iter()
                .map(|c| match c.data_type() {
                    DataType::Utf8 => arrow::compute::cast(c, &dictionary).unwrap(),
                    _ => c.clone(),
                })
                .collect();
            let fields: Vec<arrow::datatypes::Field> = batch
                .schema()
                .fields()
                .iter()
                .zip(&columns)
                .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
                .collect();
            let schema = Arc::new(arrow::datatypes::Schema::new(fields));
            RecordBatch::try_new(schema, columns).unwrap()
        })
        .collect();
    let first = recast.first().unwrap_or_else(|| panic!("no batches"));
    let mut out = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, first.schema(), None).unwrap();
    for batch in &recast {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
    std::fs::write(old, out).unwrap();
    // The same rows; sums within float rounding (summation order varies).
    let after = polars_rows(copy.path(), sql);
    assert_eq!(after.columns, before.columns);
    assert_eq!(after.rows.len(), before.rows.len(), "{after:?}");
    for (new, old) in after.rows.iter().zip(&before.rows) {
        assert!(
            new.iter().zip(old).all(|(a, b)| same(a, b)),
            "{new:?} vs {old:?}"
        );
    }
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
