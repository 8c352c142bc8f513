//! Usage histograms in the Kubernetes VPA recommender's exponential bucket
//! scheme, so hourly rows merge over any window without raw samples and a
//! VPA-compatible recommender reads them as VPA would.
//!
//! Bucket 0 covers `[0, first)`; bucket n ≥ 1 starts at
//! `first × (ratioⁿ − 1) / (ratio − 1)`; values beyond the last bucket land in
//! it (VPA's `FindBucket`). Constants from `shared/reference/recommenders.md` §1.2.

/// An exponential bucket scheme.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketScheme {
    pub first_bucket: f64,
    pub ratio: f64,
    pub max_value: f64,
}

/// VPA's CPU scheme: 0.01 core first bucket, 5 % growth, up to 1000 cores.
pub const CPU_BUCKETS: BucketScheme = BucketScheme {
    first_bucket: 0.01,
    ratio: 1.05,
    max_value: 1000.0,
};

/// VPA's memory scheme: 1e7 bytes first bucket, 5 % growth, up to 1e12 bytes.
pub const MEMORY_BUCKETS: BucketScheme = BucketScheme {
    first_bucket: 1e7,
    ratio: 1.05,
    max_value: 1e12,
};

impl BucketScheme {
    /// Number of buckets (176 for both VPA schemes).
    pub fn buckets(&self) -> i32 {
        let n =
            (self.max_value * (self.ratio - 1.0) / self.first_bucket + 1.0).ln() / self.ratio.ln();
        n.ceil() as i32 + 1
    }

    /// The bucket holding `value`. A value exactly at a bucket start belongs
    /// to that bucket (the 1e-9 guards against `ln` rounding just below an
    /// integer, which would put `start(n)` in bucket n − 1).
    pub fn find(&self, value: f64) -> i32 {
        if value.is_nan() || value < self.first_bucket {
            return 0;
        }
        let n = (value * (self.ratio - 1.0) / self.first_bucket + 1.0).ln() / self.ratio.ln();
        ((n + 1e-9).floor() as i32).min(self.buckets() - 1)
    }

    /// Where bucket `n` starts.
    pub fn start(&self, n: i32) -> f64 {
        if n <= 0 {
            return 0.0;
        }
        self.first_bucket * (self.ratio.powi(n) - 1.0) / (self.ratio - 1.0)
    }
}

/// A sparse histogram: weight per non-empty bucket, in bucket order.
///
/// A sorted vector rather than a map: an hour of one container fills one
/// to a few dozen of the 176 buckets, and the collector holds two such
/// histograms for each of the hour's ~240,000 `allocation` rows at 150,000
/// pods until they are published. A `BTreeMap` node is ~140 bytes however
/// few buckets it holds; a vector fitted to its length is 16 a bucket
/// (docs/performance.md, issue 21).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    weights: Vec<(i32, f64)>,
}

impl Histogram {
    pub fn add(&mut self, scheme: &BucketScheme, value: f64, weight: f64) {
        *self.slot(scheme.find(value)) += weight;
    }

    /// Adds another histogram's weights (same scheme), scaled by `factor`.
    pub fn merge(&mut self, other: &Histogram, factor: f64) {
        for (bucket, weight) in &other.weights {
            *self.slot(*bucket) += weight * factor;
        }
    }

    pub fn insert(&mut self, bucket: i32, weight: f64) {
        *self.slot(bucket) += weight;
    }

    /// Frees the room the vector grew beyond its buckets: for a histogram
    /// that is kept (an hour's row) rather than added to.
    pub fn fit(&mut self) {
        self.weights.shrink_to_fit();
    }

    /// The weight of `bucket`, a new one starting at zero (as a map's
    /// default entry would).
    fn slot(&mut self, bucket: i32) -> &mut f64 {
        let at = match self.weights.binary_search_by_key(&bucket, |(b, _)| *b) {
            Ok(at) => at,
            Err(at) => {
                self.weights.insert(at, (bucket, 0.0));
                at
            }
        };
        &mut self.weights[at].1
    }

