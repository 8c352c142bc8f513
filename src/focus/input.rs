//! The dataset's facts a FOCUS export needs, read through `store::read`:
//! node-hours, container-hours and resource-hours, owned and typed.
//!
//! `nodes.provider_id` (the node's `spec.providerID`) is read where the
//! dataset has it — a newer collector writes it — and is `None` otherwise;
//! the rules then fall back to the node's name (rules::node_resource_id).

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use rustc_hash::FxHashMap;

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
    /// Which version of its pod's text (UID, name, namespace, tenant,
    /// workload, labels) the row has: rows read by one exporting thread in
    /// one day have the same number exactly when that text is the same
    /// ([`Pods`]). 0 when not read through [`Pods`].
    pub pod_version: u32,
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

/// A pod's text as one row of `allocation` has it.
#[derive(Debug, Clone, Copy)]
struct PodText<'a, L> {
    uid: &'a str,
    name: &'a str,
    namespace: &'a str,
    tenant: &'a str,
    workload_kind: &'a str,
    workload_name: &'a str,
    labels: L,
}

/// A pod's text, shared by its rows.
#[derive(Debug, Clone)]
struct Pod {
    uid: Arc<str>,
    name: Arc<str>,
    namespace: Arc<str>,
    tenant: Arc<str>,
    workload_kind: Arc<str>,
    workload_name: Arc<str>,
    labels: Labels,
    /// [`ContainerHour::pod_version`].
    version: u32,
}

/// A pod's text as rows of the same day share it: made once, not once a
/// row. Kept by an exporting thread for a day, so a pod's text is the same
/// `Arc`s in every hour and each version of it has a number
/// ([`ContainerHour::pod_version`]) by which its containers' identities
/// (`charges::Identities`) are found without comparing every label.
#[derive(Default)]
pub struct Pods {
    /// By pod UID: the pod as last seen.
    by_uid: FxHashMap<Arc<str>, Pod>,
    versions: u32,
}

impl Pods {
    /// A row's pod, reusing what was made for it before while the file
    /// says the same.
    fn get<'a, L>(&mut self, row: PodText<'a, L>) -> Pod
    where
        L: ExactSizeIterator<Item = (&'a str, &'a str)> + Clone,
    {
        if let Some(seen) = self.by_uid.get(row.uid) {
            let same = *seen.name == *row.name
                && *seen.namespace == *row.namespace
                && *seen.tenant == *row.tenant
                && *seen.workload_kind == *row.workload_kind
                && *seen.workload_name == *row.workload_name
                && seen.labels.len() == row.labels.len()
                && seen
                    .labels
                    .iter()
                    .zip(row.labels.clone())
                    .all(|((k, v), (key, value))| **k == *key && **v == *value);
            if same {
                return seen.clone();
            }
        }
        self.versions += 1;
        let made = Pod {
            uid: Arc::from(row.uid),
            name: Arc::from(row.name),
            namespace: Arc::from(row.namespace),
            tenant: Arc::from(row.tenant),
            workload_kind: Arc::from(row.workload_kind),
            workload_name: Arc::from(row.workload_name),
            labels: row
                .labels
                .map(|(k, v)| (Arc::from(k), Arc::from(v)))
                .collect(),
            version: self.versions,
        };
        self.by_uid.insert(Arc::clone(&made.uid), made.clone());
        made
    }
}

/// Appends the rows of an `allocation` file whose hour is in `window` to
/// `rows`: an exporting thread reuses one vector for every hour it reads
/// (an hour of a large cluster is ~80 MB of rows, and memory touched for
/// the first time is zeroed by the kernel page by page).
///
/// # Errors
///
/// [`ReadError`] naming the file or a column it lacks.
pub fn allocation(
    file: &Path,
    window: Window,
    pods: &mut Pods,
    rows: &mut Vec<ContainerHour>,
) -> Result<(), ReadError> {
    for batch in read::open(file, &ALLOCATION)? {
        let batch = batch?;
        let c = batch.columns();
        rows.reserve(c.rows());
        let start = c.millis(col::START_TIME)?;
        let end = c.millis(col::END_TIME)?;
        let text = |name| c.text(name);
        let names = [
            col::NODE,
            col::PROVIDER,
            col::REGION,
            col::ZONE,
            col::CAPACITY_TYPE,
            col::CONTAINER,
            col::PRICE_SOURCE,
        ];
        let (pod, pod_uid) = (text(col::POD)?, text(col::POD_UID)?);
        let (namespace, tenant) = (text(col::NAMESPACE)?, text(col::TENANT)?);
        let (kind, workload) = (text(col::WORKLOAD_KIND)?, text(col::WORKLOAD_NAME)?);
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
        for row in 0..c.rows() {
            let at = start.get(row).unwrap_or_default();
            if !window.holds(at) {
                continue;
            }
            let f = |i: usize| n[i].get(row).unwrap_or_default();
            let pod = pods.get(PodText {
                uid: pod_uid.get(row),
                name: pod.get(row),
                namespace: namespace.get(row),
                tenant: tenant.get(row),
                workload_kind: kind.get(row),
                workload_name: workload.get(row),
                labels: labels.range(row).map(|i| (keys.get(i), values.get(i))),
            });
            rows.push(ContainerHour {
                start: time(at),
                end: time(end.get(row).unwrap_or_default()),
                node: t[0].get(row),
                provider: t[1].get(row),
                region: t[2].get(row),
                zone: t[3].get(row),
                capacity_type: t[4].get(row),
                namespace: pod.namespace,
                tenant: pod.tenant,
                workload_kind: pod.workload_kind,
                workload_name: pod.workload_name,
                pod: pod.name,
                pod_uid: pod.uid,
                pod_version: pod.version,
                container: t[5].get(row),
                price_source: t[6].get(row),
                labels: pod.labels,
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
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> PodText<'a, impl ExactSizeIterator<Item = (&'a str, &'a str)> + Clone> {
        PodText {
            uid: "uid-1",
            name,
            namespace: "shop",
            tenant: "acme",
            workload_kind: "Deployment",
            workload_name: "web",
            labels: labels.iter().copied(),
        }
    }

    #[test]
    fn a_pods_text_is_made_once_while_the_files_say_the_same() {
        let mut pods = Pods::default();
        let labels = [("app", "web"), ("tier", "gold")];
        let first = pods.get(row("web-1", &labels));
        assert_eq!((&*first.uid, &*first.name), ("uid-1", "web-1"));
        assert_eq!(first.labels.len(), 2);
        let again = pods.get(row("web-1", &labels));
        assert!(Arc::ptr_eq(&first.labels, &again.labels), "shared");
        assert!(Arc::ptr_eq(&first.namespace, &again.namespace));
        assert_eq!(first.version, again.version, "the same version");
        let relabelled = pods.get(row("web-1", &labels[..1]));
        assert_ne!(relabelled.version, first.version, "a removed label");
        assert_eq!(&*relabelled.labels[0].1, "web");
        let renamed = pods.get(row("web-2", &labels[..1]));
        assert_eq!(&*renamed.name, "web-2");
        assert_ne!(renamed.version, relabelled.version, "a new name");
        let moved = pods.get(PodText {
            tenant: "globex",
            ..row("web-2", &labels[..1])
        });
        assert_eq!(&*moved.tenant, "globex");
        assert_ne!(moved.version, renamed.version, "another tenant");
    }
}
