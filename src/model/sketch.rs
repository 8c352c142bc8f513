//! A mergeable relative-error quantile sketch of CPU usage, so a percentile
//! read from a fortnight of hourly rows is within 1 % of the one raw samples
//! give, at every size.
//!
//! VPA's histogram ([`super::histogram`]) answers a bucket's end: its first
//! CPU bucket is 10 millicores wide and the others 5 %, so a 5-millicore
//! container's p95 reads as 10m and a large one's is up to 5 % high. That
//! is right for the `vpa` strategy (VPA does exactly that) and wrong for
//! `krr-simple`, which reads raw samples. This sketch uses DDSketch's
//! logarithmic mapping instead: bucket 0 holds the values at or below
//! [`MIN_CORES`] (the idle zeros); bucket `k ≥ 1` holds
//! `(MIN_CORES × γ^(k−1), MIN_CORES × γ^k]` with γ = [`GAMMA`] and answers
//! `2 × MIN_CORES × γ^k / (γ + 1)`, within `(γ − 1)/(γ + 1)` < 1 % of every
//! value in it. Counts are exact, so merging is plain addition: associative,
//! commutative, and the same in SQL (`SUM(weight) GROUP BY bucket`).
//!
//! The mapping is part of the file format (`allocation.cpu_usage_sketch`
//! stores bucket numbers, docs/schema.md): never change [`GAMMA`] or
//! [`MIN_CORES`]. Hand-written rather than a DDSketch crate: the crates'
//! persistence is their serde form of internal structs with a mapping they
//! may change between versions, and none gives the value at a rank, which
//! Prometheus' interpolating `quantile_over_time` (what KRR runs) needs.

/// Ratio of consecutive bucket bounds: 1 % relative accuracy.
pub const GAMMA: f64 = 1.02;
/// Values at or below this many cores are bucket 0 and read as 0. The
/// collector rounds usage to the millicore, so in practice bucket 0 holds
/// exact zeros.
pub const MIN_CORES: f64 = 1e-6;

/// The bucket of `cores`.
pub fn bucket(cores: f64) -> u32 {
    if cores.is_nan() || cores <= MIN_CORES {
        return 0;
    }
    let k = ((cores / MIN_CORES).ln() / GAMMA.ln()).ceil();
    // Beyond u32 only for absurd values (γ^(2^32)); they stay in the top bucket.
    k.clamp(1.0, f64::from(u32::MAX)) as u32
}

/// The value bucket `k` answers (0 for bucket 0).
pub fn value(k: u32) -> f64 {
    if k == 0 {
        return 0.0;
    }
    2.0 * MIN_CORES * GAMMA.powf(f64::from(k)) / (GAMMA + 1.0)
}

/// Counts per bucket: bucket 0 apart, the others stored from the lowest
/// bucket written to the highest (a container's usage spans a few dozen
/// to a few hundred buckets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sketch {
    zeros: u32,
    /// The bucket of `counts[0]`.
    first: u32,
    counts: Vec<u32>,
}

impl Sketch {
    /// One sample of `cores`.
    pub fn add(&mut self, cores: f64) {
        self.insert(bucket(cores), 1);
    }

