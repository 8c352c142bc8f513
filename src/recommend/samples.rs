//! A dataset's raw `samples` as backtest series: one per workload
//! container, every pod's samples in time order, with the requests the
//! container had. The backtest judges a strategy on what the containers
//! really used after the training window, so it reads raw samples on
//! purpose; `kubetally recommend` itself never does.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};

use super::history::{self, ContainerKey, HistoryError, Scope};
use super::trace::{Point, Series};
use crate::store::read::{self, Batch, Select};
use crate::store::schema::col;

/// The columns a series is made of.
const SELECT: Select<'static> = Select::columns(&[
    col::TS,
    col::NAMESPACE,
    col::WORKLOAD_KIND,
    col::WORKLOAD_NAME,
    col::CONTAINER,
    col::CPU_USAGE_MILLICORES,
    col::MEMORY_USAGE_BYTES,
    col::CPU_REQUEST_CORES,
    col::MEMORY_REQUEST_BYTES,
])
.coded(&[col::NAMESPACE, col::WORKLOAD_KIND, col::CONTAINER]);

/// Reads the `samples` of `scope` (from `scope.since` to the instant) into
/// one series per workload container, named `namespace/Kind/name/container`.
///
/// # Errors
///
/// [`HistoryError`] naming the file that cannot be read, or
/// [`HistoryError::Empty`] when the scope holds no samples.
pub fn series(root: &Path, scope: &Scope) -> Result<Vec<Series>, HistoryError> {
    let mut by_container: BTreeMap<ContainerKey, Series> = BTreeMap::new();
    history::for_each_batch(root, "samples", scope, &SELECT, |batch| {
        fold(batch, scope.since, &mut by_container)
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
///
/// # Errors
///
/// [`HistoryError`] naming a folder that cannot be listed.
pub fn window_start(
    root: &Path,
    cluster: Option<&str>,
    span: Duration,
) -> Result<Option<DateTime<Utc>>, HistoryError> {
    let scope = Scope {
        since: None,
        cluster: cluster.map(str::to_owned),
        ..Scope::default()
    };
    let files = history::table_files(root, "samples", &scope)?;
    let Some(newest_day) = files.last().map(|file| file.date) else {
        return Ok(None);
    };
    let Some(end_of_day) = (newest_day + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
    else {
        return Ok(None);
    };
    // A file whose statistics cannot be read says nothing here; reading
    // the samples will name it.
    let newest = files
        .iter()
        .filter(|f| f.date == newest_day)
        .filter_map(|f| read::max_from_statistics(&f.path, col::TS).ok().flatten())
        .max()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .unwrap_or(end_of_day);
    Ok(Some(newest - span))
}

fn fold(
    batch: &Batch,
    since: Option<DateTime<Utc>>,
    by_container: &mut BTreeMap<ContainerKey, Series>,
) -> Result<(), HistoryError> {
    let batch = batch.columns();
    let namespace = batch.text(col::NAMESPACE)?;
    let kind = batch.text(col::WORKLOAD_KIND)?;
    let name = batch.text(col::WORKLOAD_NAME)?;
    let container = batch.text(col::CONTAINER)?;
    let ts = batch.millis(col::TS)?;
    let cpu = batch.int64s(col::CPU_USAGE_MILLICORES)?;
    let memory = batch.int64s(col::MEMORY_USAGE_BYTES)?;
    let cpu_request = batch.floats(col::CPU_REQUEST_CORES)?;
    let memory_request = batch.int64s(col::MEMORY_REQUEST_BYTES)?;
    let (ts, cpu, memory) = (ts.values(), cpu.values(), memory.values());
    for row in 0..batch.rows() {
        let Some(time) = DateTime::<Utc>::from_timestamp_millis(ts[row]) else {
            continue;
        };
        if since.is_some_and(|since| time < since) {
            continue;
        }
        let key = ContainerKey {
            namespace: namespace.get(row).to_owned(),
            workload_kind: kind.get(row).to_owned(),
            workload_name: name.get(row).to_owned(),
            container: container.get(row).to_owned(),
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
            cpu_cores: Some(cpu[row] as f64 / 1000.0),
            memory_bytes: Some(memory[row] as f64),
        });
        // The newest requests win: files come oldest first.
        if let Some(request) = cpu_request.get(row) {
            series.cpu_request_cores = Some(request);
        }
        if let Some(request) = memory_request.get(row) {
            series.memory_request_bytes = Some(request as f64);
        }
    }
    Ok(())
}
