//! What the dataset says about each workload container over a window,
//! folded hour by hour from `allocation` rows into the state the strategies
//! need — VPA's decaying histograms and memory windows, a plain histogram
//! for KRR's percentile, the peak, OOM kills, current requests and the unit
//! prices paid — never by rescanning raw samples, so a month of a large
//! cluster stays a single pass.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use arrow::array::{
    Array, AsArray, Float64Array, Int32Array, Int64Array, ListArray, RecordBatch, StringArray,
    StructArray,
};
use arrow::datatypes::{DataType, Int32Type, TimestampMillisecondType};
use chrono::{DateTime, Duration, Utc};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::rightsize::{Resources, Template};
use super::spot::WorkloadFacts;
use super::vpa;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A workload container: the unit recommendations are for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerKey {
    pub namespace: String,
    pub workload_kind: String,
    pub workload_name: String,
    pub container: String,
}

/// One workload container's window.
#[derive(Debug, Clone)]
pub struct History {
    pub vpa: vpa::Aggregate,
    /// VPA's per-pod memory windows, by pod UID.
    pods: HashMap<String, vpa::Container>,
    /// Every sample, undecayed (KRR's view).
    pub cpu_plain: vpa::Histogram,
    pub memory_max_bytes: Option<f64>,
    pub cpu_max_cores: Option<f64>,
    pub oom_kills: u64,
    pub restarts: u64,
    pub samples: u64,
    pub pod_hours: f64,
    pub cpu_request_core_hours: f64,
    pub memory_request_gib_hours: f64,
    pub cpu_cost_usd: f64,
    pub cpu_billed_core_hours: f64,
    pub memory_cost_usd: f64,
    pub memory_billed_gib_hours: f64,
    pub first_hour: Option<DateTime<Utc>>,
    pub last_hour: Option<DateTime<Utc>>,
    /// Pod-hours by where they ran: (provider, region, machine family,
    /// machine type, capacity type).
    pub placements: BTreeMap<Placement, f64>,
}

/// Where a container's pods ran.
pub type Placement = (String, String, String, String, String);

impl History {
    fn new(config: &vpa::Config) -> History {
        History {
            vpa: vpa::Aggregate::new(config),
            pods: HashMap::new(),
            cpu_plain: vpa::Histogram::new(vpa::cpu_options()),
            memory_max_bytes: None,
            cpu_max_cores: None,
            oom_kills: 0,
            restarts: 0,
            samples: 0,
            pod_hours: 0.0,
            cpu_request_core_hours: 0.0,
            memory_request_gib_hours: 0.0,
            cpu_cost_usd: 0.0,
            cpu_billed_core_hours: 0.0,
            memory_cost_usd: 0.0,
            memory_billed_gib_hours: 0.0,
            first_hour: None,
            last_hour: None,
            placements: BTreeMap::new(),
        }
    }

    /// Where most of its pod-hours ran.
    pub fn main_placement(&self) -> Option<&Placement> {
        self.placements
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(p, _)| p)
    }

    /// The current CPU request: time-weighted over the window, cores.
    pub fn cpu_request_cores(&self) -> f64 {
        if self.pod_hours > 0.0 {
            self.cpu_request_core_hours / self.pod_hours
        } else {
            0.0
        }
    }

    pub fn memory_request_bytes(&self) -> f64 {
        if self.pod_hours > 0.0 {
            self.memory_request_gib_hours / self.pod_hours * GIB
        } else {
            0.0
        }
    }

    /// What a core-hour of this container cost (its nodes' unit prices).
    pub fn core_hour_usd(&self) -> f64 {
        if self.cpu_billed_core_hours > 0.0 {
            self.cpu_cost_usd / self.cpu_billed_core_hours
        } else {
            0.0
        }
    }

    pub fn gib_hour_usd(&self) -> f64 {
        if self.memory_billed_gib_hours > 0.0 {
            self.memory_cost_usd / self.memory_billed_gib_hours
        } else {
            0.0
        }
    }

    /// Pods running on average over the window's hours.
    pub fn average_pods(&self) -> f64 {
        match (self.first_hour, self.last_hour) {
            (Some(first), Some(last)) => {
                let hours = ((last - first).num_hours() + 1).max(1) as f64;
                self.pod_hours / hours
            }
            _ => 0.0,
        }
    }
}

/// Why the dataset could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{root}: no allocation files (is this a kubetally dataset?)")]
    Empty { root: String },
}

