//! Corrupt and hostile files where the readers meet them: a truncated or
//! garbage Parquet file in the dataset, a pricing file with a 10 MB line or
//! invalid UTF-8, a query library file that is not SQL. Each is one error
//! line naming the file, exit code 2, never a panic or a hang.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::small_demo;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_kubetally"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_one_line_naming(args: &[&str], name: &str) {
    let (code, err) = run(args);
    assert_eq!(code, Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    assert!(err.contains(name), "{args:?}: names {name}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The first Parquet file of `table`.
fn first_file(root: &Path, table: &str) -> PathBuf {
    let mut stack = vec![root.join(table)];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                return path;
            }
        }
    }
    panic!("no parquet file under {}", root.join(table).display())
}

#[test]
fn a_truncated_or_garbage_parquet_file_is_one_error_naming_it_for_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    small_demo(&data);
    let data_arg = data.display().to_string();

    let nodes = first_file(&data, "nodes");
    let bytes = std::fs::read(&nodes).unwrap();
    std::fs::write(&nodes, &bytes[..bytes.len() / 2]).unwrap();
    let name = nodes.file_name().unwrap().to_string_lossy().into_owned();
    assert_one_line_naming(&["report", "--data", &data_arg], &name);
    assert_one_line_naming(
        &["query", "--data", &data_arg, "SELECT COUNT(*) FROM nodes"],
        &name,
    );

    let allocation = first_file(&data, "allocation");
    std::fs::write(&allocation, b"PAR1 this is not a parquet file PAR1").unwrap();
    let name = allocation
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_one_line_naming(&["recommend", "--data", &data_arg], &name);
    assert_one_line_naming(&["report", "--data", &data_arg], &name);
}

#[test]
fn a_pricing_file_with_a_huge_line_or_invalid_utf8_is_one_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.csv");
    let mut text = String::from(
        "provider,region,machine_family,machine_type,capacity_type,vcpu_hour_usd,memory_gib_hour_usd,as_of\n",
    );
    text.push_str("gcp,us-central1,e2,");
    text.push_str(&"x".repeat(10 << 20));
    text.push_str(",on_demand,0.02,0.004,\n");
    std::fs::write(&huge, text).unwrap();
    let huge_arg = huge.display().to_string();
    let (code, err) = run(&["pricing", "validate", &huge_arg]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("huge.csv") && err.contains("line 2"),
        "{}",
        &err[..err.len().min(400)]
    );
    assert!(err.len() < 4096, "the error does not echo the 10 MB cell");

    let binary = dir.path().join("binary.csv");
    std::fs::write(&binary, b"provider,region\n\xff\xfe\x00,gcp\n").unwrap();
    assert_one_line_naming(
        &["pricing", "validate", &binary.display().to_string()],
        "binary.csv",
    );
}

#[test]
fn a_query_file_that_is_not_sql_is_one_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    small_demo(&data);
    let file = dir.path().join("not-sql.sql");
    std::fs::write(
        &file,
        "-- name: broken\n\u{0}\u{1} this is not SQL at all ))))\n",
    )
    .unwrap();
    let (code, err) = run(&[
        "query",
        "--data",
        &data.display().to_string(),
        "--file",
        &file.display().to_string(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
