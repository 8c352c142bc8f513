//! `kubetally reconcile` end to end: a demo dataset, the bill the
//! simulator says its cluster would get (`kubetally sim bill`), and the
//! reconciliation table read back: factors equal the discounts, matched +
//! unallocated add up to the bill, a rerun replaces; real samples of other
//! clusters match nothing; bad bills are one error line and exit 2.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use kubetally::bill::{Bill, FormatChoice};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::query_cli::kubetally;
use crate::support::small_demo;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/billing");

/// One reconciliation row, as the test reads it.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    status: String,
    kind: String,
    part: String,
    resource_id: String,
    sku: String,
    effective_cost: f64,
    matched_lines: i64,
    effective_factor: Option<f64>,
}

fn text(batch: &RecordBatch, name: &str) -> Vec<String> {
    let column = cast(batch.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
    let strings = column.as_string::<i32>();
    (0..strings.len())
        .map(|i| strings.value(i).to_owned())
        .collect()
}

fn table_files(data: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![data.join("reconciliation")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn rows(data: &Path) -> Vec<Row> {
    let mut out = Vec::new();
    for path in table_files(data) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let (status, kind, part, id, sku) = (
                text(&batch, "status"),
                text(&batch, "kind"),
                text(&batch, "part"),
                text(&batch, "resource_id"),
                text(&batch, "sku"),
            );
            let effective = batch.column_by_name("effective_cost").unwrap();
            let effective = effective.as_primitive::<Float64Type>();
            let lines = batch.column_by_name("matched_lines").unwrap();
            let lines = lines.as_primitive::<Int64Type>();
            let factor = batch.column_by_name("effective_factor").unwrap();
            let factor = factor.as_primitive::<Float64Type>();
            for i in 0..batch.num_rows() {
                out.push(Row {
                    status: status[i].clone(),
                    kind: kind[i].clone(),
                    part: part[i].clone(),
                    resource_id: id[i].clone(),
                    sku: sku[i].clone(),
                    effective_cost: effective.value(i),
                    matched_lines: lines.value(i),
                    effective_factor: factor.is_valid(i).then(|| factor.value(i)),
                });
            }
        }
    }
    out
}

fn sim_bill(data: &Path, format: &str, out: &Path) {
    let (code, _, err) = kubetally(&[
        "sim",
        "bill",
        "--data",
        &data.display().to_string(),
        "--format",
        format,
        "--discount",
        "e2=30",
        "--sustained-use",
        "z9=20",
        "--egress-usd",
        "12",
        "-o",
        &out.display().to_string(),
    ]);
    assert_eq!(code, Some(0), "{err}");
}

fn reconcile(data: &Path, bill: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let data = data.display().to_string();
    let bill = bill.display().to_string();
    let mut args = vec!["reconcile", "--data", &data, "--bill", &bill];
    args.extend_from_slice(extra);
    kubetally(&args)
}

#[test]
fn a_simulated_bill_reconciles_to_its_discounts_and_adds_up_to_the_cent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_demo(&data);
    for format in ["gcp", "focus"] {
        let bill_path = dir.path().join(format!("{format}.csv"));
        sim_bill(&data, format, &bill_path);
        let (code, out, err) = reconcile(&data, &bill_path, &[]);
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains("0 ignored"), "{out}");
        // GCP's export bills GCP resources; the cluster's one AWS balancer
        // (the simulator's mixed cluster) is absent from it, not from FOCUS.
        let absent = match format {
            "gcp" => "Metered but absent from the bill: 1 resource, list 0.07 USD (load_balancer",
            _ => "Metered but absent from the bill: none",
        };
        assert!(out.contains(absent), "{out}");
        let first = rows(&data);
        // Per node (and per GCP part of it), effective ÷ list is the discount.
        let nodes: Vec<&Row> = first.iter().filter(|r| r.kind == "node").collect();
        assert!(nodes.len() >= 6 * 4, "{format}: {} node rows", nodes.len());
        for row in &nodes {
            assert_eq!(row.status, "matched", "{row:?}");
            let expected = if row.resource_id.starts_with("gke-lab") {
                0.8
            } else {
                0.7
            };
            let factor = row.effective_factor.unwrap();
            assert!((factor - expected).abs() < 1e-6, "{format}: {row:?}");
            if format == "gcp" {
                assert!(["cpu", "memory"].contains(&row.part.as_str()), "{row:?}");
            }
        }
        // Matched + unallocated = the bill's effective total, to the cent.
        let mut bill = Bill::default();
        bill.read_path(&bill_path, FormatChoice::Auto).unwrap();
        let total = bill.totals(0..bill.lines.len()).effective_cost;
        let reconciled: f64 = first.iter().map(|r| r.effective_cost).sum();
        assert!(
            (reconciled - total).abs() < 0.005,
            "{reconciled} vs {total}"
        );
        // The unmetered egress line is the cluster's unallocated cost.
        let unallocated: Vec<&Row> = first.iter().filter(|r| r.status == "unallocated").collect();
        assert_eq!(unallocated.len(), 1, "{unallocated:?}");
        assert!(unallocated[0].sku.contains("Internet Data Transfer Out"));
        assert!((unallocated[0].effective_cost - 12.0).abs() < 1e-9);
        // Reconciling again replaces the table, never adds to it.
        let files = table_files(&data);
        let (code, _, err) = reconcile(&data, &bill_path, &[]);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(table_files(&data), files);
        assert_eq!(rows(&data), first);
        assert!(
            first
                .iter()
                .all(|r| (r.matched_lines > 0) == (r.status != "not_billed"))
        );
    }
}