/// Which files of the dataset a read covers: `date=` partitions on or after
/// `since`'s date, and one `cluster=` partition or all of them.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub since: Option<DateTime<Utc>>,
    pub cluster: Option<String>,
}

impl Scope {
    fn skips(&self, folder: &str) -> bool {
        if let Some(date) = folder.strip_prefix("date=") {
            return self
                .since
                .is_some_and(|since| date < since.format("%Y-%m-%d").to_string().as_str());
        }
        folder
            .strip_prefix("cluster=")
            .zip(self.cluster.as_deref())
            .is_some_and(|(name, wanted)| name != wanted)
    }
}

/// The files of `table` under `root` in `scope`, oldest first (hour order
/// within a day).
pub fn table_files(root: &Path, table: &str, scope: &Scope) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.join(table)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('_') && !scope.skips(&name) {
                    stack.push(path);
                }
            } else if name.ends_with(".parquet") && !name.starts_with('.') {
                files.push(path);
            }
        }
    }
    // date=… folders sort by date, part-HH-… files by hour.
    files.sort_by(|a, b| {
        let key = |p: &PathBuf| {
            (
                p.parent()
                    .and_then(|d| d.file_name())
                    .map(|n| n.to_os_string()),
                p.file_name().map(|n| n.to_os_string()),
            )
        };
        key(a).cmp(&key(b))
    });
    files
}

/// The `cluster=` partitions of `table` under `root`, sorted.
pub fn clusters(root: &Path, table: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join(table))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_prefix("cluster=").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

const COLUMNS: [&str; 24] = [
    "start_time",
    "provider",
    "region",
    "machine_family",
    "machine_type",
    "capacity_type",
    "namespace",
    "workload_kind",
    "workload_name",
    "pod_uid",
    "container",
    "running_seconds",
    "sample_count",
    "cpu_request_core_hours",
    "memory_request_gib_hours",
    "cpu_billed_core_hours",
    "memory_billed_gib_hours",
    "cpu_cost_usd",
    "memory_cost_usd",
    "cpu_usage_max_cores",
    "memory_usage_max_bytes",
    "cpu_usage_histogram",
    "oom_kills",
    "restarts",
];

fn column<'a>(
    batch: &'a RecordBatch,
    name: &str,
    path: &str,
) -> Result<&'a dyn Array, HistoryError> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| HistoryError::File {
            path: path.to_owned(),
            message: format!("no column {name}"),
        })
}

fn strings(batch: &RecordBatch, name: &str, path: &str) -> Result<StringArray, HistoryError> {
    let array = column(batch, name, path)?;
    arrow::compute::cast(array, &DataType::Utf8)
        .map(|a| a.as_string::<i32>().clone())
        .map_err(|e| HistoryError::File {
            path: path.to_owned(),
            message: format!("{name}: {e}"),
        })
}

fn typed<T: Array + Clone + 'static>(
    batch: &RecordBatch,
    name: &str,
    path: &str,
) -> Result<T, HistoryError> {
    column(batch, name, path)?
        .as_any()
        .downcast_ref::<T>()
        .cloned()
        .ok_or_else(|| HistoryError::File {
            path: path.to_owned(),
            message: format!("{name} has an unexpected type"),
        })
}

/// Folds every `allocation` row in `scope` into per-container history.
///
/// # Errors
///
/// [`HistoryError`] naming the file that cannot be read.
pub fn read(root: &Path, scope: &Scope) -> Result<BTreeMap<ContainerKey, History>, HistoryError> {
    let files = table_files(root, "allocation", scope);
    if files.is_empty() {
        return Err(HistoryError::Empty {
            root: root.display().to_string(),
        });
    }
    let config = vpa::Config::default();
    let mut histories: BTreeMap<ContainerKey, History> = BTreeMap::new();
    for file in files {
        let shown = file.display().to_string();
        let bad = |message: String| HistoryError::File {
            path: shown.clone(),
            message,
        };
        let handle = std::fs::File::open(&file).map_err(|e| bad(e.to_string()))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(handle).map_err(|e| bad(e.to_string()))?;
        let schema = builder.parquet_schema();
        let wanted: Vec<usize> = (0..schema.num_columns())
            .filter(|i| {
                let path = schema
                    .column(*i)
                    .path()
                    .parts()
                    .first()
                    .cloned()
                    .unwrap_or_default();
                COLUMNS.contains(&path.as_str())
            })
            .collect();
        let mask = ProjectionMask::leaves(schema, wanted);
        let reader = builder
            .with_projection(mask)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        for batch in reader {
            let batch = batch.map_err(|e| bad(e.to_string()))?;
            fold(&batch, &shown, &config, &mut histories)?;
        }
    }
    Ok(histories)
}

