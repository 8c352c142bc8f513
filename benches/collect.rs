//! Benchmarks of the collector against the simulated API server, at the
//! sizes issue #5 sets targets for: 1,000, 10,000 and 150,000 pods (nodes =
//! pods / 30). Each size is one regime; every figure names its size.
//!
//! - **Inventory memory** (printed, target ≤ 2 KB per pod): the real watchers
//!   (`source::watch::spawn_all`) fill an inventory from a `kubetally sim
//!   serve` child process until `is_synced()`, in a fresh process of this
//!   binary. The figure is that process's RSS after sync minus its RSS before
//!   the watchers started, per pod: the slim cache, the interner, the
//!   watchers' state and whatever the allocator kept of the decoded pages.
//!   The simulator lives in another process, so none of its memory counts.
//! - **The whole process over an hour** (printed, issue 21's target: peak
//!   RSS ≤ 2 KB per pod): `kubetally collect` as a child process against
//!   `kubetally sim serve --step 60s`, 62 samples (an hour, its close and
//!   publish, and the partial hour after it), its `VmHWM` read every 50 ms,
//!   its RSS when synced, the median RSS, and its CPU time.
//! - `tick/<pods>` (criterion, target ≤ 1 s at 150,000 pods on one core):
//!   one sample tick as the collector runs it, `metrics::pod_usage` and
//!   `metrics::node_usage` over HTTP plus `Ledger::ingest` and `take_tick`,
//!   on a current-thread runtime (the collector's work on one core) while
//!   the in-process simulator, paused, serves from its own threads. Besides
//!   criterion's wall time the bench prints the collector thread's own CPU
//!   time per tick, which excludes the simulator.
//! - `ingest/<pods>` (criterion): `Ledger::ingest` + `take_tick` alone on
//!   usage fetched beforehand. Both tick benchmarks move every tick's sample
//!   time on by a minute, so each tick adds samples to an open hour as a
//!   running collector's does.
//! - **Bytes per `samples` row** (printed, target ≤ 8): an hour of real
//!   ticks (the simulated clock advanced a minute at a time, 60 ticks through
//!   the same ledger), closed by `Ledger::flush` (which sorts the rows as the
//!   collector writes them), encoded with `samples_batch` + `parquet_bytes`
//!   in files of `ROWS_PER_FILE` rows as `Dataset::publish` splits them;
//!   column sizes come from the files' Parquet metadata.
//! - `write_hour/<pods>` (criterion): that hour's files as the collector
//!   makes them (`rows_bytes`: each 256 Ki-row row group's batch made by
//!   `samples_batch` from the hour's samples, then encoded); the bench also
//!   prints the encoding alone (`parquet_bytes` of the hour's batch, made
//!   beforehand). Both are compared in the same run with pyarrow's
//!   `write_table` on the same rows (read from an Arrow IPC file by
//!   `benches/pyarrow_write.py`, so its figure has no batch to make) with
//!   the same settings (zstd level 3, dictionaries, 256 Ki-row row groups).
//!
//! `KUBETALLY_BENCH_PODS=1000,10000` picks the sizes; without `--bench`
//! (`cargo test --benches`) only 1,000 pods run, once.

#[path = "common/cluster.rs"]
mod cluster;
#[path = "common/measure.rs"]
mod measure;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use chrono::TimeDelta;
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use kubetally::allocate::{HourSamples, Sample, SampleContext};
use kubetally::cluster::{Inventory, SharedInventory, lock};
use kubetally::collect::{Ledger, Stats};
use kubetally::sim::epoch;
use kubetally::source::metrics::{self, NodeUsage, PodUsage};
use kubetally::source::watch;
use kubetally::store::dataset::ROWS_PER_FILE;
use kubetally::store::schema::SAMPLES;
use kubetally::store::wal::{TickLog, Wal};
use kubetally::store::{Rows, parquet_bytes, rows_bytes, samples_batch};
use parquet::file::reader::{FileReader, SerializedFileReader};

use cluster::{Cluster, advance, client, on_error, spec};
use measure::{median, mib, status_bytes};

// The binary's allocator, so the figures are the collector's.
#[global_allocator]
static ALLOCATOR: kubetally::Allocator = kubetally::Allocator;