    /// `count` samples in bucket `k` (saturating: a u32 holds 8,000 years
    /// of one sample a minute).
    pub fn insert(&mut self, k: u32, count: u32) {
        if count == 0 {
            return;
        }
        if k == 0 {
            self.zeros = self.zeros.saturating_add(count);
            return;
        }
        if self.counts.is_empty() {
            self.first = k;
        } else if k < self.first {
            let before = (self.first - k) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, before));
            self.first = k;
        }
        let index = (k - self.first) as usize;
        if index >= self.counts.len() {
            self.counts.resize(index + 1, 0);
        }
        self.counts[index] = self.counts[index].saturating_add(count);
    }

    /// Frees the room the counts grew beyond their span: for a sketch that
    /// is kept (an hour's row) rather than added to.
    pub fn fit(&mut self) {
        self.counts.shrink_to_fit();
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Sketch) {
        for (k, count) in other.entries() {
            self.insert(k, count);
        }
    }

    /// (bucket, count) of the non-empty buckets, in bucket order.
    pub fn entries(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let zeros = (self.zeros > 0).then_some((0, self.zeros));
        let first = self.first;
        zeros.into_iter().chain(
            self.counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(move |(i, c)| (first + i as u32, *c)),
        )
    }

    /// Samples in the sketch.
    pub fn count(&self) -> u64 {
        u64::from(self.zeros) + self.counts.iter().map(|c| u64::from(*c)).sum::<u64>()
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The value of the `rank`-th smallest sample (from 0), within 1 %.
    pub fn value_at_rank(&self, rank: u64) -> Option<f64> {
        let mut seen = 0_u64;
        for (k, count) in self.entries() {
            seen += u64::from(count);
            if rank < seen {
                return Some(value(k));
            }
        }
        None
    }

    /// Prometheus' `quantile_over_time(φ, …)` on the samples: linear
    /// interpolation between the order statistics at rank φ × (n − 1).
    /// Each order statistic is within 1 %, so is their interpolation.
    /// `None` for an empty sketch.
    pub fn quantile(&self, phi: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = phi.clamp(0.0, 1.0) * (n - 1) as f64;
        let below = rank.floor();
        let weight = rank - below;
        let below = below as u64;
        let above = (below + 1).min(n - 1);
        let low = self.value_at_rank(below)?;
        let high = self.value_at_rank(above)?;
        Some(low * (1.0 - weight) + high * weight)
    }

    /// Touches the sketch's memory (see `recommend::history`'s prefetch).
    pub fn touch(&self) -> Option<u32> {
        self.counts.first().copied()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Prometheus' `quantile` on raw values.
    fn exact(values: &mut [f64], phi: f64) -> f64 {
        values.sort_by(f64::total_cmp);
        let rank = phi * (values.len() - 1) as f64;
        let below = rank.floor() as usize;
        let above = (below + 1).min(values.len() - 1);
        let weight = rank - below as f64;
        values[below] * (1.0 - weight) + values[above] * weight
    }

    #[test]
    fn every_value_reads_back_within_one_percent() {
        for millicores in [1_u32, 2, 5, 9, 10, 11, 99, 250, 1000, 64_000, 1_000_000] {
            let cores = f64::from(millicores) / 1000.0;
            let read = value(bucket(cores));
            assert!(
                (read - cores).abs() <= 0.01 * cores,
                "{cores} reads as {read}"
            );
        }
        assert_eq!(value(bucket(0.0)), 0.0);
        assert_eq!(bucket(-1.0), 0);
        assert_eq!(bucket(f64::NAN), 0);
    }

    #[test]
    fn a_small_containers_p95_is_krrs_not_vpas_first_bucket() {
        // 5 millicores most of the time, 7 at the top: VPA's histogram
        // says 10m for any percentile; KRR says 7m.
        let mut sketch = Sketch::default();
        let mut raw = Vec::new();
        for i in 0..200 {
            let cores = if i % 10 == 0 { 0.007 } else { 0.005 };
            sketch.add(cores);
            raw.push(cores);
        }
        let p95 = sketch.quantile(0.95).unwrap_or_default();
        let want = exact(&mut raw, 0.95);
        assert!((p95 - want).abs() <= 0.01 * want, "{p95} vs {want}");
        assert_eq!(Sketch::default().quantile(0.95), None);
    }

    #[test]
    fn zeros_read_as_zero_and_count() {
        let mut sketch = Sketch::default();
        for _ in 0..9 {
            sketch.add(0.0);
        }
        sketch.add(0.5);
        assert_eq!(sketch.count(), 10);
        assert_eq!(sketch.quantile(0.5), Some(0.0));
        let top = sketch.quantile(1.0).unwrap_or_default();
        assert!((top - 0.5).abs() <= 0.005, "{top}");
        assert_eq!(sketch.entries().next(), Some((0, 9)));
    }

    fn sketch_of(values: &[u32]) -> Sketch {
        let mut sketch = Sketch::default();
        for v in values {
            sketch.add(f64::from(*v) / 1000.0);
        }
        sketch
    }

    proptest! {
        #[test]
        fn quantiles_are_within_one_percent_of_prometheus_on_raw_samples(
            millicores in proptest::collection::vec(0_u32..200_000, 1..300),
            phi in 0.0_f64..=1.0,
        ) {
            let sketch = sketch_of(&millicores);
            let mut raw: Vec<f64> = millicores.iter().map(|m| f64::from(*m) / 1000.0).collect();
            let want = exact(&mut raw, phi);
            let got = sketch.quantile(phi).unwrap_or(f64::NAN);
            prop_assert!((got - want).abs() <= 0.01 * want + 1e-12, "{} vs {}", got, want);
        }

        #[test]
        fn merging_is_associative_and_commutative(
            a in proptest::collection::vec(0_u32..100_000, 0..50),
            b in proptest::collection::vec(0_u32..100_000, 0..50),
            c in proptest::collection::vec(0_u32..100_000, 0..50),
        ) {
            let (a, b, c) = (sketch_of(&a), sketch_of(&b), sketch_of(&c));
            let mut left = a.clone();
            left.merge(&b);
            left.merge(&c);
            let mut right = c.clone();
            let mut bc = b.clone();
            bc.merge(&a);
            right.merge(&bc);
            prop_assert_eq!(left.entries().collect::<Vec<_>>(), right.entries().collect::<Vec<_>>());
            prop_assert_eq!(left.count(), a.count() + b.count() + c.count());
        }
    }
}
