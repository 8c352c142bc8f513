//! Command-line parsing and dispatch; each subcommand lives in its own file.
//!
//! Flags are parsed once into validated configuration (a built `PriceBook`,
//! not strings) before any work starts, so a bad flag or file fails in the
//! first millisecond with one line naming it, and exit code 2.

mod collect;
mod cost;
mod data;
mod demo;
mod duration;
mod export;
#[cfg(feature = "analyze")]
mod mcp;
mod pricing;
mod progress;
#[cfg(feature = "analyze")]
mod query;
mod recommend;
mod reconcile;
#[cfg(feature = "analyze")]
mod report;
mod sim;
mod sim_bill;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use pricing::{PricingArgs, PricingFlags};

/// Kubernetes cost and usage metering: priced, hourly Parquet that any SQL engine reads.
#[derive(Debug, Parser)]
#[command(name = "kubetally", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the pricing catalog, price a machine type, or validate a pricing file.
    Pricing(PricingArgs),
    /// Watch a cluster, sample usage, price it and write the Parquet dataset.
    Collect(Box<collect::CollectArgs>),
    /// Collect a simulated fortnight from the embedded simulated cluster, then report and recommend on it.
    Demo(demo::DemoArgs),
    /// Run a simulated cluster behind a Kubernetes API server.
    Sim(sim::SimArgs),
    /// Right-sizing, spot and machine-family recommendations (table, JSON, or
    /// YAML patches); `backtest` scores the strategies on traces or a dataset.
    Recommend(Box<recommend::RecommendArgs>),
    /// Match a cloud bill (FOCUS, GCP, AWS CUR, Azure) to the nodes, disks,
    /// balancers and fee the dataset metered; write the reconciliation table.
    Reconcile(Box<reconcile::ReconcileArgs>),
    /// Run SQL (ad hoc, from a file, or a bundled query) over the dataset.
    #[cfg(feature = "analyze")]
    Query(Box<query::QueryArgs>),
    /// The cost report and per-tenant chargeback for a period (Markdown, HTML, CSV, JSON).
    #[cfg(feature = "analyze")]
    Report(Box<report::ReportArgs>),
    /// Export the dataset in a standard billing format (FOCUS 1.3).
    Export(Box<export::ExportArgs>),
    /// Serve the cost data to an agent: a Model Context Protocol server
    /// (stdio, or streamable HTTP with --listen), read-only.
    #[cfg(feature = "analyze")]
    Mcp(Box<mcp::McpArgs>),
}

/// Runs a parsed command line.
///
/// # Errors
///
/// Any failure, with its context chain; `main` prints it on one line and exits 2.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Pricing(args) => pricing::run(args),
        Command::Collect(args) => collect::run(*args),
        Command::Demo(args) => demo::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Recommend(args) => recommend::run(*args),
        Command::Reconcile(args) => reconcile::run(*args),
        #[cfg(feature = "analyze")]
        Command::Query(args) => query::run(*args),
        #[cfg(feature = "analyze")]
        Command::Report(args) => report::run(*args),
        Command::Export(args) => export::run(*args),
        #[cfg(feature = "analyze")]
        Command::Mcp(args) => mcp::run(*args),
    }
}

/// Resolves on SIGINT or SIGTERM (on SIGINT only where SIGTERM cannot be caught).
pub(crate) async fn shutdown_signal() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Whether an error is a closed stdout (`kubetally pricing show | head`): not a failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line, each cause once: `reading kubeconfig
/// /x: failed to read kubeconfig from '"/x"': No such file or directory`
/// ([`Causes`](crate::collect::event::Causes) says how).
pub fn error_line(error: &anyhow::Error) -> String {
    crate::collect::event::Causes(error.as_ref()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that, like kube's, prints its source in its own message.
    #[derive(Debug, thiserror::Error)]
    #[error("failed to read kubeconfig from '/x': {0}")]
    struct ReadConfig(#[source] std::io::Error);

    #[test]
    fn an_error_line_prints_a_cause_the_message_repeats_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let error = anyhow::Error::new(ReadConfig(io)).context("reading kubeconfig /x");
        assert_eq!(
            error_line(&error),
            "reading kubeconfig /x: failed to read kubeconfig from '/x': No such file"
        );
    }

    #[test]
    fn an_error_line_prints_every_distinct_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let error = anyhow::Error::new(io)
            .context("opening prices.yaml")
            .context("--pricing prices.yaml");
        assert_eq!(
            error_line(&error),
            "--pricing prices.yaml: opening prices.yaml: No such file"
        );
    }
}
