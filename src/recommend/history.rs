//! What the dataset says about each workload container over a window,
//! folded hour by hour from `allocation` rows into the state the strategies
//! need — VPA's decaying histograms and memory windows, each pod's CPU
//! sketch for KRR's percentile, the peak, OOM kills, current requests and
//! the unit prices paid — never by rescanning raw samples, so a month of a
//! large cluster stays a single pass.
//!
//! The backtest replays usage traces through the same fold ([`HourRow`],
//! [`History::of_pod`]): what it scores is what `kubetally recommend` does.

mod intern;
mod newest;
mod scan;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::rightsize::{RequestsAndLimits, Template};
use super::spot::WorkloadFacts;
use super::vpa;
use crate::model::sketch::{self, Sketch};
use crate::model::units::GIB;
use crate::store::read::{
    self, Batch, Columns, Filter, List, ReadError, Select, TableFile, Values,
};
use crate::store::schema::col;

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
    /// Each pod's CPU samples, undecayed (KRR's view: a percentile per pod,
    /// then the highest); pods without CPU samples are left out.
    pub cpu_by_pod: Vec<Sketch>,
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
    /// Pod-hours by where they ran.
    pub placements: BTreeMap<Placement, f64>,
}

/// Where a container's pods ran, as the `allocation` rows name it. The
/// field order is the sort order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Placement {
    pub provider: String,
    pub region: String,
    pub machine_family: String,
    pub machine_type: String,
    pub capacity_type: String,
}

impl History {
    fn new(config: &vpa::Config) -> History {
        History {
            vpa: vpa::Aggregate::new(config),
            cpu_by_pod: Vec::new(),
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

    /// The history of one pod's `rows`, oldest first, folded as
    /// [`read`] folds a dataset's: how the backtest replays a usage trace.
    pub fn of_pod<'a>(
        config: &vpa::Config,
        rows: impl IntoIterator<Item = HourRow<'a>>,
    ) -> History {
        let mut history = History::new(config);
        let mut pod = Pod::default();
        for row in rows {
            history.add_hour(&mut pod, config, &row, HourTimes::of(row.hour));
        }
        if !pod.cpu.is_empty() {
            history.cpu_by_pod.push(pod.cpu);
        }
        history
    }

    /// All pods' CPU samples together (the evidence's percentiles).
    pub fn cpu_pooled(&self) -> std::borrow::Cow<'_, Sketch> {
        match self.cpu_by_pod.as_slice() {
            [one] => std::borrow::Cow::Borrowed(one),
            pods => {
                let mut all = Sketch::default();
                for pod in pods {
                    all.merge(pod);
                }
                std::borrow::Cow::Owned(all)
            }
        }
    }

