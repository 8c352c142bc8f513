//! `kubetally export focus` on a small demo dataset: every split adds up to
//! its origin exactly, the focus-data-toolkit accepts the file, and bad
//! input is one line with nothing written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::query_cli::kubetally;

const TOOLKIT_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/focus_toolkit.py");

/// A 3-hour, 6-node demo dataset, made once per test run (about 5 s).
fn demo() -> &'static Path {
    static DEMO: OnceLock<PathBuf> = OnceLock::new();
    DEMO.get_or_init(|| {
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        crate::query::remove_finished_runs(scratch, "focus-demo-");
        let root = scratch.join(format!("focus-demo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let out = root.display().to_string();
        let (code, _, err) = kubetally(&[
            "demo", "--hours", "3", "--nodes", "6", "--pods", "60", "--seed", "5", "--out", &out,
        ]);
        assert_eq!(code, Some(0), "{err}");
        root
    })
}

/// A decimal string as a count of 10⁻¹² (the export writes at most 12
/// places), so sums are exact.
fn units(text: &str) -> i128 {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    assert!(fraction.len() <= 12, "{text}: more than 12 places");
    let value: i128 = whole.parse::<i128>().unwrap() * 10_i128.pow(12)
        + format!("{fraction:0<12}").parse::<i128>().unwrap();
    if negative { -value } else { value }
}

/// `kubetally export focus` of the demo to `output`, which must succeed.
fn export_demo(output: &Path) {
    let (code, _, err) = kubetally(&[
        "export",
        "focus",
        "--data",
        &demo().display().to_string(),
        "-o",
        &output.display().to_string(),
    ]);
    assert_eq!(code, Some(0), "{err}");
}

fn export_csv(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let file = dir.join("demo.csv");
    export_demo(&file);
    let mut reader = csv::Reader::from_path(&file).unwrap();
    reader.deserialize().map(Result::unwrap).collect()
}

#[test]
fn every_split_adds_up_to_its_origin_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let rows = export_csv(dir.path());
    assert!(rows.len() > 100, "{} rows", rows.len());
    let mut groups: BTreeMap<&str, (i128, i128, i128, usize)> = BTreeMap::new();
    for row in &rows {
        let origin = row["x_SplitOriginId"].as_str();
        if origin.is_empty() {
            assert!(row["AllocatedMethodId"].is_empty(), "{row:?}");
            continue;
        }
        let details: serde_json::Value =
            serde_json::from_str(&row["AllocatedMethodDetails"]).unwrap();
        let ratio = details["Elements"][0]["AllocatedRatio"].to_string();
        let group = groups.entry(origin).or_default();
        group.0 += units(&row["BilledCost"]);
        group.1 = units(&row["x_SplitOriginCost"]);
        group.2 += units(&ratio);
        if row["AllocatedResourceId"].is_empty() {
            group.3 += 1;
            assert!(row["AllocatedResourceName"].is_empty(), "{row:?}");
            assert!(row["AllocatedTags"].is_empty(), "{row:?}");
        }
        for column in ["ListCost", "ContractedCost", "EffectiveCost"] {
            assert_eq!(row[column], row["BilledCost"], "list cost: {row:?}");
        }
    }
    assert!(groups.len() > 40, "{} groups", groups.len());
    for (origin, (billed, origin_cost, ratios, remainders)) in groups {
        assert_eq!(
            billed, origin_cost,
            "{origin}: allocated rows sum to the origin"
        );
        assert_eq!(ratios, 10_i128.pow(12), "{origin}: ratios sum to 1");
        assert!(remainders <= 1, "{origin}: one remainder row at most");
    }
}

