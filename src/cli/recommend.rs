//! `kubetally recommend`: right-sizing from the dataset; `kubetally recommend
//! backtest`: score the strategies on real usage traces.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{Table, presets};

use super::duration::parse_duration;
use crate::model::units::MIB;
use crate::recommend::backtest::{Outcome, Total, evaluate, total};
use crate::recommend::plan::{self, Options};
use crate::recommend::rightsize::Recommendation;
use crate::recommend::strategy::Strategy;
use crate::recommend::{advice, history, patch, samples, trace};
use crate::store::schema::RECOMMENDATIONS;
use crate::store::{Dataset, Target, recommendations_batch};

const EXAMPLES: &str = "\
Examples:
  kubetally recommend --data /tmp/data --last 7d
  # One patch per workload of a namespace, for `kubectl patch` or kustomize
  kubetally recommend --data /tmp/data --namespace acme --format yaml
  # Score the strategies on the dataset's own samples
  kubetally recommend backtest --data /tmp/data --train 1d --test 1d";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = EXAMPLES)]
pub struct RecommendArgs {
    #[command(subcommand)]
    pub command: Option<RecommendCommand>,
    #[command(flatten)]
    pub dataset: DatasetArgs,
}

/// Right-sizing over a dataset.
#[derive(Debug, Args)]
pub struct DatasetArgs {
    #[command(flatten)]
    pub dataset: super::data::DataFlags,
    /// The window, ending at the newest data.
    #[arg(long, value_name = "DURATION", default_value = "14d", value_parser = parse_duration)]
    pub last: chrono::Duration,
    #[arg(long, value_enum, default_value = "kubetally")]
    pub strategy: Strategy,
    /// Only this namespace.
    #[arg(long, value_name = "NS", conflicts_with = "write")]
    pub namespace: Option<String>,
    /// The cluster (its `cluster=` partition); needed when the dataset
    /// holds several.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// Hide right-sizing worth less than this per month either way (USD);
    /// a container that was OOM-killed is always shown.
    #[arg(
        long,
        value_name = "USD",
        default_value_t = 0.0,
        conflicts_with = "write"
    )]
    pub min_savings: f64,
    /// Also publish the run to the dataset's `recommendations` table (one
    /// file per cluster, strategy and UTC day: a rerun the same day replaces
    /// it). Needs write access to `--data`; not with the filters above.
    #[arg(long)]
    pub write: bool,
    /// `yaml`: one strategic-merge patch per workload, for `kubectl patch`
    /// or a kustomize `patches:` entry.
    #[arg(long, value_enum, default_value = "table")]
    pub format: RecommendFormat,
    #[command(flatten)]
    pub pricing: super::PricingFlags,
}

