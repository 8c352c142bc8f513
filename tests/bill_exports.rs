//! Every real billing sample in `../shared/billing/` read by `bill`: bills
//! parse with their row count and format, and their billed and effective
//! totals equal an independent computation (`tests/bill_totals.py`, DuckDB's
//! own CSV reader and each export's rule in SQL); files that are not bills
//! are refused as such. Nothing is copied into the repository: the samples
//! are read where they are, and the tests print SKIP when they are absent.

use std::path::{Path, PathBuf};

use kubetally::bill::{Bill, BillError, Format, FormatChoice, Problem};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/billing");

/// What reading a sample must give.
enum Expect {
    /// A bill: rows, format, Σ billed, Σ effective.
    Bill(usize, Format, f64, f64),
    /// Not a bill: refused with `UnknownFormat`.
    NotABill,
    /// A bill with a defect upstream: refused at (line, column, problem).
    Defect(u64, &'static str, Problem),
}

use Expect::*;

/// Figures of bills from `python3 tests/bill_totals.py`.
const TABLE: &[(&str, Expect)] = &[
    ("README.md", NotABill),
    (
        "finops-toolkit-azure/EA_ActualCost_Small.csv",
        Bill(11, Format::Azure, 8.545007786741936, 5.2950077867419365),
    ),
    (
        "finops-toolkit-azure/EA_AmortizedCost_Small.csv",
        Bill(28, Format::Azure, 15.797780136168644, 16.296932136636645),
    ),
    // Microsoft's FOCUS dataset metadata (column descriptions), not a bill.
    ("finops-toolkit-azure/FocusCost_1.0.json", NotABill),
    ("finops-toolkit-azure/FocusCost_1.2-preview.json", NotABill),
    ("finops-toolkit-azure/PricingUnits.csv", NotABill),
    ("finops-toolkit-azure/LICENSE_upstream", NotABill),
    ("finops-toolkit-azure/PROVENANCE.md", NotABill),
    ("focus-converters/LICENSE_upstream", NotABill),
    ("focus-converters/PROVENANCE.md", NotABill),
    ("focus-converters/conversion_rules_aws-cur.csv", NotABill),
    ("focus-converters/conversion_rules_aws.csv", NotABill),
    ("focus-converters/conversion_rules_azure.csv", NotABill),
    ("focus-converters/conversion_rules_gcp.csv", NotABill),
    (
        "focus-converters/sample-anonymous-aws-export-dataset.csv.gz",
        Bill(
            1281,
            Format::AwsCurLegacy,
            1.6823086974000028,
            1.6823086974000028,
        ),
    ),
    (
        "focus-converters/sample-anonymous-ea-export-dataset.csv",
        Bill(27, Format::Azure, 1.26136926505726, 1.26136926505726),
    ),
    (
        "focus-data-toolkit-1.3-synthetic/CC-BY-4.0_upstream.txt",
        NotABill,
    ),
    (
        "focus-data-toolkit-1.3-synthetic/LICENSE_upstream",
        NotABill,
    ),
    ("focus-data-toolkit-1.3-synthetic/NOTICE_upstream", NotABill),
    ("focus-data-toolkit-1.3-synthetic/PROVENANCE.md", NotABill),
    (
        "focus-data-toolkit-1.3-synthetic/allocatedmethoddetailsobjectschema.json",
        NotABill,
    ),
    (
        "focus-data-toolkit-1.3-synthetic/aws_1_3_cost_and_usage_rows100_seed42.csv",
        Bill(100, Format::Focus, 1242.1156191148602, 215.67890111486057),
    ),
    (
        "focus-data-toolkit-1.3-synthetic/azure_1_3_cost_and_usage_rows100_seed42.csv",
        Bill(100, Format::Focus, 4697.144675872276, 3322.307971872275),
    ),
    // The FOCUS 1.3 contract commitment dataset: commitments, not charges.
    (
        "focus-data-toolkit-1.3-synthetic/gcp_1_3_contract_commitment_rows100_seed42.csv",
        NotABill,
    ),
    (
        "focus-data-toolkit-1.3-synthetic/gcp_1_3_cost_and_usage_rows100_seed42.csv",
        Bill(100, Format::Focus, 1587.8199305302603, 717.1975275302598),
    ),
    // Split-allocation oracles without charge periods: not bills.
    (
        "focus-data-toolkit-1.3-synthetic/scenarios_sca_equal.csv",
        NotABill,
    ),
    (
        "focus-data-toolkit-1.3-synthetic/scenarios_sca_negative.csv",
        NotABill,
    ),
    (
        "focus-data-toolkit-1.3-synthetic/scenarios_sca_weighted.csv",
        NotABill,
    ),
    ("focus-sample-data-1.0/PROVENANCE.md", NotABill),
    ("focus-sample-data-1.0/README_upstream.md", NotABill),
    ("focus-sample-data-1.0/license_upstream.md", NotABill),
    (
        "focus-sample-data-1.0/focus_sample.csv.gz",
        Bill(1000, Format::Focus, 20.52022672899003, 14.976514185860003),
    ),
    ("focus-spec-1.2-examples/PROVENANCE.md", NotABill),
    ("focus-spec-1.2-examples/license_upstream.md", NotABill),
    (
        "focus-spec-1.2-examples/commitment_discount_flexibility/one_hundred_percent_utilization_with_commitment_discount_flexibility_with_1_resource.csv",
        // 0.50 purchase + 0.00 committed + 2.25 on demand; effective 0 + 0.50 + 2.25.
        Bill(3, Format::Focus, 2.75, 2.75),
    ),
    (
        "focus-spec-1.2-examples/commitment_discount_flexibility/one_hundred_percent_utilization_with_commitment_discount_flexibility_with_2_resources.csv",
        Bill(3, Format::Focus, 2.0, 2.0),
    ),
    (
        "focus-spec-1.2-examples/commitment_discount_flexibility/one_hundred_percent_utilization_without_commitment_discount_flexibility.csv",
        Bill(2, Format::Focus, 1.5, 1.5),
    ),
    (
        "focus-spec-1.2-examples/commitment_discount_flexibility/zero_percent_utilization_without_commitment_discount_flexibility.csv",
        Bill(3, Format::Focus, 3.5, 3.5),
    ),
    (
        "focus-spec-1.2-examples/commitment_discount_scenarios/commitment_discount_purchase_scenario_1.csv",
        Bill(1, Format::Focus, 8760.0, 0.0),
    ),
    // The spec's own example writes hour 30 ("2023-02-01T30:00:00Z") on its
    // third row: refused where it is, not guessed.
    (
        "focus-spec-1.2-examples/commitment_discount_scenarios/commitment_discount_purchase_scenario_2.csv",
        Defect(3, "ChargePeriodEnd", Problem::NotADate),
    ),
    (
        "focus-spec-1.2-examples/commitment_discount_scenarios/commitment_discount_purchase_scenario_3.csv",
        Defect(4, "ChargePeriodEnd", Problem::NotADate),
    ),
    (
        "focus-spec-1.2-examples/commitment_discount_scenarios/commitment_discount_usage_scenario_1.csv",
        Bill(1, Format::Focus, 0.0, 1.0),
    ),
    (
        "focus-spec-1.2-examples/commitment_discount_scenarios/commitment_discount_usage_scenario_2.csv",
        Bill(1, Format::Focus, 0.0, 1.0),
    ),
    (
        "focus-spec-1.2-examples/commitment_discount_scenarios/commitment_discount_usage_scenario_3.csv",
        Bill(2, Format::Focus, 0.0, 1.0),
    ),
    (
        "focus-spec-1.2-examples/commitment_discount_scenarios/commitment_discount_usage_scenario_4.csv",
        Bill(2, Format::Focus, 0.5, 1.5),
    ),
    (
        "koku-billing-fixtures/LICENSE_upstream_Apache-2.0.txt",
        NotABill,
    ),
    ("koku-billing-fixtures/PROVENANCE.md", NotABill),
    (
        "koku-billing-fixtures/aws/2022-07-01-alt-columns.csv",
        Bill(2, Format::AwsCur2, 0.0, 0.0),
    ),
    (
        "koku-billing-fixtures/aws/2023-06-01.csv",
        // Three savings-plan-covered hours: unblended 10 each, effective 0.1 each.
        Bill(3, Format::AwsCurLegacy, 30.0, 0.30000000000000004),
    ),
    (
        "koku-billing-fixtures/azure/azure_version_2.csv",
        Bill(5, Format::Azure, 19.998413753999998, 19.998413753999998),
    ),
    (
        "koku-billing-fixtures/gcp/202011_30c31bca571d9b7f3b2c8459dd8bc34a_2020-11-08_2020-11-11.csv",
        // Every cost is cancelled by a PROMOTION credit.
        Bill(25, Format::Gcp, 3.2e-05, 0.0),
    ),
    (
        "koku-billing-fixtures/gcp/2022-08-01_5.csv",
        Bill(9, Format::Gcp, 1.2e-05, 1.2e-05),
    ),
    ("opencost-azure-billingexports/LICENSE_upstream", NotABill),
    ("opencost-azure-billingexports/PROVENANCE.md", NotABill),
    // Header variants, each one row (BOM.csv's row is empty but its date).
    (
        "opencost-azure-billingexports/headersets/BOM.csv",
        Bill(1, Format::Azure, 0.0, 0.0),
    ),
    (
        "opencost-azure-billingexports/headersets/Enterprise.csv",
        Bill(1, Format::Azure, 0.0, 0.0),
    ),
    (
        "opencost-azure-billingexports/headersets/EnterpriseCamel.csv",
        Bill(1, Format::Azure, 0.012, 0.012),
    ),
    (
        "opencost-azure-billingexports/headersets/German.csv",
        Bill(1, Format::Azure, 0.075, 0.075),
    ),
    (
        "opencost-azure-billingexports/headersets/PayAsYouGo.csv",
        Bill(1, Format::Azure, 0.075, 0.075),
    ),
    (
        "opencost-azure-billingexports/headersets/YA.csv",
        Bill(1, Format::Azure, 0.075, 0.075),
    ),
    (
        "opencost-azure-billingexports/values/MissingBrackets.csv",
        Bill(1, Format::Azure, 4.0, 4.0),
    ),
    (
        "opencost-azure-billingexports/values/Template.csv",
        Bill(87, Format::Azure, TEMPLATE_COST, TEMPLATE_COST),
    ),
    (
        "opencost-azure-billingexports/values/VirtualMachine.csv",
        Bill(1, Format::Azure, 4.0, 4.0),
    ),
];

/// Σ costinbillingcurrency of Template.csv (DuckDB, `bill_totals.py`).
const TEMPLATE_COST: f64 = 16.393506212224395;

fn samples() -> Option<&'static Path> {
    let root = Path::new(SAMPLES);
    if root.is_dir() {
        Some(root)
    } else {
        println!(
            "SKIP: {SAMPLES} is absent (the shared billing samples live outside the repository)"
        );
        None
    }
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

#[test]
fn every_sample_is_read_or_refused_as_expected() {
    let Some(root) = samples() else { return };
    let mut failures = Vec::new();
    for (name, expect) in TABLE {
        let path = root.join(name);
        let mut bill = Bill::default();
        let result = bill.read_path(&path, FormatChoice::Auto).cloned();
        match (expect, result) {
            (Bill(rows, format, billed, effective), Ok(file)) => {
                let totals = bill.totals(file.lines.clone());
                if file.lines.len() != *rows
                    || file.format != *format
                    || !close(totals.billed_cost, *billed)
                    || !close(totals.effective_cost, *effective)
                {
                    failures.push(format!(
                        "{name}: read {} rows as {} (billed {}, effective {}); expected {rows} as {format} ({billed}, {effective})",
                        file.lines.len(),
                        file.format,
                        totals.billed_cost,
                        totals.effective_cost
                    ));
                }
            }
            (NotABill, Err(BillError::UnknownFormat { .. })) => {}
            (
                Defect(line, column, problem),
                Err(BillError::BadValue {
                    line: l,
                    column: c,
                    problem: p,
                    ..
                }),
            ) if *line == l && c == *column && *problem == p => {}
            (_, Err(error)) => failures.push(format!("{name}: {error:#}")),
            (_, Ok(file)) => failures.push(format!(
                "{name}: read as {} but must be refused",
                file.format
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_table_covers_every_sample_file() {
    let Some(root) = samples() else { return };
    let mut files = Vec::new();
    all_files(root, &mut files);
    let listed: Vec<PathBuf> = TABLE.iter().map(|(name, _)| root.join(name)).collect();
    let missing: Vec<_> = files.iter().filter(|f| !listed.contains(f)).collect();
    assert!(
        missing.is_empty(),
        "samples without an expectation: {missing:?}"
    );
}
