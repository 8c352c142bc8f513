//! `kubetally mcp`: the dataset as a Model Context Protocol server for an
//! agent (stdio, or streamable HTTP with `--listen`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::data::DataFlags;
use crate::mcp::{self, Config, Limits, Scope};

const EXAMPLES: &str = "\
Examples:
  # An MCP client starts it and talks over stdin/stdout
  kubetally mcp --data /tmp/data
  # One tenant's rows only, served over streamable HTTP at http://127.0.0.1:8765/mcp
  kubetally mcp --data s3://bucket/kubetally --tenant acme --listen 127.0.0.1:8765";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct McpArgs {
    #[command(flatten)]
    pub dataset: DataFlags,
    /// Serve streamable HTTP at ADDR (path /mcp) instead of stdio.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Every tool sees only this tenant's rows (as `report --tenant`).
    #[arg(long, value_name = "NAME")]
    pub tenant: Option<String>,
    /// Rows `query` returns at most.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_rows)]
    pub max_rows: usize,
    /// Seconds a tool call may run.
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::default().timeout.as_secs())]
    pub timeout: u64,
    #[command(flatten)]
    pub pricing: super::PricingFlags,
    #[command(flatten)]
    pub cost: super::cost::CostFlag,
}

pub fn run(args: McpArgs) -> anyhow::Result<ExitCode> {
    if args.max_rows == 0 || args.timeout == 0 {
        anyhow::bail!("--max-rows and --timeout must be above zero");
    }
    let cost = args.cost.basis()?;
    let root = args.dataset.root()?;
    crate::analyze::Session::open_priced(&root, cost)
        .with_context(|| format!("--data {}", args.dataset.data))?;
    let scope = match args.tenant {
        Some(tenant) => Scope::Tenant(tenant),
        None => Scope::Everything,
    };
    scope.check(&root)?;
    let defaults = Limits::default();
    let config = Config {
        root,
        scope,
        limits: Limits {
            default_rows: defaults.default_rows.min(args.max_rows),
            max_rows: args.max_rows,
            timeout: Duration::from_secs(args.timeout),
        },
        book: args.pricing.build()?,
        cost,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match args.listen {
        Some(addr) => runtime.block_on(mcp::serve_http(config, addr))?,
        None => runtime.block_on(mcp::serve_stdio(config))?,
    }
    Ok(ExitCode::SUCCESS)
}
