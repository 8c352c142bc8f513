//! `kubetally recommend` reads the dataset through ids it gives each row's
//! keys, and matches a file's rows with the previous file's to give them
//! without a lookup; `workloads` files are read newest first, skipping rows
//! whose keys a newer file gave. Those are speed paths: whatever order a
//! file's rows come in, and whoever wrote it, the histories and templates
//! must be the same.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{RecordBatch, UInt32Array};
use kubetally::recommend::history::{self, History, Scope};
use kubetally::recommend::observed;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::WriterProperties;

/// Copies the dataset at `from` to `to` with every `allocation` and
/// `workloads` file's rows reversed, written by arrow-rs' own writer in
/// small row groups (not kubetally's).
fn reversed_copy(from: &Path, to: &Path) {
    for entry in walk(from) {
        let relative = entry.strip_prefix(from).unwrap();
        let target = to.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        let table = relative.components().next();
        let reorder = entry.extension().is_some_and(|e| e == "parquet")
            && table.is_some_and(|t| t.as_os_str() == "allocation" || t.as_os_str() == "workloads");
        if !reorder {
            std::fs::copy(&entry, &target).unwrap();
            continue;
        }
        let file = std::fs::File::open(&entry).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .unwrap_or_else(|e| panic!("{}: {e}", entry.display()));
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        let schema = batches
            .first()
            .map(RecordBatch::schema)
            .unwrap_or_else(|| panic!("{}: no rows", entry.display()));
        let all = arrow::compute::concat_batches(&schema, &batches).unwrap();
        let rows = u32::try_from(all.num_rows()).unwrap();
        let backwards = UInt32Array::from_iter_values((0..rows).rev());
        let columns = all
            .columns()
            .iter()
            .map(|c| arrow::compute::take(c, &backwards, None))
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let reversed = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
        let out = std::fs::File::create(&target).unwrap();
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(7))
            .build();
        let mut writer = ArrowWriter::try_new(out, schema, Some(properties)).unwrap();
        writer.write(&reversed).unwrap();
        writer.close().unwrap();
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Equal up to the last bits a different order of addition moves.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The parts of a history a recommendation is made of, equal within
/// rounding (rows of one hour, one per pod, are added in another order).
fn same_history(key: &str, a: &History, b: &History) {
    let pairs = [
        ("pod_hours", a.pod_hours, b.pod_hours),
        ("cpu_cost_usd", a.cpu_cost_usd, b.cpu_cost_usd),
        ("memory_cost_usd", a.memory_cost_usd, b.memory_cost_usd),
        (
            "cpu_request_core_hours",
            a.cpu_request_core_hours,
            b.cpu_request_core_hours,
        ),
        (
            "memory_billed_gib_hours",
            a.memory_billed_gib_hours,
            b.memory_billed_gib_hours,
        ),
        (
            "cpu samples",
            a.cpu_pooled().count() as f64,
            b.cpu_pooled().count() as f64,
        ),
    ];
    for (name, x, y) in pairs {
        assert!(close(x, y), "{key}: {name} {x} != {y}");
    }
    for p in [0.5, 0.9, 0.95, 1.0] {
        assert_eq!(
            a.vpa.cpu.percentile(p),
            b.vpa.cpu.percentile(p),
            "{key}: vpa cpu p{p}"
        );
        assert_eq!(
            a.vpa.memory_peaks.percentile(p),
            b.vpa.memory_peaks.percentile(p),
            "{key}: vpa memory p{p}"
        );
        assert_eq!(
            a.cpu_pooled().quantile(p),
            b.cpu_pooled().quantile(p),
            "{key}: cpu p{p}"
        );
    }
    assert_eq!(
        (
            a.samples,
            a.oom_kills,
            a.restarts,
            a.first_hour,
            a.last_hour
        ),
        (
            b.samples,
            b.oom_kills,
            b.restarts,
            b.first_hour,
            b.last_hour
        ),
        "{key}"
    );
    assert_eq!(
        (a.memory_max_bytes, a.cpu_max_cores, a.vpa.total_samples),
        (b.memory_max_bytes, b.cpu_max_cores, b.vpa.total_samples),
        "{key}"
    );
    let places = |h: &History| h.placements.keys().cloned().collect::<Vec<_>>();
    assert_eq!(places(a), places(b), "{key}: placements");
    for ((place, x), y) in a.placements.iter().zip(b.placements.values()) {
        assert!(close(*x, *y), "{key}: {place:?} {x} != {y}");
    }
}

/// The dataset at `data` and a copy with every file's rows reversed read
/// to the same histories, templates and observed times.
pub(crate) fn any_row_order_reads_the_same(data: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("reversed");
    reversed_copy(data, &copy);
    let scope = Scope::default();
    let histories = history::read(data, &scope).unwrap();
    let reversed = history::read(&copy, &scope).unwrap();
    assert!(histories.len() > 3, "{:?}", histories.keys());
    assert_eq!(
        histories.keys().collect::<Vec<_>>(),
        reversed.keys().collect::<Vec<_>>()
    );
    for ((key, a), b) in histories.iter().zip(reversed.values()) {
        same_history(&format!("{key:?}"), a, b);
    }
    let templates = history::read_templates(data, &scope).unwrap();
    let again = history::read_templates(&copy, &scope).unwrap();
    assert!(!templates.containers.is_empty());
    assert_eq!(templates.containers, again.containers);
    assert_eq!(templates.workloads, again.workloads);
    assert_eq!(
        observed::read(data, &scope).unwrap(),
        observed::read(&copy, &scope).unwrap()
    );
}
