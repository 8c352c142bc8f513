//! VPA's own unit-test numbers (recommenders.md §1.8, T6–T9) and the derived
//! end-to-end sanity case.

use chrono::{Duration, TimeZone, Utc};

use super::*;

const MB: i64 = 1024 * 1024;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// T6 `TestPercentileEstimator`: exact bucket ends.
#[test]
fn percentile_estimator_answers_bucket_ends() {
    let config = Config::default();
    let mut aggregate = Aggregate::new(&config);
    for cores in [1.0, 2.0, 3.0] {
        aggregate.cpu.add(cores, 1.0, t0());
    }
    for bytes in [1e9, 2e9, 3e9] {
        aggregate.memory_peaks.add(bytes, 1.0, t0());
    }
    let estimate = percentile_estimate(&aggregate, 0.2, 0.5);
    assert_eq!(estimate.cpu_millicores, 1016);
    assert_eq!(estimate.memory_bytes, 2_093_479_957);
}

fn nine_samples_two_minutes_apart(config: &Config) -> Aggregate {
    let mut aggregate = Aggregate::new(config);
    for i in 0..9 {
        aggregate.add_cpu_sample(1.0, t0() + Duration::minutes(2 * i));
    }
    aggregate
}

/// T7 `TestConfidenceMultiplier` and `…WithCustomInterval`.
#[test]
fn confidence_scales_by_days_of_history() {
    let config = Config::default();
    let aggregate = nine_samples_two_minutes_apart(&config);
    assert!((aggregate.confidence(Duration::hours(24)) - 0.00625).abs() < 1e-12);
    let base = ResourceAmounts {
        cpu_millicores: 3140,
        memory_bytes: 3_140_000_000,
    };
    let scaled = with_confidence(base, &aggregate, 0.1, 2.0, Duration::hours(24));
    assert_eq!(scaled.cpu_millicores, 907_460);
    assert!((scaled.memory_bytes as f64 - 9.0746e11).abs() < 1e3);
    let empty = Aggregate::new(&config);
    let saturated = with_confidence(base, &empty, 0.1, 2.0, Duration::hours(24));
    assert_eq!(saturated.cpu_millicores, MAX_RESOURCE_AMOUNT);
    assert_eq!(saturated.memory_bytes, MAX_RESOURCE_AMOUNT);

    let custom = with_confidence(base, &aggregate, 0.1, 2.0, Duration::minutes(18));
    assert_eq!(custom.cpu_millicores, 4521);
    assert!((custom.memory_bytes as f64 - 4.5216e9).abs() < 1e3);
    // TestMarginEstimator (margin 0.1).
    let margined = with_margin(base, 0.1);
    assert_eq!(margined.cpu_millicores, 3140 + 314);
    assert_eq!(margined.memory_bytes, 3_140_000_000 + 314_000_000);
}

