//! `cost_breakdown` (the report) and `explain_allocation` (one workload's
//! line of it, with the quantities and unit prices behind its compute).
//! Every figure is the report's ([`report::build`]); the SQL here only
//! splits a line's compute into CPU, memory and GPU, and says so by
//! returning the check beside the report's number.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{BasisInput, ShareIdleInput, ShareSharedInput, WindowInput, number, report_options};
use crate::analyze::report::{self, Basis, Group, Period, Report, literal, window_filter};
use crate::mcp::{Config, ToolError};

/// `cost_breakdown`'s input: the report's options.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakdownInput {
    /// The period (default: the last seven complete UTC days of data).
    #[serde(default, deserialize_with = "crate::mcp::tools::lenient::object")]
    pub window: WindowInput,
    /// Cost lines by `tenant` (default), `namespace`, `workload` (namespace/Kind/name) or `label:KEY`.
    pub by: Option<String>,
    /// What containers are charged for (default max(request, usage)).
    #[serde(default)]
    pub basis: BasisInput,
    /// How idle node cost is spread over the lines.
    #[serde(default)]
    pub share_idle: ShareIdleInput,
    /// How the shared namespaces' cost (tenant __shared__) is spread.
    #[serde(default)]
    pub share_shared: ShareSharedInput,
    /// Workloads listed under top waste (default 10, at most 100).
    #[serde(default, deserialize_with = "crate::mcp::tools::lenient::number")]
    pub top_waste: Option<usize>,
}

/// The report: exactly what `kubetally report --format json` writes for the same options.
pub fn breakdown(config: &Config, input: &BreakdownInput) -> Result<Report, ToolError> {
    let mut options = report_options(
        &input.window,
        input.by.as_deref(),
        input.basis,
        input.share_idle,
        input.share_shared,
    )?;
    options.top_waste = input.top_waste.unwrap_or(10).min(100);
    let options = config.scope.report(options);
    let mut session = config.session()?;
    Ok(report::build(&mut session, &options)?)
}

/// `explain_allocation`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainInput {
    /// The workload as `namespace/Kind/name` (a cost_breakdown line with by=workload),
    /// e.g. `shop/Deployment/checkout`.
    pub workload: String,
    /// The period (default: the last seven complete UTC days of data).
    #[serde(default, deserialize_with = "crate::mcp::tools::lenient::object")]
    pub window: WindowInput,
    /// What containers are charged for (default max(request, usage)).
    #[serde(default)]
    pub basis: BasisInput,
}

/// One workload's bill for a period, and how it is made.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Explanation {
    pub workload: String,
    pub period: Period,
    pub basis: Basis,
    /// The report's line for the workload (grouped by workload).
    pub line: Group,
    /// Its compute cost by resource: quantities under the basis and the
    /// unit prices of the nodes it ran on (Σ quantity × price per container-hour).
    pub compute: ComputeParts,
    /// How the line's shared and idle parts were spread.
    pub spreading: Spreading,
    /// The bill as formulas with their numbers, one per line of the bill.
    pub formula: Vec<String>,
}

/// A line's compute cost split by resource.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ComputeParts {
    pub pods: u64,
    pub container_hours: f64,
    pub cpu_core_hours: f64,
    pub cpu_cost_usd: f64,
    /// cpu_cost_usd ÷ cpu_core_hours: the average node price it paid per core-hour.
    pub cpu_usd_per_core_hour: Option<f64>,
    pub memory_gib_hours: f64,
    pub memory_cost_usd: f64,
    pub memory_usd_per_gib_hour: Option<f64>,
    pub gpu_cost_usd: f64,
    /// cpu + memory + gpu: equals line.compute_cost_usd (the report's figure) up to rounding.
    pub total_usd: f64,
}

/// The shares a line got.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Spreading {
    pub share_idle: String,
    pub share_shared: String,
    /// The line's compute ÷ every line's compute in the period: its
    /// proportional share (spreading runs per cluster and day, so the
    /// period's share is the sum of the days').
    pub compute_share: Option<f64>,
    /// Idle and shared cost spread over all lines in the period.
    pub idle_spread_usd: f64,
    pub shared_spread_usd: f64,
}

