//! A faithful port of the Kubernetes VPA recommender's arithmetic
//! (`vertical-pod-autoscaler/pkg/recommender`, VPA ≥ 1.4), so `--strategy
//! vpa` gives VPA's answer on our data and our own strategy can be measured
//! against it. Constants, pipeline and unit-test numbers are those of
//! `shared/reference/recommenders.md` §1; where VPA truncates to an integer
//! (millicores, bytes), so does this.
//!
//! Not ported: the checkpoint format, per-VPA policy overrides, capping to a
//! VPA object's min/maxAllowed (kubetally has no VPA objects to read).

pub mod histogram;

use chrono::{DateTime, Duration, Utc};

use crate::model::units::MIB;

pub use histogram::{DecayingHistogram, Histogram, Options, cpu_options, memory_options};

/// `minSampleWeight`: every CPU sample's weight since VPA 1.4.
pub const MIN_SAMPLE_WEIGHT: f64 = 0.1;
/// `MaxResourceAmount`: where amounts saturate (an upper bound with no history).
pub const MAX_RESOURCE_AMOUNT: i64 = 100_000_000_000_000;

/// The recommender's settings (`DefaultRecommenderConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub target_cpu_percentile: f64,
    pub lower_cpu_percentile: f64,
    pub upper_cpu_percentile: f64,
    pub target_memory_percentile: f64,
    pub lower_memory_percentile: f64,
    pub upper_memory_percentile: f64,
    pub safety_margin: f64,
    pub pod_min_cpu_millicores: f64,
    /// VPA's "Mb", multiplied by 1024 × 1024.
    pub pod_min_memory_mb: f64,
    pub confidence_interval: Duration,
    pub half_life: Duration,
    pub memory_aggregation_interval: Duration,
    pub oom_bump_ratio: f64,
    pub oom_min_bump_bytes: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            target_cpu_percentile: 0.9,
            lower_cpu_percentile: 0.5,
            upper_cpu_percentile: 0.95,
            target_memory_percentile: 0.9,
            lower_memory_percentile: 0.5,
            upper_memory_percentile: 0.95,
            safety_margin: 0.15,
            pod_min_cpu_millicores: 25.0,
            pod_min_memory_mb: 250.0,
            confidence_interval: Duration::hours(24),
            half_life: Duration::hours(24),
            memory_aggregation_interval: Duration::hours(24),
            oom_bump_ratio: 1.2,
            oom_min_bump_bytes: 100.0 * MIB,
        }
    }
}

/// `resourceAmountFromFloat`: truncated toward zero, clamped to [0, 1e14].
pub fn amount(value: f64) -> i64 {
    if value.is_nan() || value < 0.0 {
        0
    } else if value > MAX_RESOURCE_AMOUNT as f64 {
        MAX_RESOURCE_AMOUNT
    } else {
        value as i64
    }
}

/// `ScaleResource`.
pub fn scale(value: i64, factor: f64) -> i64 {
    amount(value as f64 * factor)
}

/// `CPUAmountFromCores`: millicores, truncated and clamped as VPA's
/// int64 amounts are (not rounded like [`crate::model::units::millicores`]).
pub fn cpu_amount_from_cores(cores: f64) -> i64 {
    amount(cores * 1000.0)
}

/// A CPU (millicores) and memory (bytes) pair, VPA's `Resources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceAmounts {
    pub cpu_millicores: i64,
    pub memory_bytes: i64,
}

impl ResourceAmounts {
    fn map(self, f: impl Fn(i64) -> i64) -> ResourceAmounts {
        ResourceAmounts {
            cpu_millicores: f(self.cpu_millicores),
            memory_bytes: f(self.memory_bytes),
        }
    }
}

/// `AggregateContainerState`: what VPA keeps per (workload, container).
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub cpu: DecayingHistogram,
    /// Decayed daily peaks of the working set.
    pub memory_peaks: DecayingHistogram,
    pub first_sample: Option<DateTime<Utc>>,
    pub last_sample: Option<DateTime<Utc>>,
    pub total_samples: u64,
}

