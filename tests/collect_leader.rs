//! Two collector processes with `--leader-elect` against the simulator's
//! Lease API: only the holder writes; `kill -9` of the holder hands the
//! lease to the other within the lease duration, with at most one sample
//! interval missing and nothing published twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;

use crate::collect::{PRICES, dir_bytes, number, read, rows, scenario_config};
use crate::support::{client, start, stop};

/// One simulated minute, the sample interval, is this much real time.
const INTERVAL_MS: u64 = 500;

fn spawn(kubeconfig: &Path, prices: &Path, out: &Path, identity: &str) -> std::process::Child {
    let wal = out.join(format!("_wal-{identity}"));
    std::process::Command::new(env!("CARGO_BIN_EXE_kubetally"))
        .args(["collect", "--kubeconfig"])
        .arg(kubeconfig)
        .arg("--out")
        .arg(out)
        .arg("--wal-dir")
        .arg(&wal)
        .arg("--pricing")
        .arg(prices)
        .args([
            "--cluster-name",
            "test",
            "--interval",
            &format!("{INTERVAL_MS}ms"),
            "--listen",
            "none",
            "--duration",
            "15m",
            "--leader-elect",
            "--lease-namespace",
            "kubetally",
            "--leader-identity",
            identity,
            // The production ratio (60 s interval, 15 s lease, 10 s
            // deadline, 2 s retry) scaled to a 500 ms interval.
            "--lease-duration",
            "150ms",
            "--renew-deadline",
            "100ms",
            "--retry-period",
            "20ms",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Bytes in the write-ahead log directory of `identity`.
fn logged_bytes(out: &Path, identity: &str) -> u64 {
    dir_bytes(&out.join(format!("_wal-{identity}")).join("test"))
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sample times of `api-1` that identity `a` logged before it was killed.
fn logged_times(out: &Path, identity: &str) -> BTreeSet<DateTime<Utc>> {
    kubetally::store::wal::Wal::open(&out.join(format!("_wal-{identity}")), "test", "0")
        .and_then(|wal| wal.replay())
        .unwrap()
        .log
        .samples
        .iter()
        .filter(|s| &*s.context.pod == "api-1")
        .map(|s| s.ts)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_follower_takes_over_from_a_killed_leader_within_one_interval() {
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.csv");
    std::fs::write(&prices, PRICES).unwrap();
    let mut config = scenario_config();
    config.speed = 60_000.0 / INTERVAL_MS as f64;
    let server = start(&config).await;
    let kubeconfig: PathBuf = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig()).unwrap();
    let out = dir.path().join("out");

    let mut a = spawn(&kubeconfig, &prices, &out, "a");
    wait_for("a leads and logs", Duration::from_secs(20), || {
        logged_bytes(&out, "a") > 0
    })
    .await;
    let mut b = spawn(&kubeconfig, &prices, &out, "b");
    // b syncs its caches and follows: four intervals and it logs nothing.
    tokio::time::sleep(Duration::from_millis(4 * INTERVAL_MS)).await;
    assert_eq!(logged_bytes(&out, "b"), 0, "the follower sampled");
    assert!(b.try_wait().unwrap().is_none());
    let leases: Api<Lease> = Api::namespaced(client(&server), "kubetally");
    let lease = leases.get("kubetally").await.unwrap();
    let spec = lease.spec.unwrap_or_default();
    assert_eq!(spec.holder_identity.as_deref(), Some("a"));

    a.kill().unwrap();
    let _ = a.wait();
    let before = logged_times(&out, "a");
    wait_for("b takes over", Duration::from_secs(5), || {
        logged_bytes(&out, "b") > 0
    })
    .await;
    let status = tokio::task::spawn_blocking(move || b.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let lease = leases.get("kubetally").await.unwrap();
    let spec = lease.spec.unwrap_or_default();
    // b released the lease on its way out, after taking it over once.
    assert_eq!(spec.holder_identity, None);
    assert_eq!(spec.lease_transitions, Some(1));
    stop(server).await;

    // Nothing published twice.
    let samples = rows(&read(&out, "samples"));
    let published: Vec<(String, String)> = samples
        .iter()
        .map(|r| (r["pod"].clone(), r["ts"].clone()))
        .collect();
    let unique: BTreeSet<_> = published.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        published.len(),
        "a sample was published twice"
    );
    // Sample times of api-1: what a logged (its last hour died with it) and
    // what was published (by a for hours it closed, by b after the takeover).
    let published: BTreeSet<DateTime<Utc>> = samples
        .iter()
        .filter(|r| r["pod"] == "api-1")
        .map(|r| {
            format!("{}Z", r["ts"])
                .parse()
                .unwrap_or_else(|e| panic!("{}: {e}", r["ts"]))
        })
        .collect();
    let last_before = *before
        .iter()
        .next_back()
        .unwrap_or_else(|| panic!("a logged no sample of api-1"));
    assert!(
        published.iter().any(|ts| *ts > last_before),
        "b published nothing after a's last sample {last_before}"
    );
    // At most one interval (a simulated minute) lost: no two consecutive
    // samples are more than two intervals apart.
    let ticks: Vec<DateTime<Utc>> = before.union(&published).copied().collect();
    let gaps: Vec<(DateTime<Utc>, chrono::Duration)> =
        ticks.windows(2).map(|w| (w[0], w[1] - w[0])).collect();
    assert!(
        gaps.iter()
            .all(|(_, gap)| *gap <= chrono::Duration::seconds(120)),
        "gaps of more than one lost interval: {gaps:?}"
    );
    // Requests are integrated from the pod's lifetime, not from samples, so
    // the hour's cost covers the time a led too.
    let allocation = rows(&read(&out, "allocation"));
    let by_pod: BTreeMap<&str, f64> = allocation
        .iter()
        .map(|r| (r["pod"].as_str(), number(r, "running_seconds")))
        .collect();
    let until = samples
        .iter()
        .map(|r| r["ts"].clone())
        .max()
        .unwrap_or_default();
    let until: DateTime<Utc> = format!("{until}Z")
        .parse()
        .unwrap_or_else(|e| panic!("{until}: {e}"));
    let expected = (until - kubetally::sim::epoch()).num_milliseconds() as f64 / 1000.0;
    assert!(
        (by_pod["api-1"] - expected).abs() < 1e-6,
        "api-1 billed {} s of {expected} s",
        by_pod["api-1"]
    );
    assert_eq!(allocation.iter().filter(|r| r["pod"] == "api-1").count(), 1);
}