fn fold(
    batch: &RecordBatch,
    path: &str,
    config: &vpa::Config,
    histories: &mut BTreeMap<ContainerKey, History>,
) -> Result<(), HistoryError> {
    let start = column(batch, "start_time", path)?
        .as_primitive_opt::<TimestampMillisecondType>()
        .cloned()
        .ok_or_else(|| HistoryError::File {
            path: path.to_owned(),
            message: "start_time is not a timestamp".into(),
        })?;
    let namespace = strings(batch, "namespace", path)?;
    let kind = strings(batch, "workload_kind", path)?;
    let name = strings(batch, "workload_name", path)?;
    let pod = strings(batch, "pod_uid", path)?;
    let container = strings(batch, "container", path)?;
    let placement: Vec<StringArray> = [
        "provider",
        "region",
        "machine_family",
        "machine_type",
        "capacity_type",
    ]
    .iter()
    .map(|n| strings(batch, n, path))
    .collect::<Result<_, _>>()?;
    let running: Float64Array = typed(batch, "running_seconds", path)?;
    let samples: Int32Array = typed(batch, "sample_count", path)?;
    let floats = |n: &str| typed::<Float64Array>(batch, n, path);
    let (cpu_req, mem_req) = (
        floats("cpu_request_core_hours")?,
        floats("memory_request_gib_hours")?,
    );
    let (cpu_billed, mem_billed) = (
        floats("cpu_billed_core_hours")?,
        floats("memory_billed_gib_hours")?,
    );
    let (cpu_cost, mem_cost) = (floats("cpu_cost_usd")?, floats("memory_cost_usd")?);
    let cpu_max = floats("cpu_usage_max_cores")?;
    let mem_max: Int64Array = typed(batch, "memory_usage_max_bytes", path)?;
    let histogram: ListArray = typed(batch, "cpu_usage_histogram", path)?;
    let oom: Int32Array = typed(batch, "oom_kills", path)?;
    let restarts: Int32Array = typed(batch, "restarts", path)?;
    for row in 0..batch.num_rows() {
        let Some(hour) = DateTime::<Utc>::from_timestamp_millis(start.value(row)) else {
            continue;
        };
        let middle = hour + Duration::minutes(30);
        let key = ContainerKey {
            namespace: namespace.value(row).to_owned(),
            workload_kind: kind.value(row).to_owned(),
            workload_name: name.value(row).to_owned(),
            container: container.value(row).to_owned(),
        };
        let history = histories.entry(key).or_insert_with(|| History::new(config));
        let hours = running.value(row) / 3600.0;
        history.pod_hours += hours;
        let place = |i: usize| placement[i].value(row).to_owned();
        *history
            .placements
            .entry((place(0), place(1), place(2), place(3), place(4)))
            .or_default() += hours;
        history.cpu_request_core_hours += cpu_req.value(row);
        history.memory_request_gib_hours += mem_req.value(row);
        history.cpu_billed_core_hours += cpu_billed.value(row);
        history.memory_billed_gib_hours += mem_billed.value(row);
        history.cpu_cost_usd += cpu_cost.value(row);
        history.memory_cost_usd += mem_cost.value(row);
        history.first_hour = Some(history.first_hour.map_or(hour, |f| f.min(hour)));
        history.last_hour = Some(history.last_hour.map_or(hour, |l| l.max(hour)));
        history.oom_kills += u64::try_from(oom.value(row).max(0)).unwrap_or(0);
        history.restarts += u64::try_from(restarts.value(row).max(0)).unwrap_or(0);
        let count = u64::try_from(samples.value(row).max(0)).unwrap_or(0);
        if count > 0 {
            // VPA adds one CPU sample of weight 0.1 per minute; an hour's
            // histogram adds them all at the hour's middle.
            let buckets = histogram.value(row);
            let buckets: &StructArray = buckets.as_struct();
            let bucket = buckets.column(0).as_primitive::<Int32Type>();
            let weight = buckets
                .column(1)
                .as_primitive::<arrow::datatypes::Float64Type>();
            for i in 0..buckets.len() {
                let b = usize::try_from(bucket.value(i).max(0)).unwrap_or(0);
                let w = weight.value(i);
                history
                    .vpa
                    .cpu
                    .add_to_bucket(b, vpa::MIN_SAMPLE_WEIGHT * w, middle);
                history.cpu_plain.add_to_bucket(b, w);
            }
            history
                .vpa
                .count_samples(hour, hour + Duration::minutes(59), count);
            history.samples += count;
        }
        if !cpu_max.is_null(row) {
            let value = cpu_max.value(row);
            history.cpu_max_cores = Some(history.cpu_max_cores.map_or(value, |m| m.max(value)));
        }
        let pod_state = history.pods.entry(pod.value(row).to_owned()).or_default();
        if !mem_max.is_null(row) {
            let peak = mem_max.value(row);
            pod_state.add_memory_sample(config, &mut history.vpa, middle, peak, false);
            let peak = peak as f64;
            history.memory_max_bytes = Some(history.memory_max_bytes.map_or(peak, |m| m.max(peak)));
        }
        if oom.value(row) > 0 && hours > 0.0 {
            let request = vpa::amount(mem_req.value(row) / hours * GIB);
            // A kill older than the memory window is VPA's to discard too.
            let _ = pod_state.record_oom(config, &mut history.vpa, middle, request);
        }
    }
    Ok(())
}

