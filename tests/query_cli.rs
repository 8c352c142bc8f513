//! `kubetally query` as a user runs it: the binary on the dataset of
//! `query.rs` — bundled queries, files, inline SQL, parameters, formats,
//! an S3 dataset, and bad input as one error line with exit code 2.

use std::path::Path;
use std::process::Command;

use arrow::array::RecordBatch;
use kubetally::analyze;
use serde_json::Value;

use crate::object_store::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};
use crate::query::{copy_dir, dataset};
use crate::support::runtime;

const KUBETALLY: &str = env!("CARGO_BIN_EXE_kubetally");

/// Runs the binary: (exit code, stdout, stderr).
pub(crate) fn kubetally(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(KUBETALLY)
        .args(args)
        .env_remove("KUBETALLY_DATA")
        .output()
        .unwrap_or_else(|e| panic!("{KUBETALLY}: {e}"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn data_flag() -> String {
    dataset().display().to_string()
}

#[test]
fn cli_lists_the_bundled_queries_with_descriptions_and_params() {
    let (code, out, err) = kubetally(&["query", "--list"]);
    assert_eq!(code, Some(0), "{err}");
    for bundled in analyze::bundled().unwrap() {
        assert!(out.contains(bundled.name()), "{out}");
    }
    assert!(
        out.contains("params: label=app, from=1970-01-01, to=9999-12-31"),
        "{out}"
    );
}

#[test]
fn cli_runs_a_bundled_query_by_name_with_params() {
    let data = data_flag();
    let (code, out, err) = kubetally(&[
        "query",
        "--data",
        &data,
        "-n",
        "top_waste_workloads",
        "--param",
        "top=2",
        "--format",
        "csv",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "header and two rows: {out}");
    assert!(
        lines[0].starts_with("cluster,namespace,workload_kind,workload_name,"),
        "{out}"
    );

    let (code, out, err) = kubetally(&[
        "query",
        "--data",
        &data,
        "-n",
        "chargeback_by_tenant",
        "-p",
        "from=2026-11-09",
        "-p",
        "to=2026-11-10",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("| line "), "a Markdown table: {out}");
    assert!(out.contains("| total "), "{out}");
}

#[test]
fn cli_runs_sql_from_a_file_and_inline_with_placeholders() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pools.sql");
    std::fs::write(
        &file,
        "-- name: pools\n-- params: pool=general\nSELECT node, cluster FROM nodes \
         WHERE node_pool = '{{pool}}' GROUP BY node, cluster ORDER BY node, cluster\n",
    )
    .unwrap();
    let data = data_flag();
    let path = file.display().to_string();
    let (code, out, err) = kubetally(&["query", "--data", &data, "-f", &path, "--format", "csv"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "node,cluster\ngeneral-1,test\ngeneral-1,test-b\ngeneral-2,test\ngeneral-2,test-b\n"
    );
    let (code, out, err) = kubetally(&[
        "query",
        "--data",
        &data,
        "-f",
        &path,
        "-p",
        "pool=spot",
        "--format",
        "csv",
    ]);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "node,cluster\nspot-1,test\nspot-1,test-b\n"),
        "{err}"
    );

    let (code, out, err) = kubetally(&[
        "query",
        "--data",
        &data,
        "SELECT COUNT(*) AS n FROM nodes WHERE node = '{{node}}' AND date = '2026-11-09'",
        "-p",
        "node=odd-1",
        "--format",
        "csv",
    ]);
    assert_eq!((code, out.as_str()), (Some(0), "n\n1\n"), "{err}");
}

#[test]
fn cli_writes_the_nested_labels_column_to_csv_as_json_text() {
    let data = data_flag();
    let (code, out, err) = kubetally(&[
        "query",
        "--data",
        &data,
        "-n",
        "gke_usage_metering",
        "--format",
        "csv",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let mut rows = csv::Reader::from_reader(out.as_bytes());
    let headers = rows.headers().unwrap().clone();
    let labels = headers
        .iter()
        .position(|h| h == "labels")
        .unwrap_or_else(|| panic!("a labels column: {headers:?}"));
    let mut pairs = Vec::new();
    for row in rows.records() {
        let row = row.unwrap();
        let cell: Value = serde_json::from_str(&row[labels])
            .unwrap_or_else(|e| panic!("labels cell {:?} is not JSON: {e}", &row[labels]));
        let Value::Array(records) = cell else {
            panic!("labels cell is not a list: {cell}");
        };
        for record in records {
            let key = record["key"].as_str().map(str::to_owned);
            let value = record["value"].as_str().map(str::to_owned);
            pairs.push((key, value));
        }
    }
    let api = (Some("app".to_owned()), Some("api".to_owned()));
    assert!(pairs.contains(&api), "{out}");
    assert!(
        pairs.iter().all(|(k, v)| k.is_some() && v.is_some()),
        "{pairs:?}"
    );
}

#[test]
fn cli_writes_json_and_parquet_that_read_back() {
    let data = data_flag();
    let sql = "SELECT date, COUNT(*) AS rows FROM nodes GROUP BY date ORDER BY date";
    let (code, out, err) = kubetally(&["query", "--data", &data, sql, "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let rows: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(rows[0]["date"], "2026-11-02");
    assert_eq!(rows.as_array().map(Vec::len), Some(4), "{rows}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.parquet");
    let path = file.display().to_string();
    let (code, out, err) = kubetally(&[
        "query", "--data", &data, sql, "--format", "parquet", "-o", &path,
    ]);
    assert_eq!((code, out.as_str()), (Some(0), ""), "{err}");
    let batches = read_parquet(&file);
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 4);
    assert_eq!(batches[0].schema().field(1).name(), "rows");
}

fn read_parquet(file: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(file).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

#[test]
fn cli_bad_input_is_one_error_line_and_exit_code_2() {
    let data = data_flag();
    let missing = dataset().join("no-such-dir").display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--data", &data, "SELEC node FROM nodes"],
            "SQL: sql parser error",
        ),
        (
            vec!["--data", &data, "SELECT * FROM invoices"],
            "relation 'invoices' was not found (tables here: samples, allocation, nodes, resources, workloads)",
        ),
        (
            vec!["--data", &data, "SELECT colour FROM nodes"],
            "unable to find column \"colour\"",
        ),
        (
            vec!["--data", &missing, "SELECT 1"],
            "no kubetally dataset here: no such directory",
        ),
        (
            vec!["--data", &data, "-n", "nope"],
            "no bundled query named \"nope\"",
        ),
        (
            vec!["--data", &data, "-n", "cost_by_label", "-p", "label"],
            "--param label: expected NAME=VALUE",
        ),
        (
            vec!["--data", &data, "-n", "cost_by_label", "-p", "colour=red"],
            "the query has no parameter colour (it takes: label, from, to)",
        ),
        (
            vec![
                "--data",
                &data,
                "-n",
                "chargeback_by_tenant",
                "-p",
                "from=2026-13-45",
            ],
            "expected a date YYYY-MM-DD like its default 1970-01-01",
        ),
        (
            vec![
                "--data",
                &data,
                "-n",
                "cost_by_label",
                "-p",
                "label=x' OR '1'='1",
            ],
            "a value may hold letters",
        ),
        (
            vec!["--data", &data, "SELECT '{{x}}' AS x"],
            "the query needs --param x=VALUE",
        ),
        (
            vec!["--data", "s3:///nobucket", "SELECT 1"],
            "no bucket or container name",
        ),
    ];
    for (args, expected) in cases {
        let mut full = vec!["query"];
        full.extend(&args);
        assert_one_error_line(&full, expected);
    }
}

/// Runs the binary with `args` and checks it failed with exit code 2 and
/// one error line containing `expected`, writing nothing on stdout.
pub(crate) fn assert_one_error_line(args: &[&str], expected: &str) {
    let (code, out, err) = kubetally(args);
    assert_eq!(code, Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    assert!(
        err.starts_with("error: ") && err.contains(expected),
        "{args:?}: {err}"
    );
    assert!(out.is_empty(), "{args:?}: nothing on stdout: {out}");
}

#[test]
fn cli_prints_a_query_as_another_engine_runs_it() {
    let (code, out, err) = kubetally(&[
        "query",
        "-n",
        "cost_by_label",
        "--print-sql",
        "spark",
        "-p",
        "label=team",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("LATERAL VIEW explode(a.labels) exploded AS l"),
        "{out}"
    );
    assert!(out.contains("l.key = 'team'"), "{out}");
    assert!(!out.contains("{{"), "{out}");
}

#[test]
fn a_dataset_in_s3_is_mirrored_into_the_cache_and_reads_like_the_local_one() {
    let runtime = runtime();
    let server = runtime.block_on(S3Server::start());
    copy_dir(dataset(), &server.root().join(BUCKET).join("kubetally"));
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().display().to_string();
    let url = format!("s3://{BUCKET}/kubetally");
    let sql = "SELECT tenant, ROUND(SUM(total_cost_usd), 9) AS usd FROM allocation GROUP BY tenant ORDER BY tenant";
    let run = |data: &str| {
        let output = Command::new(KUBETALLY)
            .args([
                "query",
                "--data",
                data,
                "--cache-dir",
                &cache_dir,
                sql,
                "--format",
                "csv",
            ])
            .env("AWS_ENDPOINT", server.endpoint())
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{err}");
        (String::from_utf8_lossy(&output.stdout).into_owned(), err)
    };
    let (first, note) = run(&url);
    assert_eq!(
        first,
        run(&data_flag()).0,
        "the same rows as the local dataset"
    );
    assert!(note.contains("downloaded"), "{note}");
    assert!(
        !cache.path().join("_wal").exists(),
        "only table files are mirrored"
    );
    let (second, note) = run(&url);
    assert_eq!(second, first);
    assert!(note.is_empty(), "nothing new to download: {note}");
    drop(server);
}
