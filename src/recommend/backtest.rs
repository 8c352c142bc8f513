//! The backtest: recommend from a training window, replay the window after
//! it, and score each strategy by what it saves and what it risks.
//!
//! Per series: the first `train` of it trains, the next `test` tests (a
//! series shorter than both is split at the same ratio). The training
//! points become the hourly rows the collector would have written and are
//! folded as `kubetally recommend` folds a dataset ([`super::replay`]);
//! the shipped decider ([`rightsize::one`]) sizes them, with the series'
//! requests as the current ones and its memory request as the memory limit
//! (a VM cannot use more memory than it has; the traces know no limits).
//! Scores:
//!
//! - **savings**: requested CPU and memory priced at GCP E2's on-demand
//!   unit prices in us-central1 (the embedded catalog: $0.02181159 per
//!   core-hour, $0.00292353 per GiB-hour), current against recommended;
//! - **CPU risk**: the share of test samples using more CPU than the new
//!   request (contention when the node is busy), or than the new limit;
//! - **memory risk**: the share of test samples with a working set above the
//!   new memory limit: each one an OOM kill;
//! - **undecided**: series the strategy would not size (kept as they are:
//!   no savings, no new risk).
//!
//! Totals pool every series: costs are summed over each series' test window
//! (hourly cost × the hours it covers), so a pod seen for minutes weighs
//! minutes; risks count samples.

use chrono::Duration;

use super::history::ContainerKey;
use super::rightsize::{self, RequestsAndLimits, Template};
use super::strategy::Strategy;
use super::trace::{Point, Series};
use super::{replay, vpa};
use crate::model::units::GIB;

/// GCP E2 on-demand, us-central1, from the embedded catalog (docs/pricing.md).
const CORE_HOUR_USD: f64 = 0.021_811_59;
const GIB_HOUR_USD: f64 = 0.002_923_53;

/// One strategy on one series.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Outcome {
    pub strategy: &'static str,
    pub series: String,
    /// 1 − recommended ÷ current requested cost (negative: it asks for more).
    pub savings_fraction: f64,
    pub cpu_risk: f64,
    pub memory_risk: f64,
    pub undecided: bool,
    #[serde(skip)]
    pub reason: Option<String>,
    #[serde(skip)]
    pub current_usd_hour: f64,
    #[serde(skip)]
    pub recommended_usd_hour: f64,
    /// Hours the test window covers (its samples' span plus one interval).
    #[serde(skip)]
    pub test_hours: f64,
    #[serde(skip)]
    pub cpu_samples: usize,
    #[serde(skip)]
    pub cpu_above: usize,
    #[serde(skip)]
    pub memory_samples: usize,
    #[serde(skip)]
    pub memory_above: usize,
}

/// A strategy's totals over every series.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Total {
    pub strategy: &'static str,
    pub series: usize,
    pub savings_fraction: f64,
    pub cpu_risk: f64,
    pub memory_risk: f64,
    pub undecided: usize,
}

fn hourly_usd(cpu_cores: Option<f64>, memory_bytes: Option<f64>) -> f64 {
    cpu_cores.unwrap_or(0.0) * CORE_HOUR_USD + memory_bytes.unwrap_or(0.0) / GIB * GIB_HOUR_USD
}

/// The hours `points` cover: their span plus one median interval.
fn test_hours(points: &[Point]) -> f64 {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return 0.0;
    };
    let mut gaps: Vec<i64> = points
        .windows(2)
        .map(|w| (w[1].time - w[0].time).num_milliseconds())
        .collect();
    gaps.sort_unstable();
    let interval = gaps.get(gaps.len() / 2).copied().unwrap_or(60_000);
    ((last.time - first.time).num_milliseconds() + interval) as f64 / 3_600_000.0
}

/// Splits `series` into training and test points.
fn split(series: &Series, train: Duration, test: Duration) -> (&[Point], &[Point]) {
    let (Some(first), Some(last)) = (series.points.first(), series.points.last()) else {
        return (&[], &[]);
    };
    let span = last.time - first.time;
    let whole = train + test;
    let (cut, end) = if span >= whole {
        (first.time + train, first.time + whole)
    } else {
        let ratio = train.num_milliseconds() as f64 / whole.num_milliseconds().max(1) as f64;
        let cut =
            first.time + Duration::milliseconds((span.num_milliseconds() as f64 * ratio) as i64);
        (cut, last.time + Duration::milliseconds(1))
    };
    let at = series.points.partition_point(|p| p.time < cut);
    let until = series.points.partition_point(|p| p.time < end);
    (&series.points[..at], &series.points[at..until])
}

