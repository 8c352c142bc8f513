//! `kubetally report` on a demo dataset, which has disks (claimed,
//! unmounted, released), load balancers and the cluster fee: the invoices
//! add up to what DuckDB finds the cluster cost (nodes + `resources`), the
//! unused-disks section lists exactly the rows DuckDB finds, and a
//! tenant's report names no other tenant's disk or load balancer.
//!
//! (`report.rs`'s weeks have no `resources` files: they are the dataset of
//! a collector older than the table, whose report must stay what it was.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kubetally::analyze::Session;
use kubetally::analyze::report::{
    self, Options, Report, ReportFormat, ShareIdle, ShareShared, Window,
};
use serde_json::Value;

use crate::duckdb::run_duckdb_script;
use crate::query::remove_finished_runs;
use crate::query_cli::kubetally;
use crate::support::small_demo;

const DUCKDB_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/queries_duckdb.py");

/// The demo's three hours, made once per test run.
fn dataset() -> &'static Path {
    static DATASET: OnceLock<PathBuf> = OnceLock::new();
    DATASET.get_or_init(|| {
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        remove_finished_runs(scratch, "report-resources-");
        let root = scratch.join(format!("report-resources-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        small_demo(&root);
        root
    })
}

/// Every hour of the dataset.
fn everything() -> Options {
    Options {
        window: Window::Range {
            from: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
            to: None,
        },
        ..Options::default()
    }
}

fn build(options: &Options) -> Report {
    let mut session = Session::open(dataset()).unwrap();
    report::build(&mut session, options).unwrap()
}

/// The rows DuckDB gives for each (name, SQL), as arrays of values; `None`
/// when DuckDB cannot run here (the caller skips).
fn duckdb(cases: &[(&str, String)]) -> Option<Vec<Vec<Vec<Value>>>> {
    let input: Vec<Value> = cases
        .iter()
        .map(|(name, sql)| serde_json::json!({"name": name, "sql": sql}))
        .collect();
    let input = Value::Array(input).to_string();
    let out = match run_duckdb_script(DUCKDB_SCRIPT, &[dataset().as_os_str()], Some(&input)) {
        Ok(out) => out,
        Err(reason) => {
            eprintln!("SKIP: {reason}");
            return None;
        }
    };
    Some(
        cases
            .iter()
            .map(|(name, _)| {
                assert!(out[name]["error"].is_null(), "{name}: {}", out[name]);
                serde_json::from_value(out[name]["rows"].clone()).unwrap()
            })
            .collect(),
    )
}

/// `WHERE` of the report's period.
fn period(report: &Report) -> String {
    format!(
        "start_time >= '{}' AND start_time < '{}'",
        report.period.start.format("%Y-%m-%d %H:%M:%S"),
        report.period.end.format("%Y-%m-%d %H:%M:%S")
    )
}

fn float(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

#[test]
fn the_invoices_add_up_to_the_nodes_and_resources_duckdb_finds() {
    for (share_shared, share_idle) in [
        (ShareShared::Proportional, ShareIdle::Proportional),
        (ShareShared::Even, ShareIdle::Proportional),
        (ShareShared::None, ShareIdle::None),
    ] {
        let case = format!("{share_shared:?}/{share_idle:?}");
        let report = build(&Options {
            share_shared,
            share_idle,
            ..everything()
        });
        let within = period(&report);
        let Some(rows) = duckdb(&[
            (
                "nodes",
                format!("SELECT SUM(total_cost_usd) FROM nodes WHERE {within}"),
            ),
            (
                "resources",
                format!(
                    "SELECT kind, SUM(cost_usd) FROM resources WHERE {within} GROUP BY kind \
                     ORDER BY kind"
                ),
            ),
        ]) else {
            return;
        };
        let nodes = float(&rows[0][0][0]);
        let by_kind: Vec<(String, f64)> = rows[1]
            .iter()
            .map(|row| (text(&row[0]), float(&row[1])))
            .collect();
        let kinds: Vec<&str> = by_kind.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["cluster_fee", "disk", "load_balancer"], "{case}");
        let kind = |name: &str| by_kind.iter().find(|(k, _)| k == name).map_or(0.0, |k| k.1);
        let resources: f64 = by_kind.iter().map(|(_, usd)| usd).sum();
        assert!(
            nodes > 0.0 && resources > 0.0,
            "{case}: {nodes} {resources}"
        );

        // The reconciliation's parts are DuckDB's sums.
        let cluster = report.reconciliation.cluster.clone().unwrap();
        let cent = |a: f64, b: f64, what: &str| {
            assert!((a - b).abs() < 0.005, "{case}: {what}: {a} != {b}");
        };
        cent(cluster.nodes_usd, nodes, "nodes");
        cent(cluster.disks_usd, kind("disk"), "disks");
        cent(
            cluster.load_balancers_usd,
            kind("load_balancer"),
            "load balancers",
        );
        cent(cluster.cluster_fee_usd, kind("cluster_fee"), "fee");
        cent(cluster.total_usd, nodes + resources, "cluster cost");
        cent(report.total_cost_usd, nodes + resources, "total");
        assert!(report.reconciliation.difference_usd.abs() < 1e-9, "{case}");

        // The invoice rows, remainder rows included, add up to it too, and
        // each row's parts to its total.
        let mut out = Vec::new();
        report::render(&report, ReportFormat::Csv, &mut out).unwrap();
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header, report::INVOICE_COLUMNS, "{case}");
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        let (storage, network, total) = (
            column("storage_cost_usd"),
            column("network_cost_usd"),
            column("total_cost_usd"),
        );
        let (mut sum, mut storage_sum, mut network_sum) = (0.0, 0.0, 0.0);
        for record in reader.records() {
            let record = record.unwrap();
            let value = |i: usize| -> f64 { record[i].parse().unwrap() };
            let parts: f64 = (column("compute_cost_usd")..total).map(value).sum();
            assert!((parts - value(total)).abs() < 1e-9, "{case}: {record:?}");
            sum += value(total);
            storage_sum += value(storage);
            network_sum += value(network);
        }
        cent(sum, nodes + resources, "Σ invoice rows");
        // Tenants' own disks and balancers are some, not all, of them: the
        // rest (released disks, the shared ingress balancer) is shared.
        assert!(storage_sum > 0.0 && storage_sum < kind("disk"), "{case}");
        assert!(
            network_sum > 0.0 && network_sum < kind("load_balancer"),
            "{case}"
        );
        let shared = report.shared_idle.shared_resources.unwrap();
        cent(storage_sum + shared.storage_usd, kind("disk"), "disks");
        cent(
            network_sum + shared.network_usd,
            kind("load_balancer"),
            "balancers",
        );
        cent(shared.fee_usd, kind("cluster_fee"), "the fee is shared");
    }
}

