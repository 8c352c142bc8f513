//! The dataset's cost tables as the bill priced them: `allocation`, `nodes`
//! and `resources` joined to [`Factors`]' hours and their dollar columns
//! multiplied, so every SQL statement — the report's, the bundled
//! queries', a user's — reads bill prices without knowing it.
//!
//! The factors are decided in `reconcile::factors` (one rule for the
//! report, the queries and the FOCUS export); this module only applies
//! them. A row the bill does not cover joins no factor and keeps its list
//! dollars. Quantities, ratios and prices' units are untouched.
//!
//! `nodes.allocated_cost_usd` is multiplied by the node's whole factor: for
//! a node billed whole (FOCUS, AWS, Azure bills) that is exactly Σ its
//! containers' re-priced cost; for a GCP VM whose cores and RAM got
//! different discounts it is the blend (`docs/reconcile.md`).

use polars::prelude::{
    DataFrame, Expr, IntoLazy, JoinArgs, JoinType, LazyFrame, MaintainOrderJoin, NamedFrom,
    PlSmallStr, Selector, Series, TimeUnit, col, lit,
};

use super::AnalyzeError;
use crate::reconcile::Factors;

const CLUSTER: &str = "__f_cluster";
const KIND: &str = "__f_kind";
const ID: &str = "__f_id";
const HOUR: &str = "__f_hour";
const CPU: &str = "__f_cpu";
const MEMORY: &str = "__f_memory";
const GPU: &str = "__f_gpu";
const WHOLE: &str = "__f_whole";
/// The hour of a table's row, in the factors' unit, while joining.
const AT: &str = "__f_at";

/// The hours the bill covers, as a frame to join.
pub(super) fn frame(factors: &Factors) -> Result<LazyFrame, AnalyzeError> {
    let mut cluster = Vec::new();
    let mut kind = Vec::new();
    let mut id = Vec::new();
    let mut hour = Vec::new();
    let (mut cpu, mut memory, mut gpu, mut whole) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (c, k, i, h, f) in factors.hours() {
        cluster.push(c);
        kind.push(k);
        id.push(i);
        hour.push(h);
        cpu.push(f.cpu);
        memory.push(f.memory);
        gpu.push(f.gpu);
        whole.push(f.whole);
    }
    let columns = vec![
        Series::new(CLUSTER.into(), cluster).into(),
        Series::new(KIND.into(), kind).into(),
        Series::new(ID.into(), id).into(),
        Series::new(HOUR.into(), hour).into(),
        Series::new(CPU.into(), cpu).into(),
        Series::new(MEMORY.into(), memory).into(),
        Series::new(GPU.into(), gpu).into(),
        Series::new(WHOLE.into(), whole).into(),
    ];
    DataFrame::new_infer_height(columns)
        .map(IntoLazy::lazy)
        .map_err(|cause| AnalyzeError::Scan {
            table: "reconciliation",
            message: super::session::one_line(&cause.to_string()),
        })
}

/// `table`'s frame re-priced, or `None` for a table without dollars.
pub(super) fn table(name: &str, frame: LazyFrame, factors: LazyFrame) -> Option<LazyFrame> {
    let f = |name: &str| col(name).fill_null(lit(1.0));
    match name {
        "allocation" => {
            let (cpu, memory, gpu) = (
                col("cpu_cost_usd") * f(CPU),
                col("memory_cost_usd") * f(MEMORY),
                col("gpu_cost_usd") * f(GPU),
            );
            Some(join(frame, nodes_only(factors), &["node"]).with_columns([
                cpu.clone().alias("cpu_cost_usd"),
                memory.clone().alias("memory_cost_usd"),
                gpu.clone().alias("gpu_cost_usd"),
                (cpu + memory + gpu).alias("total_cost_usd"),
            ]))
        }
        "nodes" => {
            let (cpu, memory, gpu) = (
                col("cpu_cost_usd") * f(CPU),
                col("memory_cost_usd") * f(MEMORY),
                col("gpu_cost_usd") * f(GPU),
            );
            let allocated = col("allocated_cost_usd") * f(WHOLE);
            Some(join(frame, nodes_only(factors), &["node"]).with_columns([
                (col("cpu_core_hour_usd") * f(CPU)).alias("cpu_core_hour_usd"),
                (col("memory_gib_hour_usd") * f(MEMORY)).alias("memory_gib_hour_usd"),
                cpu.clone().alias("cpu_cost_usd"),
                memory.clone().alias("memory_cost_usd"),
                gpu.clone().alias("gpu_cost_usd"),
                (cpu.clone() + memory.clone() + gpu.clone()).alias("total_cost_usd"),
                allocated.clone().alias("allocated_cost_usd"),
                (cpu + memory + gpu - allocated).alias("idle_cost_usd"),
            ]))
        }
        "resources" => Some(
            join(frame, factors, &["kind", "resource_id"]).with_columns([
                (col("hourly_usd") * f(WHOLE)).alias("hourly_usd"),
                (col("cost_usd") * f(WHOLE)).alias("cost_usd"),
            ]),
        ),
        _ => None,
    }
    .map(|frame| {
        frame.drop(by_name(&[
            AT, CLUSTER, KIND, ID, HOUR, CPU, MEMORY, GPU, WHOLE,
        ]))
    })
}

/// Columns by name, those missing ignored.
fn by_name(names: &[&str]) -> Selector {
    Selector::ByName {
        names: names.iter().map(|n| PlSmallStr::from(*n)).collect(),
        strict: false,
    }
}

/// The factors of nodes, without their kind (the node tables have none).
fn nodes_only(factors: LazyFrame) -> LazyFrame {
    factors
        .filter(col(KIND).eq(lit("node")))
        .drop(by_name(&[KIND]))
}

/// `frame` left-joined to `factors` on the cluster, the hour and `keys`
/// (the table's columns naming the resource: `node`, or `kind` and
/// `resource_id`), in `frame`'s row order.
fn join(frame: LazyFrame, factors: LazyFrame, keys: &[&str]) -> LazyFrame {
    let frame = frame.with_column(
        col("start_time")
            .dt()
            .timestamp(TimeUnit::Milliseconds)
            .alias(AT),
    );
    let mut left: Vec<Expr> = vec![col("cluster"), col(AT)];
    let mut right: Vec<Expr> = vec![col(CLUSTER), col(HOUR)];
    if let ["node"] = keys {
        left.push(col("node"));
        right.push(col(ID));
    } else {
        left.extend([col("kind"), col("resource_id")]);
        right.extend([col(KIND), col(ID)]);
    }
    let mut args = JoinArgs::new(JoinType::Left);
    args.maintain_order = MaintainOrderJoin::Left;
    frame.join(factors, left, right, args)
}