/// Scores each of `strategies` on one series.
pub fn evaluate(
    strategies: &[Strategy],
    series: &Series,
    train: Duration,
    test: Duration,
) -> Vec<Outcome> {
    let (training, testing) = split(series, train, test);
    let history = replay::history(
        training,
        series.cpu_request_cores.unwrap_or(0.0),
        series.memory_request_bytes.unwrap_or(0.0),
    );
    let template = Template {
        current: RequestsAndLimits {
            cpu_request_cores: series.cpu_request_cores,
            cpu_limit_cores: None,
            memory_request_bytes: series.memory_request_bytes,
            memory_limit_bytes: series.memory_request_bytes,
        },
        hpa_metrics: Vec::new(),
        containers_in_pod: 1,
        is_init: false,
    };
    let key = ContainerKey {
        namespace: String::new(),
        workload_kind: String::new(),
        workload_name: series.name.clone(),
        container: String::new(),
    };
    let config = vpa::Config::default();
    strategies
        .iter()
        .map(|strategy| {
            let recommendation = rightsize::one(*strategy, &config, &key, &history, &template, 1);
            score(*strategy, series, testing, &recommendation)
        })
        .collect()
}

/// What `recommendation` saves and risks on `testing`.
fn score(
    strategy: Strategy,
    series: &Series,
    testing: &[Point],
    recommendation: &rightsize::Recommendation,
) -> Outcome {
    let current = hourly_usd(series.cpu_request_cores, series.memory_request_bytes);
    let mut outcome = Outcome {
        strategy: strategy.as_str(),
        series: series.name.clone(),
        savings_fraction: 0.0,
        cpu_risk: 0.0,
        memory_risk: 0.0,
        undecided: false,
        reason: None,
        current_usd_hour: current,
        recommended_usd_hour: current,
        test_hours: test_hours(testing),
        cpu_samples: 0,
        cpu_above: 0,
        memory_samples: 0,
        memory_above: 0,
    };
    if recommendation.undecided {
        outcome.undecided = true;
        outcome.reason = Some(recommendation.reason.clone());
        return outcome;
    }
    let sizing = recommendation.recommended;
    // A resource the strategy leaves unset keeps its current request.
    let cpu = sizing.cpu_request_cores.or(series.cpu_request_cores);
    let memory = sizing.memory_request_bytes.or(series.memory_request_bytes);
    outcome.recommended_usd_hour = hourly_usd(cpu, memory);
    if current > 0.0 {
        outcome.savings_fraction = 1.0 - outcome.recommended_usd_hour / current;
    }
    let cpu_bound = match (sizing.cpu_request_cores, sizing.cpu_limit_cores) {
        (Some(request), Some(limit)) => Some(request.min(limit)),
        (request, limit) => request.or(limit),
    };
    let memory_limit = sizing.memory_limit_bytes.or(series.memory_request_bytes);
    for point in testing {
        if let (Some(used), Some(bound)) = (point.cpu_cores, cpu_bound) {
            outcome.cpu_samples += 1;
            outcome.cpu_above += usize::from(used > bound);
        }
        if let (Some(used), Some(limit)) = (point.memory_bytes, memory_limit) {
            outcome.memory_samples += 1;
            outcome.memory_above += usize::from(used > limit);
        }
    }
    let share = |above: usize, of: usize| {
        if of == 0 {
            0.0
        } else {
            above as f64 / of as f64
        }
    };
    outcome.cpu_risk = share(outcome.cpu_above, outcome.cpu_samples);
    outcome.memory_risk = share(outcome.memory_above, outcome.memory_samples);
    outcome
}