/// Set in the child process that measures inventory memory: the server URL.
const MEMORY_CHILD_URL: &str = "KUBETALLY_BENCH_MEMORY_URL";
/// The page size of `/proc/self/statm` on x86_64 and aarch64 Linux.
const PAGE_BYTES: u64 = 4096;
/// Ticks in an hour of samples (one a minute).
const TICKS_PER_HOUR: i64 = 60;

fn fail(error: impl std::fmt::Display) -> ! {
    panic!("{error}")
}

fn sizes() -> Vec<usize> {
    if let Ok(list) = std::env::var("KUBETALLY_BENCH_PODS") {
        return list
            .split(',')
            .map(|n| n.trim().parse().unwrap_or_else(|e| fail(e)))
            .collect();
    }
    if std::env::args().any(|arg| arg == "--bench") {
        vec![1_000, 10_000, 150_000]
    } else {
        vec![1_000]
    }
}

/// Resident bytes of this process (`/proc/self/statm`).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_else(|e| fail(e));
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| fail("unreadable /proc/self/statm"));
    pages * PAGE_BYTES
}

/// CPU time of the calling thread so far (ns precision, from the scheduler).
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

// ---------------------------------------------------------------- memory

/// What the memory child reports.
struct MemoryFigure {
    pods: usize,
    nodes: usize,
    /// PersistentVolumes and PersistentVolumeClaims held.
    volumes: usize,
    claims: usize,
    strings: usize,
    rss_before: u64,
    rss_after: u64,
    peak: u64,
    sync: Duration,
}

/// Runs in a fresh process of this binary: fills an inventory through the
/// watchers from the server at `url` and prints one `MEMORY` line.
fn memory_child(url: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| fail(e));
    runtime.block_on(async {
        let client = client(url);
        // One request first, so the HTTP stack's own buffers are in the baseline.
        client.apiserver_version().await.unwrap_or_else(|e| fail(e));
        let inventory: SharedInventory = Arc::new(Mutex::new(Inventory::default()));
        let rss_before = rss_bytes();
        let started = Instant::now();
        let watchers = watch::spawn_all(&client, &inventory, &on_error());
        while !lock(&inventory).is_synced() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let sync = started.elapsed();
        // Let the watchers settle into their watches.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_after = rss_bytes();
        let (pods, nodes, volumes, claims, strings) = {
            let inventory = lock(&inventory);
            (
                inventory.pod_count(),
                inventory.node_count(),
                inventory.storage().volume_count(),
                inventory.storage().claim_count(),
                inventory.interner.len(),
            )
        };
        println!(
            "MEMORY {pods} {nodes} {volumes} {claims} {strings} {rss_before} {rss_after} {} {}",
            status_bytes("VmHWM"),
            sync.as_millis()
        );
        for watcher in watchers {
            watcher.abort();
        }
    });
}

