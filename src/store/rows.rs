//! The cost model's rows as record batches of the dataset's tables.

use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use chrono::{DateTime, Utc};

use super::batch::Batch;
use super::schema::{
    ALLOCATION, NODES, RECOMMENDATIONS, RECONCILIATION, RESOURCES, SAMPLES, WORKLOADS, col,
};
use std::sync::Arc;

use crate::allocate::{
    AllocationRow, HourRows, NodeRow, ResourceCost, Sample, SampleContext, WorkloadRow,
};
use crate::pricing::NodeClass;

/// The columns that describe the node a row is about.
fn node_class_columns(b: &mut Batch, classes: &[&NodeClass]) {
    b.symbol(col::PROVIDER, classes.iter().map(|c| c.provider.as_str()))
        .symbol(col::REGION, classes.iter().map(|c| c.region.as_str()))
        .symbol(col::ZONE, classes.iter().map(|c| c.zone.as_str()))
        .symbol(
            col::MACHINE_TYPE,
            classes.iter().map(|c| c.machine_type.as_str()),
        )
        .symbol(
            col::MACHINE_FAMILY,
            classes.iter().map(|c| c.machine_family.as_str()),
        )
        .symbol(
            col::CAPACITY_TYPE,
            classes.iter().map(|c| c.capacity_type.as_str()),
        );
}

/// One table of a closed hour for [`Dataset::publish_rows`], made a row
/// group at a time: an hour at 150,000 pods is 11 M `samples` rows (630 MB
/// as one Arrow batch) and 240,000 `allocation` rows.
///
/// [`Dataset::publish_rows`]: super::Dataset::publish_rows
pub struct HourTable {
    pub hour: Arc<HourRows>,
    pub table: HourPart,
}

/// The tables an hour is published as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HourPart {
    Allocation,
    Nodes,
    Workloads,
    Resources,
    /// Decoded from the hour's compact runs, or merged from the
    /// write-ahead log, as they are written.
    Samples,
}

impl super::Rows for HourTable {
    fn num_rows(&self) -> usize {
        let hour = &self.hour;
        match self.table {
            HourPart::Allocation => hour.allocation.len(),
            HourPart::Nodes => hour.nodes.len(),
            HourPart::Workloads => hour.workloads.len(),
            HourPart::Resources => hour.resources.len(),
            HourPart::Samples => hour.samples.len(),
        }
    }

    fn batch(&self, range: std::ops::Range<usize>) -> Result<RecordBatch, ArrowError> {
        let hour = &self.hour;
        let rows = |len: usize| range.start.min(len)..range.end.min(len);
        match self.table {
            HourPart::Allocation => allocation_batch(&hour.allocation[rows(hour.allocation.len())]),
            HourPart::Nodes => nodes_batch(&hour.nodes[rows(hour.nodes.len())]),
            HourPart::Workloads => workloads_batch(&hour.workloads[rows(hour.workloads.len())]),
            HourPart::Resources => resources_batch(&hour.resources[rows(hour.resources.len())]),
            HourPart::Samples => samples_batch(&hour.samples.slice(range)?),
        }
    }
}

