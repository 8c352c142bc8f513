//! `kubetally report`: the weekly cost report and per-tenant chargeback.
//!
//! The shape: [`build`] turns the dataset into a typed [`Report`] (SQL for
//! the scans, plain Rust for sharing shared and idle cost), and separate
//! renderers draw it as Markdown, HTML with inline SVG charts, CSV (the
//! invoice table) or JSON. Renderers only format; every figure, including
//! what a tenant's report may show, is decided once in [`build`]. Numbers are
//! rounded only when rendered (cents, one decimal of percent), so the
//! reconciliation is computed at full precision.

mod build;
mod cells;
mod cost;
mod facts;
mod frame;
mod html;
mod invoice;
mod markdown;
mod model;
mod numbers;
mod options;
mod resources;
mod savings;
mod scan;
mod spread;
mod sql;
mod svg;

use std::io::Write;

use chrono::{DateTime, Utc};

pub use build::{build, build_reporting};

/// Told (files read, files in all) as a report reads `allocation`, for a
/// progress display.
pub type OnFile<'a> = &'a (dyn Fn(usize, usize) + Sync);
pub use model::{
    ClusterCost, CostNote, Day, Group, Parts, Pool, Quality, Reconciliation, Report, Savings,
    SavingsItem, SharedIdle, UnallocatedLine, UnpricedNode, UnusedVolume, Waste,
};
pub use options::{Basis, By, FactsReader, Options, Period, ShareIdle, ShareShared, Window};
pub use spread::{Bucket, Compute, Split, spread};
/// SQL pieces other readers of `allocation` filter with, so a window means
/// the same rows everywhere (`kubetally mcp`'s cost drivers).
pub(crate) use sql::{literal, window as window_filter};

use super::AnalyzeError;

/// The columns of the invoice table (`--by tenant --format csv`):
/// `storage_cost_usd` is the line's own disks, `network_cost_usd` its own
/// load balancers; shared disks, balancers and the cluster fee are in
/// `shared_cost_usd`.
pub const INVOICE_COLUMNS: [&str; 11] = [
    "tenant",
    "period_start",
    "period_end",
    "cpu_core_hours",
    "memory_gib_hours",
    "compute_cost_usd",
    "storage_cost_usd",
    "network_cost_usd",
    "shared_cost_usd",
    "idle_cost_usd",
    "total_cost_usd",
];

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{step}")]
    Query {
        step: &'static str,
        #[source]
        cause: AnalyzeError,
    },
    #[error("{step}: unexpected result: {message}")]
    Shape { step: &'static str, message: String },
    #[error("the dataset has no node rows: nothing to report")]
    NoNodes,
    #[error("{0}")]
    Period(String),
    #[error(
        "no data from {} to {} (the dataset's newest hour ends {})",
        start.format("%Y-%m-%d %H:%M UTC"), end.format("%Y-%m-%d %H:%M UTC"),
        newest.format("%Y-%m-%d %H:%M UTC")
    )]
    EmptyPeriod {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        newest: DateTime<Utc>,
    },
    #[error("--tenant {0:?}: no such tenant in the dataset")]
    UnknownTenant(String),
    #[error(
        "--tenant __shared__: shared cost is spread over tenants, it has no invoice of its own"
    )]
    SharedTenant,
    #[error("writing the report as {format}")]
    Write {
        format: &'static str,
        #[source]
        cause: std::io::Error,
    },
}

/// How a report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Markdown,
    Html,
    Csv,
    Json,
}

impl ReportFormat {
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Markdown => "md",
            ReportFormat::Html => "html",
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
        }
    }
}

/// Writes `report` as `format`.
///
/// # Errors
///
/// [`ReportError::Write`] when `out` fails.
pub fn render(
    report: &Report,
    format: ReportFormat,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let written = match format {
        ReportFormat::Markdown => out.write_all(markdown::render(report).as_bytes()),
        ReportFormat::Html => out.write_all(html::render(report).as_bytes()),
        ReportFormat::Csv => out.write_all(invoice::render(report).as_bytes()),
        ReportFormat::Json => serde_json::to_writer_pretty(&mut *out, report)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n")),
    };
    written.map_err(|cause| ReportError::Write {
        format: format.name(),
        cause,
    })
}
