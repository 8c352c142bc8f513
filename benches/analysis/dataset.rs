//! The benchmark dataset: a week of a simulated cluster's `allocation`,
//! `nodes` and `workloads` tables, made once and kept in a cache folder.
//!
//! Collecting a real week at 150,000 pods would take a week (or, with the
//! simulated clock sped up, hours of ticks at ~3 s each), so one hour is
//! collected for real — the simulator served over HTTP, the real watchers,
//! 60 one-minute ticks through the real `Ledger`, closed by
//! `Ledger::flush` into `HourRows` — and that hour's rows are replayed into
//! all 168 hours of the week with their `start_time`/`end_time` moved, as
//! `tests/query.rs` replays its hours. So that hours and days differ, every
//! `*_usd` column of a replayed hour is multiplied by one price factor for
//! that hour (the simulator's diurnal curve, a little lower at the weekend):
//! each hour still adds up (containers + idle = node cost) and the files
//! keep the collected hour's rows, strings and sizes. What a replay does not
//! have is churn: the same pods run all week.
//!
//! The files are written by the collector's writer (`allocation_batch`,
//! `nodes_batch`, `workloads_batch` and `Dataset::publish`), in the layout
//! the collector publishes. A `VERSION` file, written last, marks a complete
//! dataset; a folder without it (an interrupted run) or with another version
//! is made again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, AsArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMillisecondType};
use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use kubetally::allocate::{HourRows, TenantRules};
use kubetally::collect::{Ledger, Stats};
use kubetally::pricing::{PriceBook, PricingOptions};
use kubetally::sim::{ClusterSpec, SimConfig, SimServer, epoch};
use kubetally::source::Inventory;
use kubetally::source::metrics;
use kubetally::source::watch::{self, OnError, SharedInventory, lock};
use kubetally::store::schema::{ALLOCATION, NODES, Table, WORKLOADS};
use kubetally::store::{Dataset, Target, allocation_batch, nodes_batch, workloads_batch};

use super::fail;

/// Bump when what is generated changes: a cached dataset of another version
/// is made again.
const VERSION: &str = "analysis-dataset v2";
/// The week: 2026-11-02 (a Monday, the simulator's epoch) to 2026-11-09.
pub const DAYS: i64 = 7;
/// The `cluster=` partition.
pub const CLUSTER: &str = "sim";
/// One-minute ticks in the collected hour.
const TICKS: i64 = 60;

/// A generated dataset and what it holds.
pub struct Generated {
    pub root: PathBuf,
    /// The `VERSION` file's text: sizes, rows, bytes, how long it took.
    pub summary: String,
}

/// The dataset for a cluster of `pods` pods (nodes = pods / 30): the cached
/// one when complete, else made now (minutes at 150,000 pods).
pub fn ensure(pods: usize, cache: &Path) -> Generated {
    let root = cache.join(format!("analysis-{pods}"));
    let marker = root.join("VERSION");
    if let Ok(text) = std::fs::read_to_string(&marker)
        && text.starts_with(VERSION)
    {
        return Generated {
            root,
            summary: text,
        };
    }
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap_or_else(|e| fail(format!("{}: {e}", root.display())));
    let started = Instant::now();
    let (hour, collect) = collect_hour(pods);
    let replay_started = Instant::now();
    let written = replay_week(&root, &hour);
    let summary = format!(
        "{VERSION}\npods {pods}, nodes {}, {DAYS} days of hourly rows, cluster={CLUSTER}\n\
         collected hour: {} allocation, {} nodes, {} workloads rows in {:.1} s (simulator start, sync, {TICKS} ticks, close)\n\
         {written}\nreplayed and written in {:.1} s; {:.1} s in all\n",
        spec(pods).nodes,
        hour.allocation.len(),
        hour.nodes.len(),
        hour.workloads.len(),
        collect.as_secs_f64(),
        replay_started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    std::fs::write(&marker, &summary).unwrap_or_else(|e| fail(e));
    Generated { root, summary }
}

fn spec(pods: usize) -> ClusterSpec {
    ClusterSpec {
        nodes: (pods / 30).max(1),
        pods,
        seed: 1,
    }
}

/// A kube client for `url`; its background tasks run on the entered runtime.
fn client(url: &str) -> kube::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let url = url.parse().unwrap_or_else(|e| fail(e));
    kube::Client::try_from(kube::Config::new(url)).unwrap_or_else(|e| fail(e))
}

/// Runs the simulated clock on to `to` (paused before and after).
fn advance(server: &SimServer, to: DateTime<Utc>) {
    let clock = &server.sim.clock;
    clock.set_speed(600.0);
    while clock.now() < to {
        std::thread::sleep(Duration::from_millis(1));
    }
    clock.set_speed(0.0);
    server.sim.catch_up().unwrap_or_else(|e| fail(e));
}