/// `samples` rows.
///
/// # Errors
///
/// An [`ArrowError`] if the batch does not match the table (a defect).
pub fn samples_batch(rows: &[Sample]) -> Result<RecordBatch, ArrowError> {
    // Rows come sorted by container: a container's columns are filled a
    // run of rows at a time, without going to its context for every row.
    let mut runs: Vec<(&SampleContext, usize)> = Vec::new();
    for row in rows {
        match runs.last_mut() {
            Some((context, count)) if std::ptr::eq(*context, &*row.context) => *count += 1,
            _ => runs.push((&*row.context, 1)),
        }
    }
    let text = |field: fn(&SampleContext) -> &str| runs.iter().map(move |(c, n)| (field(c), *n));
    let mut b = Batch::new(&SAMPLES);
    b.timestamp(col::TS, rows.iter().map(|r| r.ts))
        .f64(col::WINDOW_SECONDS, rows.iter().map(|r| r.window_seconds))
        .symbol_runs(col::NAMESPACE, text(|c| &c.namespace))
        .symbol_runs(col::POD, text(|c| &c.pod))
        .symbol_runs(col::POD_UID, text(|c| &c.pod_uid))
        .symbol_runs(col::CONTAINER, text(|c| &c.container))
        .symbol_runs(col::NODE, text(|c| &c.node))
        .symbol_runs(col::WORKLOAD_KIND, text(|c| &c.workload_kind))
        .symbol_runs(col::WORKLOAD_NAME, text(|c| &c.workload_name))
        .symbol_runs(col::TENANT, text(|c| &c.tenant))
        .opt_f64_runs(
            col::CPU_REQUEST_CORES,
            runs.iter().map(|(c, n)| (c.cpu_request_cores, *n)),
        )
        .opt_f64_runs(
            col::CPU_LIMIT_CORES,
            runs.iter().map(|(c, n)| (c.cpu_limit_cores, *n)),
        )
        .i64(
            col::CPU_USAGE_MILLICORES,
            rows.iter().map(|r| r.cpu_usage_millicores),
        )
        .opt_i64_runs(
            col::MEMORY_REQUEST_BYTES,
            runs.iter().map(|(c, n)| (c.memory_request_bytes, *n)),
        )
        .opt_i64_runs(
            col::MEMORY_LIMIT_BYTES,
            runs.iter().map(|(c, n)| (c.memory_limit_bytes, *n)),
        )
        .i64(
            col::MEMORY_USAGE_BYTES,
            rows.iter().map(|r| r.memory_usage_bytes),
        );
    b.finish()
}

/// `allocation` rows.
///
/// # Errors
///
/// An [`ArrowError`] if the batch does not match the table (a defect).
pub fn allocation_batch(rows: &[AllocationRow]) -> Result<RecordBatch, ArrowError> {
    let mut b = Batch::new(&ALLOCATION);
    node_class_columns(&mut b, &rows.iter().map(|r| &*r.class).collect::<Vec<_>>());
    b.timestamp(col::START_TIME, rows.iter().map(|r| r.start_time))
        .timestamp(col::END_TIME, rows.iter().map(|r| r.end_time))
        .symbol(col::NODE, rows.iter().map(|r| &*r.node))
        .symbol(col::NAMESPACE, rows.iter().map(|r| &*r.namespace))
        .symbol(col::TENANT, rows.iter().map(|r| &*r.tenant))
        .symbol(col::WORKLOAD_KIND, rows.iter().map(|r| &*r.workload_kind))
        .symbol(col::WORKLOAD_NAME, rows.iter().map(|r| &*r.workload_name))
        .symbol(col::POD, rows.iter().map(|r| &*r.pod))
        .symbol(col::POD_UID, rows.iter().map(|r| &*r.pod_uid))
        .symbol(col::CONTAINER, rows.iter().map(|r| &*r.container))
        .key_values(col::LABELS, rows.iter().map(|r| &*r.labels))
        .f64(col::RUNNING_SECONDS, rows.iter().map(|r| r.running_seconds))
        .i32(col::SAMPLE_COUNT, rows.iter().map(|r| r.sample_count))
        .f64(
            col::CPU_REQUEST_CORE_HOURS,
            rows.iter().map(|r| r.cpu_request_core_hours),
        )
        .f64(
            col::CPU_USAGE_CORE_HOURS,
            rows.iter().map(|r| r.cpu_usage_core_hours),
        )
        .f64(
            col::CPU_BILLED_CORE_HOURS,
            rows.iter().map(|r| r.cpu_billed_core_hours),
        )
        .f64(
            col::MEMORY_REQUEST_GIB_HOURS,
            rows.iter().map(|r| r.memory_request_gib_hours),
        )
        .f64(
            col::MEMORY_USAGE_GIB_HOURS,
            rows.iter().map(|r| r.memory_usage_gib_hours),
        )
        .f64(
            col::MEMORY_BILLED_GIB_HOURS,
            rows.iter().map(|r| r.memory_billed_gib_hours),
        )
        .opt_f64(
            col::CPU_USAGE_P50_CORES,
            rows.iter().map(|r| r.cpu_usage_p50_cores),
        )
        .opt_f64(
            col::CPU_USAGE_P90_CORES,
            rows.iter().map(|r| r.cpu_usage_p90_cores),
        )
        .opt_f64(
            col::CPU_USAGE_P95_CORES,
            rows.iter().map(|r| r.cpu_usage_p95_cores),
        )
        .opt_f64(
            col::CPU_USAGE_MAX_CORES,
            rows.iter().map(|r| r.cpu_usage_max_cores),
        )
        .opt_i64(
            col::MEMORY_USAGE_MAX_BYTES,
            rows.iter().map(|r| r.memory_usage_max_bytes),
        )
        .histogram(
            col::CPU_USAGE_HISTOGRAM,
            rows.iter().map(|r| r.cpu_histogram.entries()),
        )
        .histogram(
            col::MEMORY_USAGE_HISTOGRAM,
            rows.iter().map(|r| r.memory_histogram.entries()),
        )
        .histogram(
            col::CPU_USAGE_SKETCH,
            rows.iter().map(|r| {
                r.cpu_sketch
                    .entries()
                    .map(|(k, count)| (i32::try_from(k).unwrap_or(i32::MAX), f64::from(count)))
            }),
        )
        .i32(col::OOM_KILLS, rows.iter().map(|r| r.oom_kills))
        .i32(col::RESTARTS, rows.iter().map(|r| r.restarts))
        .f64(col::CPU_COST_USD, rows.iter().map(|r| r.cpu_cost_usd))
        .f64(col::MEMORY_COST_USD, rows.iter().map(|r| r.memory_cost_usd))
        .f64(col::GPU_COST_USD, rows.iter().map(|r| r.gpu_cost_usd))
        .f64(
            col::TOTAL_COST_USD,
            rows.iter().map(AllocationRow::total_cost_usd),
        )
        .symbol(col::PRICE_SOURCE, rows.iter().map(|r| r.price_source));
    b.finish()
}

