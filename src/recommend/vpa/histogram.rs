//! VPA's histograms, ported from `vertical-pod-autoscaler/pkg/recommender/util`
//! (`histogram_options.go`, `histogram.go`, `decaying_histogram.go`) so that
//! `--strategy vpa` answers exactly what the VPA recommender would, bucket
//! boundary for bucket boundary (`shared/reference/recommenders.md` §1.2–1.3).
//!
//! [`crate::model::histogram`] stores the dataset's hourly histograms in the
//! same exponential scheme; this module adds what VPA does on top: minimum
//! and maximum non-empty buckets, epsilon, percentiles that answer a bucket's
//! end, and exponential time decay with renormalisation.

use std::cell::RefCell;

use chrono::{DateTime, Timelike, Utc};

/// VPA's `maxDecayExponent`: past 2^100 the reference time moves forward.
const MAX_DECAY_EXPONENT: f64 = 100.0;
/// Seconds from Go's zero time (0001-01-01 UTC) to the Unix epoch:
/// `time.Round` rounds to multiples of a duration counted from the former.
const GO_ZERO_TO_UNIX_SECONDS: i64 = 62_135_596_800;

/// `HistogramOptions`: how values map to buckets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Options {
    /// `NewLinearHistogramOptions(maxValue, bucketSize, epsilon)`.
    Linear {
        bucket_size: f64,
        buckets: usize,
        epsilon: f64,
    },
    /// `NewExponentialHistogramOptions(maxValue, firstBucketSize, ratio, epsilon)`.
    Exponential {
        first_bucket: f64,
        ratio: f64,
        buckets: usize,
        epsilon: f64,
    },
}

impl Options {
    pub fn linear(max_value: f64, bucket_size: f64, epsilon: f64) -> Options {
        let buckets = (max_value / bucket_size).ceil() as usize + 1;
        Options::Linear {
            bucket_size,
            buckets,
            epsilon,
        }
    }

    pub fn exponential(max_value: f64, first_bucket: f64, ratio: f64, epsilon: f64) -> Options {
        let buckets = ((max_value * (ratio - 1.0) / first_bucket + 1.0).ln() / ratio.ln()).ceil()
            as usize
            + 1;
        Options::Exponential {
            first_bucket,
            ratio,
            buckets,
            epsilon,
        }
    }

    pub fn buckets(&self) -> usize {
        match *self {
            Options::Linear { buckets, .. } | Options::Exponential { buckets, .. } => buckets,
        }
    }

    pub fn epsilon(&self) -> f64 {
        match *self {
            Options::Linear { epsilon, .. } | Options::Exponential { epsilon, .. } => epsilon,
        }
    }

    /// `FindBucket`: Go's `int(...)` truncation, clamped to the buckets.
    pub fn find(&self, value: f64) -> usize {
        let last = self.buckets() - 1;
        let bucket = match *self {
            Options::Linear { bucket_size, .. } => (value / bucket_size).trunc(),
            Options::Exponential {
                first_bucket,
                ratio,
                ..
            } => {
                if value < first_bucket {
                    return 0;
                }
                ((value * (ratio - 1.0) / first_bucket + 1.0).ln() / ratio.ln()).trunc()
            }
        };
        if bucket.is_nan() || bucket < 0.0 {
            0
        } else {
            (bucket as usize).min(last)
        }
    }

    /// `GetBucketStart`.
    pub fn start(&self, bucket: usize) -> f64 {
        match *self {
            Options::Linear { bucket_size, .. } => bucket as f64 * bucket_size,
            Options::Exponential {
                first_bucket,
                ratio,
                ..
            } => {
                if bucket == 0 {
                    0.0
                } else {
                    first_bucket * (ratio.powi(bucket as i32) - 1.0) / (ratio - 1.0)
                }
            }
        }
    }
}

/// VPA's CPU options: up to 1000 cores, 0.01 core first bucket, 5 % growth,
/// epsilon 0.001 × `minSampleWeight`.
pub fn cpu_options() -> Options {
    Options::exponential(1000.0, 0.01, 1.05, 0.001 * super::MIN_SAMPLE_WEIGHT)
}

/// VPA's memory options: up to 1e12 bytes, 1e7 bytes first bucket, 5 % growth.
pub fn memory_options() -> Options {
    Options::exponential(1e12, 1e7, 1.05, 0.001 * super::MIN_SAMPLE_WEIGHT)
}

