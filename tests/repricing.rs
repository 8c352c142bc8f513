//! `--cost effective|billed`: the report, the queries and the FOCUS export
//! re-priced by a reconciled bill add up to that bill, to the cent, for a
//! bill that discounts a VM's cores and RAM apart (GCP) and one that bills
//! resources whole (FOCUS).

use std::path::Path;

use serde_json::Value;

use crate::query_cli::kubetally;

fn ok(args: &[&str]) -> String {
    let (code, out, err) = kubetally(args);
    assert_eq!(code, Some(0), "{args:?}: {err}");
    out
}

/// A demo dataset reconciled with the bill the simulator writes for it in
/// `format`: e2 30 % off, 12 USD of unmetered egress.
fn reconciled(dir: &Path, format: &str) -> String {
    let data = dir.join("data");
    crate::support::small_demo(&data);
    let data = data.display().to_string();
    let bill = dir.join("bill.csv").display().to_string();
    ok(&[
        "sim",
        "bill",
        "--data",
        &data,
        "--format",
        format,
        "--discount",
        "e2=30",
        "--egress-usd",
        "12",
        "-o",
        &bill,
    ]);
    ok(&["reconcile", "--data", &data, "--bill", &bill]);
    data
}

/// One row of a JSON query result.
fn query_row(data: &str, cost: &str, sql: &str) -> Value {
    let out = ok(&[
        "query", "--data", data, "--cost", cost, "--format", "json", sql,
    ]);
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    rows.into_iter().next().unwrap()
}

fn number(value: &Value, key: &str) -> f64 {
    value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} in {value}"))
}

fn report(data: &str, cost: Option<&str>) -> Value {
    let mut args = vec![
        "report", "--data", data, "--last", "1000h", "--format", "json",
    ];
    if let Some(cost) = cost {
        args.extend(["--cost", cost]);
    }
    serde_json::from_str(&ok(&args)).unwrap()
}

#[test]
fn reports_at_the_bills_prices_add_up_to_the_bill_to_the_cent() {
    for format in ["gcp", "focus"] {
        let dir = tempfile::tempdir().unwrap();
        let data = reconciled(dir.path(), format);
        let bill = query_row(
            &data,
            "list",
            "SELECT SUM(effective_cost) AS effective, SUM(billed_cost) AS billed FROM reconciliation",
        );
        for (cost, column) in [
            (None, "effective"),
            (Some("effective"), "effective"),
            (Some("billed"), "billed"),
        ] {
            let r = report(&data, cost);
            assert_eq!(r["cost"]["basis"], column, "{format} {cost:?}");
            assert_eq!(r["cost"]["hours"], r["cost"]["hours_billed"]);
            let total = number(&r["reconciliation"]["cluster"], "total_usd");
            let expected = number(&bill, column);
            assert!(
                (total - expected).abs() < 0.005,
                "{format} {cost:?}: {total} != {expected}"
            );
            assert!(number(&r["reconciliation"], "difference_usd").abs() < 0.005);
            assert!((number(&r["reconciliation"], "unallocated_cost_usd") - 12.0).abs() < 1e-9);
            // The discount shows: the metered part costs less than at list.
            let metered = total - 12.0;
            let list = number(
                &report(&data, Some("list"))["reconciliation"]["cluster"],
                "total_usd",
            );
            if column == "effective" {
                assert!(metered < list * 0.95, "{format}: {metered} vs list {list}");
            }
        }
        let list = report(&data, Some("list"));
        assert_eq!(list["cost"]["basis"], "list");
        assert_eq!(
            number(&list["reconciliation"]["cluster"], "unallocated_usd"),
            0.0
        );
    }
}

#[test]
fn queries_and_the_focus_export_read_the_bills_prices() {
    let dir = tempfile::tempdir().unwrap();
    let data = reconciled(dir.path(), "gcp");
    let nodes = "SELECT SUM(total_cost_usd) AS usd FROM nodes";
    let billed_nodes = query_row(
        &data,
        "list",
        "SELECT SUM(effective_cost) AS usd FROM reconciliation WHERE kind = 'node'",
    );
    let effective = number(&query_row(&data, "effective", nodes), "usd");
    assert!(
        (effective - number(&billed_nodes, "usd")).abs() < 1e-6,
        "{effective}"
    );
    let list = number(&query_row(&data, "list", nodes), "usd");
    assert!(effective < list * 0.95, "{effective} vs {list}");
    // The cluster's metered dollars the bill re-prices: what the export holds.
    let metered = number(
        &query_row(
            &data,
            "list",
            "SELECT SUM(effective_cost) AS usd FROM reconciliation WHERE status <> 'unallocated'",
        ),
        "usd",
    );
    let chargeback: Vec<Value> = serde_json::from_str(&ok(&[
        "query",
        "--data",
        &data,
        "--format",
        "json",
        "-n",
        "chargeback_by_tenant",
    ]))
    .unwrap();
    let chargeback = chargeback
        .iter()
        .find(|l| l["line"] == "total")
        .map(|l| number(l, "cost_usd"))
        .unwrap();
    assert!(
        (chargeback - metered).abs() < 1e-6,
        "{chargeback} != {metered}"
    );
    let file = dir.path().join("focus.csv");
    ok(&[
        "export",
        "focus",
        "--data",
        &data,
        "-o",
        &file.display().to_string(),
    ]);
    let mut reader = csv::Reader::from_path(&file).unwrap();
    let rows: Vec<std::collections::BTreeMap<String, String>> =
        reader.deserialize().map(Result::unwrap).collect();
    let sum =
        |column: &str| -> f64 { rows.iter().map(|r| r[column].parse::<f64>().unwrap()).sum() };
    assert!((sum("EffectiveCost") - metered).abs() < 1e-6);
    assert!(sum("EffectiveCost") < sum("ListCost") * 0.95);
    assert!(rows.iter().all(|r| r["x_CostBasis"] == "effective"));
}

#[test]
fn bill_prices_without_a_bill_or_an_unknown_cost_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    crate::support::small_demo(&data);
    let data = data.display().to_string();
    let (code, _, err) = kubetally(&["report", "--data", &data, "--cost", "billed"]);
    assert_eq!(code, Some(2));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--cost billed: no reconciliation in"), "{err}");
    let (code, _, err) = kubetally(&["query", "--data", &data, "--cost", "cheap", "SELECT 1"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err.trim(),
        "error: --cost: unknown cost basis \"cheap\": expected list, effective or billed"
    );
    // Without a reconciliation the default is list, and says so.
    let r = report(&data, None);
    assert_eq!(r["cost"]["basis"], "list");
}