/// `workloads` rows.
///
/// # Errors
///
/// An [`ArrowError`] if the batch does not match the table (a defect).
pub fn workloads_batch(rows: &[WorkloadRow]) -> Result<RecordBatch, ArrowError> {
    let mut b = Batch::new(&WORKLOADS);
    b.timestamp(col::START_TIME, rows.iter().map(|r| r.start_time))
        .timestamp(col::END_TIME, rows.iter().map(|r| r.end_time))
        .symbol(col::NAMESPACE, rows.iter().map(|r| &*r.namespace))
        .symbol(col::TENANT, rows.iter().map(|r| &*r.tenant))
        .symbol(col::WORKLOAD_KIND, rows.iter().map(|r| r.kind))
        .symbol(col::WORKLOAD_NAME, rows.iter().map(|r| &*r.name))
        .opt_i32(col::REPLICAS, rows.iter().map(|r| r.replicas))
        .i32(col::POD_COUNT, rows.iter().map(|r| r.pod_count))
        .opt_i32(
            col::HPA_MIN_REPLICAS,
            rows.iter().map(|r| r.hpa_min_replicas),
        )
        .opt_i32(
            col::HPA_MAX_REPLICAS,
            rows.iter().map(|r| r.hpa_max_replicas),
        )
        .strings(
            col::HPA_METRICS,
            rows.iter()
                .map(|r| r.hpa_metrics.iter().map(String::as_str)),
        )
        .bool(col::HAS_PDB, rows.iter().map(|r| r.has_pdb))
        .opt_i32(
            col::PDB_DISRUPTIONS_ALLOWED,
            rows.iter().map(|r| r.pdb_disruptions_allowed),
        )
        .i64(
            col::TERMINATION_GRACE_SECONDS,
            rows.iter().map(|r| r.termination_grace_seconds),
        )
        .strings(
            col::VOLUME_KINDS,
            rows.iter()
                .map(|r| r.volume_kinds.iter().map(String::as_str)),
        )
        .key_values(col::ANNOTATIONS, rows.iter().map(|r| &*r.annotations))
        .symbol(
            col::PRIORITY_CLASS,
            rows.iter().map(|r| r.priority_class.as_str()),
        )
        .containers(
            col::CONTAINERS,
            rows.iter().map(|r| r.containers.as_slice()),
        )
        .opt_i32(col::MAX_UNAVAILABLE, rows.iter().map(|r| r.max_unavailable))
        .opt_i32(col::BACKOFF_LIMIT, rows.iter().map(|r| r.backoff_limit))
        .opt_f64(
            col::POD_RUN_MAX_SECONDS,
            rows.iter().map(|r| r.pod_run_max_seconds),
        )
        .opt_f64(
            col::STARTUP_MAX_SECONDS,
            rows.iter().map(|r| r.startup_max_seconds),
        );
    b.finish()
}