#[test]
fn real_sample_bills_of_other_clusters_match_nothing_and_write_nothing() {
    let samples = Path::new(SAMPLES);
    if !samples.is_dir() {
        eprintln!("SKIP: {SAMPLES} is absent");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_demo(&data);
    let mut bills = Vec::new();
    let mut folders = vec![samples.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if Bill::default().read_path(&path, FormatChoice::Auto).is_ok() {
                bills.push(path);
            }
        }
    }
    bills.sort();
    assert!(bills.len() >= 8, "{bills:?}");
    for bill in &bills {
        let (code, out, err) = reconcile(&data, bill, &[]);
        assert_eq!(code, Some(0), "{}: {err}", bill.display());
        assert!(out.contains("0 lines matched"), "{}: {out}", bill.display());
    }
    assert!(table_files(&data).is_empty());
}

#[test]
fn a_bad_bill_is_one_error_line_naming_file_line_and_column_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_demo(&data);
    let good = dir.path().join("good.csv");
    sim_bill(&data, "focus", &good);
    let text = std::fs::read_to_string(&good).unwrap();
    let header = text.lines().next().unwrap();
    let first = text.lines().nth(1).unwrap();
    let list_cost = {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let at = reader
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "ListCost");
        let record = reader.records().next().unwrap().unwrap();
        record.get(at.unwrap()).unwrap().to_owned()
    };
    let write = |name: &str, body: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    };
    let cases = [
        (
            write("none.csv", "a,b\n1,2\n".into()),
            vec![],
            "none.csv: not a billing export",
        ),
        (
            write("missing.csv", "a,b\n1,2\n".into()),
            vec!["--bill-format", "gcp"],
            "missing.csv: column usage_start_time is missing",
        ),
        (
            write(
                "number.csv",
                format!("{header}\n{}\n", first.replacen(&list_cost, "zero", 1)),
            ),
            vec![],
            "number.csv:2: column ListCost: not a number",
        ),
        (
            write(
                "date.csv",
                format!(
                    "{header}\n{}\n",
                    first.replacen("2026-11-02T01", "2026-13-02T01", 1)
                ),
            ),
            vec![],
            "date.csv:2: column ChargePeriodEnd: not a date",
        ),
    ];
    for (path, extra, message) in cases {
        let (code, out, err) = reconcile(&data, &path, &extra);
        assert_eq!(code, Some(2), "{}: {out}{err}", path.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(message), "{err}");
    }
    // The good file after a bad one: still nothing of the bad run written.
    assert!(table_files(&data).is_empty());
}
