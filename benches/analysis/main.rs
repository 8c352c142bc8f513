//! Benchmarks of the analysis engine on a week of a 150,000-pod cluster,
//! each compared in the same run with DuckDB running the same SQL on the
//! same files (issue #6: within 1.5× of DuckDB, the report under 10 s).
//!
//! The dataset (`dataset.rs`): 7 days × 24 hourly files per table, replayed
//! from one hour the real collector closed against the simulator (150,000
//! pods, 5,000 nodes): ~34 M `allocation` rows. It is made once (minutes)
//! and kept under `$CARGO_TARGET_DIR/bench-data/`.
//!
//! Each case is run as one command invocation runs it: `Session::open` on
//! the dataset, then its SQL collected by polars' streaming engine:
//!
//! - `chargeback`: `kubetally query -n chargeback_by_tenant` over the week
//!   (`from=2026-11-02`, `to=2026-11-09`): all of `allocation` grouped by
//!   tenant, and `nodes` (output formatting, 17 rows, is left out).
//! - `report`: `kubetally report` with its defaults (the last 7 days, by
//!   tenant, Markdown; `--format csv` is the invoice table of the same
//!   build): `report::build` (its one pass over `allocation`, its SQL
//!   scans of `nodes`, then the sharing arithmetic in Rust) and
//!   `report::render`. DuckDB runs the statements `build` gave the session
//!   (`Session::statements`: the SQL polars ran, and the two statements
//!   that define what the pass over `allocation` computed, `report::scan`),
//!   not the Rust part, which works on a few hundred aggregated rows.
//! - `report_sql`: the bundled queries a weekly report is made of by hand —
//!   `weekly_cost_by_namespace`, `daily_cost_trend`,
//!   `idle_cost_by_node_pool` — in one session.
//! - `cost_by_label`, `gke_usage_metering`, `storage_waste`,
//!   `top_waste_workloads`, `unpriced_nodes`: each of the other bundled
//!   queries alone, with its default parameters over the week.
//! - `focus_chargeback`: `focus_chargeback_by_tenant`, the same bill from
//!   the week's FOCUS export (which the dataset holds in `focus/`).
//!
//! Figures per case:
//!
//! - **time** (criterion, `analysis/<case>/polars`): ten samples of one run
//!   each; the bench prints their median next to DuckDB's.
//! - **peak memory**: the case run once in a fresh process of this binary
//!   (`VmHWM` of `/proc/self/status`, which counts file pages polars maps as
//!   well as its heap; the process's RSS before the run is printed too),
//!   and the highest `RssAnon` sampled every 2 ms during that run: the heap
//!   alone, as DuckDB's, which reads with `pread` into its own buffers.
//! - **DuckDB** (`duckdb_run.py`, Python packages duckdb and pyarrow, which
//!   the bench installs with pip when missing; without them it prints one
//!   SKIP line and measures polars alone): the same SQL with the
//!   `-- duckdb:` changes applied, views over `read_parquet(…,
//!   hive_partitioning = true)` named like our tables, a fresh connection per
//!   run, one untimed run in a fresh process for its peak memory (`VmHWM`),
//!   then ten timed runs. Its threads are set to what polars uses (the
//!   machine's available parallelism, or `POLARS_MAX_THREADS`).
//!
//! Like the `kubetally` binary, the bench runs on mimalloc.
//! `KUBETALLY_BENCH_PODS` picks the cluster size (default 150,000 with
//! `--bench`; 1,000 without, as `cargo test --benches` runs it, once).
//! `KUBETALLY_BENCH_DATA_DIR` moves the dataset cache. A filter argument
//! (`cargo bench --bench analysis -- chargeback`) picks cases by name.

#[path = "../common/anon_peak.rs"]
mod anon_peak;
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
use kubetally::analyze::{self, Session, report};

use anon_peak::AnonPeak;
use collect_hour::cache_dir;
use measure::{median, mib, status_bytes};

// The binary's allocator, so the figures are `kubetally query`'s.
#[global_allocator]
static ALLOCATOR: kubetally::Allocator = kubetally::Allocator;