/// `resources` rows.
///
/// # Errors
///
/// An [`ArrowError`] if the batch does not match the table (a defect).
pub fn resources_batch(rows: &[ResourceCost]) -> Result<RecordBatch, ArrowError> {
    fn text(value: &Option<Arc<str>>) -> &str {
        value.as_deref().unwrap_or_default()
    }
    let mut b = Batch::new(&RESOURCES);
    b.timestamp(col::START_TIME, rows.iter().map(|r| r.start_time))
        .timestamp(col::END_TIME, rows.iter().map(|r| r.end_time))
        .symbol(col::KIND, rows.iter().map(|r| r.kind))
        .symbol(col::RESOURCE_ID, rows.iter().map(|r| &*r.resource_id))
        .symbol(col::RESOURCE_NAME, rows.iter().map(|r| &*r.resource_name))
        .symbol(
            col::PROVIDER_RESOURCE_ID,
            rows.iter().map(|r| text(&r.provider_resource_id)),
        )
        .symbol(col::NAMESPACE, rows.iter().map(|r| text(&r.namespace)))
        .symbol(col::TENANT, rows.iter().map(|r| &*r.tenant))
        .symbol(
            col::CLAIM,
            rows.iter().map(|r| r.claim.as_deref().unwrap_or_default()),
        )
        .symbol(
            col::STORAGE_CLASS,
            rows.iter().map(|r| text(&r.storage_class)),
        )
        .symbol(col::STATE, rows.iter().map(|r| r.state))
        .symbol(col::PROVIDER, rows.iter().map(|r| r.provider.as_str()))
        .symbol(col::REGION, rows.iter().map(|r| r.region.as_str()))
        .symbol(
            col::SKU,
            rows.iter().map(|r| r.sku.as_deref().unwrap_or_default()),
        )
        .opt_f64(col::SIZE_GIB, rows.iter().map(|r| r.size_gib))
        .f64(col::RUNNING_SECONDS, rows.iter().map(|r| r.running_seconds))
        .f64(col::HOURLY_USD, rows.iter().map(|r| r.hourly_usd))
        .f64(col::COST_USD, rows.iter().map(|r| r.cost_usd))
        .symbol(col::PRICE_SOURCE, rows.iter().map(|r| r.price_source))
        .symbol(
            col::PRICE_NOTE,
            rows.iter()
                .map(|r| r.price_note.as_deref().unwrap_or_default()),
        );
    b.finish()
}