/// The simulator's first hour as the collector closes it (as
/// `benches/collect.rs` builds its hour): watchers on the simulator's
/// runtime, ticks on a current-thread runtime, tenants from the `tenant`
/// label as `kubetally demo` runs it.
fn collect_hour(pods: usize) -> (HourRows, Duration) {
    let started = Instant::now();
    let sim_runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("sim")
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(e));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(e));
    let config = SimConfig {
        cluster: spec(pods),
        speed: 0.0,
        ..SimConfig::default()
    };
    let listen = "127.0.0.1:0".parse().unwrap_or_else(|e| fail(e));
    let server = sim_runtime
        .block_on(SimServer::start(&config, listen))
        .unwrap_or_else(|e| fail(e));
    let url = server.url();
    let inventory: SharedInventory = Arc::new(Mutex::new(Inventory::default()));
    let on_error: OnError = Arc::new(|collection, error| {
        eprintln!(
            "analysis bench: watch {} failed: {error}",
            collection.as_str()
        )
    });
    let watchers = {
        let _entered = sim_runtime.enter();
        watch::spawn_all(&client(&url), &inventory, &on_error)
    };
    while !lock(&inventory).is_synced() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let client = {
        let _entered = runtime.enter();
        client(&url)
    };
    let rules = TenantRules::new(Some("tenant".into()));
    let prices = PriceBook::new(Vec::new(), PricingOptions::default()).unwrap_or_else(|e| fail(e));
    let stats = Stats::default();
    let mut ledger = Ledger::default();
    lock(&inventory).clock = None;
    for minute in 1..=TICKS {
        advance(&server, epoch() + TimeDelta::minutes(minute));
        // The watchers (on the simulator's threads) take in the changes.
        std::thread::sleep(Duration::from_millis(20));
        let (usage, nodes) = runtime.block_on(async {
            let usage = metrics::pod_usage(&client)
                .await
                .unwrap_or_else(|e| fail(e));
            let nodes = metrics::node_usage(&client)
                .await
                .unwrap_or_else(|e| fail(e));
            (usage, nodes)
        });
        let mut inventory = lock(&inventory);
        let closed = ledger.ingest(usage, nodes, &mut inventory, &rules, &prices, &stats);
        drop(closed);
        drop(ledger.take_tick());
    }
    let hours = {
        let inventory = lock(&inventory);
        ledger.flush(epoch() + TimeDelta::hours(1), &inventory, &prices, &rules)
    };
    for watcher in watchers {
        watcher.abort();
    }
    let _ = sim_runtime.block_on(server.stop());
    let mut hour = hours
        .into_iter()
        .find(|h| h.start == epoch())
        .unwrap_or_else(|| fail("the collected hour did not close"));
    // `samples` is not part of this benchmark.
    hour.samples = Vec::new();
    (hour, started.elapsed())
}

/// The price factor of the hour `at`: the simulator's diurnal curve
/// (`sim::metrics::day_level`, lowest at 03:00) between 0.85 and 1.15,
/// times 0.9 on Saturday and Sunday.
fn price_factor(at: DateTime<Utc>) -> f64 {
    let hour = f64::from(at.hour());
    let day_level = 0.5 - 0.5 * ((hour - 3.0) / 24.0 * std::f64::consts::TAU).cos();
    let weekend = if at.weekday().number_from_monday() >= 6 {
        0.9
    } else {
        1.0
    };
    (0.85 + 0.3 * day_level) * weekend
}

/// Writes the collected hour into every hour of the week; returns a line per
/// table with its rows, files and bytes.
fn replay_week(root: &Path, hour: &HourRows) -> String {
    let dataset = Dataset {
        target: Target::Local(root.to_owned()),
        cluster: CLUSTER.to_owned(),
        writer: "bench".to_owned(),
    };
    let tables: [(&'static Table, RecordBatch); 3] = [
        (
            &ALLOCATION,
            allocation_batch(&hour.allocation).unwrap_or_else(|e| fail(e)),
        ),
        (&NODES, nodes_batch(&hour.nodes).unwrap_or_else(|e| fail(e))),
        (
            &WORKLOADS,
            workloads_batch(&hour.workloads).unwrap_or_else(|e| fail(e)),
        ),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(e));
    let mut lines = Vec::new();
    for (table, batch) in &tables {
        let mut files = 0;
        for offset in 0..DAYS * 24 {
            let start = epoch() + TimeDelta::hours(offset);
            let moved = replayed(batch, offset * 3_600_000, price_factor(start));
            files += runtime
                .block_on(dataset.publish(table, start, &moved))
                .unwrap_or_else(|e| fail(e))
                .len();
        }
        let bytes = folder_bytes(&root.join(table.name));
        let rows = batch.num_rows() as u64 * (DAYS * 24) as u64;
        lines.push(format!(
            "{}: {rows} rows, {files} files, {bytes} bytes ({:.1} bytes/row)",
            table.name,
            bytes as f64 / rows.max(1) as f64
        ));
    }
    lines.join("\n")
}

/// `batch` with every millisecond timestamp moved by `millis` and every
/// `*_usd` column multiplied by `factor`.
fn replayed(batch: &RecordBatch, millis: i64, factor: f64) -> RecordBatch {
    let schema = batch.schema();
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| match column.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, zone) => {
                let moved = column
                    .as_primitive::<TimestampMillisecondType>()
                    .unary::<_, TimestampMillisecondType>(|t| t + millis);
                Arc::new(moved.with_timezone_opt(zone.clone())) as ArrayRef
            }
            DataType::Float64 if field.name().ends_with("_usd") => {
                let scaled: Float64Array = column
                    .as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(|usd| usd * factor);
                Arc::new(scaled) as ArrayRef
            }
            _ => column.clone(),
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap_or_else(|e| fail(e))
}

/// Bytes of the files under `dir`.
pub fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => folder_bytes(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