/// Set in the child process that measures a case's peak memory: the case.
const CHILD_CASE: &str = "KUBETALLY_BENCH_ANALYSIS_CASE";
/// Set with [`CHILD_CASE`]: the dataset's root.
const CHILD_ROOT: &str = "KUBETALLY_BENCH_ANALYSIS_ROOT";
const DUCKDB_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/benches/analysis/duckdb_run.py"
);

pub(crate) fn fail(error: impl std::fmt::Display) -> ! {
    panic!("{error}")
}

/// A benchmark case.
struct Case {
    name: &'static str,
    what: What,
}

enum What {
    /// Bundled queries, run in one session as `kubetally query -n` runs one.
    Queries(&'static [&'static str]),
    /// `kubetally report` with its defaults (the last 7 days, by tenant,
    /// Markdown): `report::build` + `report::render`.
    Report,
}

const CASES: [Case; 9] = [
    Case {
        name: "chargeback",
        what: What::Queries(&["chargeback_by_tenant"]),
    },
    Case {
        name: "report",
        what: What::Report,
    },
    Case {
        name: "report_sql",
        what: What::Queries(&[
            "weekly_cost_by_namespace",
            "daily_cost_trend",
            "idle_cost_by_node_pool",
        ]),
    },
    // The other bundled queries over the dataset's tables, one a case so
    // each has its own ratio to DuckDB.
    Case {
        name: "cost_by_label",
        what: What::Queries(&["cost_by_label"]),
    },
    Case {
        name: "gke_usage_metering",
        what: What::Queries(&["gke_usage_metering"]),
    },
    Case {
        name: "storage_waste",
        what: What::Queries(&["storage_waste"]),
    },
    Case {
        name: "top_waste_workloads",
        what: What::Queries(&["top_waste_workloads"]),
    },
    Case {
        name: "unpriced_nodes",
        what: What::Queries(&["unpriced_nodes"]),
    },
    Case {
        name: "focus_chargeback",
        what: What::Queries(&["focus_chargeback_by_tenant"]),
    },
];

impl Case {
    fn describe(&self) -> String {
        match self.what {
            What::Queries(names) => format!("queries {}", names.join(" + ")),
            What::Report => "kubetally report (build + render as Markdown)".to_owned(),
        }
    }
}

fn find_case(name: &str) -> &'static Case {
    CASES
        .iter()
        .find(|case| case.name == name)
        .unwrap_or_else(|| fail(format!("no case {name}")))
}

/// The week's parameters.
fn params() -> Vec<(String, String)> {
    let from = kubetally::sim::epoch().date_naive();
    let to = from + chrono::Days::new(dataset::DAYS.unsigned_abs());
    vec![
        ("from".to_owned(), from.to_string()),
        ("to".to_owned(), to.to_string()),
    ]
}

/// The case's SQL for `engine` (`None`: as polars runs it). The report's
/// is the SQL `report::build` gave its session, taken from one run.
fn statements(case: &Case, engine: Option<&str>, root: &Path) -> Vec<String> {
    let What::Queries(names) = case.what else {
        let mut session = Session::open(root).unwrap_or_else(|e| fail(e));
        black_box(report_run(&mut session));
        return session.statements().to_vec();
    };
    let params = params();
    names
        .iter()
        .map(|name| {
            let query = analyze::find(name).unwrap_or_else(|e| fail(e)).query;
            match engine {
                None => query.render(&params),
                Some(engine) => query.render_for(engine, &params),
            }
            .unwrap_or_else(|e| fail(format!("{name}: {e}")))
        })
        .collect()
}

/// The report as `kubetally report` makes it by default; its size in bytes.
fn report_run(session: &mut Session) -> usize {
    let report = report::build(session, &report::Options::default()).unwrap_or_else(|e| fail(e));
    let mut markdown = Vec::new();
    report::render(&report, report::ReportFormat::Markdown, &mut markdown)
        .unwrap_or_else(|e| fail(e));
    markdown.len()
}

