//! `kubetally report`: the cost report and per-tenant chargeback.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};

use super::data::DataFlags;
use super::duration::parse_duration;
use crate::analyze::Session;
use crate::analyze::report::{
    self, Basis, By, FactsReader, Options, ReportFormat, ShareIdle, ShareShared, Window,
};

const EXAMPLES: &str = "\
Examples:
  kubetally report --data /tmp/data --last 7d
  kubetally report --data /tmp/data --from 2026-11-01 --to 2026-12-01 -o november.html
  # One tenant's invoice lines
  kubetally report --data /tmp/data --last 30d --tenant acme --format csv";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ReportArgs {
    #[command(flatten)]
    pub dataset: DataFlags,
    /// The period: this long, ending at the end of the newest hour in the
    /// dataset (or at --to). Without --last, --from and --to: the last seven
    /// complete UTC days of data.
    #[arg(long, value_name = "DURATION")]
    pub last: Option<String>,
    /// First UTC day of the period (inclusive).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<String>,
    /// UTC day the period ends at (exclusive: midnight starting it).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<String>,
    #[command(flatten)]
    pub cost: super::cost::CostFlag,
    /// Cost lines by tenant, namespace, workload or label:KEY.
    #[arg(
        long,
        value_name = "tenant|namespace|workload|label:KEY",
        default_value = "tenant"
    )]
    pub by: String,
    /// Output format [default: from -o's extension, else md].
    #[arg(long, value_enum)]
    pub format: Option<ReportFormatArg>,
    /// Write the report to FILE instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// What containers are charged for: max(request, usage), requests or usage.
    #[arg(long, value_enum, default_value_t = BasisArg::Max)]
    pub basis: BasisArg,
    /// How idle cost is spread over the lines.
    #[arg(long, value_enum, default_value_t = ShareIdleArg::Proportional)]
    pub share_idle: ShareIdleArg,
    /// How the shared namespaces' cost (tenant __shared__) is spread.
    #[arg(long, value_enum, default_value_t = ShareSharedArg::Proportional)]
    pub share_shared: ShareSharedArg,
    /// Only this tenant's lines: the tenant's own invoice.
    #[arg(long, value_name = "NAME")]
    pub tenant: Option<String>,
    /// Workloads listed under top waste.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top_waste: usize,
    /// How the sums over `allocation` are read: `scan` (the arrow-rs pass,
    /// where it applies) or `sql` (polars running the same statement). The
    /// figures are the same; hidden, it is there to compare the two.
    #[arg(long, value_enum, default_value_t = FactsArg::Scan, hide = true)]
    pub facts: FactsArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FactsArg {
    Scan,
    Sql,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormatArg {
    Md,
    Html,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BasisArg {
    Max,
    Request,
    Usage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShareIdleArg {
    Proportional,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShareSharedArg {
    Proportional,
    Even,
    None,
}

/// Flags are checked here rather than by clap so that a bad value is one
/// error line (exit 2), as everywhere else in kubetally.
fn parse_date(flag: &str, text: Option<&str>) -> anyhow::Result<Option<NaiveDate>> {
    text.map(|text| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| anyhow::anyhow!("{flag} {text}: not a date (expected YYYY-MM-DD)"))
    })
    .transpose()
}

/// The format: `--format`, else -o's extension, else Markdown.
fn format(args: &ReportArgs) -> ReportFormat {
    let chosen = args.format.or_else(|| {
        let extension = args
            .output
            .as_deref()
            .and_then(Path::extension)
            .and_then(|e| e.to_str())?;
        match extension.to_ascii_lowercase().as_str() {
            "html" | "htm" => Some(ReportFormatArg::Html),
            "csv" => Some(ReportFormatArg::Csv),
            "json" => Some(ReportFormatArg::Json),
            _ => None,
        }
    });
    match chosen.unwrap_or(ReportFormatArg::Md) {
        ReportFormatArg::Md => ReportFormat::Markdown,
        ReportFormatArg::Html => ReportFormat::Html,
        ReportFormatArg::Csv => ReportFormat::Csv,
        ReportFormatArg::Json => ReportFormat::Json,
    }
}

fn options(args: &ReportArgs) -> anyhow::Result<Options> {
    let from = parse_date("--from", args.from.as_deref())?;
    let to = parse_date("--to", args.to.as_deref())?;
    let last = args
        .last
        .as_deref()
        .map(|text| parse_duration(text).map_err(|e| anyhow::anyhow!("--last {e}")))
        .transpose()?;
    let window = match (from, last, to) {
        (Some(_), Some(_), _) => {
            bail!("--from and --last: give one of them (--to may go with either)")
        }
        (Some(from), None, to) => Window::Range { from, to },
        (None, None, None) => Window::default(),
        (None, last, to) => Window::Last {
            length: last.unwrap_or(chrono::Duration::days(7)),
            to,
        },
    };
    let by = By::parse(&args.by).map_err(|e| anyhow::anyhow!("--by {e}"))?;
    Ok(Options {
        window,
        by,
        basis: match args.basis {
            BasisArg::Max => Basis::Max,
            BasisArg::Request => Basis::Request,
            BasisArg::Usage => Basis::Usage,
        },
        share_idle: match args.share_idle {
            ShareIdleArg::Proportional => ShareIdle::Proportional,
            ShareIdleArg::None => ShareIdle::None,
        },
        share_shared: match args.share_shared {
            ShareSharedArg::Proportional => ShareShared::Proportional,
            ShareSharedArg::Even => ShareShared::Even,
            ShareSharedArg::None => ShareShared::None,
        },
        tenant: args.tenant.clone(),
        top_waste: args.top_waste,
        facts: match args.facts {
            FactsArg::Scan => FactsReader::Scan,
            FactsArg::Sql => FactsReader::Sql,
        },
    })
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let format = format(&args);
    let options = options(&args)?;
    let cost = args.cost.basis()?;
    let root = args.dataset.root()?;
    let mut session = Session::open_priced(&root, cost)?;
    let progress = super::progress::Progress::new("kubetally report", 0, "files");
    let report = report::build_reporting(&mut session, &options, &|done, total| {
        progress.set_total(total as u64);
        progress.set(done as u64, "reading allocation");
    });
    progress.finish();
    let report = report?;
    match &args.output {
        Some(path) => {
            let mut file = std::fs::File::create(path)
                .with_context(|| format!("-o {}: cannot create the file", path.display()))?;
            report::render(&report, format, &mut file)?;
            file.flush()
                .with_context(|| format!("-o {}: writing", path.display()))?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            report::render(&report, format, &mut out)?;
            out.flush().context("writing to standard output")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
