//! The collector against a misbehaving API server: errors, throttling, cut
//! and expired watches, slow answers and metrics.k8s.io down for ten
//! simulated minutes. It must finish, count what failed, publish the first
//! hour with the same request-integrated quantities as a clean run, and lose
//! only the samples of the ticks that failed.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use kubetally::sim::FaultSpec;

use crate::collect::{
    Row, assert_bill_adds_up, assert_close, collect_from, number, read, rows, scenario_config,
};
use crate::support::{start, stop};

/// Every kind of fault, from the start of the run. Metrics errors are 500s:
/// kube's client does not retry those, so each costs exactly the tick it hit
/// (a 429 or 503 carries `Retry-After: 1`, which the client sleeps through,
/// and one real second is ten simulated minutes at 600×).
const FAULTS: &str =
    "list=20%:503,get=20%:500,watch=20%:429,metrics=20%:500,cut=500ms,gone=30%,slow=10%:200ms";

/// metrics.k8s.io is down for the first 10 minutes of every 40 (0–10,
/// 40–50, 80–90); switched on at minute 25, so hour 0 loses only 40–50.
const OUTAGE: &str = "metrics-down=10m/40m";
const OUTAGE_MINUTES: (f64, f64) = (40.0, 50.0);

fn first_hour_rows(out: &std::path::Path) -> BTreeMap<String, Row> {
    rows(&read(out, "allocation"))
        .into_iter()
        .filter(|r| r["start_time"] == "2026-11-02T00:00:00")
        .map(|r| (r["pod"].clone(), r))
        .collect()
}

fn minutes_into_hour_0(time: DateTime<Utc>) -> f64 {
    (time - kubetally::sim::epoch()).num_milliseconds() as f64 / 60_000.0
}

#[tokio::test(flavor = "multi_thread")]
async fn the_collector_survives_api_faults_with_bounded_gaps_and_exact_request_costs() {
    let dir = tempfile::tempdir().unwrap();
    let (clean_out, faulty_out) = (dir.path().join("clean"), dir.path().join("faulty"));
    let faults: FaultSpec = FAULTS.parse().unwrap();
    let with_outage: FaultSpec = format!("{FAULTS},{OUTAGE}").parse().unwrap();

    let clean = start(&scenario_config()).await;
    let faulty = start(&kubetally::sim::SimConfig {
        faults,
        ..scenario_config()
    })
    .await;
    let sim = faulty.sim.clone();
    let switch = tokio::spawn(async move {
        while (sim.clock.now() - kubetally::sim::epoch()).num_minutes() < 25 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        sim.set_faults(with_outage);
    });
    // Side by side, so both see the same machine load.
    let (clean_summary, summary) = tokio::join!(
        collect_from(&clean, &clean_out, Duration::minutes(70)),
        collect_from(&faulty, &faulty_out, Duration::minutes(70)),
    );
    switch.abort();
    let counts = faulty.sim.fault_counts();
    stop(clean).await;
    stop(faulty).await;

    // It finished, and what failed was injected and counted.
    assert!(summary.hours_published >= 1, "{summary:?}");
    assert_every_fault_injected(&counts);
    assert!(
        summary.errors.get("metrics").is_some_and(|n| *n > 0),
        "metrics failures are counted: {:?}",
        summary.errors
    );
    assert!(
        summary.errors.keys().any(|k| k.starts_with("watch_")),
        "watch failures are counted: {:?}",
        summary.errors
    );
    assert!(clean_summary.errors.is_empty(), "{clean_summary:?}");

    // Hour 0 carries the clean run's request-integrated quantities. The
    // scenario's usage is constant, so every cost below is the hand-worked
    // figure of `the_collector_prices_a_known_cluster_exactly` whatever the
    // number of samples (pods under their request are billed by request;
    // hog-1's usage is the same in every sample).
    let first = first_hour_rows(&faulty_out);
    let pod = |name: &str| -> &Row {
        first
            .get(name)
            .unwrap_or_else(|| panic!("no first-hour row for {name}: {first:?}"))
    };
    for name in ["api-1", "hog-1", "spotty-1", "dns-1", "exp-1"] {
        assert_close(
            number(pod(name), "running_seconds"),
            3600.0,
            &format!("{name} running"),
        );
    }
    assert_close(number(pod("nightly-1"), "running_seconds"), 20.0, "job");
    assert_close(number(pod("api-1"), "total_cost_usd"), 0.028, "api cost");
    assert_close(number(pod("api-1"), "cpu_usage_core_hours"), 0.5, "api use");
    assert_close(number(pod("hog-1"), "total_cost_usd"), 0.024, "hog cost");
    assert_close(
        number(pod("nightly-1"), "total_cost_usd"),
        0.044 * 20.0 / 3600.0,
        "job cost",
    );
    assert_close(number(pod("spotty-1"), "total_cost_usd"), 0.007, "spot");
    assert_close(number(pod("dns-1"), "total_cost_usd"), 0.00625, "dns");
    assert_close(number(pod("exp-1"), "total_cost_usd"), 0.006, "exp");
    let nodes = rows(&read(&faulty_out, "nodes"));
    assert_bill_adds_up(&rows(&read(&faulty_out, "allocation")), &nodes);

    // The gap is bounded. A clean run samples once a simulated minute (a
    // 100 ms tick at 600×; metrics windows are 15 s, so each tick is new).
    // From the first sample to 01:00, less the outage, the faulty run has
    // `open` minutes of metrics. There a tick is lost when its pod metrics
    // fail (20%), and `slow` stretches ticks (10% of its two metrics
    // requests wait 200 ms = 2 simulated minutes): about 1.4 minutes a
    // tick, so about 0.8 / 1.4 ≈ 0.57 samples per open minute. The bound
    // takes a third, leaving room for a loaded 2-core machine; a fault that
    // stalled sampling for longer than its own tick would break it.
    let first_sample = summary
        .first_sample
        .unwrap_or_else(|| panic!("no samples: {summary:?}"));
    let from = minutes_into_hour_0(first_sample);
    assert!(from < 60.0, "the first sample is in hour 0: {first_sample}");
    let (outage_from, outage_to) = OUTAGE_MINUTES;
    let open = (60.0 - from) - (outage_to - from.max(outage_from)).max(0.0);
    let bound = (open / 3.0).floor();
    let clean_first = first_hour_rows(&clean_out);
    for name in ["api-1", "hog-1", "spotty-1", "dns-1", "exp-1"] {
        let count = number(pod(name), "sample_count");
        let clean_count = number(&clean_first[name], "sample_count");
        assert!(
            count < clean_count,
            "{name}: {count} samples with faults, {clean_count} without"
        );
        assert!(
            count >= bound,
            "{name}: {count} samples < {bound}, a third of {open:.1} open minutes"
        );
    }
}

/// Every kind of fault the spec turns on was injected at least once: a
/// faulty run that injected none of a kind proves nothing about it.
pub fn assert_every_fault_injected(counts: &kubetally::sim::FaultCounts) {
    assert!(
        counts.metrics > 0
            && counts.metrics_down > 0
            && counts.list + counts.watch > 0
            && counts.cut > 0
            && counts.gone > 0
            && counts.slow > 0,
        "every kind of fault was injected: {counts:?}"
    );
}
