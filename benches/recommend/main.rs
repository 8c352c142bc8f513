//! Benchmark of `kubetally recommend` on 300,000 workload containers over
//! 14 days of hourly rows (issue #7: under 60 s on this machine, time and
//! peak memory in `docs/performance.md`).
//!
//! The dataset (`dataset.rs`): one hour the real collector closed against
//! the simulator (150,000 pods, 5,000 nodes), its pods relabelled so that
//! each is the only pod of its workload and its nodes copied until the hour
//! holds ≥ 300,000 distinct workload containers, then replayed into 14 × 24
//! hourly files of `allocation`, `nodes` and `workloads` with usage varied
//! by hour: ~100 M `allocation` rows, one per container and hour. It is
//! made once (minutes) and kept under `$CARGO_TARGET_DIR/bench-data/`.
//!
//! The case is what the command runs: `recommend::plan::plan` with the
//! command's defaults (`--strategy kubetally`, `--last 14d`, every
//! namespace, the embedded price catalog) — the `allocation` history folded
//! per workload container, the `workloads` templates, right-sizing, spot and
//! machine-family advice; printing the tables is left out.
//!
//! Figures:
//!
//! - **time** (criterion, `recommend/plan`): ten samples of one run each,
//!   throughput in `allocation` rows; the bench prints their median.
//! - **peak memory**: one run in a fresh process of this binary (`VmHWM` of
//!   `/proc/self/status`; the process's RSS before the run is printed too).
//! - **where the time goes**: one run of each step of `plan` on its own
//!   (`history::read`, `history::read_templates`, `observed::read`,
//!   `rightsize::recommend`, `advice::spot_items`, `advice::family_items`),
//!   after the timed runs.
//!
//! Like the `kubetally` binary, the bench runs on mimalloc. Without
//! `--bench` (`cargo test --benches`, which runs it once) the dataset is
//! small: 1,000 pods relabelled into 2,000 containers over 2 days.
//! `KUBETALLY_BENCH_PODS`, `KUBETALLY_BENCH_CONTAINERS` and
//! `KUBETALLY_BENCH_DAYS` set the sizes; `KUBETALLY_BENCH_DATA_DIR` moves
//! the dataset cache. To profile one run of the steps alone:
//! `KUBETALLY_BENCH_RECOMMEND_ROOT=<dataset> KUBETALLY_BENCH_RECOMMEND_DAYS=14
//! KUBETALLY_BENCH_RECOMMEND_STEPS=1 <bench binary>` (`perf record` it).

#[path = "../common/cluster.rs"]
mod cluster;
#[path = "../common/collect_hour.rs"]
mod collect_hour;
mod dataset;
#[path = "../common/measure.rs"]
mod measure;

use std::hint::black_box;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use kubetally::pricing::{PriceBook, PricingOptions};
use kubetally::recommend::history::{self, Scope};
use kubetally::recommend::plan::{self, Options, Plan};
use kubetally::recommend::strategy::Strategy;
use kubetally::recommend::{advice, observed, rightsize};
use parquet::file::reader::{FileReader, SerializedFileReader};

use collect_hour::cache_dir;
use measure::{median, mib, status_bytes};

// The binary's allocator, so the figures are `kubetally recommend`'s.
#[global_allocator]
static ALLOCATOR: kubetally::Allocator = kubetally::Allocator;

/// Set in the child process that measures peak memory: the dataset's root.
const CHILD_ROOT: &str = "KUBETALLY_BENCH_RECOMMEND_ROOT";
/// Set with [`CHILD_ROOT`]: the window in days.
const CHILD_DAYS: &str = "KUBETALLY_BENCH_RECOMMEND_DAYS";
/// Set with both: time the steps of one plan instead (for profiling).
const STEPS_ONLY: &str = "KUBETALLY_BENCH_RECOMMEND_STEPS";

pub(crate) fn fail(error: impl std::fmt::Display) -> ! {
    panic!("{error}")
}

fn bench_mode() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

fn env_number<T: std::str::FromStr>(name: &str, bench: T, test: T) -> T
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|e| fail(format!("{name}: {e}"))),
        Err(_) if bench_mode() => bench,
        Err(_) => test,
    }
}

