//! The dataset's facts a FOCUS export needs, read through `store::read`:
//! node-hours, container-hours and resource-hours, owned and typed.
//!
//! `nodes.provider_id` (the node's `spec.providerID`) is read where the
//! dataset has it — a newer collector writes it — and is `None` otherwise;
//! the rules then fall back to the node's name (rules::node_resource_id).

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::store::read::{self, Columns, ReadError, Select, Text};
use crate::store::schema::col;

/// A half-open window of hours, `[start, end)`, in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl Window {
    pub fn holds(&self, millis: i64) -> bool {
        millis >= self.start && millis < self.end
    }
}

fn time(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// One `nodes` row.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeHour {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub node: String,
    pub node_pool: String,
    pub provider: String,
    pub provider_id: Option<String>,
    pub region: String,
    pub zone: String,
    pub machine_type: String,
    pub capacity_type: String,
    pub vcpus: f64,
    pub memory_gib: f64,
    pub gpus: i32,
    pub running_seconds: f64,
    pub cpu_core_hour_usd: f64,
    pub memory_gib_hour_usd: f64,
    pub cpu_cost_usd: f64,
    pub memory_cost_usd: f64,
    pub gpu_cost_usd: f64,
    pub price_source: String,
}

/// One `allocation` row. Its text is shared: a day of a large cluster is
/// millions of rows whose node, namespace, workload and labels repeat.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerHour {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub node: Arc<str>,
    pub provider: Arc<str>,
    pub region: Arc<str>,
    pub zone: Arc<str>,
    pub capacity_type: Arc<str>,
    pub namespace: Arc<str>,
    pub tenant: Arc<str>,
    pub workload_kind: Arc<str>,
    pub workload_name: Arc<str>,
    pub pod: Arc<str>,
    pub pod_uid: Arc<str>,
    pub container: Arc<str>,
    pub labels: Labels,
    pub running_seconds: f64,
    pub cpu_request_core_hours: f64,
    pub cpu_usage_core_hours: f64,
    pub cpu_billed_core_hours: f64,
    pub memory_request_gib_hours: f64,
    pub memory_usage_gib_hours: f64,
    pub memory_billed_gib_hours: f64,
    pub cpu_cost_usd: f64,
    pub memory_cost_usd: f64,
    pub gpu_cost_usd: f64,
    pub price_source: Arc<str>,
}

/// A pod's labels, (key, value) in the file's order; shared by the rows
/// of its containers.
pub type Labels = Arc<[(Arc<str>, Arc<str>)]>;

/// One `resources` row.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceHour {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub kind: String,
    pub resource_id: String,
    pub resource_name: String,
    pub provider_resource_id: String,
    pub namespace: String,
    pub tenant: String,
    pub claim: String,
    pub state: String,
    pub provider: String,
    pub region: String,
    pub sku: String,
    pub running_seconds: f64,
    pub hourly_usd: f64,
    pub cost_usd: f64,
    pub price_source: String,
}

const NODES: Select<'static> = Select::columns(&[
    col::START_TIME,
    col::END_TIME,
    col::NODE,
    col::NODE_POOL,
    col::PROVIDER,
    col::PROVIDER_ID,
    col::REGION,
    col::ZONE,
    col::MACHINE_TYPE,
    col::CAPACITY_TYPE,
    col::VCPUS,
    col::MEMORY_BYTES,
    col::GPUS,
    col::RUNNING_SECONDS,
    col::CPU_CORE_HOUR_USD,
    col::MEMORY_GIB_HOUR_USD,
    col::CPU_COST_USD,
    col::MEMORY_COST_USD,
    col::GPU_COST_USD,
    col::PRICE_SOURCE,
]);