/// A child process killed (by its own handle) when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `kubetally sim serve` with `clock` (`["--speed", "1e-9"]`: all
/// but stopped, as `--speed` must be positive) and a kubeconfig in `dir`,
/// and returns it with its URL.
fn sim_process(pods: usize, dir: &Path, clock: [&str; 2]) -> (ChildGuard, String) {
    let kubeconfig = dir.join("kubeconfig");
    let spec = spec(pods);
    let child = Command::new(env!("CARGO_BIN_EXE_kubetally"))
        .args(["sim", "serve", "--listen", "127.0.0.1:0"])
        .args(clock)
        .args(["--nodes", &spec.nodes.to_string()])
        .args(["--pods", &spec.pods.to_string()])
        .args(["--claims", &spec.claims.to_string()])
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| fail(format!("starting kubetally sim serve: {e}")));
    let mut child = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(text) = std::fs::read_to_string(&kubeconfig)
            && let Some(url) = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("server: "))
                .filter(|u| u.starts_with("http://"))
        {
            return (child, url.to_owned());
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            fail(format!("kubetally sim serve exited: {status}"));
        }
        if Instant::now() > deadline {
            fail("kubetally sim serve did not start within 5 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The whole collector process over a full hour (issue 21): `kubetally
/// collect` against `kubetally sim serve --step 60s` (a simulated minute per
/// usage poll), 62 samples: the first hour's 60 ticks, its close and publish,
/// and the partial second hour published at exit.
struct ProcessFigure {
    /// `VmHWM` of the collector, last read before it exited (every 50 ms).
    peak: u64,
    /// RSS when the caches had synced, before the first tick (first read
    /// after the collector's log says so).
    synced: u64,
    /// Median of the RSS readings: the open hour's steady state.
    median: u64,
    /// User + system CPU of the collector process.
    cpu: Duration,
    wall: Duration,
}

fn measure_process_hour(pods: usize) -> ProcessFigure {
    let dir = tempfile::tempdir().unwrap_or_else(|e| fail(e));
    let (_sim, _) = sim_process(pods, dir.path(), ["--step", "60s"]);
    let kubeconfig = dir.path().join("kubeconfig");
    let exe = env!("CARGO_BIN_EXE_kubetally");
    let log = dir.path().join("collect.log");
    let started = Instant::now();
    let mut collector = ChildGuard(
        Command::new(exe)
            .arg("collect")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--out")
            .arg(dir.path().join("data"))
            .args(["--interval", "10ms", "--samples", "62", "--listen", "none"])
            .stdout(Stdio::null())
            // The collector logs to stderr.
            .stderr(std::fs::File::create(&log).unwrap_or_else(|e| fail(e)))
            .spawn()
            .unwrap_or_else(|e| fail(format!("starting kubetally collect: {e}"))),
    );
    let status = format!("/proc/{}/status", collector.0.id());
    let stat = format!("/proc/{}/stat", collector.0.id());
    let field = |text: &str, name: &str| -> Option<u64> {
        let kib = text.lines().find_map(|l| l.strip_prefix(name))?;
        kib.trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
            .map(|k| k * 1024)
    };
    let (mut peak, mut synced, mut readings, mut cpu_ticks) = (0, None, Vec::new(), 0);
    loop {
        if let Ok(Some(exit)) = collector.0.try_wait() {
            if !exit.success() {
                fail(format!("kubetally collect exited: {exit}"));
            }
            break;
        }
        if let Ok(text) = std::fs::read_to_string(&status) {
            peak = field(&text, "VmHWM:").unwrap_or(peak);
            if let Some(rss) = field(&text, "VmRSS:") {
                readings.push(rss);
                if synced.is_none()
                    && std::fs::read_to_string(&log).is_ok_and(|l| l.contains("caches synced"))
                {
                    synced = Some(rss);
                }
            }
        }
        // utime and stime, in clock ticks (fields 14 and 15).
        if let Ok(text) = std::fs::read_to_string(&stat)
            && let Some(rest) = text.rsplit_once(") ").map(|(_, rest)| rest)
        {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let parse = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
            if let (Some(user), Some(system)) = (parse(11), parse(12)) {
                cpu_ticks = user + system;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let wall = started.elapsed();
    readings.sort_unstable();
    ProcessFigure {
        peak,
        synced: synced.unwrap_or(0),
        median: readings.get(readings.len() / 2).copied().unwrap_or(0),
        // Linux's USER_HZ is 100 on every architecture we run.
        cpu: Duration::from_millis(cpu_ticks * 10),
        wall,
    }
}

fn report_process_hour(pods: usize, figure: &ProcessFigure) {
    println!(
        "collect/{pods}: the collector process over a full hour (62 samples, close and publish): peak RSS {:.1} MiB = {:.0} bytes/pod (target <= 2048); {:.1} MiB when synced, median {:.1} MiB; CPU {:.1} s in {:.1} s",
        mib(figure.peak),
        figure.peak as f64 / pods as f64,
        mib(figure.synced),
        mib(figure.median),
        figure.cpu.as_secs_f64(),
        figure.wall.as_secs_f64(),
    );
}

fn measure_memory(pods: usize) -> MemoryFigure {
    let dir = tempfile::tempdir().unwrap_or_else(|e| fail(e));
    let (_sim, url) = sim_process(pods, dir.path(), ["--speed", "1e-9"]);
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(e));
    let output = Command::new(exe)
        .env(MEMORY_CHILD_URL, &url)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| fail(e));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<u64> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("MEMORY "))
        .unwrap_or_else(|| fail(format!("memory child printed no figure: {stdout}")))
        .split_whitespace()
        .map(|f| f.parse().unwrap_or_else(|e| fail(e)))
        .collect();
    let [
        pods,
        nodes,
        volumes,
        claims,
        strings,
        rss_before,
        rss_after,
        peak,
        sync_ms,
    ] = fields[..]
    else {
        fail(format!("memory child printed {stdout}"))
    };
    MemoryFigure {
        pods: pods as usize,
        nodes: nodes as usize,
        volumes: volumes as usize,
        claims: claims as usize,
        strings: strings as usize,
        rss_before,
        rss_after,
        peak,
        sync: Duration::from_millis(sync_ms),
    }
}

// ---------------------------------------------------------------- ticks

/// A ledger fed one tick a minute within one hour, as a running collector's.
#[derive(Default)]
struct Ticks {
    ledger: Ledger,
    minute: i64,
}

impl Ticks {
    /// Moves sample time on by a minute (to `epoch + minute`); starts a new
    /// ledger before the hour would close (closing is measured apart).
    fn next(&mut self, mut pods: Vec<PodUsage>, mut nodes: Vec<NodeUsage>) -> TickInput {
        self.minute += 1;
        if self.minute >= TICKS_PER_HOUR {
            self.ledger = Ledger::default();
            self.minute = 1;
        }
        let at = epoch() + TimeDelta::minutes(self.minute);
        for pod in &mut pods {
            pod.timestamp = at;
        }
        for node in &mut nodes {
            node.timestamp = at;
        }
        (pods, nodes)
    }
}

type TickInput = (Vec<PodUsage>, Vec<NodeUsage>);

fn group_for<'a>(
    c: &'a mut Criterion,
    name: &str,
    pods: usize,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group.warm_up_time(Duration::from_secs(1));
    match pods {
        ..10_000 => group
            .sample_size(20)
            .measurement_time(Duration::from_secs(3)),
        // Each iteration takes a good fraction of a second or more: ten
        // samples of (mostly) one iteration each.
        10_000..100_000 => group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .measurement_time(Duration::from_secs(5)),
        _ => group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .measurement_time(Duration::from_secs(20)),
    };
    group
}

/// Medians of what the tick benchmarks' iterations measured themselves.
struct TickFigures {
    containers: usize,
    tick_wall: Duration,
    tick_cpu: Option<Duration>,
    fetch_cpu: Option<Duration>,
    ingest_wall: Duration,
}

fn bench_ticks(c: &mut Criterion, cluster: &Cluster, pods: usize) -> TickFigures {
    let prefetched = cluster.fetch();
    let containers: usize = prefetched.0.iter().map(|p| p.containers.len()).sum();

    let mut group = group_for(c, "tick", pods);
    group.throughput(Throughput::Elements(pods as u64));
    let ticks = RefCell::new(Ticks::default());
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    let mut fetch_cpus = Vec::new();
    group.bench_function(BenchmarkId::from_parameter(pods), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (wall_0, cpu_0) = (Instant::now(), thread_cpu());
                let (usage, nodes) = cluster.fetch();
                let (fetch_wall, cpu_1) = (wall_0.elapsed(), thread_cpu());
                let (usage, nodes) = ticks.borrow_mut().next(usage, nodes);
                let (wall_2, cpu_2) = (Instant::now(), thread_cpu());
                cluster.ingest(&mut ticks.borrow_mut().ledger, usage, nodes);
                let (ingest_wall, cpu_3) = (wall_2.elapsed(), thread_cpu());
                total += fetch_wall + ingest_wall;
                walls.push(fetch_wall + ingest_wall);
                if let (Some(c0), Some(c1), Some(c2), Some(c3)) = (cpu_0, cpu_1, cpu_2, cpu_3) {
                    cpus.push((c1 - c0) + (c3 - c2));
                    fetch_cpus.push(c1 - c0);
                }
            }
            total
        })
    });
    group.finish();
    drop(ticks);

    let mut group = group_for(c, "ingest", pods);
    group.throughput(Throughput::Elements(pods as u64));
    let ticks = RefCell::new(Ticks::default());
    let mut ingest_walls = Vec::new();
    group.bench_function(BenchmarkId::from_parameter(pods), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (usage, nodes) = ticks
                    .borrow_mut()
                    .next(prefetched.0.clone(), prefetched.1.clone());
                let started = Instant::now();
                cluster.ingest(&mut ticks.borrow_mut().ledger, usage, nodes);
                let elapsed = started.elapsed();
                ingest_walls.push(elapsed);
                total += elapsed;
            }
            total
        })
    });
    group.finish();
    drop(ticks);

    TickFigures {
        containers,
        tick_wall: median(&mut walls),
        tick_cpu: (!cpus.is_empty()).then(|| median(&mut cpus)),
        fetch_cpu: (!fetch_cpus.is_empty()).then(|| median(&mut fetch_cpus)),
        ingest_wall: median(&mut ingest_walls),
    }
}