/// Explains one workload's line.
///
/// # Errors
///
/// [`ToolError::BadInput`] for a workload not written `namespace/Kind/name`
/// or without cost in the period (the message names some that have);
/// the report's errors.
pub fn explain(config: &Config, input: &ExplainInput) -> Result<Explanation, ToolError> {
    let parts: Vec<&str> = input.workload.splitn(3, '/').collect();
    let [namespace, kind, name] = parts.as_slice() else {
        return Err(ToolError::BadInput(format!(
            "workload {:?}: expected namespace/Kind/name, e.g. shop/Deployment/checkout",
            input.workload
        )));
    };
    let mut options = report_options(
        &input.window,
        Some("workload"),
        input.basis,
        ShareIdleInput::Proportional,
        ShareSharedInput::Proportional,
    )?;
    options.top_waste = 0;
    let options = config.scope.report(options);
    let mut session = config.session()?;
    let report = report::build(&mut session, &options)?;
    let Some(line) = report
        .groups
        .iter()
        .find(|g| g.name == input.workload)
        .cloned()
    else {
        let some: Vec<&str> = report
            .groups
            .iter()
            .take(5)
            .map(|g| g.name.as_str())
            .collect();
        return Err(ToolError::BadInput(format!(
            "workload {:?} has no cost in the period (lines there include: {})",
            input.workload,
            some.join(", ")
        )));
    };
    let (cpu, memory) = match report.basis {
        Basis::Max => ("a.cpu_billed_core_hours", "a.memory_billed_gib_hours"),
        Basis::Request => ("a.cpu_request_core_hours", "a.memory_request_gib_hours"),
        Basis::Usage => ("a.cpu_usage_core_hours", "a.memory_usage_gib_hours"),
    };
    let tenant = match config.scope.tenant() {
        Some(tenant) => format!(" AND a.tenant = {}", literal(tenant)),
        None => String::new(),
    };
    // A container-hour's unit prices are cost ÷ billed quantity (the
    // report's rule, report::sql): the basis' quantity at those prices.
    let sql = format!(
        "SELECT COUNT(DISTINCT a.pod_uid) AS pods, SUM(a.running_seconds) / 3600 AS container_hours, \
         SUM({cpu}) AS cpu_h, SUM(COALESCE(a.cpu_cost_usd * {cpu} / NULLIF(a.cpu_billed_core_hours, 0), 0)) AS cpu_usd, \
         SUM({memory}) AS mem_h, SUM(COALESCE(a.memory_cost_usd * {memory} / NULLIF(a.memory_billed_gib_hours, 0), 0)) AS mem_usd, \
         SUM(a.gpu_cost_usd) AS gpu_usd FROM allocation AS a \
         WHERE a.namespace = {ns} AND a.workload_kind = {kind} AND a.workload_name = {name} AND {window}{tenant}",
        ns = literal(namespace),
        kind = literal(kind),
        name = literal(name),
        window = window_filter("a", report.period.start, report.period.end),
    );
    let mut frame = session.query(&sql)?;
    let rows = super::rows(&mut frame)?;
    let row = rows.first().cloned().unwrap_or_default();
    let (cpu_h, cpu_usd) = (number(&row, "cpu_h"), number(&row, "cpu_usd"));
    let (mem_h, mem_usd) = (number(&row, "mem_h"), number(&row, "mem_usd"));
    let gpu_usd = number(&row, "gpu_usd");
    let per = |usd: f64, quantity: f64| (quantity > 0.0).then(|| usd / quantity);
    let compute = ComputeParts {
        pods: number(&row, "pods") as u64,
        container_hours: number(&row, "container_hours"),
        cpu_core_hours: cpu_h,
        cpu_cost_usd: cpu_usd,
        cpu_usd_per_core_hour: per(cpu_usd, cpu_h),
        memory_gib_hours: mem_h,
        memory_cost_usd: mem_usd,
        memory_usd_per_gib_hour: per(mem_usd, mem_h),
        gpu_cost_usd: gpu_usd,
        total_usd: cpu_usd + mem_usd + gpu_usd,
    };
    let all_compute: f64 = report.groups.iter().map(|g| g.compute_cost_usd).sum();
    let spreading = Spreading {
        share_idle: report.share_idle.name().to_owned(),
        share_shared: report.share_shared.name().to_owned(),
        compute_share: (all_compute > 0.0).then(|| line.compute_cost_usd / all_compute),
        idle_spread_usd: report.shared_idle.idle_spread_usd,
        shared_spread_usd: report.shared_idle.shared_spread_usd,
    };
    let formula = formula(&line, &compute, &spreading, report.basis);
    Ok(Explanation {
        workload: input.workload.clone(),
        period: report.period,
        basis: report.basis,
        line,
        compute,
        spreading,
        formula,
    })
}

fn formula(line: &Group, c: &ComputeParts, s: &Spreading, basis: Basis) -> Vec<String> {
    let quantity = match basis {
        Basis::Max => "max(request, usage)",
        Basis::Request => "request",
        Basis::Usage => "usage",
    };
    let price = |p: Option<f64>| p.map_or_else(|| "-".to_owned(), |p| format!("${p:.6}"));
    let share = s
        .compute_share
        .map_or_else(|| "-".to_owned(), |share| format!("{:.2} %", share * 100.0));
    vec![
        format!(
            "compute = CPU {:.3} core-hours of {quantity} × {} per core-hour + memory {:.3} GiB-hours × {} per GiB-hour + GPU ${:.4} = ${:.4} + ${:.4} + ${:.4} = ${:.4} (report: ${:.4}; {} pods, {:.1} container-hours)",
            c.cpu_core_hours,
            price(c.cpu_usd_per_core_hour),
            c.memory_gib_hours,
            price(c.memory_usd_per_gib_hour),
            c.gpu_cost_usd,
            c.cpu_cost_usd,
            c.memory_cost_usd,
            c.gpu_cost_usd,
            c.total_usd,
            line.compute_cost_usd,
            c.pods,
            c.container_hours,
        ),
        format!(
            "storage = its own disks = ${:.4}; network = its own load balancers = ${:.4}",
            line.storage_cost_usd, line.network_cost_usd
        ),
        format!(
            "idle ({}) = idle node cost of each cluster-day × its share of that day's compute = ${:.4} (its compute is {share} of the period's)",
            s.share_idle, line.idle_cost_usd
        ),
        format!(
            "shared ({}) = the shared namespaces' and overhead cost of each cluster-day spread over the lines = ${:.4}",
            s.share_shared, line.shared_cost_usd
        ),
        format!(
            "total = compute + storage + network + shared + idle = ${:.4} + ${:.4} + ${:.4} + ${:.4} + ${:.4} = ${:.4}",
            line.compute_cost_usd,
            line.storage_cost_usd,
            line.network_cost_usd,
            line.shared_cost_usd,
            line.idle_cost_usd,
            line.total_cost_usd
        ),
    ]
}
