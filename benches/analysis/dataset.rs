//! The benchmark dataset: a week of a simulated cluster's `allocation`,
//! `nodes`, `resources` and `workloads` tables, made once and kept in a
//! cache folder.
//!
//! One hour is collected for real (`benches/common/collect_hour.rs`: the
//! simulator over HTTP, the real watchers, 60 ticks through the real
//! `Ledger`) and that hour's rows are replayed into all 168 hours of the
//! week with their `start_time`/`end_time` moved, as
//! `tests/query.rs` replays its hours. So that hours and days differ, every
//! `*_usd` column of a replayed hour is multiplied by one price factor for
//! that hour (the simulator's diurnal curve, a little lower at the weekend):
//! each hour still adds up (containers + idle = node cost) and the files
//! keep the collected hour's rows, strings and sizes. What a replay does not
//! have is churn: the same pods run all week.
//!
//! The files are written by the collector's writer (`allocation_batch`,
//! `nodes_batch`, `resources_batch`, `workloads_batch` and
//! `Dataset::publish`), in the layout
//! the collector publishes, and kept with a `VERSION` marker
//! (`collect_hour::cached`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, AsArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMillisecondType};
use chrono::TimeDelta;
use kubetally::allocate::HourRows;
use kubetally::sim::epoch;
use kubetally::store::schema::{ALLOCATION, NODES, RESOURCES, Table, WORKLOADS};
use kubetally::store::{
    Dataset, Target, allocation_batch, nodes_batch, resources_batch, workloads_batch,
};

use super::collect_hour::{
    TICKS, cached, collect_hour, current_thread_runtime, folder_bytes, mark_complete, price_factor,
    spec,
};
use super::fail;

/// Bump when what is generated changes: a cached dataset of another version
/// is made again. v4: with `resources` (the disks of the cluster's
/// claims, its load balancers and the fee), which `chargeback_by_tenant`
/// reads since issue 18. v5: string columns written from their dictionary
/// keys (`store::encode`), and the week's FOCUS export in `focus/`, which
/// `focus_chargeback_by_tenant` reads.
const VERSION: &str = "analysis-dataset v5";
/// The week: 2026-11-02 (a Monday, the simulator's epoch) to 2026-11-09.
pub const DAYS: i64 = 7;
/// The `cluster=` partition.
pub const CLUSTER: &str = "sim";

/// A generated dataset and what it holds.
pub struct Generated {
    pub root: PathBuf,
    /// The `VERSION` file's text: sizes, rows, bytes, how long it took.
    pub summary: String,
}