/// T8 `TestRecordOOM…`.
#[test]
fn oom_kills_bump_the_memory_peak_as_vpa_does() {
    let config = Config::default();
    let peaks = |aggregate: &Aggregate| aggregate.memory_peaks.percentile(1.0);
    let bucket_end = |bytes: i64| {
        let options = memory_options();
        options.start(options.find(bytes as f64) + 1)
    };

    // IncreasedByBumpUp: 1000 MiB request → 1200 MiB.
    let (mut aggregate, mut container) = (Aggregate::new(&config), Container::default());
    assert!(
        container
            .record_oom(&config, &mut aggregate, t0(), 1000 * MB)
            .is_ok()
    );
    assert_eq!(peaks(&aggregate), bucket_end(1200 * MB));

    // IncreasedByMin: 1 MiB → 101 MiB.
    let (mut aggregate, mut container) = (Aggregate::new(&config), Container::default());
    assert!(
        container
            .record_oom(&config, &mut aggregate, t0(), MB)
            .is_ok()
    );
    assert_eq!(peaks(&aggregate), bucket_end(101 * MB));

    // MaxedWithKnownSample: a 3000 MiB peak is replaced by 3600 MiB.
    let (mut aggregate, mut container) = (Aggregate::new(&config), Container::default());
    assert!(container.add_memory_sample(&config, &mut aggregate, t0(), 3000 * MB, false));
    assert!(
        container
            .record_oom(&config, &mut aggregate, t0(), 1000 * MB)
            .is_ok()
    );
    assert_eq!(peaks(&aggregate), bucket_end(3600 * MB));
    assert!((aggregate.memory_peaks.percentile(0.0) - bucket_end(3600 * MB)).abs() < 1.0);

    // DontRunAway: 1200 MiB; a kill at a 999 MiB request changes nothing; at
    // 2000 MiB the 1200 MiB peak becomes 2400 MiB.
    let (mut aggregate, mut container) = (Aggregate::new(&config), Container::default());
    assert!(
        container
            .record_oom(&config, &mut aggregate, t0(), 1000 * MB)
            .is_ok()
    );
    assert!(
        container
            .record_oom(&config, &mut aggregate, t0(), 999 * MB)
            .is_ok()
    );
    assert_eq!(peaks(&aggregate), bucket_end(1200 * MB));
    assert!(
        container
            .record_oom(&config, &mut aggregate, t0(), 2000 * MB)
            .is_ok()
    );
    assert_eq!(peaks(&aggregate), bucket_end(2400 * MB));
    assert_eq!(
        aggregate.memory_peaks.percentile(0.0),
        bucket_end(2400 * MB)
    );

    // DiscardsOldSample: 30 h before the last sample.
    let (mut aggregate, mut container) = (Aggregate::new(&config), Container::default());
    assert!(container.add_memory_sample(&config, &mut aggregate, t0(), 1000 * MB, false));
    let old = t0() - Duration::hours(30);
    assert_eq!(
        container.record_oom(&config, &mut aggregate, old, 1000 * MB),
        Err(OomError::TooOld(old))
    );
}

/// T9 `TestMinResourcesApplied` and `TestMinResourcesSplitAcrossContainers`.
#[test]
fn pod_minimums_apply_and_split_across_containers() {
    let config = Config::default();
    let mut tiny = Aggregate::new(&config);
    tiny.add_cpu_sample(0.001, t0());
    tiny.memory_peaks.add(1e6, 1.0, t0());
    let one = recommend(&config, &[&tiny]);
    assert_eq!(one[0].target.cpu_millicores, 25);
    assert_eq!(one[0].target.memory_bytes, 250 * MB);
    let two = recommend(&config, &[&tiny, &tiny]);
    for recommendation in two {
        // 12.5 m truncates to 12 millicores, as VPA's int64 amounts do.
        assert_eq!(recommendation.target.cpu_millicores, 12);
        assert_eq!(recommendation.target.memory_bytes, 125 * MB);
    }
}

/// recommenders.md §1.8 [derived]: 0.5 cores for 8 days at one sample a
/// minute → target 587m, upper bound 660m, lower bound 586m.
#[test]
fn eight_days_of_half_a_core_give_vpas_numbers() {
    let config = Config::default();
    let mut aggregate = Aggregate::new(&config);
    let mut container = Container::default();
    for minute in 0..8 * 1440 {
        let time = t0() + Duration::minutes(minute);
        assert!(container.add_cpu_sample(&mut aggregate, time, 0.5));
        container.add_memory_sample(&config, &mut aggregate, time, 500 * MB, false);
    }
    assert!(
        !container.add_cpu_sample(&mut aggregate, t0(), 0.5),
        "an old sample is dropped"
    );
    let recommendation = recommend(&config, &[&aggregate])[0];
    assert_eq!(recommendation.target.cpu_millicores, 587);
    assert_eq!(recommendation.upper_bound.cpu_millicores, 660);
    assert_eq!(recommendation.lower_bound.cpu_millicores, 586);
}
