//! The report's facts (the rows `sql::Fragments::facts` defines) and its
//! sample counts (`sql::Fragments::sampling`'s row) in one pass over the
//! `allocation` files ([`crate::store::read`]), on Parquet's dictionary
//! codes instead of strings.
//!
//! Why not polars for this one statement: at 150,000 pods a week is 34 M
//! rows, and polars decodes every key string of every row into a view and
//! row-encodes the keys to group them — 2.75 s and twice DuckDB's memory
//! for the statement DuckDB runs in 1.46 s (docs/performance.md, Analysis).
//! The collector writes rows sorted by namespace and workload
//! (`allocate::sort_allocation`), so a file's rows come in runs of one key:
//! here a row's key is four dictionary codes compared with the previous
//! row's, and looked up only where they change.
//!
//! The SQL stays the definition (and what `benches/analysis` hands DuckDB:
//! the session records both statements). [`scan`] declines (`Ok(None)`) whenever the
//! files are not what it knows — a column missing or of another type (an
//! older writer), a null, a cluster folder name polars would decode — and
//! the report then runs the SQL; tests/report.rs checks both give the same
//! report on every basis. Sums are deterministic for a given thread count:
//! each thread takes a contiguous run of files in order, and the threads'
//! sums are added in thread order.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use rustc_hash::FxHashMap;

use super::options::{Basis, Period};
use crate::store::read::{self, Batch, Codes, Select, StringIds, TableFile, Text};
use crate::store::schema::col;

/// Rows per decoded batch.
const BATCH_ROWS: usize = 16_384;

/// The key columns, as [`FactKey`] has them.
const KEYS: [&str; 4] = [
    col::TENANT,
    col::NAMESPACE,
    col::WORKLOAD_KIND,
    col::WORKLOAD_NAME,
];

/// The number columns, in the order [`Numbers`] indexes them.
const NUMBERS: [&str; 10] = [
    col::CPU_REQUEST_CORE_HOURS,
    col::CPU_USAGE_CORE_HOURS,
    col::CPU_BILLED_CORE_HOURS,
    col::MEMORY_REQUEST_GIB_HOURS,
    col::MEMORY_USAGE_GIB_HOURS,
    col::MEMORY_BILLED_GIB_HOURS,
    col::CPU_COST_USD,
    col::MEMORY_COST_USD,
    col::GPU_COST_USD,
    col::TOTAL_COST_USD,
];
const CPU_REQUEST: usize = 0;
const CPU_USAGE: usize = 1;
const CPU_BILLED: usize = 2;
const MEMORY_REQUEST: usize = 3;
const MEMORY_USAGE: usize = 4;
const MEMORY_BILLED: usize = 5;
const CPU_COST: usize = 6;
const MEMORY_COST: usize = 7;
const GPU_COST: usize = 8;
const TOTAL_COST: usize = 9;

const START_TIME: &str = col::START_TIME;
/// Read to leave a pod's own rows (`__reserved__`, `__overhead__`) out of
/// the sample counts: nothing runs in them to be sampled.
const CONTAINER: &str = col::CONTAINER;
const SAMPLE_COUNT: &str = col::SAMPLE_COUNT;
const RUNNING_SECONDS: &str = col::RUNNING_SECONDS;

/// What the pass reads of a file: the keys and `container` as codes.
const SELECT: Select<'static> = Select::columns(&[
    START_TIME,
    SAMPLE_COUNT,
    RUNNING_SECONDS,
    CONTAINER,
    KEYS[0],
    KEYS[1],
    KEYS[2],
    KEYS[3],
    NUMBERS[0],
    NUMBERS[1],
    NUMBERS[2],
    NUMBERS[3],
    NUMBERS[4],
    NUMBERS[5],
    NUMBERS[6],
    NUMBERS[7],
    NUMBERS[8],
    NUMBERS[9],
])
.coded(&[CONTAINER, KEYS[0], KEYS[1], KEYS[2], KEYS[3]])
.batch_rows(BATCH_ROWS);

/// A fact's key: the facts statement's GROUP BY (its `grp` is empty for
/// the groupings this pass serves).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct FactKey {
    /// In the period (else in the previous one).
    pub current: bool,
    pub cluster: String,
    pub day: NaiveDate,
    pub tenant: String,
    pub namespace: String,
    pub kind: String,
    pub name: String,
}

