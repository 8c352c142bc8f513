//! What the dataset says about each workload container over a window,
//! folded hour by hour from `allocation` rows into the state the strategies
//! need — VPA's decaying histograms and memory windows, a plain histogram
//! for KRR's percentile, the peak, OOM kills, current requests and the unit
//! prices paid — never by rescanning raw samples, so a month of a large
//! cluster stays a single pass.

mod intern;
mod newest;
mod scan;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::rightsize::{Resources, Template};
use super::spot::WorkloadFacts;
use super::vpa;
use crate::store::read::{self, Batch, Columns, Filter, ReadError, Select, TableFile};
use crate::store::schema::col;

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
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Which files of the dataset a read covers: `date=` partitions on or after
/// `since`'s date, and one `cluster=` partition or all of them.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub since: Option<DateTime<Utc>>,
    pub cluster: Option<String>,
}

impl Scope {
    /// The partitions the scope covers.
    fn filter(&self) -> Filter {
        Filter {
            cluster: self.cluster.clone(),
            from: self.since.map(|since| since.date_naive()),
            to: None,
        }
    }
}

/// The files of `table` under `root` in `scope`, oldest first (hour order
/// within a day).
///
/// # Errors
///
/// [`HistoryError::Read`] naming a folder that cannot be listed.
pub fn table_files(
    root: &Path,
    table: &str,
    scope: &Scope,
) -> Result<Vec<TableFile>, HistoryError> {
    Ok(read::files(root, table, &scope.filter())?)
}

/// The `allocation` columns the fold reads.
const COLUMNS: [&str; 24] = [
    col::START_TIME,
    col::PROVIDER,
    col::REGION,
    col::MACHINE_FAMILY,
    col::MACHINE_TYPE,
    col::CAPACITY_TYPE,
    col::NAMESPACE,
    col::WORKLOAD_KIND,
    col::WORKLOAD_NAME,
    col::POD_UID,
    col::CONTAINER,
    col::RUNNING_SECONDS,
    col::SAMPLE_COUNT,
    col::CPU_REQUEST_CORE_HOURS,
    col::MEMORY_REQUEST_GIB_HOURS,
    col::CPU_BILLED_CORE_HOURS,
    col::MEMORY_BILLED_GIB_HOURS,
    col::CPU_COST_USD,
    col::MEMORY_COST_USD,
    col::CPU_USAGE_MAX_CORES,
    col::MEMORY_USAGE_MAX_BYTES,
    col::CPU_USAGE_HISTOGRAM,
    col::OOM_KILLS,
    col::RESTARTS,
];

/// Folds every `allocation` row in `scope` into per-container history.
///
/// The files are decoded (and each row's keys resolved to ids) on a second
/// thread while this one folds, in file and row order, so every sum and
/// every VPA window sees its rows in the order a single pass would.
///
/// # Errors
///
/// [`HistoryError`] naming the file that cannot be read.
pub fn read(root: &Path, scope: &Scope) -> Result<BTreeMap<ContainerKey, History>, HistoryError> {
    read_reporting(root, scope, &|_, _| {})
}

/// Told (files folded, files in all) as a read goes, for a progress display.
pub type OnFile<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// [`read`], calling `on_file` as each file is folded.
///
/// # Errors
///
/// As [`read`].
pub fn read_reporting(
    root: &Path,
    scope: &Scope,
    on_file: OnFile<'_>,
) -> Result<BTreeMap<ContainerKey, History>, HistoryError> {
    let files = table_files(root, "allocation", scope)?;
    let total = files.len();
    if files.is_empty() {
        return Err(HistoryError::Empty {
            root: root.display().to_string(),
        });
    }
    let config = vpa::Config::default();
    let mut state = FoldState::default();
    let scanner = std::thread::scope(|threads| {
        let (send, receive) = std::sync::mpsc::sync_channel(DECODED_AHEAD);
        let decoder = threads.spawn(move || scan::scan(&files, &COLUMNS, &send));
        let mut last: Option<Arc<str>> = None;
        let mut done = 0;
        let folded = receive.into_iter().try_for_each(|resolved| {
            let resolved = resolved?;
            if last.as_ref().is_none_or(|path| *path != resolved.path) {
                if last.is_some() {
                    done += 1;
                    on_file(done, total);
                }
                last = Some(resolved.path.clone());
            }
            fold(&resolved, &config, &mut state)
        });
        on_file(total, total);
        // A failed fold drops the receiver above, which stops the decoder.
        let scanner = decoder
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        folded.map(|()| scanner)
    })?;
    Ok(state.histories(&scanner))
}

