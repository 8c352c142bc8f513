use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::store::{ReconciliationRow, ReconciliationRun, parquet_bytes, reconciliation_batch};

/// Hour `h` of 2026-11-02 (24 is the next midnight).
fn hour(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + chrono::Duration::hours(h.into())
}

fn ms(h: u32) -> i64 {
    hour(h).timestamp_millis()
}

/// A row of `kind`/`id`/`part` for the hour starting at `h`.
fn row(
    h: u32,
    status: &'static str,
    kind: &'static str,
    part: &'static str,
    id: &str,
) -> ReconciliationRow {
    ReconciliationRow {
        start_time: hour(h),
        end_time: hour(h + 1),
        status,
        kind,
        part,
        resource_id: id.to_owned(),
        provider_resource_id: String::new(),
        provider: "gcp".into(),
        service: String::new(),
        sku: String::new(),
        currency: "USD".into(),
        list_cost_usd: None,
        billed_cost: 0.0,
        effective_cost: 0.0,
        bill_list_cost: None,
        matched_lines: 0,
        billed_factor: None,
        effective_factor: None,
    }
}

/// `row` matched: list, billed and effective costs, the factors from them.
fn priced(mut r: ReconciliationRow, list: f64, billed: f64, effective: f64) -> ReconciliationRow {
    r.list_cost_usd = Some(list);
    r.billed_cost = billed;
    r.effective_cost = effective;
    if list > 0.0 {
        r.billed_factor = Some(billed / list);
        r.effective_factor = Some(effective / list);
    }
    r
}