/// `nodes` rows.
///
/// # Errors
///
/// An [`ArrowError`] if the batch does not match the table (a defect).
pub fn nodes_batch(rows: &[NodeRow]) -> Result<RecordBatch, ArrowError> {
    let mut b = Batch::new(&NODES);
    node_class_columns(&mut b, &rows.iter().map(|r| &*r.class).collect::<Vec<_>>());
    b.timestamp(col::START_TIME, rows.iter().map(|r| r.start_time))
        .timestamp(col::END_TIME, rows.iter().map(|r| r.end_time))
        .symbol(col::NODE, rows.iter().map(|r| &*r.node))
        .symbol(col::NODE_POOL, rows.iter().map(|r| r.node_pool.as_str()))
        .symbol(
            col::PROVIDER_ID,
            rows.iter().map(|r| r.provider_id.as_str()),
        )
        .f64(col::VCPUS, rows.iter().map(|r| r.vcpus))
        .i64(col::MEMORY_BYTES, rows.iter().map(|r| r.memory_bytes))
        .f64(
            col::ALLOCATABLE_CPU_CORES,
            rows.iter().map(|r| r.allocatable_cpu_cores),
        )
        .i64(
            col::ALLOCATABLE_MEMORY_BYTES,
            rows.iter().map(|r| r.allocatable_memory_bytes),
        )
        .i32(
            col::GPUS,
            rows.iter()
                .map(|r| i32::try_from(r.class.gpus).unwrap_or(i32::MAX)),
        )
        .symbol(
            col::GPU_TYPE,
            rows.iter().map(|r| r.class.gpu_type.as_str()),
        )
        .f64(col::RUNNING_SECONDS, rows.iter().map(|r| r.running_seconds))
        .f64(
            col::CPU_CORE_HOUR_USD,
            rows.iter().map(|r| r.cpu_core_hour_usd),
        )
        .f64(
            col::MEMORY_GIB_HOUR_USD,
            rows.iter().map(|r| r.memory_gib_hour_usd),
        )
        .f64(col::CPU_COST_USD, rows.iter().map(|r| r.cpu_cost_usd))
        .f64(col::MEMORY_COST_USD, rows.iter().map(|r| r.memory_cost_usd))
        .f64(col::GPU_COST_USD, rows.iter().map(|r| r.gpu_cost_usd))
        .f64(
            col::TOTAL_COST_USD,
            rows.iter().map(NodeRow::total_cost_usd),
        )
        .f64(
            col::ALLOCATED_COST_USD,
            rows.iter().map(|r| r.allocated_cost_usd),
        )
        .f64(col::IDLE_COST_USD, rows.iter().map(NodeRow::idle_cost_usd))
        .f64(
            col::CPU_REQUEST_CORE_HOURS,
            rows.iter().map(|r| r.cpu_request_core_hours),
        )
        .f64(
            col::CPU_USAGE_CORE_HOURS,
            rows.iter().map(|r| r.cpu_usage_core_hours),
        )
        .f64(
            col::MEMORY_REQUEST_GIB_HOURS,
            rows.iter().map(|r| r.memory_request_gib_hours),
        )
        .f64(
            col::MEMORY_USAGE_GIB_HOURS,
            rows.iter().map(|r| r.memory_usage_gib_hours),
        )
        .symbol(col::PRICE_SOURCE, rows.iter().map(|r| r.price_source));
    b.finish()
}

/// Requests and limits in `recommendations`' order: CPU request and limit
/// (cores), memory request and limit (bytes); `None` is unset.
pub type Sizes = [Option<f64>; 4];

/// One `recommendations` row (what `store::schema::RECOMMENDATIONS` documents).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecommendationRow {
    pub kind: &'static str,
    pub action: &'static str,
    pub namespace: String,
    pub workload_kind: String,
    pub workload_name: String,
    pub container: String,
    pub node_pool: String,
    pub current: Sizes,
    pub recommended: Sizes,
    pub monthly_savings_usd: f64,
    pub confidence: String,
    pub reason: String,
}

/// What every row of one run shares.
#[derive(Debug, Clone, Copy)]
pub struct RecommendationRun<'a> {
    pub generated_at: DateTime<Utc>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub strategy: &'a str,
}

