//! `kubetally reconcile` of a month of a 5,000-node cluster's hourly GCP
//! bill (≈ 7.2 M lines: each node-hour's core and RAM lines), issue #19's
//! target: ≤ 60 s on 2 cores, against DuckDB joining the same files.
//!
//! The cluster is synthetic (GKE nodes `gke-bench-pool-NNNNN` in one zone,
//! e2, one hour each of 30 days), its bill written once by the simulator's
//! biller (`sim::bill::write_bill`, 30 % committed-use credit on e2) and
//! cached under `$CARGO_TARGET_DIR/bench-data/reconcile-<nodes>/` with the
//! metered node-hours as CSV for DuckDB.
//!
//! Ours, timed once (one run is tens of seconds): reading the bill
//! (`Bill::read_path`, the CSV parsed and every line's credits summed) and
//! matching it (`reconcile::reconcile`: ids, periods, parts, unallocated,
//! the summary), from metered node-hours already in memory — the command
//! reads those from the dataset's `nodes` table first, a Parquet scan this
//! bench leaves out. DuckDB (`reconcile_duckdb.py`): `read_csv` of both
//! files, the instance name and hour join, the part from the SKU, credits
//! summed from their JSON, grouped per node, hour and part — the same
//! answer per matched row; median of three fresh connections.
//!
//! `KUBETALLY_BENCH_NODES` picks the size (default 5,000 with `--bench`,
//! 20 without, as `cargo test --benches` runs it).

// Only the cache folder's helpers are used here.
#[path = "common/cluster.rs"]
#[allow(dead_code)]
mod cluster;
#[path = "common/collect_hour.rs"]
#[allow(dead_code, unused_imports)]
mod collect_hour;
#[allow(dead_code)]
#[path = "common/measure.rs"]
mod measure;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use kubetally::bill::{Bill, FormatChoice};
use kubetally::model::metered::{Metered, MeteredCost, MeteredKind};
use kubetally::reconcile::{self, Scope};
use kubetally::sim::bill::{BillSpec, Export, write_bill};

use collect_hour::{cache_dir, cached, mark_complete};
use measure::{mib, status_bytes};

#[global_allocator]
static ALLOCATOR: kubetally::Allocator = kubetally::Allocator;

const VERSION: &str = "reconcile-bench v1";
const DAYS: i64 = 30;
const CLUSTER: &str = "bench";
const ZONE: &str = "us-central1-a";
const DUCKDB_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/reconcile_duckdb.py");

pub(crate) fn fail(error: impl std::fmt::Display) -> ! {
    panic!("{error}")
}

fn nodes() -> usize {
    if let Ok(n) = std::env::var("KUBETALLY_BENCH_NODES") {
        return n.trim().parse().unwrap_or_else(|e| fail(e));
    }
    if std::env::args().any(|arg| arg == "--bench") {
        5_000
    } else {
        20
    }
}

fn name(node: usize) -> String {
    format!("gke-bench-pool-{node:05}")
}

/// Every node-hour of the month, as the dataset's `nodes` rows read back.
fn metered(nodes: usize) -> Vec<Metered> {
    let start = kubetally::sim::epoch().timestamp();
    let mut out = Vec::with_capacity(nodes * DAYS as usize * 24);
    for hour in 0..DAYS * 24 {
        for node in 0..nodes {
            out.push(Metered {
                kind: MeteredKind::Node,
                hour_unix_s: start + hour * 3600,
                resource_id: name(node),
                resource_name: name(node),
                provider_id: format!("gce://bench-project/{ZONE}/{}", name(node)),
                provider: "gcp".into(),
                region: "us-central1".into(),
                zone: ZONE.into(),
                family: "e2".into(),
                running_seconds: 3600.0,
                size_gib: None,
                cost: MeteredCost {
                    cpu_usd: 0.17449272,
                    memory_usd: 0.09355296,
                    gpu_usd: 0.0,
                    other_usd: 0.0,
                },
            });
        }
    }
    out
}