/// The rows of a `nodes` file whose hour is in `window`.
///
/// # Errors
///
/// [`ReadError`] naming the file or a column it lacks.
pub fn nodes(file: &Path, window: Window) -> Result<Vec<NodeHour>, ReadError> {
    let mut rows = Vec::new();
    for batch in read::open(file, &NODES)? {
        let batch = batch?;
        let c = batch.columns();
        let start = c.millis(col::START_TIME)?;
        let end = c.millis(col::END_TIME)?;
        let text = |name| c.text(name);
        let (node, pool, provider) = (
            text(col::NODE)?,
            text(col::NODE_POOL)?,
            text(col::PROVIDER)?,
        );
        let provider_id = if c.has(col::PROVIDER_ID) {
            Some(text(col::PROVIDER_ID)?)
        } else {
            None
        };
        let (region, zone) = (text(col::REGION)?, text(col::ZONE)?);
        let (machine, capacity) = (text(col::MACHINE_TYPE)?, text(col::CAPACITY_TYPE)?);
        let vcpus = c.floats(col::VCPUS)?;
        let memory = c.int64s(col::MEMORY_BYTES)?;
        let gpus = c.int32s(col::GPUS)?;
        let running = c.floats(col::RUNNING_SECONDS)?;
        let cpu_price = c.floats(col::CPU_CORE_HOUR_USD)?;
        let memory_price = c.floats(col::MEMORY_GIB_HOUR_USD)?;
        let cpu_cost = c.floats(col::CPU_COST_USD)?;
        let memory_cost = c.floats(col::MEMORY_COST_USD)?;
        let gpu_cost = c.floats(col::GPU_COST_USD)?;
        let source = text(col::PRICE_SOURCE)?;
        for row in 0..c.rows() {
            let at = start.get(row).unwrap_or_default();
            if !window.holds(at) {
                continue;
            }
            rows.push(NodeHour {
                start: time(at),
                end: time(end.get(row).unwrap_or_default()),
                node: node.get(row).to_owned(),
                node_pool: pool.get(row).to_owned(),
                provider: provider.get(row).to_owned(),
                provider_id: provider_id
                    .map(|ids| ids.get(row).to_owned())
                    .filter(|id| !id.is_empty()),
                region: region.get(row).to_owned(),
                zone: zone.get(row).to_owned(),
                machine_type: machine.get(row).to_owned(),
                capacity_type: capacity.get(row).to_owned(),
                vcpus: vcpus.get(row).unwrap_or_default(),
                memory_gib: memory.get(row).unwrap_or_default() as f64 / (1u64 << 30) as f64,
                gpus: gpus.get(row).unwrap_or_default(),
                running_seconds: running.get(row).unwrap_or_default(),
                cpu_core_hour_usd: cpu_price.get(row).unwrap_or_default(),
                memory_gib_hour_usd: memory_price.get(row).unwrap_or_default(),
                cpu_cost_usd: cpu_cost.get(row).unwrap_or_default(),
                memory_cost_usd: memory_cost.get(row).unwrap_or_default(),
                gpu_cost_usd: gpu_cost.get(row).unwrap_or_default(),
                price_source: source.get(row).to_owned(),
            });
        }
    }
    Ok(rows)
}

/// `allocation`'s columns with few distinct values per file: read as
/// dictionary codes, each value made once.
const ALLOCATION_CODED: [&str; 11] = [
    col::NODE,
    col::PROVIDER,
    col::REGION,
    col::ZONE,
    col::CAPACITY_TYPE,
    col::NAMESPACE,
    col::TENANT,
    col::WORKLOAD_KIND,
    col::WORKLOAD_NAME,
    col::CONTAINER,
    col::PRICE_SOURCE,
];

const ALLOCATION: Select<'static> = Select::columns(&[
    col::START_TIME,
    col::END_TIME,
    col::NODE,
    col::PROVIDER,
    col::REGION,
    col::ZONE,
    col::CAPACITY_TYPE,
    col::NAMESPACE,
    col::TENANT,
    col::WORKLOAD_KIND,
    col::WORKLOAD_NAME,
    col::POD,
    col::POD_UID,
    col::CONTAINER,
    col::LABELS,
    col::RUNNING_SECONDS,
    col::CPU_REQUEST_CORE_HOURS,
    col::CPU_USAGE_CORE_HOURS,
    col::CPU_BILLED_CORE_HOURS,
    col::MEMORY_REQUEST_GIB_HOURS,
    col::MEMORY_USAGE_GIB_HOURS,
    col::MEMORY_BILLED_GIB_HOURS,
    col::CPU_COST_USD,
    col::MEMORY_COST_USD,
    col::GPU_COST_USD,
    col::PRICE_SOURCE,
])
.coded(&ALLOCATION_CODED);