/// `recommendations` rows of one run.
///
/// # Errors
///
/// An [`ArrowError`] if the batch does not match the table (a defect).
pub fn recommendations_batch(
    run: &RecommendationRun,
    rows: &[RecommendationRow],
) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let sizes = [
        (
            col::CURRENT_CPU_REQUEST_CORES,
            col::RECOMMENDED_CPU_REQUEST_CORES,
        ),
        (
            col::CURRENT_CPU_LIMIT_CORES,
            col::RECOMMENDED_CPU_LIMIT_CORES,
        ),
        (
            col::CURRENT_MEMORY_REQUEST_BYTES,
            col::RECOMMENDED_MEMORY_REQUEST_BYTES,
        ),
        (
            col::CURRENT_MEMORY_LIMIT_BYTES,
            col::RECOMMENDED_MEMORY_LIMIT_BYTES,
        ),
    ];
    let mut b = Batch::new(&RECOMMENDATIONS);
    b.timestamp(col::GENERATED_AT, std::iter::repeat_n(run.generated_at, n))
        .timestamp(col::WINDOW_START, std::iter::repeat_n(run.window_start, n))
        .timestamp(col::WINDOW_END, std::iter::repeat_n(run.window_end, n))
        .symbol(col::STRATEGY, std::iter::repeat_n(run.strategy, n))
        .symbol(col::KIND, rows.iter().map(|r| r.kind))
        .symbol(col::ACTION, rows.iter().map(|r| r.action))
        .symbol(col::NAMESPACE, rows.iter().map(|r| r.namespace.as_str()))
        .symbol(
            col::WORKLOAD_KIND,
            rows.iter().map(|r| r.workload_kind.as_str()),
        )
        .symbol(
            col::WORKLOAD_NAME,
            rows.iter().map(|r| r.workload_name.as_str()),
        )
        .symbol(col::CONTAINER, rows.iter().map(|r| r.container.as_str()))
        .symbol(col::NODE_POOL, rows.iter().map(|r| r.node_pool.as_str()));
    for (i, (current, recommended)) in sizes.into_iter().enumerate() {
        b.opt_f64(current, rows.iter().map(|r| r.current[i]))
            .opt_f64(recommended, rows.iter().map(|r| r.recommended[i]));
    }
    b.f64(
        col::MONTHLY_SAVINGS_USD,
        rows.iter().map(|r| r.monthly_savings_usd),
    )
    .symbol(col::CONFIDENCE, rows.iter().map(|r| r.confidence.as_str()))
    .symbol(col::REASON, rows.iter().map(|r| r.reason.as_str()));
    b.finish()
}

/// One `reconciliation` row (what `store::schema::RECONCILIATION` documents).
#[derive(Debug, Clone, PartialEq)]
pub struct ReconciliationRow {
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub status: &'static str,
    pub kind: &'static str,
    pub part: &'static str,
    pub resource_id: String,
    pub provider_resource_id: String,
    pub provider: String,
    pub service: String,
    pub sku: String,
    pub currency: String,
    pub list_cost_usd: Option<f64>,
    pub billed_cost: f64,
    pub effective_cost: f64,
    pub bill_list_cost: Option<f64>,
    pub matched_lines: i64,
    pub billed_factor: Option<f64>,
    pub effective_factor: Option<f64>,
}

/// What every row of one reconciliation shares.
#[derive(Debug, Clone, Copy)]
pub struct ReconciliationRun<'a> {
    pub generated_at: DateTime<Utc>,
    /// The bill files, comma-separated.
    pub bill: &'a str,
}