/// The bill and the metered CSV, written once.
fn files(dir: &Path, metered: &[Metered]) {
    if cached(dir, VERSION).is_some() {
        return;
    }
    let started = Instant::now();
    let spec = BillSpec {
        export: Export::Gcp,
        cluster: CLUSTER.into(),
        discounts: vec![("e2".into(), 0.30)],
        sustained: Vec::new(),
        egress_usd: 12.0,
    };
    let bill = std::fs::File::create(dir.join("bill.csv")).unwrap_or_else(|e| fail(e));
    let lines =
        write_bill(metered, &spec, std::io::BufWriter::new(bill)).unwrap_or_else(|e| fail(e));
    let file = std::fs::File::create(dir.join("metered.csv")).unwrap_or_else(|e| fail(e));
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "node,hour,cpu_usd,memory_usd").unwrap_or_else(|e| fail(e));
    for m in metered {
        let hour = chrono::DateTime::from_timestamp(m.hour_unix_s, 0).unwrap_or_default();
        writeln!(
            out,
            "{},{},{},{}",
            m.resource_id,
            hour.format("%Y-%m-%dT%H:%M:%SZ"),
            m.cost.cpu_usd,
            m.cost.memory_usd
        )
        .unwrap_or_else(|e| fail(e));
    }
    out.flush().unwrap_or_else(|e| fail(e));
    mark_complete(
        dir,
        &format!(
            "{VERSION}\n{lines} bill lines, {} node-hours, written in {:.1} s\n",
            metered.len(),
            started.elapsed().as_secs_f64()
        ),
    );
}

fn main() {
    let nodes = nodes();
    let dir = cache_dir().join(format!("reconcile-{nodes}"));
    let metered = metered(nodes);
    files(&dir, &metered);
    let bill_path = dir.join("bill.csv");
    let bill_bytes = std::fs::metadata(&bill_path).map_or(0, |m| m.len());
    println!(
        "reconcile: {nodes} nodes × {DAYS} days: {} node-hours; bill {} ({:.0} MiB)",
        metered.len(),
        bill_path.display(),
        mib(bill_bytes)
    );
    let started = Instant::now();
    let mut bill = Bill::default();
    bill.read_path(&bill_path, FormatChoice::Auto)
        .unwrap_or_else(|e| fail(e));
    let read = started.elapsed();
    let reconciliation = reconcile::reconcile(&bill, &metered, &Scope::new(CLUSTER, &[]));
    let total = started.elapsed();
    let lines = bill.iter().count();
    println!(
        "reconcile/month: {lines} lines read in {:.1} s, matched in {:.1} s: {:.1} s in all ({:.0} k lines/s); {} rows; match rate {:.1} %; peak RSS {:.0} MiB",
        read.as_secs_f64(),
        (total - read).as_secs_f64(),
        total.as_secs_f64(),
        lines as f64 / total.as_secs_f64() / 1e3,
        reconciliation.rows.len(),
        reconciliation.summary.match_rate().unwrap_or(0.0) * 100.0,
        mib(status_bytes("VmHWM")),
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(&python)
        .arg(DUCKDB_SCRIPT)
        .arg(&dir)
        .arg(
            std::thread::available_parallelism()
                .map_or(1, usize::from)
                .to_string(),
        )
        .output();
    match output {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let seconds: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix("SECONDS "))
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(f64::NAN);
            print!("{text}");
            println!(
                "reconcile/month: ours {:.1} s, DuckDB {seconds:.1} s: ratio {:.2}×",
                total.as_secs_f64(),
                total.as_secs_f64() / seconds
            );
        }
        Ok(out) => println!(
            "reconcile: SKIP DuckDB comparison: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => println!("reconcile: SKIP DuckDB comparison: cannot run {python}: {e}"),
    }
}
