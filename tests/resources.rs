//! Disks, load balancers and the cluster fee, end to end: the simulator's
//! generated cluster over HTTP, the collector in-process with round user
//! prices, the `resources` table read back from Parquet.
//!
//! Prices are per GiB-month (730 h) chosen so an hour comes out round:
//! pd-standard 0.73 → 0.001 a GiB-hour, pd-balanced 1.46 → 0.002, gp3
//! 0.365 → 0.0005; a forwarding rule 0.50 an hour, an NLB 0.25, the fee 1.00.

use std::collections::BTreeMap;
use std::path::Path;

use kubetally::allocate::TenantRules;
use kubetally::collect::Collector;
use kubetally::pricing::{PriceBook, PricingOptions, RowOrigin, parse_resources};
use kubetally::sim::{ClusterSpec, SimConfig};

use crate::collect::{
    Row, SPEED, assert_bill_adds_up, assert_close, collect_by, collect_config, number, read, rows,
};
use crate::support::{start, stop};

const RESOURCE_PRICES: &str = "kind,provider,region,sku,capacity_type,unit,usd,as_of,source
disk,gcp,,pd-standard,on_demand,gib_month,0.73,2026-11-01,test
disk,gcp,,pd-balanced,on_demand,gib_month,1.46,2026-11-01,test
disk,aws,,gp3,on_demand,gib_month,0.365,2026-11-01,test
load_balancer,gcp,,forwarding_rule,on_demand,hour,0.5,2026-11-01,test
load_balancer,aws,,nlb,on_demand,hour,0.25,2026-11-01,test
cluster_fee,gcp,,standard,on_demand,hour,1.0,2026-11-01,test
cluster_fee,aws,,standard,on_demand,hour,1.0,2026-11-01,test
";

async fn collect(out: &Path, minutes: i64) {
    let config = SimConfig {
        cluster: ClusterSpec {
            seed: 3,
            ..ClusterSpec::default()
        },
        speed: SPEED,
        ..SimConfig::default()
    };
    let server = start(&config).await;
    let resources = parse_resources(RESOURCE_PRICES, "test", RowOrigin::User).unwrap();
    let book = PriceBook::new(Vec::new(), PricingOptions::default())
        .unwrap()
        .with_resource_rows(resources);
    let config = collect_config(
        out,
        book,
        TenantRules::new(Some("tenant".into())),
        chrono::Duration::minutes(minutes),
    );
    collect_by(&Collector::default(), &server, &config).await;
    stop(server).await;
}

