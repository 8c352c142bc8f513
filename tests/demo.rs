//! `kubetally demo` on the fast clock: the simulated cluster runs as fast as
//! the real collector samples it, a seed reproduces the dataset, and the
//! summary's bill is the dataset's and adds up.

use std::collections::BTreeMap;
use std::path::Path;

use kubetally::sim::SimConfig;

use crate::collect::{number, read, rows};
use crate::support::{client, small_demo, start, stop};

/// Rows per table, and cost per tenant and in total to the cent.
fn fingerprint(out: &Path) -> (BTreeMap<&'static str, usize>, BTreeMap<String, i64>) {
    let tables = ["allocation", "nodes", "resources", "workloads", "samples"]
        .into_iter()
        .map(|table| {
            let count = read(out, table).iter().map(|b| b.num_rows()).sum();
            (table, count)
        })
        .collect();
    let mut cents: BTreeMap<String, f64> = BTreeMap::new();
    let charged = [("allocation", "total_cost_usd"), ("resources", "cost_usd")];
    for (table, column) in charged {
        for row in rows(&read(out, table)) {
            let cost = number(&row, column);
            *cents.entry(row["tenant"].clone()).or_default() += cost;
            *cents.entry("(total)".into()).or_default() += cost;
        }
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

/// The figure after `label` on the line of `output` that starts with
/// `line`: `figure(out, "The cluster cost", "disks")`.
fn figure(output: &str, line: &str, label: &str) -> f64 {
    let text = output
        .lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no line {line:?} in:\n{output}"));
    let after = text
        .split_once(&format!("{label} "))
        .unwrap_or_else(|| panic!("no {label:?} in {text:?}"))
        .1;
    let number = after.split_whitespace().next().unwrap_or_default();
    number
        .parse()
        .unwrap_or_else(|e| panic!("{label} in {text:?}: {number:?}: {e}"))
}

#[test]
fn the_summary_prints_the_clusters_cost_by_part_and_where_it_went() {
    let dir = tempfile::tempdir().unwrap();
    let out = small_demo(dir.path());
    let cost = |label: &str| figure(&out, "The cluster cost", label);
    let bill = |label: &str| figure(&out, "The bill adds up:", label);
    let cluster = cost("cost");
    let parts = cost("nodes") + cost("disks") + cost("balancers") + cost("fee");
    // Each figure is rounded to the cent: four of them to within 2 cents.
    assert!(
        (cluster - parts).abs() <= 0.02,
        "{cluster} != {parts}:\n{out}"
    );
    let charged = bill("tenants") + bill("shared") + bill("idle");
    assert!(
        (cluster - charged).abs() <= 0.02,
        "{cluster} != {charged}:\n{out}"
    );
    // The parts are the dataset's.
    let sum = |table: &str, column: &str, kind: Option<&str>| -> f64 {
        rows(&read(dir.path(), table))
            .iter()
            .filter(|row| kind.is_none_or(|k| row["kind"] == k))
            .map(|row| number(row, column))
            .sum()
    };
    let checks = [
        ("nodes", sum("nodes", "total_cost_usd", None)),
        ("disks", sum("resources", "cost_usd", Some("disk"))),
        (
            "balancers",
            sum("resources", "cost_usd", Some("load_balancer")),
        ),
        ("fee", sum("resources", "cost_usd", Some("cluster_fee"))),
    ];
    for (label, want) in checks {
        assert!(want > 0.0, "the demo has {label}");
        let shown = cost(label);
        assert!(
            (shown - want).abs() <= 0.005,
            "{label}: {shown} != {want}:\n{out}"
        );
    }
    let idle = sum("nodes", "idle_cost_usd", None);
    assert!((bill("idle") - idle).abs() <= 0.005, "idle: {idle}:\n{out}");
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
            .unwrap()
            .items;
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