// ---------------------------------------------------------------- an hour

/// An hour of samples as the collector closes it, and what it cost.
struct Hour {
    samples: Vec<Sample>,
    /// Heap bytes of the ledger's compact runs of those samples.
    runs_bytes: usize,
    ticks: Duration,
    close: Duration,
    /// Fewest and most samples a tick added.
    rows_per_tick: (usize, usize),
    late_timestamps: usize,
    metrics_without_pod: u64,
}

fn build_hour(cluster: &Cluster) -> Hour {
    let server = cluster.server();
    lock(&cluster.inventory).clock = None;
    let stats_before = Stats::get(&cluster.stats.metrics_without_pod);
    let mut ledger = Ledger::default();
    let mut late_timestamps = 0;
    let mut rows_per_tick = (usize::MAX, 0);
    let mut ticks = Duration::ZERO;
    for minute in 1..=TICKS_PER_HOUR {
        let at = epoch() + TimeDelta::minutes(minute);
        advance(server, at);
        // The watchers (on the simulator's threads) take in the changes.
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        // Node usage adds nothing to `samples`; the tick benchmark has it.
        let usage = cluster
            .runtime
            .block_on(metrics::pod_usage(&cluster.client))
            .unwrap_or_else(|e| fail(e))
            .items;
        late_timestamps += usage.iter().filter(|u| u.timestamp != at).count();
        let rows: usize = usage.iter().map(|u| u.containers.len()).sum();
        rows_per_tick = (rows_per_tick.0.min(rows), rows_per_tick.1.max(rows));
        cluster.ingest(&mut ledger, usage, Vec::new());
        ticks += started.elapsed();
    }
    let started = Instant::now();
    let hours = cluster.flush(&mut ledger, epoch() + TimeDelta::hours(1));
    let close = started.elapsed();
    let samples = hours
        .into_iter()
        .find(|h| h.start == epoch())
        .map(|h| h.samples)
        .unwrap_or_default();
    // The ledger alone (no write-ahead log): the hour's samples are kept.
    let HourSamples::Kept(samples) = samples else {
        fail("the ledger closed an hour with its samples in a log")
    };
    Hour {
        samples: samples.to_vec(),
        runs_bytes: samples.heap_bytes(),
        ticks,
        close,
        rows_per_tick,
        late_timestamps,
        metrics_without_pod: Stats::get(&cluster.stats.metrics_without_pod) - stats_before,
    }
}