/// A fact's sums, in the statement's order: cpu_core_hours,
/// memory_gib_hours, cost_usd (under the basis), cpu_request, cpu_usage,
/// memory_request, memory_usage, waste_usd.
pub(super) type Sums = [f64; 8];

/// The sample counts of the period's container-hours (a tenant's only in
/// a tenant's report): the row `sql::Fragments::sampling` gives.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Sampling {
    pub rows: i64,
    pub samples: i64,
    pub seconds: f64,
    /// The most samples of a container-hour that ran the whole hour.
    pub per_hour: Option<i64>,
    /// Container-hours of two minutes or more without a sample.
    pub unsampled: i64,
}

impl Sampling {
    fn add(&mut self, samples: i32, seconds: f64) {
        self.rows += 1;
        self.samples += i64::from(samples);
        self.seconds += seconds;
        if seconds >= 3599.5 {
            self.per_hour = self.per_hour.max(Some(i64::from(samples)));
        }
        if samples == 0 && seconds >= 120.0 {
            self.unsampled += 1;
        }
    }

    fn merge(&mut self, other: &Sampling) {
        self.rows += other.rows;
        self.samples += other.samples;
        self.seconds += other.seconds;
        self.per_hour = self.per_hour.max(other.per_hour);
        self.unsampled += other.unsampled;
    }
}

/// What one pass found.
#[derive(Debug, Default)]
pub(super) struct Scanned {
    pub facts: BTreeMap<FactKey, Sums>,
    pub sampling: Sampling,
}

/// The facts of `period` under `basis` from the `allocation` files, and
/// the sample counts of the period's rows (of `tenant`'s only, if given), on
/// `threads` threads; `Ok(None)` when the files are not what this pass
/// reads (see the module doc), for the SQL to answer instead.
///
/// # Errors
///
/// `file: reason` for a file that cannot be read.
pub(super) fn scan(
    files: &[TableFile],
    period: &Period,
    basis: Basis,
    tenant: Option<&str>,
    threads: usize,
    on_file: super::OnFile<'_>,
) -> Result<Option<Scanned>, String> {
    let window = &Window::new(period);
    let mut wanted = Vec::new();
    for file in files {
        // polars' hive partitioning decodes `%` escapes; this pass does not.
        if file.cluster.contains('%') {
            return Ok(None);
        }
        if file.date >= window.first_day && file.date <= window.last_day {
            wanted.push((file.path.as_path(), file.cluster.as_str(), file.date));
        }
    }
    let threads = threads.clamp(1, wanted.len().max(1));
    let (read, total) = (&std::sync::atomic::AtomicUsize::new(0), wanted.len());
    let chunk = wanted.len().div_ceil(threads).max(1);
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let workers: Vec<_> = wanted
            .chunks(chunk)
            .map(|files| {
                scope.spawn(move || {
                    let mut worker = Worker::new(window, basis, tenant);
                    for &(file, cluster, day) in files {
                        match worker.file(file, cluster, day) {
                            Ok(true) => {}
                            Ok(false) => return Outcome::Declined,
                            Err(error) => return Outcome::Failed(error.to_string()),
                        }
                        let done = read.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        on_file(done, total);
                    }
                    let sampling = worker.sampling;
                    Outcome::Facts(worker.finish(), sampling)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Outcome::Failed("a reading thread panicked".to_owned()))
            })
            .collect()
    });
    let mut scanned = Scanned::default();
    for outcome in outcomes {
        match outcome {
            Outcome::Facts(part, sampling) => {
                scanned.sampling.merge(&sampling);
                for (key, sums) in part {
                    let into = scanned.facts.entry(key).or_insert([0.0; 8]);
                    for (total, more) in into.iter_mut().zip(sums) {
                        *total += more;
                    }
                }
            }
            Outcome::Declined => return Ok(None),
            Outcome::Failed(message) => return Err(message),
        }
    }
    Ok(Some(scanned))
}

/// What one thread made of its files.
enum Outcome {
    Facts(Vec<(FactKey, Sums)>, Sampling),
    Declined,
    Failed(String),
}

/// The statement's WHERE and CASE, in milliseconds and days.
struct Window {
    previous_start: i64,
    start: i64,
    end: i64,
    first_day: NaiveDate,
    last_day: NaiveDate,
}