fn size() -> dataset::Size {
    dataset::Size {
        pods: env_number("KUBETALLY_BENCH_PODS", 150_000, 1_000),
        containers: env_number("KUBETALLY_BENCH_CONTAINERS", 300_000, 2_000),
        days: env_number("KUBETALLY_BENCH_DAYS", 14, 2),
    }
}

/// `kubetally recommend`'s defaults over the last `days` days.
fn options(days: i64) -> Options {
    Options {
        strategy: Strategy::Kubetally,
        last: chrono::Duration::days(days),
        namespace: None,
        cluster: None,
        min_savings_usd: 0.0,
    }
}

/// The embedded catalog, as `kubetally recommend` prices without flags.
fn book() -> PriceBook {
    PriceBook::new(Vec::new(), PricingOptions::default()).unwrap_or_else(|e| fail(e))
}

fn run(root: &Path, book: &PriceBook, options: &Options) -> Plan {
    plan::plan(root, book, options).unwrap_or_else(|e| fail(e))
}

/// Rows and files of `table`, from the files' footers.
fn table_rows(root: &Path, table: &str) -> (u64, usize) {
    let files = history::table_files(root, table, &Scope::default()).unwrap_or_else(|e| fail(e));
    let rows = files
        .iter()
        .map(|table_file| {
            let file = std::fs::File::open(&table_file.path).unwrap_or_else(|e| fail(e));
            let reader = SerializedFileReader::new(file).unwrap_or_else(|e| fail(e));
            u64::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0)
        })
        .sum();
    (rows, files.len())
}

/// Runs in a fresh process of this binary: one plan, then one `PEAK` line.
fn memory_child(root: &Path, days: i64) {
    let (book, options) = (book(), options(days));
    let before = status_bytes("VmRSS");
    let started = Instant::now();
    let plan = run(root, &book, &options);
    let elapsed = started.elapsed();
    println!(
        "PEAK {} {before} {} {}",
        status_bytes("VmHWM"),
        elapsed.as_millis(),
        plan.rightsizing.len(),
    );
}

/// What the memory child reports.
struct Peak {
    peak: u64,
    before: u64,
    once: Duration,
}

fn measure_peak(root: &Path, days: i64) -> Peak {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(e));
    let output = Command::new(exe)
        .env(CHILD_ROOT, root)
        .env(CHILD_DAYS, days.to_string())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| fail(e));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PEAK "))
        .unwrap_or_else(|| fail(format!("memory child printed no figure: {stdout}")));
    let fields: Vec<u64> = line
        .split_whitespace()
        .map(|f| f.parse().unwrap_or_else(|e| fail(e)))
        .collect();
    let [peak, before, once_ms, _containers] = fields[..] else {
        fail(format!("memory child printed {line}"))
    };
    Peak {
        peak,
        before,
        once: Duration::from_millis(once_ms),
    }
}