/// One run of `case` as the command does it: open, then the queries (the
/// rows of each) or the report (its bytes).
fn polars_run(case: &Case, root: &Path, statements: &[String]) -> Vec<usize> {
    let mut session = Session::open(root).unwrap_or_else(|e| fail(e));
    if let What::Report = case.what {
        return vec![report_run(&mut session)];
    }
    statements
        .iter()
        .map(|sql| {
            let frame = session
                .query(sql)
                .unwrap_or_else(|e| fail(format!("{e}\n{sql}")));
            black_box(frame).height()
        })
        .collect()
}

fn sizes() -> usize {
    if let Ok(pods) = std::env::var("KUBETALLY_BENCH_PODS") {
        return pods.trim().parse().unwrap_or_else(|e| fail(e));
    }
    if std::env::args().any(|arg| arg == "--bench") {
        150_000
    } else {
        1_000
    }
}

// ---------------------------------------------------------------- memory

/// Runs in a fresh process of this binary: the case once, then one `PEAK` line.
fn memory_child(case: &str, root: &Path) {
    let case = find_case(case);
    let statements = match case.what {
        What::Queries(_) => statements(case, None, root),
        What::Report => Vec::new(),
    };
    let before = status_bytes("VmRSS");
    let anon = AnonPeak::start();
    let started = Instant::now();
    let rows = polars_run(case, root, &statements);
    let elapsed = started.elapsed();
    let anon_peak = anon.finish();
    println!(
        "PEAK {} {before} {} {} {} {anon_peak} {:?}",
        status_bytes("VmHWM"),
        status_bytes("RssAnon"),
        status_bytes("RssFile"),
        elapsed.as_millis(),
        rows,
    );
}

/// What the memory child reports.
struct Peak {
    peak: u64,
    before: u64,
    anon_after: u64,
    file_after: u64,
    /// The highest `RssAnon` during the run ([`AnonPeak`]).
    anon_peak: u64,
    once: Duration,
    rows: String,
}

fn measure_peak(case: &Case, root: &Path) -> Peak {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(e));
    let output = Command::new(exe)
        .env(CHILD_CASE, case.name)
        .env(CHILD_ROOT, root)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| fail(e));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PEAK "))
        .unwrap_or_else(|| fail(format!("memory child printed no figure: {stdout}")));
    let (numbers, rows) = line
        .split_once(" [")
        .unwrap_or_else(|| fail(format!("memory child printed {line}")));
    let fields: Vec<u64> = numbers
        .split_whitespace()
        .map(|f| f.parse().unwrap_or_else(|e| fail(e)))
        .collect();
    let [peak, before, anon_after, file_after, once_ms, anon_peak] = fields[..] else {
        fail(format!("memory child printed {line}"))
    };
    Peak {
        peak,
        before,
        anon_after,
        file_after,
        anon_peak,
        once: Duration::from_millis(once_ms),
        rows: format!("[{rows}"),
    }
}

// ---------------------------------------------------------------- DuckDB

/// The Python that runs [`DUCKDB_SCRIPT`]: `$PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Makes sure duckdb and pyarrow import (`duckdb_run.py --install` runs pip
/// when they do not), once before the cases, so a fresh machine compares
/// with DuckDB too. Returns what is installed, or why there is no DuckDB
/// comparison (naming the packages and the pip command).
fn duckdb_ready() -> Result<String, String> {
    let python = python();
    let output = Command::new(&python)
        .arg(DUCKDB_SCRIPT)
        .arg("--install")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "cannot run {python} ({e}): the comparison needs Python with duckdb and pyarrow"
            )
        })?;
    let said = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
    if output.status.success() {
        Ok(said(&output.stdout))
    } else {
        Err(said(&output.stderr))
    }
}