/// The hour's files as `Dataset::publish` cuts them.
fn files(batch: &RecordBatch) -> impl Iterator<Item = RecordBatch> + '_ {
    let rows = batch.num_rows();
    (0..rows.div_ceil(ROWS_PER_FILE).max(1)).map(move |seq| {
        let offset = seq * ROWS_PER_FILE;
        batch.slice(offset, ROWS_PER_FILE.min(rows - offset))
    })
}

fn encode(batch: &RecordBatch) -> Vec<Vec<u8>> {
    files(batch)
        .map(|file| parquet_bytes(&SAMPLES, &file).unwrap_or_else(|e| fail(e)))
        .collect()
}

/// Compressed bytes per column over all files, and the files' total size.
fn column_sizes(files: &[Vec<u8>]) -> (BTreeMap<String, (i64, i64)>, u64) {
    let mut columns: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut total = 0;
    for file in files {
        total += file.len() as u64;
        let reader =
            SerializedFileReader::new(bytes::Bytes::from(file.clone())).unwrap_or_else(|e| fail(e));
        for group in reader.metadata().row_groups() {
            for column in group.columns() {
                let entry = columns.entry(column.column_path().string()).or_default();
                entry.0 += column.compressed_size();
                entry.1 += column.uncompressed_size();
            }
        }
    }
    (columns, total)
}