    /// (bucket, weight) of the non-empty buckets, in bucket order.
    pub fn entries(&self) -> impl Iterator<Item = (i32, f64)> + '_ {
        self.weights.iter().copied()
    }

    pub fn total_weight(&self) -> f64 {
        self.weights.iter().map(|(_, w)| w).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The vector keeps what a map of bucket to weight would: the same
        /// weights, added in the same order, in bucket order.
        #[test]
        fn weights_are_a_maps_in_bucket_order(
            added in proptest::collection::vec((0..176_i32, -1e3..1e3_f64), 0..200),
            merged in proptest::collection::vec((0..176_i32, 0.0..1e3_f64), 0..50),
            factor in 0.0..2.0_f64,
        ) {
            let (mut histogram, mut other, mut map) = (
                Histogram::default(),
                Histogram::default(),
                BTreeMap::<i32, f64>::new(),
            );
            for (bucket, weight) in &added {
                histogram.insert(*bucket, *weight);
                *map.entry(*bucket).or_default() += weight;
            }
            for (bucket, weight) in &merged {
                other.insert(*bucket, *weight);
            }
            histogram.merge(&other, factor);
            let mut scaled = BTreeMap::<i32, f64>::new();
            for (bucket, weight) in &merged {
                *scaled.entry(*bucket).or_default() += weight;
            }
            for (bucket, weight) in scaled {
                *map.entry(bucket).or_default() += weight * factor;
            }
            histogram.fit();
            let entries: Vec<(i32, f64)> = histogram.entries().collect();
            let want: Vec<(i32, f64)> = map.into_iter().collect();
            prop_assert_eq!(entries, want);
        }
    }

    /// VPA's `TestExponentialHistogramOptions` (recommenders.md T5).
    #[test]
    fn reproduces_vpa_exponential_options_test() {
        let scheme = BucketScheme {
            first_bucket: 40.0,
            ratio: 1.5,
            max_value: 500.0,
        };
        assert_eq!(scheme.buckets(), 6);
        let starts: Vec<f64> = (0..6).map(|n| scheme.start(n)).collect();
        assert_eq!(starts, [0.0, 40.0, 100.0, 190.0, 325.0, 527.5]);
        for (value, bucket) in [(-1.0, 0), (39.99, 0), (40.0, 1), (100.0, 2), (900.0, 5)] {
            assert_eq!(scheme.find(value), bucket, "{value}");
        }
    }

    #[test]
    fn matches_the_vpa_schemes() {
        assert_eq!(CPU_BUCKETS.buckets(), 176);
        assert_eq!(MEMORY_BUCKETS.buckets(), 176);
        assert!((CPU_BUCKETS.start(175) - 1021.109).abs() < 1e-3);
        for (n, start) in [(1, 0.01), (2, 0.0205), (3, 0.031525)] {
            assert!((CPU_BUCKETS.start(n) - start).abs() < 1e-12, "{n}");
        }
        assert_eq!(CPU_BUCKETS.find(0.005), 0);
        assert_eq!(CPU_BUCKETS.find(0.01), 1);
        assert_eq!(CPU_BUCKETS.find(0.0205), 2);
        assert_eq!(CPU_BUCKETS.find(1e9), 175);
        assert_eq!(MEMORY_BUCKETS.find(2.05e7), 2);
        // 0.5 cores lands in the bucket that ends at 0.511135 (VPA sanity case).
        let b = CPU_BUCKETS.find(0.5);
        assert!((CPU_BUCKETS.start(b + 1) - 0.511135).abs() < 1e-6);
    }

    #[test]
    fn merges_weights() {
        let mut a = Histogram::default();
        a.add(&CPU_BUCKETS, 0.5, 1.0);
        let mut b = Histogram::default();
        b.add(&CPU_BUCKETS, 0.5, 2.0);
        b.add(&CPU_BUCKETS, 2.0, 1.0);
        a.merge(&b, 0.5);
        assert_eq!(a.total_weight(), 2.5);
        assert_eq!(a.entries().count(), 2);
    }
}