    /// Folds one `allocation` row of `pod` in, at `times` of its hour.
    fn add_hour(
        &mut self,
        pod: &mut Pod,
        config: &vpa::Config,
        row: &HourRow<'_>,
        HourTimes {
            hour,
            middle,
            last_minute,
        }: HourTimes,
    ) {
        let hours = row.running_seconds / 3600.0;
        self.pod_hours += hours;
        self.cpu_request_core_hours += row.cpu_request_core_hours;
        self.memory_request_gib_hours += row.memory_request_gib_hours;
        self.cpu_billed_core_hours += row.cpu_billed_core_hours;
        self.memory_billed_gib_hours += row.memory_billed_gib_hours;
        self.cpu_cost_usd += row.cpu_cost_usd;
        self.memory_cost_usd += row.memory_cost_usd;
        self.first_hour = Some(self.first_hour.map_or(hour, |f| f.min(hour)));
        self.last_hour = Some(self.last_hour.map_or(hour, |l| l.max(hour)));
        self.oom_kills += u64::try_from(row.oom_kills.max(0)).unwrap_or(0);
        self.restarts += u64::try_from(row.restarts.max(0)).unwrap_or(0);
        let count = u64::try_from(row.sample_count.max(0)).unwrap_or(0);
        if count > 0 {
            // VPA adds one CPU sample of weight 0.1 per minute; an hour's
            // histogram adds them all at the hour's middle.
            let (buckets, weights) = row.cpu_histogram;
            let entries = || {
                buckets
                    .iter()
                    .zip(weights)
                    .map(|(b, w)| (usize::try_from((*b).max(0)).unwrap_or(0), *w))
            };
            self.vpa.cpu.add_to_buckets(
                entries().map(|(b, w)| (b, vpa::MIN_SAMPLE_WEIGHT * w)),
                middle,
            );
            match row.cpu_sketch {
                Some((buckets, counts)) => {
                    for (k, c) in buckets.iter().zip(counts) {
                        pod.cpu.insert(u32::try_from(*k).unwrap_or(0), whole(*c));
                    }
                }
                // Files written before the sketch: VPA's bucket ends, as
                // KRR's view was read then.
                None => {
                    let options = vpa::cpu_options();
                    let last = options.buckets() - 1;
                    for (b, w) in entries() {
                        let end = options.start((b + 1).min(last));
                        pod.cpu.insert(sketch::bucket(end), whole(w));
                    }
                }
            }
            self.vpa.count_samples(hour, last_minute, count);
            self.samples += count;
        }
        if let Some(value) = row.cpu_usage_max_cores {
            self.cpu_max_cores = Some(self.cpu_max_cores.map_or(value, |m| m.max(value)));
        }
        if let Some(peak) = row.memory_usage_max_bytes {
            pod.vpa
                .add_memory_sample(config, &mut self.vpa, middle, peak, false);
            let peak = peak as f64;
            self.memory_max_bytes = Some(self.memory_max_bytes.map_or(peak, |m| m.max(peak)));
        }
        if row.oom_kills > 0 && hours > 0.0 {
            let request = vpa::amount(row.memory_request_gib_hours / hours * GIB);
            // A kill older than the memory window is VPA's to discard too.
            let _ = pod.vpa.record_oom(config, &mut self.vpa, middle, request);
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

/// Where in an hour the fold puts its row: VPA's CPU samples at the
/// middle, its sample counts over the hour to its last minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HourTimes {
    hour: DateTime<Utc>,
    middle: DateTime<Utc>,
    last_minute: DateTime<Utc>,
}

impl HourTimes {
    fn of(hour: DateTime<Utc>) -> HourTimes {
        HourTimes {
            hour,
            middle: hour + Duration::minutes(30),
            last_minute: hour + Duration::minutes(59),
        }
    }
}

/// One `allocation` row as the fold reads it: one container of one pod in
/// one hour.
#[derive(Debug, Clone, Copy)]
pub struct HourRow<'a> {
    pub hour: DateTime<Utc>,
    pub running_seconds: f64,
    pub sample_count: i32,
    pub cpu_request_core_hours: f64,
    pub memory_request_gib_hours: f64,
    pub cpu_billed_core_hours: f64,
    pub memory_billed_gib_hours: f64,
    pub cpu_cost_usd: f64,
    pub memory_cost_usd: f64,
    pub cpu_usage_max_cores: Option<f64>,
    pub memory_usage_max_bytes: Option<i64>,
    /// `cpu_usage_histogram`: VPA buckets and their sample counts.
    pub cpu_histogram: (&'a [i32], &'a [f64]),
    /// `cpu_usage_sketch`: buckets and counts; `None` in files written
    /// before the column existed.
    pub cpu_sketch: Option<(&'a [i32], &'a [f64])>,
    pub oom_kills: i32,
    pub restarts: i32,
}

/// A stored count as a whole number of samples.
fn whole(count: f64) -> u32 {
    if count.is_finite() && count > 0.0 {
        count.round().min(f64::from(u32::MAX)) as u32
    } else {
        0
    }
}

/// One pod of a workload container, as its rows are folded: VPA's memory
/// window and the pod's CPU sketch.
#[derive(Debug, Clone, Default)]
struct Pod {
    vpa: vpa::Container,
    cpu: Sketch,
    /// Its workload container's id (the fold's).
    container: usize,
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
    /// Read `allocation.cpu_usage_sketch` (KRR's percentiles within 1 %).
    /// Only `krr-simple` needs it: without it each pod's CPU sketch is made
    /// of VPA's bucket ends, and the read decodes a few times fewer values.
    pub cpu_sketch: bool,
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
const COLUMNS: [&str; 25] = [
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
    col::CPU_USAGE_SKETCH,
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
        let columns: Vec<&str> = COLUMNS
            .into_iter()
            .filter(|name| scope.cpu_sketch || *name != "cpu_usage_sketch")
            .collect();
        let decoder = threads.spawn(move || scan::scan(&files, &columns, &send));
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
    /// Its pod-hours by where they ran (a container runs in a few places).
    placements: Vec<PlacementHours>,
}

/// Pod-hours in one placement.
#[derive(Debug, Clone, Copy)]
struct PlacementHours {
    /// The scanner's placement id.
    placement: usize,
    hours: f64,
}

impl Folding {
    /// Adds `hours` to those run in `placement`.
    #[inline]
    fn add_placement_hours(&mut self, placement: usize, hours: f64) {
        let at = match self
            .placements
            .iter()
            .position(|p| p.placement == placement)
        {
            Some(at) => at,
            None => {
                self.placements.push(PlacementHours {
                    placement,
                    hours: 0.0,
                });
                self.placements.len() - 1
            }
        };
        self.placements[at].hours += hours;
    }
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
    /// VPA's per-pod memory windows and the pods' CPU sketches, by
    /// (workload container, pod) id.
    pods: Vec<Pod>,
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
            black_box(self.pods.get(*pod).map(|p| (p.vpa.clone(), p.container)));
        }
        for folding in containers() {
            let history = &folding.history;
            black_box(folding.placements.first().map(|p| p.hours));
            black_box(history.vpa.cpu.touch());
            black_box(history.vpa.memory_peaks.touch());
        }
        for pod in &resolved.pod[rows.clone()] {
            black_box(self.pods.get(*pod).map(|p| p.cpu.touch()));
        }
    }

