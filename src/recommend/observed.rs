//! What the window showed of each workload's pods, for the spot checks no
//! anchor makes: the longest pod run (a Job's run time, S9) and the slowest
//! start-to-Ready (K2). Unlike the template facts, where the newest row
//! wins, these are maxima over every hour of the window, so every
//! `workloads` file is read — five columns of it, only the row groups whose
//! statistics say they hold a value, and the workload's names only for the
//! rows that do (a row filter on the two times).

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowPredicateFn, ParquetRecordBatchReaderBuilder, RowFilter};

use super::columns;
use super::history::{HistoryError, Scope, WorkloadKey, file_error, table_files};
use super::spot::WorkloadFacts;

const RUN: &str = "pod_run_max_seconds";
const STARTUP: &str = "startup_max_seconds";
const KEYS: [&str; 3] = ["namespace", "workload_kind", "workload_name"];

/// The slowest run and startup of one workload over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Times {
    pub longest_run_seconds: Option<f64>,
    pub slowest_startup_seconds: Option<f64>,
}

fn most(slot: &mut Option<f64>, value: f64) {
    *slot = Some(slot.map_or(value, |s| s.max(value)));
}

/// Every workload's [`Times`] in `scope`.
///
/// # Errors
///
/// [`HistoryError`] naming a file that cannot be read.
pub fn read(root: &Path, scope: &Scope) -> Result<BTreeMap<WorkloadKey, Times>, HistoryError> {
    let mut times = BTreeMap::new();
    for file in table_files(root, "workloads", scope) {
        read_file(&file, &mut times)?;
    }
    Ok(times)
}

/// Sets the facts' run and startup times from `times`.
pub fn apply(
    times: &BTreeMap<WorkloadKey, Times>,
    facts: &mut BTreeMap<WorkloadKey, WorkloadFacts>,
) {
    for (key, seen) in times {
        if let Some(facts) = facts.get_mut(key) {
            facts.job_longest_run_seconds = seen.longest_run_seconds;
            facts.startup_seconds = seen.slowest_startup_seconds;
        }
    }
}

fn read_file(file: &Path, times: &mut BTreeMap<WorkloadKey, Times>) -> Result<(), HistoryError> {
    let shown = file.display().to_string();
    let bad = file_error(&shown);
    let handle = std::fs::File::open(file).map_err(|e| bad(e.to_string()))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(handle).map_err(|e| bad(e.to_string()))?;
    let schema = builder.parquet_schema();
    let index = |name: &str| (0..schema.num_columns()).find(|&i| schema.column(i).name() == name);
    let (Some(run), Some(startup)) = (index(RUN), index(STARTUP)) else {
        // Written before these columns existed: nothing observed.
        return Ok(());
    };
    // Row groups where both columns are all null (most hours of most
    // workloads) are skipped without decoding.
    let groups: Vec<usize> = builder
        .metadata()
        .row_groups()
        .iter()
        .enumerate()
        .filter(|(_, group)| {
            [run, startup].iter().any(|&column| {
                let chunk = group.column(column);
                chunk
                    .statistics()
                    .and_then(|s| s.null_count_opt())
                    .is_none_or(|nulls| i64::try_from(nulls).unwrap_or(i64::MAX) < group.num_rows())
            })
        })
        .map(|(i, _)| i)
        .collect();
    if groups.is_empty() {
        return Ok(());
    }
    let mut wanted: Vec<usize> = KEYS.iter().filter_map(|name| index(name)).collect();
    if wanted.len() != KEYS.len() {
        return Err(bad(
            "no namespace, workload_kind or workload_name column".into()
        ));
    }
    wanted.extend([run, startup]);
    let mask = ProjectionMask::leaves(schema, wanted);
    // Most rows carry neither time: decode the two floats first and the
    // workload's strings only for the rows that do.
    let values = ProjectionMask::leaves(schema, [run, startup]);
    let some = ArrowPredicateFn::new(values, |batch: RecordBatch| {
        let present = |i: usize| arrow::compute::is_not_null(batch.column(i).as_ref());
        arrow::compute::or(&present(0)?, &present(1)?)
    });
    let reader = builder
        .with_projection(mask)
        .with_row_groups(groups)
        .with_row_filter(RowFilter::new(vec![Box::new(some)]))
        .build()
        .map_err(|e| bad(e.to_string()))?;
    for batch in reader {
        let batch = batch.map_err(|e| bad(e.to_string()))?;
        fold(&batch, &shown, times)?;
    }
    Ok(())
}

fn fold(
    batch: &RecordBatch,
    path: &str,
    times: &mut BTreeMap<WorkloadKey, Times>,
) -> Result<(), HistoryError> {
    let bad = file_error(path);
    let column = |name: &str| columns::column(batch, name, path);
    let text = |name: &str| columns::text(batch, name, path);
    let (namespace, kind, name) = (text(KEYS[0])?, text(KEYS[1])?, text(KEYS[2])?);
    let (namespace, kind, name) = (
        namespace.as_string::<i32>(),
        kind.as_string::<i32>(),
        name.as_string::<i32>(),
    );
    let (run, startup) = (column(RUN)?, column(STARTUP)?);
    let (Some(run), Some(startup)) = (
        run.as_primitive_opt::<Float64Type>(),
        startup.as_primitive_opt::<Float64Type>(),
    ) else {
        return Err(bad(format!("{RUN} or {STARTUP} is not float64")));
    };
    for row in 0..batch.num_rows() {
        if run.is_null(row) && startup.is_null(row) {
            continue;
        }
        let entry = times
            .entry((
                namespace.value(row).to_owned(),
                kind.value(row).to_owned(),
                name.value(row).to_owned(),
            ))
            .or_default();
        if !run.is_null(row) {
            most(&mut entry.longest_run_seconds, run.value(row));
        }
        if !startup.is_null(row) {
            most(&mut entry.slowest_startup_seconds, startup.value(row));
        }
    }
    Ok(())
}