/// Decoded batches waiting for the fold, at most.
const DECODED_AHEAD: usize = 4;

/// One workload container being folded.
struct Folding {
    history: History,
    /// Pod-hours by placement id (a container runs in a few places).
    placements: Vec<(usize, f64)>,
}

/// Rows whose state is brought into cache together before they are
/// folded. The collector writes rows sorted by workload container, the
/// order the state was made in, but files written before it did (in its
/// pod map's order) or by another writer come in any order: folded one by
/// one, each row would wait for its container's state, its histograms and
/// its pod's window, miss after miss; touched a few dozen rows at a time
/// first, those misses overlap. On sorted files it costs nothing measurable
/// (docs/performance.md).
const WARM_ROWS: usize = 32;

/// The fold's state, by the scanner's ids.
#[derive(Default)]
struct FoldState {
    /// By workload container id; `None` until a row of it is folded.
    containers: Vec<Option<Folding>>,
    /// VPA's per-pod memory windows, by (workload container, pod) id.
    pods: Vec<vpa::Container>,
}

impl FoldState {
    /// Touches the state of `rows` of `resolved` (see [`WARM_ROWS`]): first
    /// the containers' and pods' own memory, then what they point to.
    fn warm(&self, resolved: &scan::Resolved, rows: std::ops::Range<usize>) {
        use std::hint::black_box;
        let end = rows.end.min(resolved.container.len());
        let rows = rows.start.min(end)..end;
        let containers = || {
            resolved.container[rows.clone()]
                .iter()
                .filter_map(|id| self.containers.get(*id)?.as_ref())
        };
        for folding in containers() {
            // Fields the fold writes, spread over the struct's cache lines.
            let history = &folding.history;
            black_box((
                history.pod_hours,
                history.cpu_cost_usd,
                history.memory_billed_gib_hours,
                history.samples,
                history.oom_kills,
                history.last_hour,
                history.memory_max_bytes,
                history.vpa.last_sample,
                history.vpa.total_samples,
            ));
        }
        for pod in &resolved.pod[rows.clone()] {
            black_box(self.pods.get(*pod).cloned());
        }
        for folding in containers() {
            let history = &folding.history;
            black_box(folding.placements.first().map(|p| p.1));
            black_box(history.vpa.cpu.touch());
            black_box(history.vpa.memory_peaks.touch());
            black_box(history.cpu_plain.touch());
        }
    }

    /// The histories by key, their placements by name.
    fn histories(self, scanner: &scan::Scanner) -> BTreeMap<ContainerKey, History> {
        let name = |column: usize, id: usize| scanner.name(column, id).to_owned();
        self.containers
            .into_iter()
            .zip(&scanner.containers)
            .filter_map(|(folding, parts)| {
                let mut folding = folding?;
                if crate::model::reserve::is_pod_row(scanner.name(3, parts[3])) {
                    return None;
                }
                let key = ContainerKey {
                    namespace: name(0, parts[0]),
                    workload_kind: name(1, parts[1]),
                    workload_name: name(2, parts[2]),
                    container: name(3, parts[3]),
                };
                for (placement, hours) in folding.placements {
                    let parts = scanner
                        .placements
                        .get(placement)
                        .copied()
                        .unwrap_or_default();
                    let part = |i: usize| name(5 + i, parts[i]);
                    folding
                        .history
                        .placements
                        .insert((part(0), part(1), part(2), part(3), part(4)), hours);
                }
                Some((key, folding.history))
            })
            .collect()
    }
}