/// `histogram`: bucket weights with the range of non-empty buckets.
#[derive(Debug, Clone)]
pub struct Histogram {
    options: Options,
    weights: Weights,
    total: f64,
    min_bucket: usize,
    max_bucket: usize,
}

/// Bucket weights, stored from the lowest bucket ever written to the
/// highest: a container's usage spans a few dozen of the 176 buckets, and
/// a recommendation run holds three histograms for each of hundreds of
/// thousands of containers. A bucket outside weighs 0, as it would in a
/// full array.
#[derive(Debug, Clone, Default)]
struct Weights {
    first: usize,
    stored: Vec<f64>,
}

impl Weights {
    fn get(&self, bucket: usize) -> f64 {
        bucket
            .checked_sub(self.first)
            .and_then(|i| self.stored.get(i))
            .copied()
            .unwrap_or(0.0)
    }

    /// The bucket's weight, stored from now on.
    fn slot(&mut self, bucket: usize) -> &mut f64 {
        if self.stored.is_empty() {
            self.first = bucket;
        } else if bucket < self.first {
            let before = self.first - bucket;
            self.stored.splice(0..0, std::iter::repeat_n(0.0, before));
            self.first = bucket;
        }
        let index = bucket - self.first;
        if index >= self.stored.len() {
            self.stored.resize(index + 1, 0.0);
        }
        &mut self.stored[index]
    }
}

impl PartialEq for Histogram {
    /// Equal options, totals, ranges and weights (a bucket never written
    /// equals one written with 0).
    fn eq(&self, other: &Histogram) -> bool {
        self.options == other.options
            && self.total == other.total
            && self.min_bucket == other.min_bucket
            && self.max_bucket == other.max_bucket
            && (0..self.options.buckets()).all(|b| self.weights.get(b) == other.weights.get(b))
    }
}

impl Histogram {
    pub fn new(options: Options) -> Histogram {
        let buckets = options.buckets();
        Histogram {
            options,
            weights: Weights::default(),
            total: 0.0,
            min_bucket: buckets - 1,
            max_bucket: 0,
        }
    }

    pub fn options(&self) -> Options {
        self.options
    }

    /// `AddSample`; a negative weight is ignored (Go panics).
    pub fn add(&mut self, value: f64, weight: f64) {
        if weight < 0.0 || weight.is_nan() {
            return;
        }
        let bucket = self.options.find(value);
        *self.weights.slot(bucket) += weight;
        self.total += weight;
        if self.weights.get(bucket) >= self.options.epsilon() {
            self.min_bucket = self.min_bucket.min(bucket);
            self.max_bucket = self.max_bucket.max(bucket);
        }
    }

    /// Adds weight straight into a bucket (hourly histograms from the
    /// dataset). By index, not through a value: a bucket's start computed in
    /// floating point can fall a hair below it, into the bucket before.
    pub fn add_to_bucket(&mut self, bucket: usize, weight: f64) {
        if weight < 0.0 || weight.is_nan() {
            return;
        }
        let bucket = bucket.min(self.options.buckets() - 1);
        *self.weights.slot(bucket) += weight;
        self.total += weight;
        if self.weights.get(bucket) >= self.options.epsilon() {
            self.min_bucket = self.min_bucket.min(bucket);
            self.max_bucket = self.max_bucket.max(bucket);
        }
    }

    /// `SubtractSample`: a weight within epsilon of the bucket's empties it.
    pub fn subtract(&mut self, value: f64, weight: f64) {
        if weight < 0.0 || weight.is_nan() {
            return;
        }
        let bucket = self.options.find(value);
        let epsilon = self.options.epsilon();
        let current = self.weights.get(bucket);
        let weight = if weight > current - epsilon {
            current
        } else {
            weight
        };
        self.total -= weight;
        *self.weights.slot(bucket) -= weight;
        if self.weights.get(bucket) < epsilon
            && (bucket == self.min_bucket || bucket == self.max_bucket)
        {
            self.update_range();
        }
    }

    /// `updateMinAndMaxBucket`.
    fn update_range(&mut self) {
        let epsilon = self.options.epsilon();
        let last = self.options.buckets() - 1;
        while self.weights.get(self.min_bucket) < epsilon && self.min_bucket < last {
            self.min_bucket += 1;
        }
        while self.weights.get(self.max_bucket) < epsilon && self.max_bucket > 0 {
            self.max_bucket -= 1;
        }
    }