/// Pools the outcomes of one strategy.
pub fn total(strategy: Strategy, outcomes: &[Outcome]) -> Total {
    let mine: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.strategy == strategy.as_str())
        .collect();
    let current: f64 = mine.iter().map(|o| o.current_usd_hour * o.test_hours).sum();
    let recommended: f64 = mine
        .iter()
        .map(|o| o.recommended_usd_hour * o.test_hours)
        .sum();
    let sum = |f: fn(&Outcome) -> usize| mine.iter().map(|o| f(o)).sum::<usize>();
    let share = |above: usize, of: usize| {
        if of == 0 {
            0.0
        } else {
            above as f64 / of as f64
        }
    };
    Total {
        strategy: strategy.as_str(),
        series: mine.len(),
        savings_fraction: if current > 0.0 {
            1.0 - recommended / current
        } else {
            0.0
        },
        cpu_risk: share(sum(|o| o.cpu_above), sum(|o| o.cpu_samples)),
        memory_risk: share(sum(|o| o.memory_above), sum(|o| o.memory_samples)),
        undecided: mine.iter().filter(|o| o.undecided).count(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    /// Two days of 0.2 cores and 1 GiB, then a test day where memory
    /// doubles for a tenth of the samples.
    fn series() -> Series {
        let t0 = Utc
            .with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let points = (0..3 * 1440)
            .map(|m| Point {
                time: t0 + Duration::minutes(m),
                cpu_cores: Some(0.2),
                memory_bytes: Some(if m >= 2 * 1440 && m % 10 == 0 {
                    2.0 * GIB
                } else {
                    GIB
                }),
            })
            .collect();
        Series {
            name: "s".into(),
            points,
            cpu_request_cores: Some(1.0),
            memory_request_bytes: Some(4.0 * GIB),
        }
    }

    fn outcome(strategy: Strategy, series: &Series, train: i64, test: i64) -> Outcome {
        let mut outcomes = evaluate(
            &[strategy],
            series,
            Duration::days(train),
            Duration::days(test),
        );
        outcomes.pop().unwrap_or_else(|| panic!("no outcome"))
    }

    #[test]
    fn savings_and_risks_are_scored_on_the_test_window() {
        let s = series();
        let krr = outcome(Strategy::KrrSimple, &s, 2, 1);
        // KRR: 0.2 cores (p95 of a constant, read within 1 % and rounded
        // up to the millicore), 1 GiB × 1.15 rounded up to 1178 MiB,
        // limit = request.
        let current = CORE_HOUR_USD + 4.0 * GIB_HOUR_USD;
        let memory = 1178.0 / 1024.0 * GIB_HOUR_USD;
        let cpu = (krr.recommended_usd_hour - memory) / CORE_HOUR_USD;
        assert!((0.2..=0.203).contains(&cpu), "{cpu}");
        assert!((krr.savings_fraction - (1.0 - krr.recommended_usd_hour / current)).abs() < 1e-12);
        assert_eq!(krr.cpu_risk, 0.0);
        // Every tenth test sample (2 GiB) is above 1178 MiB.
        assert_eq!(krr.memory_samples, 1440);
        assert_eq!(krr.memory_above, 144);
        // kubetally's limit is the training peak × 1.3 = 1.3 GiB: the same
        // samples are above it. It asks for less memory than VPA (no margin
        // on the request) and the same CPU.
        let ours = outcome(Strategy::Kubetally, &s, 2, 1);
        let vpa = outcome(Strategy::Vpa, &s, 2, 1);
        assert!(ours.savings_fraction > vpa.savings_fraction);
        assert_eq!(ours.cpu_risk, vpa.cpu_risk);
        assert!(ours.memory_risk <= vpa.memory_risk);
        let totals = total(Strategy::KrrSimple, &[krr.clone(), ours]);
        assert_eq!(totals.series, 1);
        assert_eq!(totals.memory_risk, krr.memory_risk);
    }

    #[test]
    fn the_backtest_sizes_with_the_shipped_rules() {
        // The dataset's rule wants 10 samples (no hour of history): 20
        // minutes of training are enough to decide.
        let mut s = series();
        s.points.truncate(40);
        let ours = outcome(Strategy::Kubetally, &s, 7, 7);
        assert!(!ours.undecided, "{:?}", ours.reason);
        // A memory-only series keeps its (absent) CPU request: no CPU cost,
        // no CPU risk.
        let mut memory_only = series();
        memory_only.cpu_request_cores = None;
        for point in &mut memory_only.points {
            point.cpu_cores = None;
        }
        for strategy in Strategy::ALL {
            let o = outcome(strategy, &memory_only, 2, 1);
            assert!(!o.undecided, "{strategy:?}");
            assert_eq!(o.cpu_samples, 0);
            assert!(o.savings_fraction > 0.0, "{strategy:?}: {o:?}");
        }
    }

    #[test]
    fn a_short_series_is_split_at_the_same_ratio() {
        let s = series();
        let (train, test) = split(&s, Duration::days(7), Duration::days(7));
        assert_eq!(train.len() + test.len(), s.points.len());
        assert!((train.len() as i64 - test.len() as i64).abs() <= 1);
    }

    #[test]
    fn an_undecided_series_keeps_its_cost_and_says_why() {
        let mut s = series();
        s.points.truncate(50);
        let outcome = outcome(Strategy::KrrSimple, &s, 7, 7);
        assert!(outcome.undecided);
        assert_eq!(outcome.savings_fraction, 0.0);
        assert!(
            outcome
                .reason
                .unwrap_or_default()
                .contains("not enough data")
        );
    }
}