impl Window {
    fn new(period: &Period) -> Window {
        let last: DateTime<Utc> = period.end - chrono::Duration::milliseconds(1);
        Window {
            previous_start: period.previous_start.timestamp_millis(),
            start: period.start.timestamp_millis(),
            end: period.end.timestamp_millis(),
            first_day: period.previous_start.date_naive(),
            last_day: last.date_naive(),
        }
    }
}

/// A group while reading: (current, cluster id, day, key string ids).
type GroupId = (bool, u32, NaiveDate, [u32; 4]);

/// One thread's sums, keyed by ids of the strings it has seen.
struct Worker<'a> {
    window: &'a Window,
    basis: Basis,
    tenant: Option<&'a str>,
    clusters: StringIds,
    keys: [StringIds; 4],
    groups: FxHashMap<GroupId, usize>,
    sums: Vec<Sums>,
    /// Per group: whether its rows count in [`Sampling`] (its tenant's).
    sampled: Vec<bool>,
    sampling: Sampling,
}

impl<'a> Worker<'a> {
    fn new(window: &'a Window, basis: Basis, tenant: Option<&'a str>) -> Worker<'a> {
        Worker {
            window,
            basis,
            tenant,
            clusters: StringIds::default(),
            keys: Default::default(),
            groups: FxHashMap::default(),
            sums: Vec::new(),
            sampled: Vec::new(),
            sampling: Sampling::default(),
        }
    }

    /// Adds the file's rows; `Ok(false)` when it is not what this pass reads.
    fn file(
        &mut self,
        file: &Path,
        cluster: &str,
        day: NaiveDate,
    ) -> Result<bool, read::ReadError> {
        let reader = read::open(file, &SELECT)?;
        let cluster = id32(&mut self.clusters, cluster);
        for batch in reader {
            let batch = batch?;
            let Some(columns) = Columns::of(&batch) else {
                return Ok(false);
            };
            self.add(&columns, cluster, day);
        }
        Ok(true)
    }

    fn add(&mut self, columns: &Columns<'_>, cluster: u32, day: NaiveDate) {
        let window = self.window;
        let numbers = &columns.numbers;
        let codes = columns.keys.each_ref().map(Codes::codes);
        let mut last: Option<([i32; 4], bool)> = None;
        let mut slot = 0;
        for row in 0..columns.rows {
            let time = columns.start_time[row];
            if time < window.previous_start || time >= window.end {
                continue;
            }
            let current = time >= window.start;
            let code = [codes[0][row], codes[1][row], codes[2][row], codes[3][row]];
            if last != Some((code, current)) {
                slot = self.slot(columns, row, current, cluster, day);
                last = Some((code, current));
            }
            if current && self.sampled[slot] && !columns.is_pod_row(row) {
                self.sampling
                    .add(columns.sample_count[row], columns.running_seconds[row]);
            }
            let n = |column: usize| numbers[column][row];
            let (cpu_cost, cpu_billed) = (n(CPU_COST), n(CPU_BILLED));
            let (memory_cost, memory_billed) = (n(MEMORY_COST), n(MEMORY_BILLED));
            // As the SQL's COALESCE(cost * quantity / NULLIF(billed, 0), 0).
            let priced = |cpu: f64, memory: f64| {
                let part = |cost: f64, quantity: f64, billed: f64| {
                    if billed == 0.0 {
                        0.0
                    } else {
                        cost * quantity / billed
                    }
                };
                part(cpu_cost, cpu, cpu_billed) + part(memory_cost, memory, memory_billed)
            };
            let (cpu_request, cpu_usage) = (n(CPU_REQUEST), n(CPU_USAGE));
            let (memory_request, memory_usage) = (n(MEMORY_REQUEST), n(MEMORY_USAGE));
            let (cpu_hours, memory_hours, cost) = match self.basis {
                Basis::Max => (cpu_billed, memory_billed, n(TOTAL_COST)),
                Basis::Request => (
                    cpu_request,
                    memory_request,
                    priced(cpu_request, memory_request) + n(GPU_COST),
                ),
                Basis::Usage => (
                    cpu_usage,
                    memory_usage,
                    priced(cpu_usage, memory_usage) + n(GPU_COST),
                ),
            };
            let waste = priced(
                (cpu_request - cpu_usage).max(0.0),
                (memory_request - memory_usage).max(0.0),
            );
            let sums = &mut self.sums[slot];
            sums[0] += cpu_hours;
            sums[1] += memory_hours;
            sums[2] += cost;
            sums[3] += cpu_request;
            sums[4] += cpu_usage;
            sums[5] += memory_request;
            sums[6] += memory_usage;
            sums[7] += waste;
        }
    }

    /// The index of the sums of `row`'s group.
    fn slot(
        &mut self,
        columns: &Columns<'_>,
        row: usize,
        current: bool,
        cluster: u32,
        day: NaiveDate,
    ) -> usize {
        let mut ids = [0; 4];
        for ((id, interner), keys) in ids.iter_mut().zip(&mut self.keys).zip(&columns.keys) {
            // A valid dictionary array's codes index its values.
            let code = keys.codes()[row];
            *id = id32(interner, keys.values().get(code.unsigned_abs() as usize));
        }
        let next = self.sums.len();
        let slot = *self
            .groups
            .entry((current, cluster, day, ids))
            .or_insert(next);
        if slot == next {
            self.sums.push([0.0; 8]);
            let tenant = self.keys[0].name(ids[0] as usize);
            self.sampled
                .push(self.tenant.is_none_or(|wanted| wanted == tenant));
        }
        slot
    }

    fn finish(self) -> Vec<(FactKey, Sums)> {
        let name = |ids: &StringIds, id: u32| ids.name(id as usize).to_string();
        self.groups
            .into_iter()
            .map(|((current, cluster, day, ids), slot)| {
                let key = FactKey {
                    current,
                    cluster: name(&self.clusters, cluster),
                    day,
                    tenant: name(&self.keys[0], ids[0]),
                    namespace: name(&self.keys[1], ids[1]),
                    kind: name(&self.keys[2], ids[2]),
                    name: name(&self.keys[3], ids[3]),
                };
                (key, self.sums[slot])
            })
            .collect()
    }
}

