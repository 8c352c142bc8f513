//! What an hour of one container's usage samples becomes in its
//! `allocation` row: the summaries every reader merges over hours and pods
//! (VPA's histograms, the CPU sketch) and the hour's percentiles and peaks.
//!
//! One function for the collector and for the backtest's replay of usage
//! traces, so a trace is judged on the rows a cluster would have written.

use super::histogram::{CPU_BUCKETS, Histogram, MEMORY_BUCKETS};
use super::sketch::Sketch;

/// An hour of one container's usage, summarised.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourUsage {
    /// Samples of the hour (of CPU or memory, whichever has more).
    pub samples: usize,
    pub cpu_p50_cores: Option<f64>,
    pub cpu_p90_cores: Option<f64>,
    pub cpu_p95_cores: Option<f64>,
    pub cpu_max_cores: Option<f64>,
    pub memory_max_bytes: Option<i64>,
    /// VPA's bucket scheme, for the `vpa` and `kubetally` strategies.
    pub cpu_histogram: Histogram,
    pub memory_histogram: Histogram,
    /// Within 1 %, for `krr-simple` and the evidence's percentiles.
    pub cpu_sketch: Sketch,
}

impl HourUsage {
    /// Summarises an hour's CPU samples (cores) and memory samples (working
    /// set bytes); a resource without samples has no percentiles or peak.
    pub fn of(cpu_cores: &[f64], memory_bytes: &[i64]) -> HourUsage {
        let mut usage = HourUsage {
            samples: cpu_cores.len().max(memory_bytes.len()),
            ..HourUsage::default()
        };
        for cores in cpu_cores {
            usage.cpu_histogram.add(&CPU_BUCKETS, *cores, 1.0);
            usage.cpu_sketch.add(*cores);
        }
        for bytes in memory_bytes {
            usage
                .memory_histogram
                .add(&MEMORY_BUCKETS, *bytes as f64, 1.0);
        }
        // Kept in the hour's row until it is published: no spare room.
        usage.cpu_histogram.fit();
        usage.memory_histogram.fit();
        usage.cpu_sketch.fit();
        let mut sorted = cpu_cores.to_vec();
        sorted.sort_by(f64::total_cmp);
        usage.cpu_p50_cores = percentile(&sorted, 0.50);
        usage.cpu_p90_cores = percentile(&sorted, 0.90);
        usage.cpu_p95_cores = percentile(&sorted, 0.95);
        usage.cpu_max_cores = sorted.last().copied();
        usage.memory_max_bytes = memory_bytes.iter().copied().max();
        usage
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), Some(5.0));
        assert_eq!(percentile(&values, 0.9), Some(9.0));
        assert_eq!(percentile(&values, 0.95), Some(10.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn an_hour_keeps_peaks_histograms_and_the_sketch() {
        let usage = HourUsage::of(&[0.5, 0.25, 1.0], &[100, 300, 200]);
        assert_eq!(usage.samples, 3);
        assert_eq!(usage.cpu_max_cores, Some(1.0));
        assert_eq!(usage.cpu_p50_cores, Some(0.5));
        assert_eq!(usage.memory_max_bytes, Some(300));
        assert_eq!(usage.cpu_histogram.total_weight(), 3.0);
        assert_eq!(usage.memory_histogram.total_weight(), 3.0);
        assert_eq!(usage.cpu_sketch.count(), 3);
        // Memory alone (a memory-only trace): no CPU percentiles or peak.
        let memory_only = HourUsage::of(&[], &[5, 7]);
        assert_eq!(memory_only.samples, 2);
        assert_eq!(memory_only.cpu_max_cores, None);
        assert!(memory_only.cpu_sketch.is_empty());
        assert_eq!(memory_only.memory_max_bytes, Some(7));
    }
}
