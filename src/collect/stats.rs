//! What the collector counts: served on `/metrics` and in its summary.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::health::WriteHealth;

/// Counters shared by the collector's tasks.
#[derive(Debug, Default)]
pub struct Stats {
    pub ticks: AtomicU64,
    pub samples: AtomicU64,
    /// Running pods the metrics API had no sample for yet.
    pub pods_without_metrics: AtomicU64,
    /// Metrics for pods (or containers) not in the watch cache.
    pub metrics_without_pod: AtomicU64,
    /// Samples that arrived after their hour was published.
    pub late_samples: AtomicU64,
    /// Ticks without samples because the metrics API failed.
    pub gaps: AtomicU64,
    pub hours_published: AtomicU64,
    pub last_publish_seconds: AtomicU64,
    pub last_sample_seconds: AtomicU64,
    pub unpriced_nodes: AtomicU64,
    /// How long the last metrics poll took, in microseconds.
    pub sample_duration_micros: AtomicU64,
    /// Bytes the write-ahead log holds.
    pub wal_bytes: AtomicU64,
    /// 1 when leader election is on (`--leader-elect`).
    pub leader_election: AtomicU64,
    /// 1 while this replica holds the lease (or runs without election).
    pub leader: AtomicU64,
    /// Which writes are failing now, for `/readyz` ([`WriteHealth`]).
    pub writes: WriteHealth,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts an error of `kind`; the kinds are [`Event::kind`](super::Event::kind)'s.
    pub fn error(&self, kind: &str) {
        self.errors_of(kind, 1);
    }

    /// Counts `n` failures of `kind` at once (one log line for many items).
    pub fn errors_of(&self, kind: &str, n: u64) {
        let mut errors = match self.errors.lock() {
            Ok(errors) => errors,
            Err(poisoned) => poisoned.into_inner(),
        };
        *errors.entry(kind.to_owned()).or_default() += n;
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        match self.errors.lock() {
            Ok(errors) => errors.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}