    /// The histories by key, their placements by name.
    fn histories(mut self, scanner: &scan::Scanner) -> BTreeMap<ContainerKey, History> {
        for pod in std::mem::take(&mut self.pods) {
            let folding = self
                .containers
                .get_mut(pod.container)
                .and_then(Option::as_mut);
            if let Some(folding) = folding.filter(|_| !pod.cpu.is_empty()) {
                folding.history.cpu_by_pod.push(pod.cpu);
            }
        }
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
                for PlacementHours { placement, hours } in folding.placements {
                    let parts = scanner
                        .placements
                        .get(placement)
                        .copied()
                        .unwrap_or_default();
                    let part = |i: usize| name(5 + i, parts[i]);
                    let placement = Placement {
                        provider: part(0),
                        region: part(1),
                        machine_family: part(2),
                        machine_type: part(3),
                        capacity_type: part(4),
                    };
                    folding.history.placements.insert(placement, hours);
                }
                Some((key, folding.history))
            })
            .collect()
    }
}

/// Folds one decoded batch into `state`, row by row in file order.
fn fold(
    resolved: &scan::Resolved,
    config: &vpa::Config,
    state: &mut FoldState,
) -> Result<(), HistoryError> {
    let columns = AllocationColumns::bind(resolved)?;
    let mut seen: Option<SeenHour> = None;
    for row in 0..columns.rows {
        if row % WARM_ROWS == 0 {
            state.warm(resolved, row..row + WARM_ROWS);
        }
        let Some(times) = hour_times(&mut seen, columns.start_millis[row]) else {
            continue;
        };
        let id = resolved.container[row];
        let folding = folding_of(&mut state.containers, id, config);
        folding.add_placement_hours(
            resolved.placement[row],
            columns.running_seconds[row] / 3600.0,
        );
        let pod = pod_of(&mut state.pods, resolved.pod[row]);
        pod.container = id;
        let hour_row = columns.hour_row(row, times.hour);
        folding.history.add_hour(pod, config, &hour_row, times);
    }
    Ok(())
}