fn fold(
    resolved: &scan::Resolved,
    config: &vpa::Config,
    state: &mut FoldState,
) -> Result<(), HistoryError> {
    let path = &*resolved.path;
    let bad = file_error(path);
    let batch = resolved.batch.columns();
    let start = batch.millis(col::START_TIME)?;
    let running = batch.floats(col::RUNNING_SECONDS)?;
    let samples = batch.int32s(col::SAMPLE_COUNT)?;
    let floats = |n: &str| batch.floats(n);
    let (cpu_req, mem_req) = (
        floats(col::CPU_REQUEST_CORE_HOURS)?,
        floats(col::MEMORY_REQUEST_GIB_HOURS)?,
    );
    let (cpu_billed, mem_billed) = (
        floats(col::CPU_BILLED_CORE_HOURS)?,
        floats(col::MEMORY_BILLED_GIB_HOURS)?,
    );
    let (cpu_cost, mem_cost) = (floats(col::CPU_COST_USD)?, floats(col::MEMORY_COST_USD)?);
    let cpu_max = floats(col::CPU_USAGE_MAX_CORES)?;
    let mem_max = batch.int64s(col::MEMORY_USAGE_MAX_BYTES)?;
    let histogram = batch.list(col::CPU_USAGE_HISTOGRAM)?;
    let (buckets, weights) = histogram
        .fields()
        .and_then(|entries| Ok((entries.int32s(col::BUCKET)?, entries.floats(col::WEIGHT)?)))
        .map_err(|_| bad("cpu_usage_histogram is not a list of (bucket, weight)".into()))?;
    let (buckets, weights) = (buckets.values(), weights.values());
    let oom = batch.int32s(col::OOM_KILLS)?;
    let restarts = batch.int32s(col::RESTARTS)?;
    // Every row is read by index: the arrays' values as slices.
    let (start, running, samples) = (start.values(), running.values(), samples.values());
    let (cpu_req, mem_req) = (cpu_req.values(), mem_req.values());
    let (cpu_billed, mem_billed) = (cpu_billed.values(), mem_billed.values());
    let (cpu_cost, mem_cost) = (cpu_cost.values(), mem_cost.values());
    let (oom, restarts) = (oom.values(), restarts.values());
    // (start_time in ms, the hour, its middle, its last minute): the rows
    // of a file are mostly of one hour.
    let mut times: Option<(i64, [DateTime<Utc>; 3])> = None;
    for row in 0..batch.rows() {
        if row % WARM_ROWS == 0 {
            state.warm(resolved, row..row + WARM_ROWS);
        }
        let millis = start[row];
        let [hour, middle, last_minute] = match times {
            Some((seen, times)) if seen == millis => times,
            _ => {
                let Some(hour) = DateTime::<Utc>::from_timestamp_millis(millis) else {
                    continue;
                };
                let hour_times = [
                    hour,
                    hour + Duration::minutes(30),
                    hour + Duration::minutes(59),
                ];
                times = Some((millis, hour_times));
                hour_times
            }
        };
        let id = resolved.container[row];
        if state.containers.len() <= id {
            state.containers.resize_with(id + 1, || None);
        }
        let folding = state.containers[id].get_or_insert_with(|| Folding {
            history: History::new(config),
            placements: Vec::new(),
        });
        let history = &mut folding.history;
        let hours = running[row] / 3600.0;
        history.pod_hours += hours;
        let placement = resolved.placement[row];
        let at = match folding.placements.iter().position(|(p, _)| *p == placement) {
            Some(at) => at,
            None => {
                folding.placements.push((placement, 0.0));
                folding.placements.len() - 1
            }
        };
        folding.placements[at].1 += hours;
        history.cpu_request_core_hours += cpu_req[row];
        history.memory_request_gib_hours += mem_req[row];
        history.cpu_billed_core_hours += cpu_billed[row];
        history.memory_billed_gib_hours += mem_billed[row];
        history.cpu_cost_usd += cpu_cost[row];
        history.memory_cost_usd += mem_cost[row];
        history.first_hour = Some(history.first_hour.map_or(hour, |f| f.min(hour)));
        history.last_hour = Some(history.last_hour.map_or(hour, |l| l.max(hour)));
        history.oom_kills += u64::try_from(oom[row].max(0)).unwrap_or(0);
        history.restarts += u64::try_from(restarts[row].max(0)).unwrap_or(0);
        let count = u64::try_from(samples[row].max(0)).unwrap_or(0);
        if count > 0 {
            // VPA adds one CPU sample of weight 0.1 per minute; an hour's
            // histogram adds them all at the hour's middle.
            let range = Some(histogram.range(row))
                .filter(|range| range.end <= buckets.len().min(weights.len()))
                .unwrap_or(0..0);
            let entries = || {
                buckets[range.clone()]
                    .iter()
                    .zip(&weights[range.clone()])
                    .map(|(b, w)| (usize::try_from((*b).max(0)).unwrap_or(0), *w))
            };
            history.vpa.cpu.add_to_buckets(
                entries().map(|(b, w)| (b, vpa::MIN_SAMPLE_WEIGHT * w)),
                middle,
            );
            for (b, w) in entries() {
                history.cpu_plain.add_to_bucket(b, w);
            }
            history.vpa.count_samples(hour, last_minute, count);
            history.samples += count;
        }
        if let Some(value) = cpu_max.get(row) {
            history.cpu_max_cores = Some(history.cpu_max_cores.map_or(value, |m| m.max(value)));
        }
        let pod = resolved.pod[row];
        if state.pods.len() <= pod {
            state.pods.resize_with(pod + 1, vpa::Container::default);
        }
        let pod_state = &mut state.pods[pod];
        if let Some(peak) = mem_max.get(row) {
            pod_state.add_memory_sample(config, &mut history.vpa, middle, peak, false);
            let peak = peak as f64;
            history.memory_max_bytes = Some(history.memory_max_bytes.map_or(peak, |m| m.max(peak)));
        }
        if oom[row] > 0 && hours > 0.0 {
            let request = vpa::amount(mem_req[row] / hours * GIB);
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
    // Newest file first: a key a newer file gave is never replaced, and a
    // file whose rows all repeat newer keys is not decoded past its keys.
    // The keys of the next files are read on other threads, in turn.
    let mut files = table_files(root, "workloads", scope)?;
    files.reverse();
    let files = &files;
    std::thread::scope(|threads| {
        let receivers: Vec<_> = (0..KEY_READERS)
            .map(|reader| {
                let (send, receive) = std::sync::mpsc::sync_channel(DECODED_AHEAD);
                threads.spawn(move || {
                    for file in files.iter().skip(reader).step_by(KEY_READERS) {
                        let keys = newest::Keys::read(&file.path);
                        let failed = keys.is_err();
                        if send.send(keys).is_err() || failed {
                            return;
                        }
                    }
                });
                receive
            })
            .collect();
        let mut templates = Templates::default();
        let mut newer = newest::Keys::default();
        for (index, file) in files.iter().enumerate() {
            // A reader stops only after sending its error, which comes first.
            let Some(keys) = receivers
                .get(index % KEY_READERS)
                .and_then(|r| r.recv().ok())
            else {
                break;
            };
            let keys = keys?;
            let needed = keys.needed(&newer, &templates);
            if needed.contains(&true) {
                fold_newest(&file.path, &needed, &mut templates)?;
            }
            newer = keys;
        }
        // Returning drops the receivers, which stops the readers.
        Ok(templates)
    })
}

/// Threads reading the `workloads` files' keys for [`read_templates`].
const KEY_READERS: usize = 2;

/// The `workloads` columns [`fold_templates`] and [`fold_workloads`] read.
const TEMPLATE_COLUMNS: [&str; 15] = [
    col::NAMESPACE,
    col::WORKLOAD_KIND,
    col::WORKLOAD_NAME,
    col::PRIORITY_CLASS,
    col::REPLICAS,
    col::HPA_MIN_REPLICAS,
    col::HPA_METRICS,
    col::HAS_PDB,
    col::PDB_DISRUPTIONS_ALLOWED,
    col::TERMINATION_GRACE_SECONDS,
    col::VOLUME_KINDS,
    col::ANNOTATIONS,
    col::CONTAINERS,
    col::MAX_UNAVAILABLE,
    col::BACKOFF_LIMIT,
];

/// Folds the `needed` rows of `file` into `templates`, keeping what newer
/// files gave.
fn fold_newest(
    file: &Path,
    needed: &[bool],
    templates: &mut Templates,
) -> Result<(), HistoryError> {
    let mut this_file = Templates::default();
    let mut first = 0;
    for batch in read::open(file, &Select::columns(&TEMPLATE_COLUMNS))? {
        let batch = batch?;
        let rows = first..first + batch.rows();
        first = rows.end;
        let keep = needed
            .get(rows)
            .ok_or_else(|| file_error(batch.path())("rows changed while it was read".into()))?;
        let batch = batch.keep(keep)?;
        let columns = batch.columns();
        fold_templates(columns, &mut this_file.containers)?;
        fold_workloads(columns, &mut this_file.workloads)?;
    }
    for (key, template) in this_file.containers {
        templates.containers.entry(key).or_insert(template);
    }
    for (key, facts) in this_file.workloads {
        templates.workloads.entry(key).or_insert(facts);
    }
    Ok(())
}

/// What the `workloads` table says, per container and per workload.
#[derive(Debug, Default)]
pub struct Templates {
    pub containers: BTreeMap<ContainerKey, Template>,
    pub workloads: BTreeMap<WorkloadKey, WorkloadFacts>,
}

/// Calls `fold` on every batch of what `select` picks of `table`'s files
/// in `scope`, oldest first.
///
/// # Errors
///
/// [`HistoryError`] naming the file that cannot be read, or `fold`'s.
pub fn for_each_batch(
    root: &Path,
    table: &str,
    scope: &Scope,
    select: &Select<'_>,
    mut fold: impl FnMut(&Batch) -> Result<(), HistoryError>,
) -> Result<(), HistoryError> {
    for file in table_files(root, table, scope)? {
        for batch in read::open(&file.path, select)? {
            fold(&batch?)?;
        }
    }
    Ok(())
}

/// Makes [`HistoryError::File`]s naming `path`.
pub(crate) fn file_error(path: &str) -> impl Fn(String) -> HistoryError + '_ {
    move |message| HistoryError::File {
        path: path.to_owned(),
        message,
    }
}

/// (namespace, kind, name).
pub type WorkloadKey = (String, String, String);

fn fold_workloads(
    batch: Columns<'_>,
    workloads: &mut BTreeMap<WorkloadKey, WorkloadFacts>,
) -> Result<(), HistoryError> {
    let namespace = batch.text(col::NAMESPACE)?;
    let kind = batch.text(col::WORKLOAD_KIND)?;
    let name = batch.text(col::WORKLOAD_NAME)?;
    let priority = batch.text(col::PRIORITY_CLASS)?;
    let replicas = batch.int32s(col::REPLICAS)?;
    let hpa_min = batch.int32s(col::HPA_MIN_REPLICAS)?;
    let has_pdb = batch.bools(col::HAS_PDB)?;
    let allowed = batch.int32s(col::PDB_DISRUPTIONS_ALLOWED)?;
    let grace = batch.int64s(col::TERMINATION_GRACE_SECONDS)?;
    let volumes = batch.list(col::VOLUME_KINDS)?;
    let volume_names = volumes.strings()?;
    let annotations = batch.list(col::ANNOTATIONS)?;
    let pairs = annotations.fields()?;
    let (keys, values) = (pairs.text(col::KEY)?, pairs.text(col::VALUE)?);
    // Added after the first datasets were written: absent reads as null.
    let newer = |name: &str| batch.has(name).then(|| batch.int32s(name)).transpose();
    let (max_unavailable, backoff_limit) =
        (newer(col::MAX_UNAVAILABLE)?, newer(col::BACKOFF_LIMIT)?);
    let int = |column: &Option<_>, i: usize| {
        column
            .as_ref()
            .and_then(|c: &read::Values<'_, i32>| c.get(i))
    };
    for row in 0..batch.rows() {
        let volume_kinds: Vec<String> = volumes
            .range(row)
            .map(|i| volume_names.get(i).to_owned())
            .collect();
        let annotations: Vec<(String, String)> = annotations
            .range(row)
            .map(|i| (keys.get(i).to_owned(), values.get(i).to_owned()))
            .collect();
        let key = (
            namespace.get(row).to_owned(),
            kind.get(row).to_owned(),
            name.get(row).to_owned(),
        );
        workloads.insert(
            key.clone(),
            WorkloadFacts {
                namespace: key.0,
                kind: key.1,
                max_unavailable: int(&max_unavailable, row),
                job_backoff_limit: int(&backoff_limit, row),
                replicas: replicas.get(row),
                hpa_min_replicas: hpa_min.get(row),
                has_pdb: has_pdb.value(row),
                pdb_disruptions_allowed: allowed.get(row),
                termination_grace_seconds: grace.get(row).unwrap_or_default(),
                volume_kinds,
                annotations,
                priority_class: priority.get(row).to_owned(),
                ..WorkloadFacts::default()
            },
        );
    }
    Ok(())
}

fn fold_templates(
    batch: Columns<'_>,
    templates: &mut BTreeMap<ContainerKey, Template>,
) -> Result<(), HistoryError> {
    let namespace = batch.text(col::NAMESPACE)?;
    let kind = batch.text(col::WORKLOAD_KIND)?;
    let name = batch.text(col::WORKLOAD_NAME)?;
    let hpa = batch.list(col::HPA_METRICS)?;
    let hpa_names = hpa.strings()?;
    let containers = batch.list(col::CONTAINERS)?;
    let list = containers.fields()?;
    let names = list.text(col::NAME)?;
    let cpu_req = list.floats(col::CPU_REQUEST_CORES)?;
    let cpu_lim = list.floats(col::CPU_LIMIT_CORES)?;
    let mem_req = list.int64s(col::MEMORY_REQUEST_BYTES)?;
    let mem_lim = list.int64s(col::MEMORY_LIMIT_BYTES)?;
    let init = list.bools(col::IS_INIT)?;
    for row in 0..batch.rows() {
        let metrics: Vec<String> = hpa
            .range(row)
            .map(|i| hpa_names.get(i).to_owned())
            .collect();
        let items = containers.range(row);
        let regular = items.clone().filter(|i| !init.value(*i)).count();
        for i in items {
            let bytes = |values: &read::Values<'_, i64>| values.get(i).map(|v| v as f64);
            templates.insert(
                ContainerKey {
                    namespace: namespace.get(row).to_owned(),
                    workload_kind: kind.get(row).to_owned(),
                    workload_name: name.get(row).to_owned(),
                    container: names.get(i).to_owned(),
                },
                Template {
                    current: Resources {
                        cpu_request_cores: cpu_req.get(i),
                        cpu_limit_cores: cpu_lim.get(i),
                        memory_request_bytes: bytes(&mem_req),
                        memory_limit_bytes: bytes(&mem_lim),
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