/// `reconciliation` rows of one run.
///
/// # Errors
///
/// An [`ArrowError`] if the batch does not match the table (a defect).
pub fn reconciliation_batch(
    run: &ReconciliationRun,
    rows: &[ReconciliationRow],
) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let mut b = Batch::new(&RECONCILIATION);
    b.timestamp(col::START_TIME, rows.iter().map(|r| r.start_time))
        .timestamp(col::END_TIME, rows.iter().map(|r| r.end_time))
        .timestamp(col::GENERATED_AT, std::iter::repeat_n(run.generated_at, n))
        .symbol(col::BILL, std::iter::repeat_n(run.bill, n))
        .symbol(col::STATUS, rows.iter().map(|r| r.status))
        .symbol(col::KIND, rows.iter().map(|r| r.kind))
        .symbol(col::PART, rows.iter().map(|r| r.part))
        .symbol(
            col::RESOURCE_ID,
            rows.iter().map(|r| r.resource_id.as_str()),
        )
        .symbol(
            col::PROVIDER_RESOURCE_ID,
            rows.iter().map(|r| r.provider_resource_id.as_str()),
        )
        .symbol(col::PROVIDER, rows.iter().map(|r| r.provider.as_str()))
        .symbol(col::SERVICE, rows.iter().map(|r| r.service.as_str()))
        .symbol(col::SKU, rows.iter().map(|r| r.sku.as_str()))
        .symbol(col::CURRENCY, rows.iter().map(|r| r.currency.as_str()))
        .opt_f64(col::LIST_COST_USD, rows.iter().map(|r| r.list_cost_usd))
        .f64(col::BILLED_COST, rows.iter().map(|r| r.billed_cost))
        .f64(col::EFFECTIVE_COST, rows.iter().map(|r| r.effective_cost))
        .opt_f64(col::BILL_LIST_COST, rows.iter().map(|r| r.bill_list_cost))
        .i64(col::MATCHED_LINES, rows.iter().map(|r| r.matched_lines))
        .opt_f64(col::BILLED_FACTOR, rows.iter().map(|r| r.billed_factor))
        .opt_f64(
            col::EFFECTIVE_FACTOR,
            rows.iter().map(|r| r.effective_factor),
        );
    b.finish()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::allocate::{SampleContext, SampleRuns};
    use crate::store::Rows;
    use crate::store::dataset::rows_bytes;

    /// An hour of `pods` one-container pods sampled every minute, their
    /// samples pushed in tick order as the ledger pushes them.
    fn hour_of_samples(pods: usize) -> (Vec<Sample>, HourRows) {
        let contexts: Vec<Arc<SampleContext>> = (0..pods)
            .map(|i| {
                Arc::new(SampleContext {
                    namespace: format!("ns-{}", i % 7).into(),
                    pod: format!("pod-{i}").into(),
                    pod_uid: format!("uid-{i}").into(),
                    container: "app".into(),
                    node: format!("node-{}", i % 13).into(),
                    workload_kind: "Deployment".into(),
                    workload_name: format!("w-{}", i % 11).into(),
                    tenant: "acme".into(),
                    cpu_request_cores: Some(0.25),
                    cpu_limit_cores: None,
                    memory_request_bytes: Some(1 << 28),
                    memory_limit_bytes: None,
                })
            })
            .collect();
        let mut pushed = Vec::new();
        let mut runs = SampleRuns::default();
        for minute in 1..=60 {
            for (i, context) in contexts.iter().enumerate() {
                let sample = Sample {
                    ts: crate::sim::epoch() + Duration::minutes(minute),
                    window_seconds: 30.0,
                    context: context.clone(),
                    cpu_usage_millicores: (i as i64 * 7 + minute) % 900,
                    memory_usage_bytes: (100 << 20) + i as i64 * 4096 + minute * 512,
                };
                runs.push(&sample);
                pushed.push(sample);
            }
        }
        let hour = HourRows {
            start: crate::sim::epoch(),
            samples: crate::allocate::HourSamples::Kept(runs.sorted()),
            ..HourRows::default()
        };
        (pushed, hour)
    }

    /// The `samples` file the publisher writes from the hour's runs, a row
    /// group at a time, is the file written before from the whole hour's
    /// samples sorted in memory.
    #[test]
    fn the_samples_file_from_runs_is_the_file_from_the_sorted_samples() {
        // More rows than a row group, so the file is made in pieces.
        let (mut pushed, hour) = hour_of_samples(4500);
        assert!(pushed.len() > 256 * 1024);
        pushed.sort_by(|a, b| {
            let key = |s: &Sample| {
                let c = s.context.clone();
                (c.namespace.clone(), c.pod.clone(), c.pod_uid.clone(), s.ts)
            };
            key(a).cmp(&key(b))
        });
        let before =
            crate::store::parquet_bytes(&SAMPLES, &samples_batch(&pushed).unwrap()).unwrap();
        let table = HourTable {
            hour: Arc::new(hour),
            table: HourPart::Samples,
        };
        assert_eq!(table.num_rows(), pushed.len());
        let after = rows_bytes(&SAMPLES, &table, 0..table.num_rows()).unwrap();
        assert!(before == after, "the same file, byte for byte");
    }
}