/// The `allocation` columns of one batch, bound once before its rows are
/// folded: every row is then read by index from these slices and views.
struct AllocationColumns<'a> {
    rows: usize,
    start_millis: &'a [i64],
    running_seconds: &'a [f64],
    sample_count: &'a [i32],
    cpu_request_core_hours: &'a [f64],
    memory_request_gib_hours: &'a [f64],
    cpu_billed_core_hours: &'a [f64],
    memory_billed_gib_hours: &'a [f64],
    cpu_cost_usd: &'a [f64],
    memory_cost_usd: &'a [f64],
    /// Nullable: read with `get`.
    cpu_usage_max_cores: Values<'a, f64>,
    /// Nullable: read with `get`.
    memory_usage_max_bytes: Values<'a, i64>,
    cpu_histogram: Entries<'a>,
    /// Added after the first datasets were written: `None` in older files
    /// (and when the scope does not read it).
    cpu_sketch: Option<Entries<'a>>,
    oom_kills: &'a [i32],
    restarts: &'a [i32],
}

impl<'a> AllocationColumns<'a> {
    /// Binds `resolved`'s batch's columns.
    ///
    /// # Errors
    ///
    /// [`HistoryError`] naming the file when a column is missing or of
    /// another type.
    fn bind(resolved: &'a scan::Resolved) -> Result<AllocationColumns<'a>, HistoryError> {
        let bad = file_error(&resolved.path);
        let batch = resolved.batch.columns();
        let floats = |name: &str| batch.floats(name).map(|v| v.values());
        let int32s = |name: &str| batch.int32s(name).map(|v| v.values());
        let entries = |name: &str| -> Result<Entries<'a>, HistoryError> {
            Entries::of(batch.list(name)?)
                .map_err(|_| bad(format!("{name} is not a list of (bucket, weight)")))
        };
        Ok(AllocationColumns {
            rows: batch.rows(),
            start_millis: batch.millis(col::START_TIME)?.values(),
            running_seconds: floats(col::RUNNING_SECONDS)?,
            sample_count: int32s(col::SAMPLE_COUNT)?,
            cpu_request_core_hours: floats(col::CPU_REQUEST_CORE_HOURS)?,
            memory_request_gib_hours: floats(col::MEMORY_REQUEST_GIB_HOURS)?,
            cpu_billed_core_hours: floats(col::CPU_BILLED_CORE_HOURS)?,
            memory_billed_gib_hours: floats(col::MEMORY_BILLED_GIB_HOURS)?,
            cpu_cost_usd: floats(col::CPU_COST_USD)?,
            memory_cost_usd: floats(col::MEMORY_COST_USD)?,
            cpu_usage_max_cores: batch.floats(col::CPU_USAGE_MAX_CORES)?,
            memory_usage_max_bytes: batch.int64s(col::MEMORY_USAGE_MAX_BYTES)?,
            cpu_histogram: entries(col::CPU_USAGE_HISTOGRAM)?,
            cpu_sketch: if batch.has(col::CPU_USAGE_SKETCH) {
                Some(entries(col::CPU_USAGE_SKETCH)?)
            } else {
                None
            },
            oom_kills: int32s(col::OOM_KILLS)?,
            restarts: int32s(col::RESTARTS)?,
        })
    }

