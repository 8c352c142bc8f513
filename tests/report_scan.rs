//! The report reads its sums over `allocation` with an arrow-rs pass on
//! the Parquet dictionary codes (`report::scan`) instead of polars running
//! the SQL that defines them. That is a speed path: on every basis,
//! grouping and scope the report must be the one the SQL gives; files the
//! pass does not know go to the SQL; a file it cannot read is one error
//! line naming it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use kubetally::analyze::Session;
use kubetally::analyze::report::{self, Basis, By, FactsReader, Options, Report};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::query::copy_dir;
use crate::query_cli::assert_one_error_line;
use crate::report::dataset;

/// The report of `root` read `facts`' way, and how many of its statements
/// the session was told of rather than ran (2 when the scan answered: the
/// facts and the sample counts).
fn built(root: &Path, options: &Options, facts: FactsReader) -> (Report, usize) {
    let mut session = Session::open(root).unwrap();
    let options = Options {
        facts,
        ..options.clone()
    };
    let report = report::build(&mut session, &options)
        .unwrap_or_else(|e| panic!("{:#}", anyhow::Error::from(e)));
    (report, session.recorded())
}

/// Whether two reports are the same: equal but for the last bits of sums
/// (the two ways add in different orders).
fn assert_same(scan: &Report, sql: &Report, case: &str) {
    let (a, b) = (
        serde_json::to_value(scan).unwrap(),
        serde_json::to_value(sql).unwrap(),
    );
    if let Some(path) = difference(&a, &b, String::new()) {
        panic!("{case}: the scan's report differs from the SQL's at {path}");
    }
}

fn difference(a: &Value, b: &Value, path: String) -> Option<String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64()?, y.as_f64()?);
            let close = (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0);
            (!close).then(|| format!("{path}: {x} vs {y}"))
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: {} vs {} items", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (x, y))| difference(x, y, format!("{path}[{i}]")))
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: fields differ"));
            }
            x.iter().find_map(|(key, value)| match y.get(key) {
                Some(other) => difference(value, other, format!("{path}.{key}")),
                None => Some(format!("{path}.{key}: missing")),
            })
        }
        _ => (a != b).then(|| format!("{path}: {a} vs {b}")),
    }
}

#[test]
fn the_scan_gives_the_report_the_sql_gives() {
    for basis in [Basis::Max, Basis::Request, Basis::Usage] {
        for by in [By::Tenant, By::Namespace, By::Workload] {
            for tenant in [None, Some("acme")] {
                let case = format!("{basis:?}/{by:?}/{tenant:?}");
                let options = Options {
                    basis,
                    by: by.clone(),
                    tenant: tenant.map(str::to_owned),
                    ..Options::default()
                };
                let (scan, told) = built(dataset(), &options, FactsReader::Scan);
                assert_eq!(told, 2, "{case}: the scan answered");
                let (sql, told) = built(dataset(), &options, FactsReader::Sql);
                assert_eq!(told, 0, "{case}");
                assert!(!scan.groups.is_empty(), "{case}");
                assert!(scan.quality.container_hours > 0, "{case}");
                assert_same(&scan, &sql, &case);
            }
        }
    }
    // By label the SQL answers: the pass has no labels.
    let options = Options {
        by: By::Label("app".to_owned()),
        ..Options::default()
    };
    assert_eq!(built(dataset(), &options, FactsReader::Scan).1, 0);
}

/// The `allocation` files of `root` of the days of `report`'s period,
/// oldest first; never the table's newest file, whose schema polars takes
/// for the table's.
fn period_files(root: &Path, report: &Report) -> Vec<PathBuf> {
    let (first, last) = (
        report.period.start.date_naive(),
        report.period.end.date_naive(),
    );
    let filter = kubetally::store::read::Filter {
        from: Some(first),
        to: last.pred_opt(),
        ..Default::default()
    };
    let mut files: Vec<PathBuf> = kubetally::store::read::files(root, "allocation", &filter)
        .unwrap()
        .into_iter()
        .map(|file| file.path)
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    files
}

/// Rewrites `file` with `change` applied to its batches' columns.
fn rewrite(file: &Path, change: impl Fn(&Field, &ArrayRef) -> Option<(Field, ArrayRef)>) {
    let reader = std::fs::File::open(file).unwrap();
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(reader)
        .and_then(|b| b.build())
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    let changed: Vec<RecordBatch> = batches
        .iter()
        .map(|batch| {
            let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = batch
                .schema()
                .fields()
                .iter()
                .zip(batch.columns())
                .filter_map(|(field, column)| change(field, column))
                .unzip();
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
        })
        .collect();
    let first = changed.first().unwrap_or_else(|| panic!("no batches"));
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, first.schema(), None).unwrap();
    for batch in &changed {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
    std::fs::write(file, out).unwrap();
}

#[test]
fn files_of_an_older_writer_are_read_or_left_to_the_sql() {
    let options = Options::default();
    let (original, _) = built(dataset(), &options, FactsReader::Scan);

    // Strings declared as Arrow dictionaries (the writer before commit
    // 80867db): the pass reads them as they are.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dataset(), copy.path());
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let files = period_files(copy.path(), &original);
    rewrite(&files[0], |field, column| {
        Some(match column.data_type() {
            DataType::Utf8 => (
                field.clone().with_data_type(dictionary.clone()),
                arrow::compute::cast(column, &dictionary).unwrap(),
            ),
            _ => (field.clone(), Arc::clone(column)),
        })
    });
    let (dictionaries, told) = built(copy.path(), &options, FactsReader::Scan);
    assert_eq!(told, 2, "the scan reads dictionary-declared strings");
    assert_same(&dictionaries, &original, "dictionary strings");

    // A file without a column the pass reads (`gpu_cost_usd`, which the
    // `max` basis does not use): the SQL answers, with the same report.
    rewrite(&files[1], |field, column| {
        (field.name() != "gpu_cost_usd").then(|| (field.clone(), Arc::clone(column)))
    });
    let (fallback, told) = built(copy.path(), &options, FactsReader::Scan);
    assert_eq!(told, 0, "a missing column leaves the facts to the SQL");
    assert_same(&fallback, &original, "a column missing");
}

#[test]
fn an_unreadable_allocation_file_is_one_error_line_naming_it() {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dataset(), copy.path());
    let (report, _) = built(dataset(), &Options::default(), FactsReader::Scan);
    let files = period_files(copy.path(), &report);
    let broken = &files[0];
    let bytes = std::fs::read(broken).unwrap();
    // Half a file: its footer is gone.
    std::fs::write(broken, &bytes[..bytes.len() / 2]).unwrap();
    let data = copy.path().display().to_string();
    let name = broken
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert_one_error_line(&["report", "--data", &data], &name);
}