fn dataset(rows: &[ReconciliationRow]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir
        .path()
        .join("reconciliation/cluster=prod/date=2026-11-02");
    std::fs::create_dir_all(&folder).unwrap();
    let run = ReconciliationRun {
        generated_at: hour(23),
        bill: "bill.csv",
    };
    let batch = reconciliation_batch(&run, rows).unwrap();
    let bytes = parquet_bytes(&RECONCILIATION, &batch).unwrap();
    std::fs::write(folder.join("part-00-reconcile-0000.parquet"), bytes).unwrap();
    dir
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn a_node_billed_whole_has_one_factor_in_every_part() {
    let dir = dataset(&[priced(
        row(3, "matched", "node", "all", "n1"),
        2.0,
        1.8,
        1.4,
    )]);
    let factors = Factors::open(dir.path(), None).unwrap();
    assert_eq!(factors.basis(), CostBasis::Effective);
    let f = factors.of("prod", "node", "n1", ms(3)).unwrap();
    assert!(
        [f.cpu, f.memory, f.gpu, f.whole]
            .iter()
            .all(|x| close(*x, 0.7))
    );
    let billed = Factors::open(dir.path(), Some(CostBasis::Billed)).unwrap();
    assert!(close(
        billed.of("prod", "node", "n1", ms(3)).unwrap().cpu,
        0.9
    ));
}

#[test]
fn hours_outside_the_bill_and_other_resources_have_none() {
    let dir = dataset(&[priced(
        row(3, "matched", "node", "all", "n1"),
        2.0,
        1.8,
        1.4,
    )]);
    let factors = Factors::open(dir.path(), None).unwrap();
    assert!(factors.of("prod", "node", "n1", ms(4)).is_none());
    assert!(factors.of("prod", "node", "n1", ms(2)).is_none());
    assert!(factors.of("prod", "node", "n2", ms(3)).is_none());
    assert!(factors.of("staging", "node", "n1", ms(3)).is_none());
    assert!(factors.covers("prod", ms(3)) && !factors.covers("prod", ms(4)));
}

#[test]
fn a_gcp_vm_has_a_factor_per_part_and_a_blend_for_the_whole() {
    let dir = dataset(&[
        priced(row(3, "matched", "node", "cpu", "n1"), 3.0, 3.0, 1.5),
        priced(row(3, "matched", "node", "memory", "n1"), 1.0, 1.0, 1.0),
    ]);
    let f = Factors::open(dir.path(), None)
        .unwrap()
        .of("prod", "node", "n1", ms(3))
        .unwrap();
    assert!(close(f.cpu, 0.5) && close(f.memory, 1.0) && close(f.gpu, 0.0));
    assert!(close(f.whole, 2.5 / 4.0));
}

#[test]
fn not_billed_costs_nothing_and_is_counted() {
    let mut unbilled = row(3, "not_billed", "disk", "all", "pv-1");
    unbilled.list_cost_usd = Some(0.5);
    let dir = dataset(&[unbilled]);
    let factors = Factors::open(dir.path(), None).unwrap();
    assert_eq!(
        factors.of("prod", "disk", "pv-1", ms(3)).unwrap().whole,
        0.0
    );
    let coverage = factors.coverage(ms(0), ms(24));
    assert_eq!((coverage.not_billed, coverage.not_billed_list), (1, 0.5));
}

#[test]
fn money_no_list_dollar_carries_is_unallocated_and_the_total_adds_up() {
    let mut egress = row(3, "unallocated", "unallocated", "", "");
    egress.service = "Networking".into();
    egress.sku = "Egress".into();
    egress.effective_cost = 0.25;
    egress.billed_cost = 0.25;
    let dir = dataset(&[
        priced(row(3, "matched", "node", "cpu", "n1"), 3.0, 3.0, 1.5),
        priced(row(3, "matched", "node", "other", "n1"), 0.0, 0.1, 0.1),
        egress,
    ]);
    let factors = Factors::open(dir.path(), None).unwrap();
    let unallocated: Vec<f64> = factors.unallocated(ms(0), ms(24)).map(|u| u.cost).collect();
    assert_eq!(unallocated.len(), 2);
    assert!(close(unallocated.iter().sum(), 0.35));
    let coverage = factors.coverage(ms(0), ms(24));
    assert!(close(coverage.bill_total, 1.85));
    assert!(close(coverage.matched, 1.5));
    // A window without the hour sees none of it.
    assert_eq!(factors.coverage(ms(4), ms(24)), Coverage::default());
}

#[test]
fn a_daily_row_covers_each_hour_of_its_day() {
    let mut day = priced(row(0, "matched", "node", "all", "n1"), 24.0, 12.0, 12.0);
    day.end_time = day.start_time + chrono::Duration::days(1);
    let dir = dataset(&[day]);
    let factors = Factors::open(dir.path(), None).unwrap();
    assert!(close(
        factors.of("prod", "node", "n1", ms(23)).unwrap().whole,
        0.5
    ));
    assert_eq!(factors.hours().count(), 24);
}

#[test]
fn list_or_no_reconciliation_reprices_nothing() {
    let empty = tempfile::tempdir().unwrap();
    let factors = Factors::open(empty.path(), None).unwrap();
    assert!(!factors.repricing());
    assert_eq!(factors.basis(), CostBasis::List);
    let dir = dataset(&[priced(
        row(3, "matched", "node", "all", "n1"),
        2.0,
        1.8,
        1.4,
    )]);
    assert!(
        !Factors::open(dir.path(), Some(CostBasis::List))
            .unwrap()
            .repricing()
    );
}

#[test]
fn asking_for_bill_prices_without_a_reconciliation_is_an_error() {
    let empty = tempfile::tempdir().unwrap();
    let error = Factors::open(empty.path(), Some(CostBasis::Billed))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("--cost billed: no reconciliation in"),
        "{error}"
    );
    assert!(
        error.ends_with("run kubetally reconcile first, or use --cost list"),
        "{error}"
    );
}

#[test]
fn a_bill_in_another_currency_is_refused_or_left_at_list() {
    let mut r = priced(row(3, "matched", "node", "all", "n1"), 2.0, 1.8, 1.4);
    r.currency = "EUR".into();
    r.effective_factor = None;
    r.billed_factor = None;
    let dir = dataset(&[r]);
    let error = Factors::open(dir.path(), Some(CostBasis::Effective))
        .unwrap_err()
        .to_string();
    assert!(error.contains("is in EUR"), "{error}");
    assert!(!Factors::open(dir.path(), None).unwrap().repricing());
}

#[test]
fn cost_bases_parse_and_unknown_ones_are_named() {
    assert_eq!(CostBasis::parse("billed"), Ok(CostBasis::Billed));
    assert_eq!(
        CostBasis::parse("cheap").unwrap_err(),
        "unknown cost basis \"cheap\": expected list, effective or billed"
    );
}
