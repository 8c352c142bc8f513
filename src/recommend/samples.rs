//! A dataset's raw `samples` as backtest series: one per workload
//! container, every pod's samples in time order, with the requests the
//! container had. The backtest judges a strategy on what the containers
//! really used after the training window, so it reads raw samples on
//! purpose; `kubetally recommend` itself never does.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};
use chrono::{DateTime, Duration, Utc};

use super::columns;
use super::history::{self, ContainerKey, HistoryError, Scope, file_error};
use super::trace::{Point, Series};

/// Reads the `samples` of `scope` (from `scope.since` to the instant) into
/// one series per workload container, named `namespace/Kind/name/container`.
///
/// # Errors
///
/// [`HistoryError`] naming the file that cannot be read, or
/// [`HistoryError::Empty`] when the scope holds no samples.
pub fn series(root: &Path, scope: &Scope) -> Result<Vec<Series>, HistoryError> {
    let mut by_container: BTreeMap<ContainerKey, Series> = BTreeMap::new();
    history::for_each_batch(root, "samples", scope, |batch, path| {
        fold(batch, path, scope.since, &mut by_container)
    })?;
    if by_container.is_empty() {
        return Err(HistoryError::Empty {
            root: root.display().to_string(),
        });
    }
    Ok(by_container
        .into_values()
        .map(|mut series| {
            series.points.sort_by_key(|p| p.time);
            series
        })
        .collect())
}

/// The start of the newest `span` of `samples`: `span` before the newest
/// sample time (the maximum of `ts` in the newest day's file statistics;
/// the end of that day when they do not say).
pub fn window_start(root: &Path, cluster: Option<&str>, span: Duration) -> Option<DateTime<Utc>> {
    let scope = Scope {
        since: None,
        cluster: cluster.map(str::to_owned),
        ..Scope::default()
    };
    let files = history::table_files(root, "samples", &scope);
    let newest_day = files.last()?.parent()?.to_owned();
    let day: chrono::NaiveDate = newest_day
        .file_name()?
        .to_str()?
        .strip_prefix("date=")?
        .parse()
        .ok()?;
    let end_of_day = (day + Duration::days(1)).and_hms_opt(0, 0, 0)?.and_utc();
    let newest = files
        .iter()
        .filter(|f| f.parent() == Some(newest_day.as_path()))
        .filter_map(|f| newest_ts(f))
        .max()
        .unwrap_or(end_of_day);
    Some(newest - span)
}

/// The largest `ts` of a `samples` file, from its statistics.
fn newest_ts(file: &Path) -> Option<DateTime<Utc>> {
    let handle = std::fs::File::open(file).ok()?;
    let reader = parquet::file::reader::SerializedFileReader::new(handle).ok()?;
    let metadata = parquet::file::reader::FileReader::metadata(&reader);
    let column = (0..metadata.file_metadata().schema_descr().num_columns())
        .find(|&i| metadata.file_metadata().schema_descr().column(i).name() == "ts")?;
    metadata
        .row_groups()
        .iter()
        .filter_map(|group| match group.column(column).statistics()? {
            parquet::file::statistics::Statistics::Int64(stats) => stats.max_opt().copied(),
            _ => None,
        })
        .max()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
}

fn fold(
    batch: &RecordBatch,
    path: &str,
    since: Option<DateTime<Utc>>,
    by_container: &mut BTreeMap<ContainerKey, Series>,
) -> Result<(), HistoryError> {
    let bad = file_error(path);
    let column = |name: &str| columns::column(batch, name, path);
    let text = |name: &str| columns::text(batch, name, path);
    let (namespace, kind, name, container) = (
        text("namespace")?,
        text("workload_kind")?,
        text("workload_name")?,
        text("container")?,
    );
    let (namespace, kind, name, container) = (
        namespace.as_string::<i32>(),
        kind.as_string::<i32>(),
        name.as_string::<i32>(),
        container.as_string::<i32>(),
    );
    let ts = column("ts")?;
    let ts = ts
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| bad("ts is not a timestamp".into()))?;
    let (cpu, memory) = (
        column("cpu_usage_millicores")?,
        column("memory_usage_bytes")?,
    );
    let (cpu, memory) = (
        cpu.as_primitive_opt::<Int64Type>()
            .ok_or_else(|| bad("cpu_usage_millicores is not int64".into()))?,
        memory
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| bad("memory_usage_bytes is not int64".into()))?,
    );
    let (cpu_request, memory_request) = (
        column("cpu_request_cores")?,
        column("memory_request_bytes")?,
    );
    let (cpu_request, memory_request) = (
        cpu_request
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| bad("cpu_request_cores is not float64".into()))?,
        memory_request
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| bad("memory_request_bytes is not int64".into()))?,
    );
    for row in 0..batch.num_rows() {
        let Some(time) = DateTime::<Utc>::from_timestamp_millis(ts.value(row)) else {
            continue;
        };
        if since.is_some_and(|since| time < since) {
            continue;
        }
        let key = ContainerKey {
            namespace: namespace.value(row).to_owned(),
            workload_kind: kind.value(row).to_owned(),
            workload_name: name.value(row).to_owned(),
            container: container.value(row).to_owned(),
        };
        let series = by_container.entry(key).or_insert_with_key(|key| Series {
            name: format!(
                "{}/{}/{}/{}",
                key.namespace, key.workload_kind, key.workload_name, key.container
            ),
            points: Vec::new(),
            cpu_request_cores: None,
            memory_request_bytes: None,
        });
        series.points.push(Point {
            time,
            cpu_cores: Some(cpu.value(row) as f64 / 1000.0),
            memory_bytes: Some(memory.value(row) as f64),
        });
        // The newest requests win: files come oldest first.
        if !cpu_request.is_null(row) {
            series.cpu_request_cores = Some(cpu_request.value(row));
        }
        if !memory_request.is_null(row) {
            series.memory_request_bytes = Some(memory_request.value(row) as f64);
        }
    }
    Ok(())
}