    /// `IsEmpty`.
    pub fn is_empty(&self) -> bool {
        self.weights.get(self.min_bucket) < self.options.epsilon()
    }

    /// `Percentile`: the end of the bucket where the running weight reaches
    /// `p` of the total (the last bucket answers its start); 0 when empty.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        let threshold = p * self.total;
        let mut sum = 0.0;
        let mut bucket = self.min_bucket;
        while bucket < self.max_bucket {
            sum += self.weights.get(bucket);
            if sum >= threshold {
                break;
            }
            bucket += 1;
        }
        if bucket < self.options.buckets() - 1 {
            self.options.start(bucket + 1)
        } else {
            self.options.start(bucket)
        }
    }

    /// `Merge`: adds another histogram with the same options.
    pub fn merge(&mut self, other: &Histogram) {
        if other.is_empty() {
            return;
        }
        for bucket in other.min_bucket..=other.max_bucket {
            *self.weights.slot(bucket) += other.weights.get(bucket);
        }
        self.total += other.total;
        self.min_bucket = self.min_bucket.min(other.min_bucket);
        self.max_bucket = self.max_bucket.max(other.max_bucket);
    }

    /// `scale`: every weight times `factor`.
    fn scale(&mut self, factor: f64) {
        if factor < 0.0 {
            return;
        }
        for bucket in self.min_bucket..=self.max_bucket {
            *self.weights.slot(bucket) *= factor;
        }
        self.total *= factor;
        self.update_range();
    }

    pub fn total_weight(&self) -> f64 {
        self.total
    }

    /// Reads the ends of the stored weights and returns them (to pass to
    /// [`std::hint::black_box`]): a caller about to add to many histograms
    /// in memory order of its own can have their weights in cache first,
    /// their misses taken together rather than one at a time.
    pub fn touch(&self) -> (f64, f64) {
        let stored = &self.weights.stored;
        (
            stored.first().copied().unwrap_or_default(),
            stored.last().copied().unwrap_or_default(),
        )
    }
}

/// A decay factor: (half-life in seconds, reference, sample time) → factor.
type Factor = ((i64, DateTime<Utc>, DateTime<Utc>), f64);

/// Slots of [`FACTORS`]: one per half hour of the day of the sample time.
const FACTOR_SLOTS: usize = 48;

thread_local! {
    /// Decay factors computed lately. A recommendation run decays hundreds
    /// of thousands of histograms at the same few sample times from the
    /// same few references, and a factor depends on nothing else: an `exp2`
    /// and two date subtractions per sample become a lookup.
    static FACTORS: RefCell<[Option<Factor>; FACTOR_SLOTS]> =
        const { RefCell::new([None; FACTOR_SLOTS]) };
}

fn factor_slot(time: DateTime<Utc>) -> usize {
    let half_hour = time.time().num_seconds_from_midnight() / 1800;
    usize::try_from(half_hour).unwrap_or(0) % FACTOR_SLOTS
}

fn recent_factor(
    half_life_seconds: i64,
    reference: DateTime<Utc>,
    time: DateTime<Utc>,
) -> Option<f64> {
    let key = (half_life_seconds, reference, time);
    FACTORS.with_borrow(|factors| match factors[factor_slot(time)] {
        Some((seen, factor)) if seen == key => Some(factor),
        _ => None,
    })
}

fn remember_factor(
    half_life_seconds: i64,
    reference: DateTime<Utc>,
    time: DateTime<Utc>,
    factor: f64,
) {
    FACTORS.with_borrow_mut(|factors| {
        factors[factor_slot(time)] = Some(((half_life_seconds, reference, time), factor));
    });
}

/// `decayingHistogram`: every sample weighs `2^((t − reference) / halfLife)`,
/// so a sample one half-life older counts half.
#[derive(Debug, Clone, PartialEq)]
pub struct DecayingHistogram {
    histogram: Histogram,
    half_life_seconds: i64,
    /// Go's zero time until the first sample moves it.
    reference: Option<DateTime<Utc>>,
}

impl DecayingHistogram {
    pub fn new(options: Options, half_life: chrono::Duration) -> DecayingHistogram {
        DecayingHistogram {
            histogram: Histogram::new(options),
            half_life_seconds: half_life.num_seconds().max(1),
            reference: None,
        }
    }

