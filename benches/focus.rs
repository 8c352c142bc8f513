//! `kubetally export focus` of a week of the 150,000-pod cluster (issue
//! #20: ≤ 60 s on 2 cores), on the dataset `benches/analysis` makes and
//! caches (`analysis/dataset.rs`: 7 days × 24 hours, 39.9 M `allocation`
//! rows, 5,000 nodes, 30,000 disks with the balancers and the fee).
//!
//! One export is minutes, so this is one timed run, not criterion's ten:
//! the export as the command runs it (`focus::export` into a Parquet file,
//! published), its wall time, rows, bytes and bytes per row, and the
//! process's peak RSS (`VmHWM`; the dataset's pages it maps count too).
//! `KUBETALLY_BENCH_PODS` picks the cluster size (default 150,000 with
//! `--bench`; 1,000 without, as `cargo test --benches` runs it).

#[path = "common/cluster.rs"]
mod cluster;
#[path = "common/collect_hour.rs"]
mod collect_hour;
#[path = "analysis/dataset.rs"]
mod dataset;
// `median` is the other benches'.
#[allow(dead_code)]
#[path = "common/measure.rs"]
mod measure;

use std::time::Instant;

use collect_hour::cache_dir;
use measure::{mib, status_bytes};

// The binary's allocator, so the figures are the command's.
#[global_allocator]
static ALLOCATOR: kubetally::Allocator = kubetally::Allocator;

pub(crate) fn fail(error: impl std::fmt::Display) -> ! {
    panic!("{error}")
}

fn pods() -> usize {
    if let Ok(pods) = std::env::var("KUBETALLY_BENCH_PODS") {
        return pods.trim().parse().unwrap_or_else(|e| fail(e));
    }
    if std::env::args().any(|arg| arg == "--bench") {
        150_000
    } else {
        1_000
    }
}

fn main() {
    let pods = pods();
    let generated = dataset::ensure(pods, &cache_dir());
    let root = &generated.root;
    println!("focus: dataset {}", root.display());
    for line in generated.summary.lines() {
        println!("focus:   {line}");
    }
    let out = tempfile::tempdir().unwrap_or_else(|e| fail(e));
    let file = out.path().join("week.parquet");
    let before = status_bytes("VmRSS");
    let started = Instant::now();
    let rows = dataset::export_week(root, &file);
    let elapsed = started.elapsed();
    let bytes = std::fs::metadata(&file).map_or(0, |m| m.len());
    println!(
        "focus/export_week: {pods} pods, {} FOCUS rows in {:.1} s ({:.2} M rows/s), {:.1} MiB Parquet, {:.1} bytes/row, peak RSS {:.0} MiB (before {:.0} MiB), {} threads",
        rows,
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64() / 1e6,
        mib(bytes),
        bytes as f64 / rows.max(1) as f64,
        mib(status_bytes("VmHWM")),
        mib(before),
        std::thread::available_parallelism().map_or(1, usize::from),
    );
}