#[test]
fn the_unused_volumes_are_the_disks_duckdb_finds_unmounted_or_released() {
    let report = build(&everything());
    let Some(rows) = duckdb(&[(
        "unused",
        format!(
            "SELECT cluster, resource_name, state, tenant, claim, storage_class, MAX(size_gib), \
             SUM(running_seconds) / 3600, SUM(cost_usd) FROM resources \
             WHERE kind = 'disk' AND state <> 'mounted' AND {} \
             GROUP BY ALL ORDER BY 9 DESC, 1, 2, 3",
            period(&report)
        ),
    )]) else {
        return;
    };
    let expected: Vec<String> = rows[0]
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {} {} {:.3} {:.3} {:.6}",
                text(&r[0]),
                text(&r[1]),
                text(&r[2]),
                text(&r[3]),
                text(&r[4]),
                text(&r[5]),
                float(&r[6]),
                float(&r[7]),
                float(&r[8])
            )
        })
        .collect();
    let listed: Vec<String> = report
        .unused_volumes
        .iter()
        .map(|v| {
            format!(
                "{} {} {} {} {} {} {:.3} {:.3} {:.6}",
                v.cluster,
                v.volume,
                v.state,
                v.tenant,
                v.claim,
                v.storage_class,
                v.size_gib,
                v.hours,
                v.cost_usd
            )
        })
        .collect();
    assert_eq!(listed, expected);
    let states: BTreeSet<&str> = report
        .unused_volumes
        .iter()
        .map(|v| v.state.as_str())
        .collect();
    assert!(
        states.contains("unmounted") && states.contains("released"),
        "{states:?}"
    );
    // Each is in the Markdown and the HTML, with its money.
    for format in [ReportFormat::Markdown, ReportFormat::Html] {
        let mut out = Vec::new();
        report::render(&report, format, &mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(
            page.contains("Unmounted and released volumes"),
            "{format:?}"
        );
        for v in &report.unused_volumes {
            assert!(page.contains(&v.volume), "{format:?}: {}", v.volume);
        }
    }
}

#[test]
fn a_tenants_report_names_no_other_tenants_disks_or_load_balancers() {
    let data = dataset().display().to_string();
    let Some(rows) = duckdb(&[(
        "names",
        "SELECT DISTINCT tenant, resource_name, claim, provider_resource_id FROM resources \
         WHERE kind IN ('disk', 'load_balancer')"
            .to_owned(),
    )]) else {
        return;
    };
    let names_of = |keep: &dyn Fn(&str) -> bool| -> BTreeSet<String> {
        rows[0]
            .iter()
            .filter(|r| keep(&text(&r[0])))
            .flat_map(|r| [text(&r[1]), text(&r[2]), text(&r[3])])
            .filter(|name| !name.is_empty())
            .collect()
    };
    let mut checked = 0;
    for tenant in ["initech", "acme", "stark"] {
        let own = names_of(&|t| t == tenant);
        let others: Vec<String> = names_of(&|t| t != tenant)
            .into_iter()
            .filter(|name| !own.contains(name))
            .collect();
        assert!(!own.is_empty() && !others.is_empty(), "{tenant}");
        for by in ["tenant", "namespace", "workload"] {
            for format in ["md", "html", "csv", "json"] {
                let args = [
                    "report",
                    "--data",
                    &data,
                    "--from",
                    "2000-01-01",
                    "--tenant",
                    tenant,
                    "--by",
                    by,
                    "--format",
                    format,
                ];
                let (code, out, err) = kubetally(&args);
                assert_eq!(code, Some(0), "{args:?}: {err}");
                for other in &others {
                    assert!(
                        !out.contains(other.as_str()),
                        "{args:?} shows {other:?}:\n{out}"
                    );
                }
                checked += 1;
            }
        }
        // The tenant's own unmounted disk is in its report.
        let own_report = build(&Options {
            tenant: Some(tenant.to_owned()),
            ..everything()
        });
        assert!(
            own_report.unused_volumes.iter().all(|v| v.tenant == tenant),
            "{tenant}: {:?}",
            own_report.unused_volumes
        );
        let line = &own_report.groups;
        assert!(
            line.iter()
                .map(|g| g.storage_cost_usd + g.network_cost_usd)
                .sum::<f64>()
                > 0.0,
            "{tenant}: {line:?}"
        );
    }
    assert_eq!(checked, 36);
    let initech = build(&Options {
        tenant: Some("initech".into()),
        ..everything()
    });
    assert!(
        initech
            .unused_volumes
            .iter()
            .any(|v| v.state == "unmounted"),
        "{:?}",
        initech.unused_volumes
    );
}
