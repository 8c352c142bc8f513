//! `kubetally demo` on the fast clock: the simulated cluster runs as fast as
//! the real collector samples it, and a seed reproduces the dataset.

use std::collections::BTreeMap;
use std::path::Path;

use kubetally::sim::SimConfig;

use crate::collect::{number, read, rows};
use crate::support::{client, small_demo, start, stop};

/// Rows per table, and cost per tenant and in total to the cent.
fn fingerprint(out: &Path) -> (BTreeMap<&'static str, usize>, BTreeMap<String, i64>) {
    let tables = ["allocation", "nodes", "workloads", "samples"]
        .into_iter()
        .map(|table| {
            let count = read(out, table).iter().map(|b| b.num_rows()).sum();
            (table, count)
        })
        .collect();
    let mut cents: BTreeMap<String, f64> = BTreeMap::new();
    for row in rows(&read(out, "allocation")) {
        let cost = number(&row, "total_cost_usd");
        *cents.entry(row["tenant"].clone()).or_default() += cost;
        *cents.entry("(total)".into()).or_default() += cost;
    }
    let cents = cents
        .into_iter()
        .map(|(tenant, usd)| (tenant, (usd * 100.0).round() as i64))
        .collect();
    (tables, cents)
}

#[test]
fn two_fast_clock_demos_with_one_seed_write_the_same_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    small_demo(&first);
    small_demo(&second);
    let (tables, cents) = fingerprint(&first);
    assert!(
        tables["samples"] > 0 && tables["allocation"] > 0,
        "{tables:?}"
    );
    assert!(cents["(total)"] > 0, "{cents:?}");
    assert_eq!((tables, cents), fingerprint(&second));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fast_clock_moves_only_when_every_pods_usage_is_polled() {
    let server = start(&SimConfig {
        step: Some(chrono::Duration::seconds(60)),
        ..SimConfig::default()
    })
    .await;
    let epoch = kubetally::sim::epoch();
    let client = client(&server);
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::all(client.clone());
    pods.list(&Default::default()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(server.sim.clock.now(), epoch, "a pod list does not move it");
    for minute in 1..=3 {
        let usage = kubetally::source::metrics::pod_usage(&client)
            .await
            .unwrap();
        assert_eq!(
            server.sim.clock.now(),
            epoch + chrono::Duration::minutes(minute)
        );
        assert!(
            usage
                .iter()
                .all(|u| u.timestamp == epoch + chrono::Duration::minutes(minute)),
            "the usage is of the new instant"
        );
    }
    stop(server).await;
}