#[derive(Debug, Subcommand)]
pub enum RecommendCommand {
    /// Recommend from a training window of real traces, replay the window
    /// after it, and score each strategy's savings and risks.
    Backtest(BacktestArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecommendFormat {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BacktestFormat {
    Table,
    Json,
}

const BACKTEST_EXAMPLES: &str = "\
Examples:
  # Usage traces (a file or a directory of them), one line per series too
  kubetally recommend backtest --trace traces/bitbrains_gwa-t-12_rnd --per-series
  # A kubetally dataset's samples: one day to train, one to test
  kubetally recommend backtest --data /tmp/data --train 1d --test 1d --strategy kubetally,vpa
  kubetally recommend backtest --trace traces --train 3d --test 3d --format json";

#[derive(Debug, Args)]
#[command(after_help = BACKTEST_EXAMPLES)]
pub struct BacktestArgs {
    /// Trace files or directories of them (Bitbrains GWA-T-12, Alibaba 2018
    /// machine_usage, Alibaba GenTD26 pod memory; `.gz` or not).
    #[arg(long, value_name = "PATH", num_args = 1.., required_unless_present = "data")]
    pub trace: Vec<PathBuf>,
    /// A kubetally dataset instead: each workload container's raw `samples`
    /// of the newest --train + --test days is a series.
    #[arg(long, value_name = "DIR|URL", conflicts_with = "trace")]
    pub data: Option<String>,
    /// Where an object store dataset is cached (see `recommend --cache-dir`).
    #[arg(long, value_name = "DIR", requires = "data")]
    pub cache_dir: Option<PathBuf>,
    /// The dataset's cluster, when it holds several.
    #[arg(long, value_name = "NAME", requires = "data")]
    pub cluster: Option<String>,
    /// Training window at the start of each series.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub train: chrono::Duration,
    /// Test window after it (a shorter series is split at the same ratio).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub test: chrono::Duration,
    /// Strategies to score (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub strategy: Vec<Strategy>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: BacktestFormat,
    /// With `--format table`, one line per series too.
    #[arg(long)]
    pub per_series: bool,
}

pub fn run(args: RecommendArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(RecommendCommand::Backtest(args)) => backtest(args),
        None => rightsizing(args.dataset),
    }
}

fn rightsizing(args: DatasetArgs) -> anyhow::Result<ExitCode> {
    let root = args.dataset.root()?;
    let book = args.pricing.build()?;
    let options = Options {
        strategy: args.strategy,
        last: args.last,
        namespace: args.namespace.clone(),
        cluster: args.cluster.clone(),
        min_savings_usd: args.min_savings,
    };
    let progress = super::progress::Progress::new("kubetally recommend", 0, "files");
    let plan = plan::plan_reporting(&root, &book, &options, &|done, total| {
        progress.set_total(total as u64);
        progress.set(done as u64, "reading allocation");
    });
    progress.finish();
    let plan = plan?;
    if args.write {
        publish(&args.dataset.data, &plan)?;
    }
    let (rows, spot, families) = (&plan.rightsizing, &plan.spot, &plan.machine_family);
    let text = match args.format {
        RecommendFormat::Yaml => patch::yaml(rows)?,
        RecommendFormat::Json => format!("{}\n", serde_json::to_string_pretty(&plan)?),
        RecommendFormat::Table => format!(
            "Right-sizing ({})\n{}\n\nSpot eligible\n{}\n\nMachine families (on-demand pools)\n{}\n",
            args.strategy.as_str(),
            rightsizing_table(rows),
            spot_table(spot),
            family_table(families)
        ),
    };
    print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to standard output; a closed pipe (`| head`) is an error
/// `main` recognises and ends quietly, where `print!` would panic.
fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Writes `plan` as the `recommendations` file of today (UTC) for its
/// cluster and strategy.
pub(super) fn publish(data: &str, plan: &plan::Plan) -> anyhow::Result<()> {
    let target = Target::parse(data).context("--data")?;
    let dataset = Dataset {
        target,
        cluster: plan.cluster.clone(),
        writer: format!("recommend-{}", plan.strategy),
    };
    let now = chrono::Utc::now();
    let rows = plan.rows();
    let batch = recommendations_batch(&plan.run(now), &rows)?;
    let day = now.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let written = runtime.block_on(dataset.publish(&RECOMMENDATIONS, day, &batch))?;
    eprintln!(
        "wrote {} recommendations to {}",
        rows.len(),
        written.join(", ")
    );
    Ok(())
}

fn spot_table(items: &[advice::SpotItem]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::ASCII_MARKDOWN);
    table.set_header(["namespace/workload", "eligible", "$/month", "why not"]);
    for item in items {
        let mut failed: Vec<String> = item
            .checks
            .iter()
            .filter(|c| c.verdict == "fail")
            .map(|c| format!("{} {}", c.id, c.reason))
            .collect();
        if failed.is_empty() && !item.eligible {
            // No check failed: it runs on spot capacity already (S8).
            failed.extend(
                item.checks
                    .iter()
                    .filter(|c| c.id == "S8")
                    .map(|c| format!("{} {}", c.id, c.reason)),
            );
        }
        table.add_row([
            format!(
                "{}/{} {}",
                item.namespace, item.workload_kind, item.workload_name
            ),
            if item.eligible {
                "yes".into()
            } else {
                "no".into()
            },
            money(item.monthly_savings_usd),
            failed.join("; "),
        ]);
    }
    table
}

fn family_table(items: &[advice::FamilyItem]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::ASCII_MARKDOWN);
    table.set_header([
        "pool",
        "family",
        "$/month",
        "cheapest",
        "$/month there",
        "note",
    ]);
    for item in items {
        let cheapest = item.options.first();
        table.add_row([
            item.pool.clone(),
            item.current_family.clone(),
            format!("{:.2}", item.current_monthly_usd),
            cheapest.map(|o| o.family.clone()).unwrap_or_default(),
            cheapest
                .map(|o| format!("{:.2}", o.effective_monthly_usd))
                .unwrap_or_default(),
            item.needs_faster.clone().unwrap_or_default(),
        ]);
    }
    table
}

/// Dollars to the cent, never "-0.00".
fn money(value: f64) -> String {
    let cents = (value * 100.0).round();
    format!("{:.2}", if cents == 0.0 { 0.0 } else { cents / 100.0 })
}

fn cores(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{:.0}m", v * 1000.0))
}

fn mib(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{:.0}Mi", v / MIB))
}

fn rightsizing_table(rows: &[Recommendation]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::ASCII_MARKDOWN);
    table.set_header([
        "namespace/workload/container",
        "CPU req",
        "→",
        "mem req",
        "→",
        "mem limit",
        "→",
        "$/month",
        "confidence",
        "reason",
    ]);
    for r in rows {
        table.add_row([
            format!(
                "{}/{} {}/{}",
                r.namespace, r.workload_kind, r.workload_name, r.container
            ),
            cores(r.current.cpu_request_cores),
            cores(r.recommended.cpu_request_cores),
            mib(r.current.memory_request_bytes),
            mib(r.recommended.memory_request_bytes),
            mib(r.current.memory_limit_bytes),
            mib(r.recommended.memory_limit_bytes),
            money(r.monthly_savings_usd),
            r.confidence.to_owned(),
            r.reason.clone(),
        ]);
    }
    table
}