/// A text column as shared strings: a coded column's made once per value.
struct Shared<'a> {
    text: Text<'a>,
    made: Vec<Option<Arc<str>>>,
    empty: Arc<str>,
}

impl<'a> Shared<'a> {
    fn new(text: Text<'a>, empty: &Arc<str>) -> Shared<'a> {
        Shared {
            text,
            made: Vec::new(),
            empty: Arc::clone(empty),
        }
    }

    fn get(&mut self, row: usize) -> Arc<str> {
        let Text::Coded(codes) = self.text else {
            let text = self.text.get(row);
            return if text.is_empty() {
                Arc::clone(&self.empty)
            } else {
                Arc::from(text)
            };
        };
        let Some(code) = codes.code(row) else {
            return Arc::clone(&self.empty);
        };
        if code >= self.made.len() {
            self.made.resize(code + 1, None);
        }
        Arc::clone(self.made[code].get_or_insert_with(|| Arc::from(codes.values().get(code))))
    }
}

/// The rows of an `allocation` file whose hour is in `window`.
///
/// # Errors
///
/// [`ReadError`] naming the file or a column it lacks.
pub fn allocation(file: &Path, window: Window) -> Result<Vec<ContainerHour>, ReadError> {
    let mut rows = Vec::new();
    for batch in read::open(file, &ALLOCATION)? {
        let batch = batch?;
        let c = batch.columns();
        let start = c.millis(col::START_TIME)?;
        let end = c.millis(col::END_TIME)?;
        let text = |name| c.text(name);
        let names = [
            col::NODE,
            col::PROVIDER,
            col::REGION,
            col::ZONE,
            col::CAPACITY_TYPE,
            col::NAMESPACE,
            col::TENANT,
            col::WORKLOAD_KIND,
            col::WORKLOAD_NAME,
            col::POD,
            col::POD_UID,
            col::CONTAINER,
            col::PRICE_SOURCE,
        ];
        let empty: Arc<str> = Arc::from("");
        let mut t = Vec::with_capacity(names.len());
        for name in names {
            t.push(Shared::new(text(name)?, &empty));
        }
        let floats = [
            col::RUNNING_SECONDS,
            col::CPU_REQUEST_CORE_HOURS,
            col::CPU_USAGE_CORE_HOURS,
            col::CPU_BILLED_CORE_HOURS,
            col::MEMORY_REQUEST_GIB_HOURS,
            col::MEMORY_USAGE_GIB_HOURS,
            col::MEMORY_BILLED_GIB_HOURS,
            col::CPU_COST_USD,
            col::MEMORY_COST_USD,
            col::GPU_COST_USD,
        ]
        .map(|name| c.floats(name));
        let mut n = Vec::with_capacity(floats.len());
        for column in floats {
            n.push(column?);
        }
        let labels = c.list(col::LABELS)?;
        let pairs: Columns<'_> = labels.fields()?;
        let keys = pairs.text("key")?;
        let values = pairs.text("value")?;
        // A pod's containers are rows of their own with the same labels:
        // the last pod's are reused while they are equal.
        let mut last: Option<(Arc<str>, Labels)> = None;
        for row in 0..c.rows() {
            let at = start.get(row).unwrap_or_default();
            if !window.holds(at) {
                continue;
            }
            let f = |i: usize| n[i].get(row).unwrap_or_default();
            let pod_uid = t[10].get(row);
            let range = labels.range(row);
            let same = last.as_ref().is_some_and(|(uid, seen)| {
                *uid == pod_uid
                    && seen.len() == range.len()
                    && seen
                        .iter()
                        .zip(range.clone())
                        .all(|((k, v), i)| **k == *keys.get(i) && **v == *values.get(i))
            });
            let row_labels = match (&last, same) {
                (Some((_, seen)), true) => Arc::clone(seen),
                _ => {
                    let made: Labels = range
                        .map(|i| (Arc::from(keys.get(i)), Arc::from(values.get(i))))
                        .collect();
                    last = Some((Arc::clone(&pod_uid), Arc::clone(&made)));
                    made
                }
            };
            rows.push(ContainerHour {
                start: time(at),
                end: time(end.get(row).unwrap_or_default()),
                node: t[0].get(row),
                provider: t[1].get(row),
                region: t[2].get(row),
                zone: t[3].get(row),
                capacity_type: t[4].get(row),
                namespace: t[5].get(row),
                tenant: t[6].get(row),
                workload_kind: t[7].get(row),
                workload_name: t[8].get(row),
                pod: t[9].get(row),
                pod_uid,
                container: t[11].get(row),
                price_source: t[12].get(row),
                labels: row_labels,
                running_seconds: f(0),
                cpu_request_core_hours: f(1),
                cpu_usage_core_hours: f(2),
                cpu_billed_core_hours: f(3),
                memory_request_gib_hours: f(4),
                memory_usage_gib_hours: f(5),
                memory_billed_gib_hours: f(6),
                cpu_cost_usd: f(7),
                memory_cost_usd: f(8),
                gpu_cost_usd: f(9),
            });
        }
    }
    Ok(rows)
}

const RESOURCES: Select<'static> = Select::columns(&[
    col::START_TIME,
    col::END_TIME,
    col::KIND,
    col::RESOURCE_ID,
    col::RESOURCE_NAME,
    col::PROVIDER_RESOURCE_ID,
    col::NAMESPACE,
    col::TENANT,
    col::CLAIM,
    col::STATE,
    col::PROVIDER,
    col::REGION,
    col::SKU,
    col::RUNNING_SECONDS,
    col::HOURLY_USD,
    col::COST_USD,
    col::PRICE_SOURCE,
]);

