//! `recommendations`: `kubetally recommend`'s plan (right-sizing, spot,
//! machine families, each with savings and the evidence it rests on), as
//! [`plan`](crate::recommend::plan::plan) computes it for the CLI.

use chrono::Duration;
use clap::ValueEnum;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::mcp::{Config, ToolError};
use crate::recommend::plan::{self, Options, Plan};
use crate::recommend::strategy::Strategy;

/// `recommendations`' input.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdviceInput {
    /// Days of history, ending at the end of the newest day of data (default 14, at most 366).
    #[serde(default, deserialize_with = "crate::mcp::tools::lenient::number")]
    pub last_days: Option<u32>,
    /// `kubetally` (default), `vpa` or `krr-simple`.
    pub strategy: Option<String>,
    /// Only this namespace.
    pub namespace: Option<String>,
    /// The cluster, when the dataset holds several.
    pub cluster: Option<String>,
    /// Leave out right-sizing worth less than this per month either way (USD).
    #[serde(default, deserialize_with = "crate::mcp::tools::lenient::number")]
    pub min_savings_usd: Option<f64>,
    /// Items of each kind to return, most savings first (default 20, at most 200).
    #[serde(default, deserialize_with = "crate::mcp::tools::lenient::number")]
    pub top: Option<usize>,
}

/// Recommends.
///
/// # Errors
///
/// [`ToolError::BadInput`] for an unknown strategy or a window out of
/// range; the plan's errors (no data, several clusters).
pub fn recommend(config: &Config, input: &AdviceInput) -> Result<Plan, ToolError> {
    let days = input.last_days.unwrap_or(14);
    if !(1..=366).contains(&days) {
        return Err(ToolError::BadInput(format!(
            "last_days {days}: give 1 to 366 days"
        )));
    }
    let strategy = match input.strategy.as_deref() {
        None => Strategy::Kubetally,
        Some(name) => Strategy::from_str(name, true).map_err(|_| {
            let known: Vec<&str> = Strategy::ALL.iter().map(|s| s.as_str()).collect();
            ToolError::BadInput(format!(
                "strategy {name:?}: expected one of {}",
                known.join(", ")
            ))
        })?,
    };
    let min_savings_usd = input.min_savings_usd.unwrap_or(0.0);
    if !min_savings_usd.is_finite() {
        return Err(ToolError::BadInput(
            "min_savings_usd must be a number".into(),
        ));
    }
    let options = Options {
        strategy,
        last: Duration::days(days.into()),
        namespace: input.namespace.clone(),
        cluster: input.cluster.clone(),
        min_savings_usd,
    };
    let plan = plan::plan(&config.root, &config.book, &options)?;
    let mut plan = config.scope.recommendations(&config.root, plan)?;
    let top = input.top.unwrap_or(20).min(200);
    plan.rightsizing.truncate(top);
    plan.spot.truncate(top);
    plan.machine_family.truncate(top);
    Ok(plan)
}