/// Trace files under `path` (itself, or `*.csv`/`*.csv.gz` below it).
fn trace_files(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_file() {
        out.push(path.to_owned());
        return Ok(());
    }
    let entries = std::fs::read_dir(path).with_context(|| format!("--trace {}", path.display()))?;
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_dir() {
            trace_files(&path, out)?;
        } else if (name.ends_with(".csv") || name.ends_with(".csv.gz"))
            && !name.starts_with("INDEX")
            && name != "machine_meta.csv.gz"
        {
            out.push(path);
        }
    }
    Ok(())
}

fn backtest(args: BacktestArgs) -> anyhow::Result<ExitCode> {
    if args.train <= chrono::Duration::zero() || args.test <= chrono::Duration::zero() {
        bail!("--train and --test must be longer than zero");
    }
    let strategies = if args.strategy.is_empty() {
        Strategy::ALL.to_vec()
    } else {
        args.strategy.clone()
    };
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut score = |series: &[trace::Series]| {
        for one in series {
            outcomes.extend(evaluate(&strategies, one, args.train, args.test));
        }
    };
    match &args.data {
        Some(data) => score(&dataset_series(&args, data)?),
        None => {
            let mut files = Vec::new();
            for path in &args.trace {
                trace_files(path, &mut files)?;
            }
            if files.is_empty() {
                bail!(
                    "--trace: no trace files (*.csv, *.csv.gz) under {:?}",
                    args.trace
                );
            }
            for file in &files {
                score(&trace::read(file)?);
            }
        }
    }
    let totals: Vec<Total> = strategies.iter().map(|s| total(*s, &outcomes)).collect();
    let text = match args.format {
        BacktestFormat::Json => {
            let value = serde_json::json!({"series": outcomes, "totals": totals});
            format!("{}\n", serde_json::to_string_pretty(&value)?)
        }
        BacktestFormat::Table if args.per_series => {
            format!("{}\n{}\n", series_table(&outcomes), totals_table(&totals))
        }
        BacktestFormat::Table => format!("{}\n", totals_table(&totals)),
    };
    print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The dataset's workload containers as series over the newest `--train`
/// + `--test` days.
fn dataset_series(args: &BacktestArgs, data: &str) -> anyhow::Result<Vec<trace::Series>> {
    let flags = super::data::DataFlags {
        data: data.to_owned(),
        cache_dir: args.cache_dir.clone(),
    };
    let root = flags.root()?;
    let cluster = plan::pick_cluster(&root, "samples", args.cluster.as_deref())?;
    let since = samples::window_start(&root, Some(&cluster), args.train + args.test)?;
    let scope = history::Scope {
        since,
        cluster: Some(cluster),
        ..history::Scope::default()
    };
    Ok(samples::series(&root, &scope)?)
}

fn percent(value: f64) -> String {
    format!("{:.2} %", 100.0 * value)
}

fn markdown_table(header: [&str; 6], rows: impl Iterator<Item = [String; 6]>) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::ASCII_MARKDOWN);
    table.set_header(header);
    for row in rows {
        table.add_row(row);
    }
    table
}

fn totals_table(totals: &[Total]) -> Table {
    markdown_table(
        [
            "strategy",
            "series",
            "savings",
            "CPU risk",
            "memory risk",
            "undecided",
        ],
        totals.iter().map(|t| {
            [
                t.strategy.to_owned(),
                t.series.to_string(),
                percent(t.savings_fraction),
                percent(t.cpu_risk),
                percent(t.memory_risk),
                t.undecided.to_string(),
            ]
        }),
    )
}

fn series_table(outcomes: &[Outcome]) -> Table {
    markdown_table(
        [
            "series",
            "strategy",
            "savings",
            "CPU risk",
            "memory risk",
            "undecided",
        ],
        outcomes.iter().map(|o| {
            [
                o.series.clone(),
                o.strategy.to_owned(),
                percent(o.savings_fraction),
                percent(o.cpu_risk),
                percent(o.memory_risk),
                o.reason.clone().unwrap_or_default(),
            ]
        }),
    )
}