    /// Row `row`, of the hour starting at `hour`.
    #[inline]
    fn hour_row(&self, row: usize, hour: DateTime<Utc>) -> HourRow<'a> {
        HourRow {
            hour,
            running_seconds: self.running_seconds[row],
            sample_count: self.sample_count[row],
            cpu_request_core_hours: self.cpu_request_core_hours[row],
            memory_request_gib_hours: self.memory_request_gib_hours[row],
            cpu_billed_core_hours: self.cpu_billed_core_hours[row],
            memory_billed_gib_hours: self.memory_billed_gib_hours[row],
            cpu_cost_usd: self.cpu_cost_usd[row],
            memory_cost_usd: self.memory_cost_usd[row],
            cpu_usage_max_cores: self.cpu_usage_max_cores.get(row),
            memory_usage_max_bytes: self.memory_usage_max_bytes.get(row),
            cpu_histogram: self.cpu_histogram.row(row),
            cpu_sketch: self.cpu_sketch.as_ref().map(|s| s.row(row)),
            oom_kills: self.oom_kills[row],
            restarts: self.restarts[row],
        }
    }
}

/// The hour of the rows last folded: the rows of a file are mostly of one
/// hour, so its times are worked out once per run of it.
#[derive(Debug, Clone, Copy)]
struct SeenHour {
    start_millis: i64,
    times: HourTimes,
}

/// The times of the hour starting at `start_millis` (`None` when out of
/// range), from `seen` when it is the same hour.
#[inline]
fn hour_times(seen: &mut Option<SeenHour>, start_millis: i64) -> Option<HourTimes> {
    match *seen {
        Some(hour) if hour.start_millis == start_millis => Some(hour.times),
        _ => {
            let hour = DateTime::<Utc>::from_timestamp_millis(start_millis)?;
            let times = HourTimes::of(hour);
            *seen = Some(SeenHour {
                start_millis,
                times,
            });
            Some(times)
        }
    }
}

/// Workload container `id`'s state, made on its first row.
#[inline]
fn folding_of<'s>(
    containers: &'s mut Vec<Option<Folding>>,
    id: usize,
    config: &vpa::Config,
) -> &'s mut Folding {
    if containers.len() <= id {
        containers.resize_with(id + 1, || None);
    }
    containers[id].get_or_insert_with(|| Folding {
        history: History::new(config),
        placements: Vec::new(),
    })
}

/// Pod `id`'s state, made on its first row.
#[inline]
fn pod_of(pods: &mut Vec<Pod>, id: usize) -> &mut Pod {
    if pods.len() <= id {
        pods.resize_with(id + 1, Pod::default);
    }
    &mut pods[id]
}

/// A `list<struct<bucket: int32, weight: float64>>` column as slices.
struct Entries<'a> {
    list: List<'a>,
    buckets: &'a [i32],
    weights: &'a [f64],
}

impl<'a> Entries<'a> {
    fn of(list: List<'a>) -> Result<Entries<'a>, ReadError> {
        let fields = list.fields()?;
        Ok(Entries {
            list,
            buckets: fields.int32s(col::BUCKET)?.values(),
            weights: fields.floats(col::WEIGHT)?.values(),
        })
    }

    /// Row `row`'s buckets and weights (none when the offsets are off).
    fn row(&self, row: usize) -> (&'a [i32], &'a [f64]) {
        let range = Some(self.list.range(row))
            .filter(|range| range.end <= self.buckets.len().min(self.weights.len()))
            .unwrap_or(0..0);
        (&self.buckets[range.clone()], &self.weights[range])
    }
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
    pub workloads: BTreeMap<NamedWorkload, WorkloadFacts>,
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

/// A workload as the dataset names it: (namespace, kind, name), as the
/// tables write them.
pub type NamedWorkload = (String, String, String);

fn fold_workloads(
    batch: Columns<'_>,
    workloads: &mut BTreeMap<NamedWorkload, WorkloadFacts>,
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
                    current: RequestsAndLimits {
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