/// Bytes per row of the same hour as the writer wrote it before the delta
/// columns: a dictionary on every column, plain encodings. Shows what
/// `store::dataset::delta_columns` saves.
fn what_if(batch: &RecordBatch) -> Vec<(&'static str, f64)> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;

    let level = ZstdLevel::try_new(3).unwrap_or_else(|e| fail(e));
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_dictionary_enabled(true)
        .set_max_row_group_row_count(Some(256 * 1024))
        .build();
    let mut total = 0;
    for file in files(batch) {
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, file.schema(), Some(properties.clone()))
            .unwrap_or_else(|e| fail(e));
        writer.write(&file).unwrap_or_else(|e| fail(e));
        writer.close().unwrap_or_else(|e| fail(e));
        total += bytes.len();
    }
    vec![(
        "a dictionary on every column, plain encodings (the writer before delta columns)",
        total as f64 / batch.num_rows().max(1) as f64,
    )]
}

fn write_ipc(batch: &RecordBatch, path: &Path) {
    let file = std::fs::File::create(path).unwrap_or_else(|e| fail(e));
    let mut writer =
        arrow::ipc::writer::FileWriter::try_new(std::io::BufWriter::new(file), &batch.schema())
            .unwrap_or_else(|e| fail(e));
    writer.write(batch).unwrap_or_else(|e| fail(e));
    writer.finish().unwrap_or_else(|e| fail(e));
}

/// pyarrow's figures for the same rows, or why there are none.
fn pyarrow_write(batch: &RecordBatch) -> Result<serde_json::Value, String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("samples.arrow");
    write_ipc(batch, &path);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/pyarrow_write.py");
    let repeats = if batch.num_rows() > 5_000_000 {
        "3"
    } else {
        "7"
    };
    let output = Command::new(&python)
        .arg(script)
        .arg(&path)
        .arg(ROWS_PER_FILE.to_string())
        .arg(repeats)
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{python} {script} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("unreadable output of {script}: {e}"))
}

/// The hour's samples as the collector publishes them: each row group's
/// batch made when the writer asks for it.
struct SampleRows<'a>(&'a [Sample]);

impl Rows for SampleRows<'_> {
    fn num_rows(&self) -> usize {
        self.0.len()
    }

    fn batch(
        &self,
        range: std::ops::Range<usize>,
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        samples_batch(&self.0[range])
    }
}

/// Median seconds per hour of the Rust writer, measured by the iterations.
struct WriteFigures {
    /// The files made a row group at a time from the samples.
    write: Duration,
    /// The hour's batch (made beforehand) encoded.
    encode: Duration,
}

fn bench_write(c: &mut Criterion, pods: usize, samples: &[Sample]) -> WriteFigures {
    let mut group = group_for(c, "write_hour", pods);
    group.throughput(Throughput::Elements(samples.len() as u64));
    let batch = samples_batch(samples).unwrap_or_else(|e| fail(e));
    let rows = SampleRows(samples);
    let mut writes = Vec::new();
    let mut encodes = Vec::new();
    group.bench_function(BenchmarkId::from_parameter(pods), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                for seq in 0..samples.len().div_ceil(ROWS_PER_FILE).max(1) {
                    let range = seq * ROWS_PER_FILE..samples.len().min((seq + 1) * ROWS_PER_FILE);
                    black_box(rows_bytes(&SAMPLES, &rows, range).unwrap_or_else(|e| fail(e)));
                }
                let elapsed = started.elapsed();
                writes.push(elapsed);
                total += elapsed;
                let encoding = Instant::now();
                black_box(encode(&batch));
                encodes.push(encoding.elapsed());
            }
            total
        })
    });
    group.finish();
    WriteFigures {
        write: median(&mut writes),
        encode: median(&mut encodes),
    }
}

// ---------------------------------------------------------------- report

fn report_memory(figure: &MemoryFigure, asked: usize) {
    let grown = figure.rss_after.saturating_sub(figure.rss_before);
    println!(
        "collect/{asked}: inventory memory: {:.0} bytes/pod (target <= 2048): RSS {:.1} -> {:.1} MiB (+{:.1} MiB) for {} pods, {} nodes, {} volumes, {} claims, {} interned strings; peak RSS {:.1} MiB; synced in {:.2} s",
        grown as f64 / figure.pods.max(1) as f64,
        mib(figure.rss_before),
        mib(figure.rss_after),
        mib(grown),
        figure.pods,
        figure.nodes,
        figure.volumes,
        figure.claims,
        figure.strings,
        mib(figure.peak),
        figure.sync.as_secs_f64(),
    );
}