impl Aggregate {
    pub fn new(config: &Config) -> Aggregate {
        Aggregate {
            cpu: DecayingHistogram::new(cpu_options(), config.half_life),
            memory_peaks: DecayingHistogram::new(memory_options(), config.half_life),
            first_sample: None,
            last_sample: None,
            total_samples: 0,
        }
    }

    /// `addCPUSample`: weight `minSampleWeight`; first/last/total count
    /// from CPU samples only (they feed the confidence).
    pub fn add_cpu_sample(&mut self, cores: f64, time: DateTime<Utc>) {
        self.cpu.add(cores, MIN_SAMPLE_WEIGHT, time);
        self.count_samples(time, time, 1);
    }

    /// `count` CPU samples taken between `first` and `last`, already in the
    /// histogram (hourly histograms from the dataset).
    pub fn count_samples(&mut self, first: DateTime<Utc>, last: DateTime<Utc>, count: u64) {
        self.last_sample = Some(self.last_sample.map_or(last, |l| l.max(last)));
        self.first_sample = Some(self.first_sample.map_or(first, |f| f.min(first)));
        self.total_samples += count;
    }

    /// `getConfidence`: days of history, or of samples at one a minute,
    /// whichever is less.
    pub fn confidence(&self, interval: Duration) -> f64 {
        let (Some(first), Some(last)) = (self.first_sample, self.last_sample) else {
            return 0.0;
        };
        let interval_ms = interval.num_milliseconds().max(1) as f64;
        let lifespan = (last - first).num_milliseconds() as f64 / interval_ms;
        let samples = self.total_samples as f64 / (interval_ms / 60_000.0);
        lifespan.min(samples)
    }
}

/// Why an OOM kill was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OomError {
    #[error("OOM kill at {0} is older than the memory window: discarded")]
    TooOld(DateTime<Utc>),
}

/// `ContainerState`: one container's memory window and sample order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Container {
    memory_peak: i64,
    oom_peak: i64,
    window_end: Option<DateTime<Utc>>,
    last_cpu_sample: Option<DateTime<Utc>>,
    last_memory_sample: Option<DateTime<Utc>>,
}

impl Container {
    /// A CPU sample, dropped unless strictly after the last one.
    pub fn add_cpu_sample(
        &mut self,
        aggregate: &mut Aggregate,
        time: DateTime<Utc>,
        cores: f64,
    ) -> bool {
        if self.last_cpu_sample.is_some_and(|last| time <= last) {
            return false;
        }
        self.last_cpu_sample = Some(time);
        aggregate.add_cpu_sample(cores, time);
        true
    }

    /// `addMemorySample`: one peak per aggregation interval; a higher value
    /// in the same window replaces the window's peak.
    pub fn add_memory_sample(
        &mut self,
        config: &Config,
        aggregate: &mut Aggregate,
        time: DateTime<Utc>,
        bytes: i64,
        is_oom: bool,
    ) -> bool {
        if !is_oom && self.last_memory_sample.is_some_and(|last| time < last) {
            return false;
        }
        self.last_memory_sample = Some(time);
        let window_end = *self.window_end.get_or_insert(time);
        let mut add_peak = false;
        if time < window_end {
            let old = self.memory_peak.max(self.oom_peak);
            if old != 0 && bytes > old {
                aggregate.memory_peaks.subtract(old as f64, 1.0, window_end);
                add_peak = true;
            }
        } else {
            let interval = config.memory_aggregation_interval.num_milliseconds().max(1);
            let behind = (time - window_end).num_milliseconds();
            let shift = behind - behind.rem_euclid(interval) + interval;
            self.window_end = Some(window_end + Duration::milliseconds(shift));
            self.memory_peak = 0;
            self.oom_peak = 0;
            add_peak = true;
        }
        if add_peak {
            let end = self.window_end.unwrap_or(time);
            aggregate.memory_peaks.add(bytes as f64, 1.0, end);
            if is_oom {
                self.oom_peak = bytes;
            } else {
                self.memory_peak = bytes;
            }
        }
        true
    }

