//! `kubetally export focus`: the dataset as FOCUS 1.3 cost-and-usage rows
//! with split cost allocation (docs/focus.md).

use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{Days, NaiveDate, TimeZone, Utc};
use clap::{Args, Subcommand};

use super::data::DataFlags;
use crate::focus::{self, CostBasis, Pricing, Window};
use crate::store::Target;
use crate::store::focus::{Destination, Format};

const EXAMPLES: &str = "\
Examples:
  kubetally export focus --data /tmp/data -o /tmp/focus
  kubetally export focus --data /tmp/data --from 2026-11-01 --to 2026-12-01 -o november.parquet
  kubetally export focus --data s3://bucket/kubetally --format csv -o gs://finops/focus/kubetally
  # Into the dataset, where `kubetally query` reads it as the table `focus`
  kubetally export focus --data /tmp/data -o /tmp/data/focus";

/// Export the dataset in a standard billing format.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub command: ExportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// FOCUS 1.3 cost-and-usage rows: every node, disk, load balancer and
    /// fee hour split to the containers and owners that used it.
    Focus(FocusArgs),
}

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct FocusArgs {
    #[command(flatten)]
    pub dataset: DataFlags,
    /// First UTC day to export (inclusive) [default: the dataset's first].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<String>,
    /// UTC day the export ends at (exclusive) [default: after the dataset's last].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<String>,
    #[command(flatten)]
    pub cost: super::cost::CostFlag,
    /// File format [default: from -o's extension, else parquet].
    #[arg(long, value_name = "parquet|csv")]
    pub format: Option<String>,
    /// A file (`….parquet`, `….csv`), or a directory or object store
    /// prefix that gets one `billing_period=YYYY-MM/` folder per month.
    #[arg(short = 'o', long, value_name = "PATH|URL")]
    pub output: String,
    /// BillingAccountId of every row [default: the cluster's name]: the
    /// cloud billing account, to sit beside the cloud's own FOCUS rows.
    #[arg(long, value_name = "ID")]
    pub billing_account: Option<String>,
}

fn file_format(args: &FocusArgs) -> anyhow::Result<Format> {
    match args.format.as_deref() {
        Some("parquet") => Ok(Format::Parquet),
        Some("csv") => Ok(Format::Csv),
        Some(other) => bail!("--format {other}: not a format (expected parquet or csv)"),
        None if args.output.ends_with(".csv") => Ok(Format::Csv),
        None => Ok(Format::Parquet),
    }
}

fn day(flag: &str, text: Option<&str>) -> anyhow::Result<Option<NaiveDate>> {
    text.map(|text| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| anyhow::anyhow!("{flag} {text}: not a date (expected YYYY-MM-DD)"))
    })
    .transpose()
}

fn millis(day: NaiveDate) -> i64 {
    Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .timestamp_millis()
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let ExportCommand::Focus(args) = args.command;
    focus_export(&args)
}

fn focus_export(args: &FocusArgs) -> anyhow::Result<ExitCode> {
    let wanted = args.cost.basis()?;
    let format = file_format(args)?;
    let from = day("--from", args.from.as_deref())?;
    let to = day("--to", args.to.as_deref())?;
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        bail!("--from {from} --to {to}: an empty window (--to is exclusive)");
    }
    let target = Target::parse(&args.output).context("-o")?;
    let root = args.dataset.root()?;
    let pricing = Pricing::open(&root, wanted)?;
    let basis = pricing.basis();
    let destination = Destination::new(target, format);
    let mut writer = destination
        .writer()
        .with_context(|| format!("-o {}", args.output))?;
    let window = Window {
        start: from.map_or(i64::MIN, millis),
        end: to.map_or(i64::MAX, millis),
    };
    let window_name = match (from, to) {
        (None, None) => format!("{}", root.display()),
        _ => format!(
            "{} from {} to {}",
            root.display(),
            from.map_or("the start".to_owned(), |d| d.to_string()),
            to.map_or("the end".to_owned(), |d| d.to_string())
        ),
    };
    let request = focus::Request {
        root: &root,
        window,
        days: (from, to.and_then(|to| to.checked_sub_days(Days::new(1)))),
        billing_account: args.billing_account.as_deref(),
        pricing: &pricing,
        window_name,
    };
    let summary = focus::export(&request, &mut writer)?;
    let written = writer
        .publish()
        .with_context(|| format!("-o {}", args.output))?;
    let (figure, what) = match basis {
        CostBasis::Effective => (summary.effective, "effective cost, the reconciled bill's"),
        CostBasis::Billed => (summary.billed, "billed cost, the reconciled bill's"),
        CostBasis::List => (summary.billed, "at list prices"),
    };
    eprintln!(
        "kubetally: {} FOCUS rows, {} USD {what}, in {}",
        summary.rows,
        figure,
        written.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