/// Each workload container's template as of the newest `workloads` row:
/// requests and limits, the HPA's resources, containers in the pod.
///
/// # Errors
///
/// [`HistoryError`] naming the file that cannot be read.
pub fn read_templates(root: &Path, scope: &Scope) -> Result<Templates, HistoryError> {
    let mut templates = Templates::default();
    for_each_batch(root, "workloads", scope, |batch, path| {
        fold_templates(batch, path, &mut templates.containers)?;
        fold_workloads(batch, path, &mut templates.workloads)
    })?;
    Ok(templates)
}

/// What the `workloads` table says, per container and per workload.
#[derive(Debug, Default)]
pub struct Templates {
    pub containers: BTreeMap<ContainerKey, Template>,
    pub workloads: BTreeMap<WorkloadKey, WorkloadFacts>,
}

/// Calls `fold` on every record batch of `table`'s files in `scope`,
/// oldest first.
///
/// # Errors
///
/// [`HistoryError`] naming the file that cannot be read, or `fold`'s.
pub fn for_each_batch(
    root: &Path,
    table: &str,
    scope: &Scope,
    mut fold: impl FnMut(&RecordBatch, &str) -> Result<(), HistoryError>,
) -> Result<(), HistoryError> {
    for file in table_files(root, table, scope) {
        let shown = file.display().to_string();
        let bad = |message: String| HistoryError::File {
            path: shown.clone(),
            message,
        };
        let handle = std::fs::File::open(&file).map_err(|e| bad(e.to_string()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(handle)
            .and_then(|b| b.build())
            .map_err(|e| bad(e.to_string()))?;
        for batch in reader {
            let batch = batch.map_err(|e| bad(e.to_string()))?;
            fold(&batch, &shown)?;
        }
    }
    Ok(())
}

/// (namespace, kind, name).
pub type WorkloadKey = (String, String, String);

fn fold_workloads(
    batch: &RecordBatch,
    path: &str,
    workloads: &mut BTreeMap<WorkloadKey, WorkloadFacts>,
) -> Result<(), HistoryError> {
    let namespace = strings(batch, "namespace", path)?;
    let kind = strings(batch, "workload_kind", path)?;
    let name = strings(batch, "workload_name", path)?;
    let priority = strings(batch, "priority_class", path)?;
    let replicas: Int32Array = typed(batch, "replicas", path)?;
    let hpa_min: Int32Array = typed(batch, "hpa_min_replicas", path)?;
    let has_pdb: arrow::array::BooleanArray = typed(batch, "has_pdb", path)?;
    let allowed: Int32Array = typed(batch, "pdb_disruptions_allowed", path)?;
    let grace: Int64Array = typed(batch, "termination_grace_seconds", path)?;
    let volumes: ListArray = typed(batch, "volume_kinds", path)?;
    let annotations: ListArray = typed(batch, "annotations", path)?;
    let optional = |a: &Int32Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
    // Added after the first datasets were written: absent reads as null.
    let newer = |name: &str| batch.column_by_name(name).cloned();
    let (max_unavailable, backoff_limit) = (newer("max_unavailable"), newer("backoff_limit"));
    let int = |column: &Option<arrow::array::ArrayRef>, i: usize| {
        column
            .as_ref()
            .and_then(|c| c.as_primitive_opt::<Int32Type>())
            .and_then(|c| (!c.is_null(i)).then(|| c.value(i)))
    };
    for row in 0..batch.num_rows() {
        let volume_kinds: Vec<String> = volumes
            .value(row)
            .as_string_opt::<i32>()
            .map(|v| v.iter().flatten().map(str::to_owned).collect())
            .unwrap_or_default();
        let pairs = annotations.value(row);
        let annotations: Vec<(String, String)> = pairs
            .as_struct_opt()
            .and_then(|s| {
                let keys = s.column(0).as_string_opt::<i32>()?;
                let values = s.column(1).as_string_opt::<i32>()?;
                Some(
                    (0..s.len())
                        .map(|i| (keys.value(i).to_owned(), values.value(i).to_owned()))
                        .collect(),
                )
            })
            .unwrap_or_default();
        let key = (
            namespace.value(row).to_owned(),
            kind.value(row).to_owned(),
            name.value(row).to_owned(),
        );
        workloads.insert(
            key.clone(),
            WorkloadFacts {
                namespace: key.0,
                kind: key.1,
                max_unavailable: int(&max_unavailable, row),
                job_backoff_limit: int(&backoff_limit, row),
                replicas: optional(&replicas, row),
                hpa_min_replicas: optional(&hpa_min, row),
                has_pdb: has_pdb.value(row),
                pdb_disruptions_allowed: optional(&allowed, row),
                termination_grace_seconds: grace.value(row),
                volume_kinds,
                annotations,
                priority_class: priority.value(row).to_owned(),
                ..WorkloadFacts::default()
            },
        );
    }
    Ok(())
}

fn fold_templates(
    batch: &RecordBatch,
    path: &str,
    templates: &mut BTreeMap<ContainerKey, Template>,
) -> Result<(), HistoryError> {
    let namespace = strings(batch, "namespace", path)?;
    let kind = strings(batch, "workload_kind", path)?;
    let name = strings(batch, "workload_name", path)?;
    let hpa: ListArray = typed(batch, "hpa_metrics", path)?;
    let containers: ListArray = typed(batch, "containers", path)?;
    for row in 0..batch.num_rows() {
        let metrics = hpa.value(row);
        let metrics: Vec<String> = metrics
            .as_string_opt::<i32>()
            .map(|m| m.iter().flatten().map(str::to_owned).collect())
            .unwrap_or_default();
        let list = containers.value(row);
        let Some(list) = list.as_struct_opt() else {
            continue;
        };
        let field = |n: &str| list.column_by_name(n).cloned();
        let (Some(names), Some(cpu_req), Some(cpu_lim), Some(mem_req), Some(mem_lim), Some(init)) = (
            field("name"),
            field("cpu_request_cores"),
            field("cpu_limit_cores"),
            field("memory_request_bytes"),
            field("memory_limit_bytes"),
            field("is_init"),
        ) else {
            return Err(HistoryError::File {
                path: path.to_owned(),
                message: "containers lacks a field".into(),
            });
        };
        let (Some(names), Some(cpu_req), Some(cpu_lim), Some(mem_req), Some(mem_lim), Some(init)) = (
            names.as_string_opt::<i32>(),
            cpu_req.as_primitive_opt::<arrow::datatypes::Float64Type>(),
            cpu_lim.as_primitive_opt::<arrow::datatypes::Float64Type>(),
            mem_req.as_primitive_opt::<arrow::datatypes::Int64Type>(),
            mem_lim.as_primitive_opt::<arrow::datatypes::Int64Type>(),
            init.as_boolean_opt(),
        ) else {
            return Err(HistoryError::File {
                path: path.to_owned(),
                message: "containers has unexpected types".into(),
            });
        };
        let regular = (0..list.len()).filter(|i| !init.value(*i)).count();
        for i in 0..list.len() {
            let float = |a: &arrow::array::Float64Array| (!a.is_null(i)).then(|| a.value(i));
            let int = |a: &Int64Array| (!a.is_null(i)).then(|| a.value(i) as f64);
            templates.insert(
                ContainerKey {
                    namespace: namespace.value(row).to_owned(),
                    workload_kind: kind.value(row).to_owned(),
                    workload_name: name.value(row).to_owned(),
                    container: names.value(i).to_owned(),
                },
                Template {
                    current: Resources {
                        cpu_request_cores: float(cpu_req),
                        cpu_limit_cores: float(cpu_lim),
                        memory_request_bytes: int(mem_req),
                        memory_limit_bytes: int(mem_lim),
                    },
                    hpa_metrics: metrics.clone(),
                    containers_in_pod: regular.max(1),
                    is_init: init.value(i),
                },
            );
        }
    }
    Ok(())
}