fn find<'a>(rows: &'a [Row], hour: &str, what: impl Fn(&Row) -> bool) -> Vec<&'a Row> {
    rows.iter()
        .filter(|r| r["start_time"] == hour && what(r))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_disk_balancer_and_the_fee_is_charged_by_the_hour_to_whoever_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    collect(dir.path(), 130).await;
    let resources = rows(&read(dir.path(), "resources"));
    let hour = "2026-11-02T00:00:00";
    let one = |what: &dyn Fn(&Row) -> bool, label: &str| -> Row {
        let found = find(&resources, hour, what);
        assert_eq!(found.len(), 1, "{label}: {found:?}\nall: {resources:#?}");
        found[0].clone()
    };

    // A claim bound at once and mounted by nothing: 100 GiB pd-standard,
    // 100 × 0.001 = 0.10 an hour, charged to its tenant and named waste.
    let archive = one(&|r| r["claim"] == "initech/reports-archive", "archive");
    assert_eq!(
        (archive["state"].as_str(), archive["tenant"].as_str()),
        ("unmounted", "initech")
    );
    assert_eq!(archive["sku"], "pd-standard");
    assert_close(
        number(&archive, "running_seconds"),
        3600.0,
        "archive seconds",
    );
    assert_close(number(&archive, "cost_usd"), 0.10, "archive cost");
    assert!(
        archive["provider_resource_id"].starts_with("projects/kubetally-sim/zones/"),
        "{archive:?}"
    );

    // The regional disk of a deleted database: 50 GiB × 0.002 × 2 replicas
    // = 0.20 an hour, cluster overhead.
    let legacy = one(&|r| r["claim"] == "acme/data-postgres-legacy-0", "legacy");
    assert_eq!(
        (
            legacy["state"].as_str(),
            legacy["tenant"].as_str(),
            legacy["namespace"].as_str()
        ),
        ("released", "__shared__", "")
    );
    assert_close(number(&legacy, "cost_usd"), 0.20, "regional released cost");
    assert!(legacy["price_note"].contains("regional"), "{legacy:?}");

    // StatefulSet claims: 20 GiB each, mounted by their pods, charged to
    // their namespace: pd-balanced 0.04 an hour on GCP, gp3 0.01 on AWS.
    let mounted = find(&resources, hour, |r| r["state"] == "mounted");
    assert!(!mounted.is_empty(), "{resources:#?}");
    for disk in &mounted {
        let expected = match disk["sku"].as_str() {
            "pd-balanced" => 0.04,
            "gp3" => 0.01,
            other => panic!("unexpected sku {other}: {disk:?}"),
        };
        assert_close(number(disk, "cost_usd"), expected, &disk["claim"]);
        assert_close(number(disk, "size_gib"), 20.0, "size");
        assert!(!disk["namespace"].is_empty() && disk["tenant"] != "__shared__");
    }
    // Local SSDs are the node's: no row.
    assert!(
        resources
            .iter()
            .all(|r| !r["resource_id"].starts_with("local-pv-")),
        "{resources:#?}"
    );

    // Load balancers with an address (the pending one costs nothing yet):
    // GCP forwarding rules 0.50 an hour, the AWS NLB 0.25.
    let balancers = find(&resources, hour, |r| r["kind"] == "load_balancer");
    let by_name: BTreeMap<String, (String, f64, String)> = balancers
        .iter()
        .map(|r| {
            (
                format!("{}/{}", r["namespace"], r["resource_name"]),
                (r["sku"].clone(), number(r, "cost_usd"), r["tenant"].clone()),
            )
        })
        .collect();
    assert!(!by_name.contains_key("wonka/api-public"), "{by_name:?}");
    assert_eq!(by_name["stark/api-public"].0, "nlb");
    assert_close(by_name["stark/api-public"].1, 0.25, "nlb cost");
    assert_eq!(by_name["globex/api-public"].0, "forwarding_rule");
    assert_close(by_name["globex/api-public"].1, 0.50, "forwarding rule cost");
    assert_eq!(by_name.len(), 4, "{by_name:?}");

    // The cluster fee: 1.00 an hour, shared.
    let fee = one(&|r| r["kind"] == "cluster_fee", "fee");
    assert_eq!(fee["tenant"], "__shared__");
    assert_close(number(&fee, "cost_usd"), 1.0, "fee");

    // Every row of every hour: cost = hourly price × time, within the hour;
    // a disk that existed all of a full hour has 3600 s in its rows.
    for row in &resources {
        assert_close(
            number(row, "cost_usd"),
            number(row, "hourly_usd") * number(row, "running_seconds") / 3600.0,
            &row["resource_id"],
        );
        assert!(number(row, "running_seconds") <= 3600.0 + 1e-6, "{row:?}");
        assert_ne!(row["price_source"], "unpriced", "{row:?}");
    }
    let second = "2026-11-02T01:00:00";
    let mut seconds: BTreeMap<&str, f64> = BTreeMap::new();
    for row in find(&resources, second, |r| r["kind"] == "disk") {
        *seconds.entry(&row["resource_id"]).or_default() += number(row, "running_seconds");
    }
    let first_ids: Vec<&str> = find(&resources, hour, |r| r["kind"] == "disk")
        .iter()
        .map(|r| r["resource_id"].as_str())
        .collect();
    for id in first_ids {
        if let Some(total) = seconds.get(id) {
            assert!(*total <= 3600.0 + 1e-6, "{id}: {total}");
        }
    }

    // Every hour: what containers were charged plus idle is each node's
    // cost, and every resource dollar is charged to a tenant or to shared
    // overhead: a row without a namespace is __shared__, a row with one is
    // its tenant's (this cluster's tenants are namespaces).
    let allocation = rows(&read(dir.path(), "allocation"));
    let nodes = rows(&read(dir.path(), "nodes"));
    assert_bill_adds_up(&allocation, &nodes);
    for row in &resources {
        if row["namespace"].is_empty() {
            assert_eq!(row["tenant"], "__shared__", "{row:?}");
        } else if row["namespace"] != "ingress" && row["namespace"] != "kube-system" {
            assert_eq!(row["tenant"], row["namespace"], "{row:?}");
        }
    }
}