/// The dataset for a cluster of `pods` pods (nodes = pods / 30): the cached
/// one when complete, else made now (minutes at 150,000 pods).
pub fn ensure(pods: usize, cache: &Path) -> Generated {
    let root = cache.join(format!("analysis-{pods}"));
    if let Some(summary) = cached(&root, VERSION) {
        return Generated { root, summary };
    }
    let started = Instant::now();
    let (hour, collect) = collect_hour(pods);
    let replay_started = Instant::now();
    let written = replay_week(&root, &hour);
    let exported = export_focus(&root);
    let summary = format!(
        "{VERSION}\npods {pods}, nodes {}, {DAYS} days of hourly rows, cluster={CLUSTER}\n\
         collected hour: {} allocation, {} nodes, {} workloads rows in {:.1} s (simulator start, sync, {TICKS} ticks, close)\n\
         {written}\n{exported}\nreplayed, written and exported in {:.1} s; {:.1} s in all\n",
        spec(pods).nodes,
        hour.allocation.len(),
        hour.nodes.len(),
        hour.workloads.len(),
        collect.as_secs_f64(),
        replay_started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    mark_complete(&root, &summary);
    Generated { root, summary }
}

/// Writes the collected hour into every hour of the week; returns a line per
/// table with its rows, files and bytes.
fn replay_week(root: &Path, hour: &HourRows) -> String {
    let dataset = Dataset {
        target: Target::Local(root.to_owned()),
        cluster: CLUSTER.to_owned(),
        writer: "bench".to_owned(),
    };
    let tables: [(&'static Table, RecordBatch); 4] = [
        (
            &ALLOCATION,
            allocation_batch(&hour.allocation).unwrap_or_else(|e| fail(e)),
        ),
        (&NODES, nodes_batch(&hour.nodes).unwrap_or_else(|e| fail(e))),
        (
            &RESOURCES,
            resources_batch(&hour.resources).unwrap_or_else(|e| fail(e)),
        ),
        (
            &WORKLOADS,
            workloads_batch(&hour.workloads).unwrap_or_else(|e| fail(e)),
        ),
    ];
    let runtime = current_thread_runtime();
    let mut lines = Vec::new();
    for (table, batch) in &tables {
        let mut files = 0;
        for offset in 0..DAYS * 24 {
            let start = epoch() + TimeDelta::hours(offset);
            let moved = replayed(batch, offset * 3_600_000, price_factor(start));
            files += runtime
                .block_on(dataset.publish(table, start, &moved))
                .unwrap_or_else(|e| fail(e))
                .len();
        }
        let bytes = folder_bytes(&root.join(table.name));
        let rows = batch.num_rows() as u64 * (DAYS * 24) as u64;
        lines.push(format!(
            "{}: {rows} rows, {files} files, {bytes} bytes ({:.1} bytes/row)",
            table.name,
            bytes as f64 / rows.max(1) as f64
        ));
    }
    lines.join("\n")
}

/// The week's FOCUS export at list prices into `<root>/focus`, as
/// `kubetally export focus --data ROOT -o ROOT/focus` writes it; a line
/// with its rows and bytes.
fn export_focus(root: &Path) -> String {
    let started = Instant::now();
    let out = root.join("focus");
    let rows = export_week(root, &out);
    format!(
        "focus: {rows} rows, {} bytes, exported in {:.1} s",
        folder_bytes(&out),
        started.elapsed().as_secs_f64()
    )
}

/// `kubetally export focus --data ROOT -o OUT` over the whole dataset at
/// list prices, as Parquet, published: the FOCUS rows written.
pub fn export_week(root: &Path, out: &Path) -> usize {
    use kubetally::focus::{self, CostBasis, Pricing, Window};
    use kubetally::store::focus::{Destination, Format};

    let pricing = Pricing::open(root, Some(CostBasis::List)).unwrap_or_else(|e| fail(e));
    let destination = Destination::new(Target::Local(out.to_owned()), Format::Parquet);
    let mut writer = destination.writer().unwrap_or_else(|e| fail(e));
    let request = focus::Request {
        root,
        window: Window {
            start: i64::MIN,
            end: i64::MAX,
        },
        days: (None, None),
        billing_account: None,
        pricing: &pricing,
        window_name: root.display().to_string(),
    };
    let summary = focus::export(&request, &mut writer).unwrap_or_else(|e| fail(e));
    writer.publish().unwrap_or_else(|e| fail(e));
    summary.rows
}

/// `batch` with every millisecond timestamp moved by `millis` and every
/// `*_usd` column multiplied by `factor`.
fn replayed(batch: &RecordBatch, millis: i64, factor: f64) -> RecordBatch {
    let schema = batch.schema();
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| match column.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, zone) => {
                let moved = column
                    .as_primitive::<TimestampMillisecondType>()
                    .unary::<_, TimestampMillisecondType>(|t| t + millis);
                Arc::new(moved.with_timezone_opt(zone.clone())) as ArrayRef
            }
            DataType::Float64 if field.name().ends_with("_usd") => {
                let scaled: Float64Array = column
                    .as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(|usd| usd * factor);
                Arc::new(scaled) as ArrayRef
            }
            _ => column.clone(),
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap_or_else(|e| fail(e))
}
