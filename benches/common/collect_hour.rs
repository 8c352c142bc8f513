//! One hour of a simulated cluster as the real collector closes it: the
//! basis the dataset benchmarks (`benches/analysis/`, `benches/recommend/`)
//! replay into weeks of hourly files.
//!
//! Collecting days at 150,000 pods would take days (or, with the simulated
//! clock sped up, hours of ticks at ~3 s each), so one hour is collected for
//! real — the simulator served over HTTP, the real watchers, 60 one-minute
//! ticks through the real `Ledger`, closed by `Ledger::flush` into
//! `HourRows` — and each benchmark replays it with its times moved.
//!
//! The datasets are made once and kept in a cache folder, each with a
//! `VERSION` file written last: a folder without it (an interrupted run) or
//! with another version is made again.
//!
//! Included by each benchmark with `#[path]`, next to `cluster.rs`; it
//! calls the benchmark's own `fail`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use kubetally::allocate::HourRows;
use kubetally::cluster::lock;
use kubetally::collect::Ledger;
use kubetally::sim::epoch;

pub use super::cluster::spec;
use super::cluster::{Cluster, advance};
use super::fail;

/// One-minute ticks in the collected hour.
pub const TICKS: i64 = 60;

/// The simulator's first hour as the collector closes it (as
/// `benches/collect.rs` builds its hour), with how long that took:
/// watchers on the simulator's runtime, ticks on a current-thread runtime,
/// tenants from the `tenant` label as `kubetally demo` runs it. `samples`
/// is left empty (no dataset benchmark reads it).
pub fn collect_hour(pods: usize) -> (HourRows, Duration) {
    let started = Instant::now();
    let cluster = Cluster::start(pods);
    let mut ledger = Ledger::default();
    lock(&cluster.inventory).clock = None;
    for minute in 1..=TICKS {
        advance(cluster.server(), epoch() + TimeDelta::minutes(minute));
        // The watchers (on the simulator's threads) take in the changes.
        std::thread::sleep(Duration::from_millis(20));
        let (usage, nodes) = cluster.fetch();
        cluster.ingest(&mut ledger, usage, nodes);
    }
    let hours = cluster.flush(&mut ledger, epoch() + TimeDelta::hours(1));
    cluster.stop();
    let mut hour = hours
        .into_iter()
        .find(|h| h.start == epoch())
        .unwrap_or_else(|| fail("the collected hour did not close"));
    hour.samples = Default::default();
    (hour, started.elapsed())
}

/// Where the simulator's diurnal curve (`sim::metrics::day_level`) is at
/// the hour `at`: 0 at 03:00, 1 at 15:00.
pub fn day_level(at: DateTime<Utc>) -> f64 {
    let hour = f64::from(at.hour());
    0.5 - 0.5 * ((hour - 3.0) / 24.0 * std::f64::consts::TAU).cos()
}

/// The price factor of the hour `at`: the diurnal curve between 0.85 and
/// 1.15, times 0.9 on Saturday and Sunday.
pub fn price_factor(at: DateTime<Utc>) -> f64 {
    (0.85 + 0.3 * day_level(at)) * if is_weekend(at) { 0.9 } else { 1.0 }
}

pub fn is_weekend(at: DateTime<Utc>) -> bool {
    at.weekday().number_from_monday() >= 6
}

/// A runtime on this thread (the simulator's clients, `Dataset::publish`).
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(e))
}

/// Where datasets are kept: `KUBETALLY_BENCH_DATA_DIR`, else
/// `bench-data/` in cargo's target folder (kept between runs).
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("KUBETALLY_BENCH_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap_or_else(|| fail("CARGO_TARGET_TMPDIR has no parent"))
            .join("bench-data"),
    }
}

/// The `VERSION` text of the dataset at `root` when it is complete and of
/// `version`; else `None`, the folder emptied for making it again.
pub fn cached(root: &Path, version: &str) -> Option<String> {
    if let Ok(text) = std::fs::read_to_string(root.join("VERSION"))
        && text.lines().next() == Some(version)
    {
        return Some(text);
    }
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).unwrap_or_else(|e| fail(format!("{}: {e}", root.display())));
    None
}

/// Marks the dataset at `root` complete: its `VERSION` file, written last.
pub fn mark_complete(root: &Path, summary: &str) {
    std::fs::write(root.join("VERSION"), summary).unwrap_or_else(|e| fail(e));
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
