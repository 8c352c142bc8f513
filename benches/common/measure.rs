//! What the dataset benchmarks (`benches/analysis/`, `benches/recommend/`)
//! read off a run: this process's memory from `/proc/self/status`, and the
//! median of criterion's samples. Included by each with `#[path]`; it calls
//! the benchmark's own `fail`.

use std::time::Duration;

use kubetally::model::units::MIB;

use super::fail;

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`, …), in bytes.
pub fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_else(|e| fail(e));
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

pub fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}