    pub fn add(&mut self, value: f64, weight: f64, time: DateTime<Utc>) {
        let factor = self.decay_factor(time);
        self.histogram.add(value, weight * factor);
    }

    /// Adds `weight` (decayed to `time`) straight into `bucket`.
    pub fn add_to_bucket(&mut self, bucket: usize, weight: f64, time: DateTime<Utc>) {
        let factor = self.decay_factor(time);
        self.histogram.add_to_bucket(bucket, weight * factor);
    }

    /// [`Self::add_to_bucket`] for each (bucket, weight), all at `time`:
    /// the same sums, with the decay factor computed once (moving the
    /// reference, when it moves, happens on the first and only then).
    pub fn add_to_buckets(
        &mut self,
        weights: impl IntoIterator<Item = (usize, f64)>,
        time: DateTime<Utc>,
    ) {
        let factor = self.decay_factor(time);
        for (bucket, weight) in weights {
            self.histogram.add_to_bucket(bucket, weight * factor);
        }
    }

    pub fn subtract(&mut self, value: f64, weight: f64, time: DateTime<Utc>) {
        let factor = self.decay_factor(time);
        self.histogram.subtract(value, weight * factor);
    }

    pub fn percentile(&self, p: f64) -> f64 {
        self.histogram.percentile(p)
    }

    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// [`Histogram::touch`].
    pub fn touch(&self) -> (f64, f64) {
        self.histogram.touch()
    }

    /// `Merge`: the older reference time is moved to the younger first.
    pub fn merge(&mut self, other: &DecayingHistogram) {
        let mut other = other.clone();
        match (self.reference, other.reference) {
            (Some(mine), Some(theirs)) if mine < theirs => self.shift_reference(theirs),
            (Some(mine), Some(theirs)) if theirs < mine => other.shift_reference(mine),
            (None, Some(theirs)) => self.shift_reference(theirs),
            (Some(mine), None) => other.shift_reference(mine),
            _ => {}
        }
        self.histogram.merge(&other.histogram);
    }

    /// `decayFactor`, moving the reference forward past 2^100.
    fn decay_factor(&mut self, time: DateTime<Utc>) -> f64 {
        // A pair seen lately was within the limit: no move, the same factor.
        if let Some(reference) = self.reference
            && let Some(factor) = recent_factor(self.half_life_seconds, reference, time)
        {
            return factor;
        }
        let limit_seconds = self.half_life_seconds as f64 * MAX_DECAY_EXPONENT;
        let too_far = match self.reference {
            None => true,
            Some(reference) => {
                (time - reference).num_milliseconds() as f64 / 1000.0 > limit_seconds
            }
        };
        if too_far {
            self.shift_reference(time);
        }
        let reference = self.reference.unwrap_or(time);
        let elapsed = (time - reference).num_nanoseconds().map_or_else(
            || (time - reference).num_milliseconds() as f64 / 1e3,
            |n| n as f64 / 1e9,
        );
        let factor = (elapsed / self.half_life_seconds as f64).exp2();
        remember_factor(self.half_life_seconds, reference, time, factor);
        factor
    }

