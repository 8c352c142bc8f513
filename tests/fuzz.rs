//! Every parser of outside input against arbitrary bytes and against
//! mutated valid input: it answers a value or an error, never panics, and
//! an error names where it is. `PROPTEST_CASES` raises the case count (the
//! extended CI run does); a failure found becomes a regression case in
//! `tests/fuzz.proptest-regressions`.

use proptest::prelude::*;
use proptest::test_runner::Config;

use kubetally::allocate::parse_tenant_map;
use kubetally::analyze::{QueryFile, parse_param};
use kubetally::pricing::parse_pricing_file;
use kubetally::sim::FaultSpec;
use kubetally::sim::scenario::Scenario;
use kubetally::source::metrics::{go_duration_seconds, node_usage_from, pod_usage_from};
use kubetally::store::Target;

/// Cases each property runs in `cargo test` unless `PROPTEST_CASES` says more.
const CASES: u32 = 2_000;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CASES);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Text as a parser sees a file: arbitrary bytes, read lossily as UTF-8.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 0..400)
        .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// `valid` with one byte range replaced by arbitrary text.
fn mutated(valid: &'static str) -> impl Strategy<Value = String> {
    (0..=valid.len(), 0..8_usize, text()).prop_map(move |(at, len, insert)| {
        let at = floor_boundary(valid, at);
        let end = floor_boundary(valid, (at + len).min(valid.len()));
        let insert = &insert[..floor_boundary(&insert, insert.len().min(12))];
        format!("{}{insert}{}", &valid[..at], &valid[end..])
    })
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

const CATALOG: &str = "provider,region,machine_family,machine_type,capacity_type,vcpu_hour_usd,memory_gib_hour_usd,as_of
gcp,us-central1,e2,,on_demand,0.02,0.004,2026-11-01
gcp,us-central1,e2,,spot,0.006,0.001,2026-11-01
";

const RESOURCES: &str = "kind,provider,region,sku,capacity_type,unit,usd,as_of,source
disk,gcp,,pd-ssd,on_demand,gib_month,0.17,2026-11-01,test
load_balancer,aws,us-east-1,nlb,on_demand,hour,0.0225,,test
";

const PODS: &str = r#"{"kind":"PodMetricsList","items":[{"metadata":{"name":"api-1","namespace":"shop"},"timestamp":"2026-11-02T00:01:00Z","window":"30s","containers":[{"name":"app","usage":{"cpu":"250m","memory":"64Mi"}}]}]}"#;

const NODES: &str = r#"{"items":[{"metadata":{"name":"n1"},"timestamp":"2026-11-02T00:01:00Z","window":"20s","usage":{"cpu":"1500m","memory":"3Gi"}}]}"#;

const QUERY: &str = "-- name: by_tenant
-- description: cost by tenant
-- param: from (date) first day
SELECT tenant, SUM(total_cost_usd) FROM allocation WHERE date >= '{{from}}' GROUP BY tenant
";

const SCENARIO: &str = r#"{"nodes": [{"name": "n1", "machine_type": "e2-standard-4", "vcpus": 4, "memory_gib": 16}],
 "pods": [{"namespace": "shop", "name": "api-1", "node": "n1",
   "containers": [{"name": "api", "cpu_request": "1", "memory_request": "2Gi", "cpu_usage": "500m", "memory_usage": "1Gi"}]}]}"#;

/// A CSV parser's error names the line it failed on.
fn names_a_line(message: &str) -> bool {
    message.contains("line ")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pricing_files_never_panic_and_errors_name_a_line(input in prop_oneof![text(), mutated(CATALOG), mutated(RESOURCES)]) {
        if let Err(error) = parse_pricing_file(&input, "fuzz.csv") {
            let message = format!("{error:#}");
            prop_assert!(message.contains("fuzz.csv"), "{message}");
            prop_assert!(names_a_line(&message) || message.contains("header") || message.contains("empty"), "{message}");
        }
    }

    #[test]
    fn metrics_bodies_never_panic_and_bill_nothing_negative(input in prop_oneof![text(), mutated(PODS), mutated(NODES)]) {
        if let Ok(listed) = pod_usage_from(&input) {
            for pod in &listed.items {
                prop_assert!(pod.window_seconds >= 0.0);
                for container in &pod.containers {
                    prop_assert!(container.cpu_cores >= 0.0 && container.memory_bytes >= 0);
                }
            }
        }
        if let Ok(listed) = node_usage_from(&input) {
            for node in &listed.items {
                prop_assert!(node.cpu_cores >= 0.0 && node.memory_bytes >= 0 && node.window_seconds >= 0.0);
            }
        }
    }

    #[test]
    fn go_durations_never_panic(input in prop_oneof![text(), "[0-9.]{0,6}(h|m|s|ms|us|ns){0,1}[0-9]{0,3}s?"]) {
        if let Some(seconds) = go_duration_seconds(&input) {
            prop_assert!(seconds.is_finite() || input.len() > 300);
        }
    }

    #[test]
    fn fault_specs_never_panic(input in prop_oneof![text(), mutated("list=5%:503,metrics=10%:429,cut=20s,gone=30%,slow=10%:2s,metrics-down=10m/6h")]) {
        let _ = input.parse::<FaultSpec>();
    }

    #[test]
    fn query_files_and_params_never_panic(input in prop_oneof![text(), mutated(QUERY)], param in prop_oneof![text(), mutated("from=2026-11-01")]) {
        let _ = QueryFile::parse(&input);
        let _ = parse_param(&param);
    }

    #[test]
    fn tenant_maps_never_panic_and_errors_name_the_file(input in prop_oneof![text(), mutated("shop-* = acme\n# comment\nlab = research\n")]) {
        if let Err(error) = parse_tenant_map(&input, "tenants.txt") {
            prop_assert!(error.to_string().contains("tenants.txt"), "{error}");
        }
    }

    #[test]
    fn scenarios_never_panic(input in prop_oneof![text(), mutated(SCENARIO)]) {
        let _ = Scenario::parse(&input, "fuzz.json");
    }

    #[test]
    fn dataset_targets_never_panic(input in prop_oneof![text(), mutated("s3://bucket/prefix"), mutated("gs://b/p"), mutated("/var/lib/kubetally")]) {
        let _ = Target::parse(&input);
    }
}