/// `text`'s id as the group keys hold it: 32 bits keep a group's key small.
fn id32(ids: &mut StringIds, text: &str) -> u32 {
    u32::try_from(ids.id(text)).unwrap_or(u32::MAX)
}

/// A batch's columns, typed; `None` when one is missing, of another type
/// or holds a null.
struct Columns<'a> {
    rows: usize,
    start_time: &'a [i64],
    sample_count: &'a [i32],
    running_seconds: &'a [f64],
    keys: [Codes<'a>; 4],
    numbers: [&'a [f64]; 10],
    /// The `container` codes, and per dictionary value whether it names a
    /// pod's own row.
    container: &'a [i32],
    pod_rows: Vec<bool>,
}

impl<'a> Columns<'a> {
    fn of(batch: &'a Batch) -> Option<Columns<'a>> {
        let columns = batch.columns();
        let coded = |name: &str| match columns.text(name).ok()? {
            Text::Coded(codes) if codes.null_count() == 0 => Some(codes),
            _ => None,
        };
        let start_time = columns.millis(START_TIME).ok()?;
        let sample_count = columns.int32s(SAMPLE_COUNT).ok()?;
        let running_seconds = columns.floats(RUNNING_SECONDS).ok()?;
        if start_time.null_count() + sample_count.null_count() + running_seconds.null_count() > 0 {
            return None;
        }
        let keys = [
            coded(KEYS[0])?,
            coded(KEYS[1])?,
            coded(KEYS[2])?,
            coded(KEYS[3])?,
        ];
        let container = coded(CONTAINER)?;
        let names = container.values();
        let pod_rows = (0..names.len())
            .map(|i| crate::model::reserve::is_pod_row(names.get(i)))
            .collect();
        let mut numbers = [&[][..]; 10];
        for (slot, name) in numbers.iter_mut().zip(NUMBERS) {
            let values = columns.floats(name).ok().filter(|v| v.null_count() == 0)?;
            *slot = values.values();
        }
        Some(Columns {
            rows: batch.rows(),
            start_time: start_time.values(),
            sample_count: sample_count.values(),
            running_seconds: running_seconds.values(),
            keys,
            numbers,
            container: container.codes(),
            pod_rows,
        })
    }

    fn is_pod_row(&self, row: usize) -> bool {
        let code = self.container[row].unsigned_abs() as usize;
        self.pod_rows.get(code).copied().unwrap_or(false)
    }
}
