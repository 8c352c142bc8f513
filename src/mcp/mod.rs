//! `kubetally mcp`: the dataset's cost data for an agent, as a Model
//! Context Protocol server (stdio, or streamable HTTP with `--listen`).
//!
//! The one decision that shapes this module: the server computes nothing of
//! its own. `cost_breakdown` and `explain_allocation` are the report's
//! [`build`](crate::analyze::report::build), `query` is the query
//! [`Session`](crate::analyze::Session), `recommendations` is
//! [`plan`](crate::recommend::plan::plan); this module only turns an
//! agent's JSON into their options, keeps what a tenant may see, and bounds
//! what a call may cost. So an agent's answer and `kubetally report
//! --format json` are the same numbers (tests/mcp.rs and tests/mcp_client.py
//! compare them).
//!
//! Safety is by construction rather than by review of each tool: nothing
//! here writes (no tool has a path to [`crate::store`]'s writers), the SQL
//! is parsed and refused unless it is one `SELECT` over registered tables
//! ([`guard`]), a tenant-restricted server hands SQL a session whose tables
//! are filtered to the tenant ([`scope`]), and every call runs on a
//! blocking thread under a time limit with a row cap ([`Limits`]).

mod guard;
mod prompts;
mod resources;
mod scope;
mod server;
mod tools;

use std::path::PathBuf;
use std::time::Duration;

pub use scope::Scope;
pub use server::{serve_http, serve_stdio};

/// A server's validated configuration, built once by the command.
#[derive(Debug)]
pub struct Config {
    /// The local dataset (an object store dataset is mirrored first).
    pub root: PathBuf,
    /// What every tool may see.
    pub scope: Scope,
    pub limits: Limits,
    /// Prices for `recommendations` (spot and machine family savings).
    pub book: crate::pricing::PriceBook,
    /// `--cost`: the dollars every tool shows (`None`: the bill's
    /// effective cost where the dataset holds a reconciliation, else list).
    pub cost: Option<crate::reconcile::CostBasis>,
}

impl Config {
    /// The dataset opened for SQL at the configured dollars.
    ///
    /// # Errors
    ///
    /// As [`Session::open_priced`](crate::analyze::Session::open_priced).
    pub fn session(&self) -> Result<crate::analyze::Session, crate::analyze::AnalyzeError> {
        crate::analyze::Session::open_priced(&self.root, self.cost)
    }
}

/// What one tool call may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rows `query` returns when the call does not say.
    pub default_rows: usize,
    /// Rows `query` returns at most, whatever the call says: an agent's
    /// context is the bottleneck, not the engine.
    pub max_rows: usize,
    /// How long a call may run before the agent is told it timed out.
    pub timeout: Duration,
}

impl Default for Limits {
    /// 100 rows by default and 1,000 at most (a result an agent can read);
    /// 60 s, about a weekly report of a large cluster on a small machine
    /// (docs/performance.md).
    fn default() -> Limits {
        Limits {
            default_rows: 100,
            max_rows: 1000,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Why a tool call failed: each is one structured error for the agent
/// (`{"error": {"kind", "message"}}` in an `isError` result), never a crash.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The call's input makes no sense (an unknown table, a reversed window).
    #[error("{0}")]
    BadInput(String),
    /// The SQL is not one read-only query over the dataset.
    #[error("{0}")]
    Refused(#[from] guard::Refused),
    /// The tenant restriction forbids it.
    #[error("{0}")]
    Forbidden(String),
    /// The call ran past [`Limits::timeout`].
    #[error(
        "the call ran longer than {seconds} s and was abandoned: narrow the window or the query"
    )]
    Timeout { seconds: u64 },
    #[error(transparent)]
    Analyze(#[from] crate::analyze::AnalyzeError),
    #[error(transparent)]
    Report(#[from] crate::analyze::report::ReportError),
    #[error(transparent)]
    Plan(#[from] crate::recommend::plan::PlanError),
    /// The blocking task failed (a panic in the engine), reported not raised.
    #[error("the call failed inside the engine: {0}")]
    Internal(String),
}

impl ToolError {
    /// A short machine-readable name of the kind of failure.
    pub fn kind(&self) -> &'static str {
        match self {
            ToolError::BadInput(_) => "bad_input",
            ToolError::Refused(_) => "refused",
            ToolError::Forbidden(_) => "forbidden",
            ToolError::Timeout { .. } => "timeout",
            ToolError::Analyze(_) => "query_failed",
            ToolError::Report(_) => "report_failed",
            ToolError::Plan(_) => "recommend_failed",
            ToolError::Internal(_) => "internal",
        }
    }
}