fn report_hour(pods: usize, hour: &Hour, files: &[Vec<u8>], batch: &RecordBatch) {
    let rows = hour.samples.len() as f64;
    let (columns, total) = column_sizes(files);
    println!(
        "collect/{pods}: samples on disk: {:.2} bytes/row (target <= 8): {total} bytes in {} file(s) for {} rows",
        total as f64 / rows.max(1.0),
        files.len(),
        hour.samples.len(),
    );
    let mut by_size: Vec<_> = columns.iter().collect();
    by_size.sort_by_key(|(_, (compressed, _))| std::cmp::Reverse(*compressed));
    let columns_total: i64 = columns.values().map(|(c, _)| c).sum();
    for (name, (compressed, uncompressed)) in by_size {
        println!(
            "collect/{pods}:   {name:<22} {:>6.3} bytes/row ({:>4.1} %), {:>6.3} before compression",
            *compressed as f64 / rows.max(1.0),
            100.0 * *compressed as f64 / total.max(1) as f64,
            *uncompressed as f64 / rows.max(1.0),
        );
    }
    println!(
        "collect/{pods}:   (footers, page indexes, schema) {:.3} bytes/row",
        (total as i64 - columns_total) as f64 / rows.max(1.0)
    );
    for (layout, bytes) in what_if(batch) {
        println!("collect/{pods}:   what if: {layout}: {bytes:.2} bytes/row");
    }
    // The open hour keeps one compact run per context (`allocate::runs`),
    // whose strings are the inventory's: the runs and the contexts are what
    // it costs.
    let contexts: std::collections::HashSet<*const SampleContext> = hour
        .samples
        .iter()
        .map(|s| Arc::as_ptr(&s.context))
        .collect();
    let open_hour =
        (hour.runs_bytes + contexts.len() * std::mem::size_of::<SampleContext>()) as u64;
    println!(
        "collect/{pods}: the hour: 60 ticks of {}..{} samples in {:.2} s (pod metrics + ingest), closing it (sort + allocation) {:.2} s; before closing, the ledger holds {:.1} MiB of samples ({:.0} bytes/pod, {:.1} bytes a sample); {} stale sample times, {} metrics without a pod",
        hour.rows_per_tick.0,
        hour.rows_per_tick.1,
        hour.ticks.as_secs_f64(),
        hour.close.as_secs_f64(),
        mib(open_hour),
        open_hour as f64 / pods as f64,
        open_hour as f64 / hour.samples.len().max(1) as f64,
        hour.late_timestamps,
        hour.metrics_without_pod,
    );
}

fn report_write(
    pods: usize,
    rows: usize,
    rust: &WriteFigures,
    python: &Result<serde_json::Value, String>,
) {
    let per_second = |d: Duration| rows as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "collect/{pods}: parquet write of {rows} rows: the files made a row group at a time from the samples (rows_bytes) {:.2} M rows/s, the hour's batch encoded (parquet_bytes) {:.2} M rows/s",
        per_second(rust.write) / 1e6,
        per_second(rust.encode) / 1e6,
    );
    match python {
        Ok(figures) => {
            let theirs = figures["rows_per_second"].as_f64().unwrap_or(f64::NAN);
            println!(
                "collect/{pods}: pyarrow {} write_table: {:.2} M rows/s, {:.2} bytes/row; ratio kubetally/pyarrow: {:.2} (from the samples, a row group at a time), {:.2} (encode only)",
                figures["pyarrow"].as_str().unwrap_or("?"),
                theirs / 1e6,
                figures["bytes"].as_f64().unwrap_or(f64::NAN) / rows as f64,
                per_second(rust.write) / theirs,
                per_second(rust.encode) / theirs,
            );
        }
        Err(reason) => println!("collect/{pods}: pyarrow comparison skipped: {reason}"),
    }
}

fn report_ticks(pods: usize, figures: &TickFigures) {
    let ms = |d: Option<Duration>| {
        d.map_or("n/a".to_owned(), |d| {
            format!("{:.1} ms", d.as_secs_f64() * 1e3)
        })
    };
    println!(
        "collect/{pods}: tick ({} containers): median {} wall, collector thread CPU {} (of which the metrics fetch and decode {}); ingest alone {} (target <= 1 s at 150000 pods)",
        figures.containers,
        ms(Some(figures.tick_wall)),
        ms(figures.tick_cpu),
        ms(figures.fetch_cpu),
        ms(Some(figures.ingest_wall)),
    );
}