    /// `RecordOOM`: the peak becomes max(used + 100 MiB, used × 1.2), used
    /// being max(request, the window's usage peak).
    ///
    /// # Errors
    ///
    /// [`OomError::TooOld`] for a kill more than an aggregation interval
    /// before the last memory sample.
    pub fn record_oom(
        &mut self,
        config: &Config,
        aggregate: &mut Aggregate,
        time: DateTime<Utc>,
        request_bytes: i64,
    ) -> Result<(), OomError> {
        if self
            .last_memory_sample
            .is_some_and(|last| time < last - config.memory_aggregation_interval)
        {
            return Err(OomError::TooOld(time));
        }
        let used = request_bytes.max(self.memory_peak);
        let needed =
            (used + amount(config.oom_min_bump_bytes)).max(scale(used, config.oom_bump_ratio));
        self.add_memory_sample(config, aggregate, time, needed, true);
        Ok(())
    }
}

/// Target, lower and upper bound of one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recommendation {
    pub target: ResourceAmounts,
    pub lower_bound: ResourceAmounts,
    pub upper_bound: ResourceAmounts,
}

/// `percentileEstimator`.
pub fn percentile_estimate(aggregate: &Aggregate, cpu: f64, memory: f64) -> ResourceAmounts {
    ResourceAmounts {
        cpu_millicores: cpu_amount_from_cores(aggregate.cpu.percentile(cpu)),
        memory_bytes: amount(aggregate.memory_peaks.percentile(memory)),
    }
}

/// `marginEstimator`: value + truncated(value × margin).
pub fn with_margin(base: ResourceAmounts, margin: f64) -> ResourceAmounts {
    base.map(|value| value + scale(value, margin))
}

/// `confidenceMultiplier`: value × (1 + multiplier / confidence)^exponent.
pub fn with_confidence(
    base: ResourceAmounts,
    aggregate: &Aggregate,
    multiplier: f64,
    exponent: f64,
    interval: Duration,
) -> ResourceAmounts {
    let confidence = aggregate.confidence(interval);
    let factor = (1.0 + multiplier / confidence).powf(exponent);
    base.map(|value| scale(value, factor))
}

/// `GetRecommendedPodResources`: every container of a pod, the pod minimums
/// split evenly across them.
pub fn recommend(config: &Config, containers: &[&Aggregate]) -> Vec<Recommendation> {
    if containers.is_empty() {
        return Vec::new();
    }
    let fraction = 1.0 / containers.len() as f64;
    let minimum = ResourceAmounts {
        cpu_millicores: scale(
            cpu_amount_from_cores(config.pod_min_cpu_millicores * 0.001),
            fraction,
        ),
        memory_bytes: scale(amount(config.pod_min_memory_mb * MIB), fraction),
    };
    let floor = |r: ResourceAmounts| ResourceAmounts {
        cpu_millicores: r.cpu_millicores.max(minimum.cpu_millicores),
        memory_bytes: r.memory_bytes.max(minimum.memory_bytes),
    };
    containers
        .iter()
        .map(|aggregate| {
            let estimate = |cpu, memory| {
                with_margin(
                    percentile_estimate(aggregate, cpu, memory),
                    config.safety_margin,
                )
            };
            let target = estimate(
                config.target_cpu_percentile,
                config.target_memory_percentile,
            );
            let lower = with_confidence(
                estimate(config.lower_cpu_percentile, config.lower_memory_percentile),
                aggregate,
                0.001,
                -2.0,
                config.confidence_interval,
            );
            let upper = with_confidence(
                estimate(config.upper_cpu_percentile, config.upper_memory_percentile),
                aggregate,
                1.0,
                1.0,
                config.confidence_interval,
            );
            Recommendation {
                target: floor(target),
                lower_bound: floor(lower),
                upper_bound: floor(upper),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