/// The rows of a `resources` file whose hour is in `window`.
///
/// # Errors
///
/// [`ReadError`] naming the file or a column it lacks.
pub fn resources(file: &Path, window: Window) -> Result<Vec<ResourceHour>, ReadError> {
    let mut rows = Vec::new();
    for batch in read::open(file, &RESOURCES)? {
        let batch = batch?;
        let c = batch.columns();
        let start = c.millis(col::START_TIME)?;
        let end = c.millis(col::END_TIME)?;
        let names = [
            col::KIND,
            col::RESOURCE_ID,
            col::RESOURCE_NAME,
            col::PROVIDER_RESOURCE_ID,
            col::NAMESPACE,
            col::TENANT,
            col::CLAIM,
            col::STATE,
            col::PROVIDER,
            col::REGION,
            col::SKU,
            col::PRICE_SOURCE,
        ];
        let mut t = Vec::with_capacity(names.len());
        for name in names {
            t.push(c.text(name)?);
        }
        let running = c.floats(col::RUNNING_SECONDS)?;
        let hourly = c.floats(col::HOURLY_USD)?;
        let cost = c.floats(col::COST_USD)?;
        for row in 0..c.rows() {
            let at = start.get(row).unwrap_or_default();
            if !window.holds(at) {
                continue;
            }
            let s = |i: usize| t[i].get(row).to_owned();
            rows.push(ResourceHour {
                start: time(at),
                end: time(end.get(row).unwrap_or_default()),
                kind: s(0),
                resource_id: s(1),
                resource_name: s(2),
                provider_resource_id: s(3),
                namespace: s(4),
                tenant: s(5),
                claim: s(6),
                state: s(7),
                provider: s(8),
                region: s(9),
                sku: s(10),
                price_source: s(11),
                running_seconds: running.get(row).unwrap_or_default(),
                hourly_usd: hourly.get(row).unwrap_or_default(),
                cost_usd: cost.get(row).unwrap_or_default(),
            });
        }
    }
    Ok(rows)
}