fn collect(c: &mut Criterion) {
    let mut smaller: Option<MemoryFigure> = None;
    for pods in sizes() {
        let memory = measure_memory(pods);
        report_memory(&memory, pods);
        if let Some(smaller) = &smaller {
            // Fixed costs (tasks, buffers, a decoded page) cancel out.
            let grown = |m: &MemoryFigure| m.rss_after as f64 - m.rss_before as f64;
            println!(
                "collect/{pods}: inventory memory per added pod from {} to {} pods: {:.0} bytes/pod",
                smaller.pods,
                memory.pods,
                (grown(&memory) - grown(smaller)) / (memory.pods as f64 - smaller.pods as f64)
            );
        }
        smaller = Some(memory);
        report_process_hour(pods, &measure_process_hour(pods));

        let cluster = Cluster::start(pods);
        let ticks = bench_ticks(c, &cluster, pods);
        report_ticks(pods, &ticks);

        let hour = build_hour(&cluster);
        cluster.stop();
        let batch = samples_batch(&hour.samples).unwrap_or_else(|e| fail(e));
        let files = encode(&batch);
        report_hour(pods, &hour, &files, &batch);
        drop(files);
        let rust = bench_write(c, pods, &hour.samples);
        let python = pyarrow_write(&batch);
        report_write(pods, hour.samples.len(), &rust, &python);
        report_log(pods, &measure_log(&hour.samples), rust.write);
    }
}

/// What the write-ahead log costs the collector (issue 21): each tick's
/// samples appended (sorted, encoded, synced), and the hour's `samples`
/// files merged from those tick files instead of made from memory.
struct LogFigures {
    ticks: usize,
    append: Duration,
    bytes_per_tick: f64,
    merged_write: Duration,
}

/// The hour's ticks, each in an order of its own as metrics-server lists
/// them (its store is a map), logged one append each; then the hour's
/// files as `Dataset::publish` makes them, from the log.
fn measure_log(samples: &[Sample]) -> LogFigures {
    let mut ticks: BTreeMap<_, Vec<Sample>> = BTreeMap::new();
    for sample in samples {
        ticks.entry(sample.ts).or_default().push(sample.clone());
    }
    let mut seed = 1_u64;
    for tick in ticks.values_mut() {
        for i in (1..tick.len()).rev() {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            tick.swap(i, (seed >> 33) as usize % (i + 1));
        }
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| fail(e));
    let mut wal = Wal::open(dir.path(), "bench", "0").unwrap_or_else(|e| fail(e));
    let mut appends = Vec::new();
    for tick in ticks.values() {
        let log = TickLog {
            samples: tick.clone(),
            ..TickLog::default()
        };
        let started = Instant::now();
        wal.append(&log).unwrap_or_else(|e| fail(e));
        appends.push(started.elapsed());
    }
    let count = ticks.len();
    drop(ticks);
    let logged = wal
        .sorted_samples(epoch(), samples.len())
        .unwrap_or_else(|| fail("the log lacks some of the hour's samples"));
    let started = Instant::now();
    for seq in 0..samples.len().div_ceil(ROWS_PER_FILE).max(1) {
        let range = seq * ROWS_PER_FILE..samples.len().min((seq + 1) * ROWS_PER_FILE);
        black_box(rows_bytes(&SAMPLES, &logged, range).unwrap_or_else(|e| fail(e)));
    }
    LogFigures {
        ticks: count,
        append: median(&mut appends),
        bytes_per_tick: wal.bytes() as f64 / count.max(1) as f64,
        merged_write: started.elapsed(),
    }
}

fn report_log(pods: usize, log: &LogFigures, from_memory: Duration) {
    println!(
        "collect/{pods}: write-ahead log: a tick's samples appended (sorted, encoded, synced) {:.1} ms median of {} ticks, {:.1} MB a tick; the hour's samples files merged from the log {:.2} s, made from memory {:.2} s",
        log.append.as_secs_f64() * 1e3,
        log.ticks,
        log.bytes_per_tick / 1e6,
        log.merged_write.as_secs_f64(),
        from_memory.as_secs_f64(),
    );
}

fn main() {
    if let Ok(url) = std::env::var(MEMORY_CHILD_URL) {
        memory_child(&url);
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    collect(&mut criterion);
    criterion.final_summary();
}
