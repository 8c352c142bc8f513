//! The dataset as an outside reader sees it: DuckDB (from Python, through
//! `tests/duckdb_totals.py`) reads the Hive-partitioned Parquet files of a
//! collection run and must find the partition columns and the same totals
//! the Rust reader finds.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::collect::{Row, assert_close, collect, number, read, rows};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/duckdb_totals.py");

/// The script's JSON, or why DuckDB cannot be run here (the test skips).
fn duckdb_totals(out: &Path) -> Result<Value, String> {
    run_duckdb_script(SCRIPT, &[out.as_os_str()], None)
}

/// Runs a Python `script` that imports duckdb and prints JSON, with `args`
/// and `stdin`: its JSON, or why DuckDB cannot be run here (the caller
/// skips). The script exits 3 when duckdb is not importable; it is then
/// installed with pip once and the script run again.
pub(crate) fn run_duckdb_script(
    script: &str,
    args: &[&std::ffi::OsStr],
    stdin: Option<&str>,
) -> Result<Value, String> {
    let run = || -> Result<std::process::Output, String> {
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run python3: {e}"))?;
        if let Some(mut pipe) = child.stdin.take() {
            use std::io::Write;
            pipe.write_all(stdin.unwrap_or_default().as_bytes())
                .map_err(|e| format!("writing to {script}: {e}"))?;
        }
        child
            .wait_with_output()
            .map_err(|e| format!("waiting for {script}: {e}"))
    };
    let mut output = run()?;
    // 3: duckdb is not importable; try installing it once.
    if output.status.code() == Some(3) {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        let installed = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "duckdb"])
            .status();
        let failed = match installed {
            Ok(status) if status.success() => None,
            Ok(status) => Some(status.to_string()),
            Err(error) => Some(error.to_string()),
        };
        if let Some(failed) = failed {
            return Err(format!(
                "{stderr}; `python3 -m pip install duckdb` failed ({failed})"
            ));
        }
        output = run()?;
        if output.status.code() == Some(3) {
            return Err(format!(
                "duckdb still not importable after installing it: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    assert!(
        output.status.success(),
        "{script} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).map_err(|e| panic!("{script} printed bad JSON: {e}"))
}

fn float(value: &Value, key: &str) -> f64 {
    value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} of {value}"))
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} of {value}"))
}

/// A row's `start_time` (`2026-11-02T00:00:00`, UTC) as Unix seconds.
fn start_seconds(row: &Row) -> i64 {
    chrono::NaiveDateTime::parse_from_str(&row["start_time"], "%Y-%m-%dT%H:%M:%S")
        .unwrap_or_else(|e| panic!("{}: {e}", row["start_time"]))
        .and_utc()
        .timestamp()
}

#[tokio::test(flavor = "multi_thread")]
async fn duckdb_reads_the_hive_partitioned_dataset_to_the_same_totals() {
    let dir = tempfile::tempdir().unwrap();
    // Hour 0 complete and a partial hour 1.
    collect(dir.path(), chrono::Duration::minutes(65)).await;
    let duck = match duckdb_totals(dir.path()) {
        Ok(duck) => duck,
        Err(reason) => {
            eprintln!(
                "SKIP duckdb_reads_the_hive_partitioned_dataset_to_the_same_totals: {reason}"
            );
            return;
        }
    };

    // The file columns, then `cluster` and `date` from the folder names.
    for table in [
        kubetally::store::schema::ALLOCATION,
        kubetally::store::schema::NODES,
        kubetally::store::schema::SAMPLES,
    ] {
        let mut expected: Vec<String> = table
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        expected.extend(["cluster".to_owned(), "date".to_owned()]);
        let columns: Vec<&str> = duck["columns"][table.name]
            .as_array()
            .unwrap_or_else(|| panic!("{duck}"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(columns, expected, "{}", table.name);
    }
    assert_eq!(
        duck["partitions"],
        serde_json::json!([{"cluster": "test", "date": "2026-11-02"}])
    );

    // Per pod and hour: DuckDB's sums equal the Rust reader's.
    let allocation = rows(&read(dir.path(), "allocation"));
    let mut rust: BTreeMap<(String, i64), (f64, f64, f64)> = BTreeMap::new();
    for row in &allocation {
        let totals = rust
            .entry((row["pod"].clone(), start_seconds(row)))
            .or_default();
        totals.0 += number(row, "running_seconds");
        totals.1 += number(row, "sample_count");
        totals.2 += number(row, "total_cost_usd");
    }
    let pods = duck["pods"].as_array().unwrap_or_else(|| panic!("{duck}"));
    let mut seen = Vec::new();
    for pod in pods {
        let key = (
            text(pod, "pod").to_owned(),
            pod["start"].as_i64().unwrap_or_else(|| panic!("{pod}")),
        );
        let (running, samples, cost) = rust
            .get(&key)
            .copied()
            .unwrap_or_else(|| panic!("DuckDB has {key:?}, Rust does not"));
        assert_close(float(pod, "running_seconds"), running, "running");
        assert_close(float(pod, "sample_count"), samples, "samples");
        assert_close(float(pod, "total_cost_usd"), cost, "cost");
        seen.push(key);
    }
    assert_eq!(seen, rust.keys().cloned().collect::<Vec<_>>());
    let hour_0 = kubetally::sim::epoch().timestamp();
    let first_hour_pods: Vec<&str> = seen
        .iter()
        .filter(|(_, start)| *start == hour_0)
        .map(|(pod, _)| pod.as_str())
        .collect();
    assert_eq!(
        first_hour_pods,
        ["api-1", "dns-1", "exp-1", "hog-1", "nightly-1", "spotty-1"]
    );

    // Per node-hour: the bill adds up in DuckDB, on the Rust reader's numbers.
    let nodes = rows(&read(dir.path(), "nodes"));
    let bill = duck["bill"].as_array().unwrap_or_else(|| panic!("{duck}"));
    assert_eq!(bill.len(), nodes.len(), "{bill:?}");
    for line in bill {
        let (node, start) = (text(line, "node"), line["start"].as_i64());
        let what = format!("{node} at {start:?}");
        let row = nodes
            .iter()
            .find(|r| r["node"] == node && Some(start_seconds(r)) == start)
            .unwrap_or_else(|| panic!("DuckDB has {what}, Rust does not"));
        let charged: f64 = allocation
            .iter()
            .filter(|r| r["node"] == node && Some(start_seconds(r)) == start)
            .map(|r| number(r, "total_cost_usd"))
            .sum();
        let (total, idle) = (float(line, "total_cost_usd"), float(line, "idle_cost_usd"));
        assert_close(total, number(row, "total_cost_usd"), &what);
        assert_close(idle, number(row, "idle_cost_usd"), &what);
        assert_close(float(line, "charged_usd"), charged, &what);
        assert_close(float(line, "charged_usd") + idle, total, &what);
    }

    // The date partition filters.
    let count = allocation.len() as u64;
    assert_eq!(duck["rows"].as_u64(), Some(count));
    assert_eq!(duck["rows_on_date"].as_u64(), Some(count));
    assert_eq!(duck["rows_on_other_date"].as_u64(), Some(0));
}