    /// `shiftReferenceTimestamp`: the new reference rounded to a multiple of
    /// the half-life (counted from Go's zero time, halves up), weights scaled
    /// by a power of two.
    fn shift_reference(&mut self, to: DateTime<Utc>) {
        let half = self.half_life_seconds;
        let since_zero_ms = (to.timestamp() + GO_ZERO_TO_UNIX_SECONDS) * 1000
            + i64::from(to.timestamp_subsec_millis());
        let half_ms = half * 1000;
        let rounded_ms = (since_zero_ms + half_ms / 2).div_euclid(half_ms) * half_ms;
        let new_seconds = rounded_ms / 1000 - GO_ZERO_TO_UNIX_SECONDS;
        let new = DateTime::<Utc>::from_timestamp(new_seconds, 0).unwrap_or(to);
        if let Some(old) = self.reference {
            let exponent = ((old - new).num_seconds() as f64 / half as f64).round();
            self.histogram.scale(exponent.exp2());
        }
        self.reference = Some(new);
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn test_options() -> Options {
        Options::linear(10.0, 1.0, 1e-15)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    /// T1 `TestPercentiles`.
    #[test]
    fn percentiles_are_bucket_ends() {
        let mut h = Histogram::new(test_options());
        for i in 1..=4 {
            h.add(f64::from(i), f64::from(i));
        }
        let expected = [2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 4.0, 5.0, 5.0, 5.0, 5.0];
        for (i, want) in expected.iter().enumerate() {
            let p = i as f64 / 10.0;
            assert!(
                close(h.percentile(p), *want),
                "P({p}) = {}",
                h.percentile(p)
            );
        }
    }

    /// T2 `TestPercentileOutOfBounds`.
    #[test]
    fn percentiles_outside_zero_one_clamp_to_the_range() {
        let mut h = Histogram::new(Options::linear(1.0, 0.1, 1e-15));
        h.add(0.1, 0.1);
        h.add(0.2, 0.2);
        assert!(close(h.percentile(-0.1), 0.2));
        assert!(close(h.percentile(1.1), 0.3));
        h.add(0.0, 0.1);
        h.add(1.0, 0.2);
        assert!(close(h.percentile(-0.1), 0.1));
        assert!(close(h.percentile(1.1), 1.0));
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
            .single()
            .unwrap_or_default()
    }

    /// T3 `TestDecayingHistogramPercentiles`.
    #[test]
    fn decay_halves_weight_per_half_life() {
        let mut h = DecayingHistogram::new(test_options(), Duration::hours(1));
        for i in 1..=4 {
            h.add(
                f64::from(i),
                f64::from(i),
                t0() + Duration::hours(i64::from(i)),
            );
        }
        for (p, want) in [
            (0.0, 2.0),
            (0.02, 2.0),
            (0.03, 3.0),
            (0.10, 3.0),
            (0.11, 4.0),
            (0.34, 4.0),
            (0.35, 5.0),
            (1.0, 5.0),
        ] {
            assert!(close(h.percentile(p), want), "P({p}) = {}", h.percentile(p));
        }
    }

    /// T4 `TestSimpleDecay` and `TestLongtermDecay`.
    #[test]
    fn old_samples_fade_and_very_old_ones_vanish() {
        let mut h = DecayingHistogram::new(test_options(), Duration::hours(1));
        h.add(2.0, 1000.0, t0());
        h.add(1.0, 1.0, t0() + Duration::hours(20));
        assert!(close(h.percentile(0.999), 2.0));
        assert!(close(h.percentile(1.0), 3.0));

        let mut h = DecayingHistogram::new(test_options(), Duration::hours(1));
        h.add(2.0, 1.0, t0());
        h.add(1.0, 1.0, t0() + Duration::hours(101));
        assert!(close(h.percentile(1.0), 2.0));
    }

    /// T5 `TestExponentialHistogramOptions` and `TestLinearHistogramOptions`.
    #[test]
    fn bucket_schemes_match_vpa() {
        let o = Options::exponential(500.0, 40.0, 1.5, 0.001);
        assert_eq!(o.buckets(), 6);
        let starts: Vec<f64> = (0..6).map(|b| o.start(b)).collect();
        assert_eq!(starts, [0.0, 40.0, 100.0, 190.0, 325.0, 527.5]);
        for (value, bucket) in [(-1.0, 0), (39.99, 0), (40.0, 1), (100.0, 2), (900.0, 5)] {
            assert_eq!(o.find(value), bucket, "{value}");
        }
        let o = Options::linear(5.0, 0.3, 1e-15);
        assert_eq!(o.buckets(), 18);
        assert!(close(o.start(17), 5.1));
        assert_eq!(o.find(1.3), 4);
        assert_eq!(o.find(100.0), 17);
        assert_eq!(cpu_options().buckets(), 176);
        assert_eq!(memory_options().buckets(), 176);
    }

    #[test]
    fn adding_to_a_bucket_lands_in_that_bucket() {
        // start(25) of the CPU scheme computes a hair under the bucket's
        // start: through a value it would land in bucket 24.
        let options = cpu_options();
        assert_eq!(options.find(options.start(25)), 24);
        let mut h = Histogram::new(options);
        h.add_to_bucket(25, 1.0);
        assert!(close(h.percentile(0.5), options.start(26)));
    }

    #[test]
    fn subtracting_a_whole_bucket_empties_it() {
        let mut h = Histogram::new(test_options());
        h.add(3.0, 1.0);
        h.add(5.0, 1.0);
        h.subtract(5.0, 1.0);
        assert!(close(h.percentile(1.0), 4.0));
        h.subtract(3.0, 1.0);
        assert!(h.is_empty());
        assert_eq!(h.percentile(0.5), 0.0);
    }
}