/// Each step of `plan` on its own, timed once: what dominates.
fn steps(root: &Path, book: &PriceBook, days: i64) {
    // `plan`'s window: whole days, ending with the newest day of data.
    let newest: chrono::NaiveDate = history::table_files(root, "allocation", &Scope::default())
        .unwrap_or_else(|e| fail(e))
        .last()
        .map(|file| file.date)
        .unwrap_or_else(|| fail("no dated allocation files"));
    let window_start = (newest + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .map(|t: chrono::NaiveDateTime| t.and_utc() - chrono::Duration::days(days))
        .unwrap_or_else(|| fail("no window"));
    let scope = Scope {
        since: Some(window_start),
        cluster: Some(dataset::CLUSTER.to_owned()),
        ..Scope::default()
    };
    let timed = |name: &str, started: Instant| {
        println!(
            "recommend:   {name}: {:.3} s (RSS after it {:.1} MiB)",
            started.elapsed().as_secs_f64(),
            mib(status_bytes("VmRSS")),
        );
    };
    let started = Instant::now();
    let histories = history::read(root, &scope).unwrap_or_else(|e| fail(e));
    timed("history::read (allocation)", started);
    let started = Instant::now();
    let templates = history::read_templates(root, &scope).unwrap_or_else(|e| fail(e));
    timed("history::read_templates (workloads)", started);
    let started = Instant::now();
    black_box(observed::read(root, &scope).unwrap_or_else(|e| fail(e)));
    timed("observed::read (workloads)", started);
    let started = Instant::now();
    black_box(rightsize::recommend(
        Strategy::Kubetally,
        &histories,
        &templates.containers,
    ));
    timed("rightsize::recommend", started);
    let started = Instant::now();
    black_box(advice::spot_items(book, &histories, &templates.workloads));
    timed("advice::spot_items", started);
    let started = Instant::now();
    black_box(advice::family_items(book, root, &scope).unwrap_or_else(|e| fail(e)));
    timed("advice::family_items (nodes)", started);
    let started = Instant::now();
    drop(histories);
    drop(templates);
    timed("dropping the histories and templates", started);
}

fn recommend(c: &mut Criterion) {
    let size = size();
    let started = Instant::now();
    let generated = dataset::ensure(size, &cache_dir());
    let root = &generated.root;
    println!(
        "recommend: dataset {} (ready in {:.1} s):",
        root.display(),
        started.elapsed().as_secs_f64()
    );
    for line in generated.summary.lines() {
        println!("recommend:   {line}");
    }
    if std::env::var_os(PREPARE_ONLY).is_some() {
        // Made while the machine is busy, measured later when it is quiet.
        return;
    }
    let (rows, files) = table_rows(root, "allocation");
    println!(
        "recommend: {rows} allocation rows in {files} files, {:.1} MiB on disk in all",
        mib(collect_hour::folder_bytes(root)),
    );
    let (book, options) = (book(), options(size.days));
    let first = Instant::now();
    let plan = run(root, &book, &options);
    println!(
        "recommend: first run {:.3} s: {} workload containers recommended ({} decided), {} spot items, {} machine-family items, window {} .. {}",
        first.elapsed().as_secs_f64(),
        plan.rightsizing.len(),
        plan.rightsizing.iter().filter(|r| !r.undecided).count(),
        plan.spot.len(),
        plan.machine_family.len(),
        plan.window_start,
        plan.window_end,
    );
    drop(plan);

    let mut group = c.benchmark_group("recommend");
    // Each run takes seconds: ten samples of one run each (criterion warns
    // that it cannot fit them in the measurement time; that is intended).
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(rows));
    let mut walls = Vec::new();
    group.bench_function("plan", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                black_box(run(root, &book, &options));
                let elapsed = started.elapsed();
                walls.push(elapsed);
                total += elapsed;
            }
            total
        })
    });
    group.finish();
    let time = median(&mut walls);
    let peak = measure_peak(root, size.days);
    println!(
        "recommend: plan median {:.3} s over {} runs ({:.1} M rows/s), target < 60 s: {}; peak RSS {:.1} MiB (RSS {:.1} MiB before the run); one run in the fresh process {:.3} s",
        time.as_secs_f64(),
        walls.len(),
        rows as f64 / time.as_secs_f64().max(1e-9) / 1e6,
        if time < Duration::from_secs(60) {
            "met"
        } else {
            "MISSED"
        },
        mib(peak.peak),
        mib(peak.before),
        peak.once.as_secs_f64(),
    );
    println!("recommend: where the time goes (one run of each step):");
    steps(root, &book, size.days);
}

/// Set: make the dataset and stop.
const PREPARE_ONLY: &str = "KUBETALLY_BENCH_PREPARE_ONLY";

fn main() {
    if let (Some(root), Some(days)) = (std::env::var_os(CHILD_ROOT), std::env::var(CHILD_DAYS).ok())
    {
        let days = days.parse().unwrap_or_else(|e| fail(e));
        if std::env::var_os(STEPS_ONLY).is_some() {
            steps(Path::new(&root), &book(), days);
        } else {
            memory_child(Path::new(&root), days);
        }
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    recommend(&mut criterion);
    criterion.final_summary();
}