#[test]
fn the_export_costs_what_the_cluster_cost() {
    let dir = tempfile::tempdir().unwrap();
    let rows = export_csv(dir.path());
    let exported: i128 = rows.iter().map(|r| units(&r["BilledCost"])).sum();
    let (code, out, err) = kubetally(&[
        "query",
        "--data",
        &demo().display().to_string(),
        "--format",
        "json",
        "-n",
        "chargeback_by_tenant",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let total = lines
        .iter()
        .find(|l| l["line"] == "total")
        .and_then(|l| l["cost_usd"].as_f64())
        .unwrap();
    let exported = exported as f64 / 1e12;
    assert!((exported - total).abs() < 1e-9, "{exported} != {total}");
}

#[test]
fn a_directory_output_is_partitioned_by_billing_period() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("focus");
    export_demo(&out);
    let files = kubetally::store::focus::files(&out).unwrap();
    assert_eq!(
        files,
        vec![out.join("billing_period=2026-11").join("part-0000.parquet")]
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("focus")],
        "no staging left"
    );
}

/// Statistics are kept where a query prunes on them (the charge period),
/// not on free text, and on no decimal: arrow-rs's decimal min/max are slices of the whole
/// encoded chunk, so each one kept held a row group's amounts in memory
/// until the footer (gigabytes over a large export).
#[test]
fn parquet_statistics_are_kept_where_queries_prune_and_never_for_decimals() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.parquet");
    export_demo(&file);
    let reader = SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
    let metadata = reader.metadata();
    assert!(metadata.num_row_groups() > 0);
    for group in metadata.row_groups() {
        for column in group.columns() {
            let name = column.column_path().string();
            let is_decimal = column
                .column_descr()
                .logical_type_ref()
                .is_some_and(|t| matches!(t, parquet::basic::LogicalType::Decimal { .. }));
            if is_decimal || name == "AllocatedTags" || name == "ChargeDescription" {
                assert!(column.statistics().is_none(), "{name} has statistics");
            }
            if name == "ChargePeriodStart" {
                let stats = column.statistics().expect("ChargePeriodStart's statistics");
                assert!(stats.min_bytes_opt().is_some(), "{name}: no min");
            }
        }
    }
}

#[test]
fn the_focus_toolkit_accepts_the_demo_export() {
    let dir = tempfile::tempdir().unwrap();
    export_csv(dir.path());
    let file = dir.path().join("demo.csv");
    let output = std::process::Command::new("python3")
        .arg(TOOLKIT_SCRIPT)
        .arg(&file)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => {
            eprintln!("SKIP the_focus_toolkit_accepts_the_demo_export: cannot run python3: {e}");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(3) {
        eprintln!(
            "SKIP the_focus_toolkit_accepts_the_demo_export: {} (pip install focus-data-toolkit)",
            stderr.trim()
        );
        return;
    }
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("focus-data-toolkit: all checks passed"),
        "{stdout}"
    );
}

/// Runs an export that must fail: exit 2, one line, nothing at `-o`.
fn fails(extra: &[&str], output: &Path) -> String {
    let data = demo().display().to_string();
    let out = output.display().to_string();
    let mut args = vec!["export", "focus", "--data", &data, "-o", &out];
    args.extend_from_slice(extra);
    let (code, stdout, err) = kubetally(&args);
    assert_eq!(code, Some(2), "{err}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!output.exists(), "{} was written", output.display());
    err
}

#[test]
fn an_unknown_cost_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(&["--cost", "amortized"], &dir.path().join("out"));
    assert_eq!(
        err.trim(),
        "error: --cost: unknown cost basis \"amortized\": expected list, effective or billed"
    );
}

#[test]
fn effective_cost_without_a_reconciliation_says_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(&["--cost", "effective"], &dir.path().join("out"));
    assert_eq!(
        err.trim(),
        format!(
            "error: --cost effective: no reconciliation in {}: run kubetally reconcile first, or use --cost list",
            demo().display()
        )
    );
}

#[test]
fn an_empty_window_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let err = fails(&["--from", "2030-01-01", "--to", "2030-01-02"], &out);
    assert!(err.contains("nothing to export"), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no staging left"
    );
    let err = fails(&["--from", "2026-11-03", "--to", "2026-11-02"], &out);
    assert!(err.contains("an empty window"), "{err}");
}

#[test]
fn an_unwritable_output_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let err = fails(&[], &file.join("focus.parquet"));
    assert!(err.starts_with("error: -o "), "{err}");
}