/// DuckDB's figures for a case, or why there are none.
fn duckdb(case: &Case, root: &Path, repeats: usize) -> Result<serde_json::Value, String> {
    let python = python();
    let input = serde_json::json!({
        "name": case.name,
        "statements": statements(case, Some("duckdb"), root),
    })
    .to_string();
    let mut child = Command::new(&python)
        .arg(DUCKDB_SCRIPT)
        .arg(root)
        .arg(analyze::threads().to_string())
        .arg(repeats.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("writing to {DUCKDB_SCRIPT}: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("waiting for {DUCKDB_SCRIPT}: {e}"))?;
    if output.status.code() == Some(3) {
        return Err(format!(
            "{python} cannot import duckdb and pyarrow ({python} -m pip install duckdb pyarrow): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    if !output.status.success() {
        return Err(format!(
            "{DUCKDB_SCRIPT} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("unreadable output of {DUCKDB_SCRIPT}: {e}"))
}

// ---------------------------------------------------------------- cases

/// The case's median wall time over criterion's samples.
fn bench_polars(c: &mut Criterion, case: &Case, root: &Path, rows: u64) -> Duration {
    let statements = statements(case, None, root);
    let mut group = c.benchmark_group("analysis");
    // Each run takes seconds: ten samples of one run each (criterion warns
    // that it cannot fit them in the measurement time; that is intended).
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(rows));
    let mut walls = Vec::new();
    group.bench_function(format!("{}/polars", case.name), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                black_box(polars_run(case, root, &statements));
                let elapsed = started.elapsed();
                walls.push(elapsed);
                total += elapsed;
            }
            total
        })
    });
    group.finish();
    median(&mut walls)
}

/// Each statement's time in polars, in one session (after the criterion
/// runs, so the files are in the page cache as they were there), with the
/// grouped sums folded beside polars (`analyze::pushdown`, as the command
/// runs it) or with polars running the whole statement; and how many
/// `SELECT`s were folded.
fn polars_statement_times(
    root: &Path,
    statements: &[String],
    pushdown: bool,
) -> (Vec<Duration>, usize) {
    let mut session = Session::open(root).unwrap_or_else(|e| fail(e));
    session.set_pushdown(pushdown);
    let times = statements
        .iter()
        .map(|sql| {
            let started = Instant::now();
            black_box(session.query(sql).unwrap_or_else(|e| fail(e)));
            started.elapsed()
        })
        .collect();
    (times, session.pushed())
}

/// Where the time goes: each statement in both engines.
fn report_statements(
    case: &Case,
    statements: &[String],
    ours: &[Duration],
    duck: Option<&Result<serde_json::Value, String>>,
) {
    for (index, (sql, ours)) in statements.iter().zip(ours).enumerate() {
        let theirs = duck
            .and_then(|d| d.as_ref().ok())
            .and_then(|f| f["statement_median_seconds"][index].as_f64());
        let line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let shown: String = line.chars().take(160).collect();
        println!(
            "analysis/{}:   statement {index}: polars {:.3} s, DuckDB {}: {shown}{}",
            case.name,
            ours.as_secs_f64(),
            theirs.map_or("n/a".to_owned(), |t| format!("{t:.3} s")),
            if line.len() > shown.len() { " …" } else { "" },
        );
    }
}

/// `duck` is `None` when DuckDB is not installed (said once, up front).
fn report(
    case: &Case,
    polars: Duration,
    peak: &Peak,
    duck: Option<&Result<serde_json::Value, String>>,
) {
    let name = case.name;
    println!(
        "analysis/{name}: {}: polars median {:.3} s; peak RSS {:.1} MiB, peak anonymous {:.1} MiB (RSS {:.1} MiB before the run; after it {:.1} MiB anonymous + {:.1} MiB file pages); one run in the fresh process {:.3} s; rows {}",
        case.describe(),
        polars.as_secs_f64(),
        mib(peak.peak),
        mib(peak.anon_peak),
        mib(peak.before),
        mib(peak.anon_after),
        mib(peak.file_after),
        peak.once.as_secs_f64(),
        peak.rows,
    );
    match duck {
        None => {}
        Some(Ok(figures)) => {
            let theirs = figures["median_seconds"].as_f64().unwrap_or(f64::NAN);
            let their_peak = figures["peak_kib"].as_f64().unwrap_or(f64::NAN) * 1024.0;
            let their_base = figures["baseline_kib"].as_f64().unwrap_or(f64::NAN) * 1024.0;
            let their_anon = figures["anon_peak_kib"].as_f64().unwrap_or(f64::NAN) * 1024.0;
            println!(
                "analysis/{name}: DuckDB {} ({} threads): median {theirs:.3} s of {} runs; peak RSS {:.1} MiB, peak anonymous {:.1} MiB ({:.1} MiB before the run); rows {}",
                figures["duckdb"].as_str().unwrap_or("?"),
                figures["threads"],
                figures["seconds"].as_array().map_or(0, Vec::len),
                their_peak / 1048576.0,
                their_anon / 1048576.0,
                their_base / 1048576.0,
                figures["rows"],
            );
            println!(
                "analysis/{name}: polars ÷ DuckDB: time {:.2}× (target ≤ 1.5), peak memory {:.2}× ({:.2}× counting only what the run added; {:.2}× anonymous memory alone)",
                polars.as_secs_f64() / theirs,
                peak.peak as f64 / their_peak,
                peak.peak.saturating_sub(peak.before) as f64 / (their_peak - their_base),
                peak.anon_peak as f64 / their_anon,
            );
        }
        Some(Err(reason)) => println!("analysis/{name}: SKIP DuckDB comparison: {reason}"),
    }
}

fn analysis(c: &mut Criterion) {
    let pods = sizes();
    let started = Instant::now();
    let generated = dataset::ensure(pods, &cache_dir());
    let root = &generated.root;
    println!(
        "analysis: dataset {} (ready in {:.1} s):",
        root.display(),
        started.elapsed().as_secs_f64()
    );
    for line in generated.summary.lines() {
        println!("analysis:   {line}");
    }
    let allocation_rows = {
        let mut session = Session::open(root).unwrap_or_else(|e| fail(e));
        let frame = session
            .query("SELECT COUNT(*) AS n FROM allocation")
            .unwrap_or_else(|e| fail(e));
        frame
            .column("n")
            .ok()
            .and_then(|c| c.get(0).ok())
            .and_then(|v| v.extract::<u64>())
            .unwrap_or_else(|| fail(format!("{frame}")))
    };
    println!(
        "analysis: {allocation_rows} allocation rows, {:.1} MiB on disk in all; polars and DuckDB on {} threads",
        mib(collect_hour::folder_bytes(root)),
        analyze::threads(),
    );
    let repeats = if std::env::args().any(|arg| arg == "--bench") {
        10
    } else {
        1
    };
    // `cargo bench --bench analysis -- report` runs the cases whose name
    // holds `report` (criterion filters its benchmarks the same way).
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let ready = duckdb_ready();
    match &ready {
        Ok(installed) => println!("analysis: DuckDB side: {installed}"),
        Err(reason) => println!("analysis: SKIP DuckDB comparison: {reason}"),
    }
    for case in CASES
        .iter()
        .filter(|case| filter.as_deref().is_none_or(|f| case.name.contains(f)))
    {
        let polars = bench_polars(c, case, root, allocation_rows);
        let peak = measure_peak(case, root);
        let duck = ready.is_ok().then(|| duckdb(case, root, repeats));
        report(case, polars, &peak, duck.as_ref());
        let statements = statements(case, None, root);
        let (folded, pushed) = polars_statement_times(root, &statements, true);
        let (whole, _) = polars_statement_times(root, &statements, false);
        println!(
            "analysis/{}:   {pushed} SELECT(s) folded beside polars (analyze::pushdown); \
             polars running every statement whole: {:.3} s",
            case.name,
            whole.iter().sum::<Duration>().as_secs_f64()
        );
        report_statements(case, &statements, &folded, duck.as_ref());
    }
}

fn main() {
    if let (Some(case), Some(root)) = (std::env::var_os(CHILD_CASE), std::env::var_os(CHILD_ROOT)) {
        memory_child(&case.to_string_lossy(), Path::new(&root));
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    analysis(&mut criterion);
    criterion.final_summary();
}
