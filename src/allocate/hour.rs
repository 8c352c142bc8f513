//! One clock hour of the cost model: samples in, `allocation`, `nodes` and
//! `samples` rows out.
//!
//! Requests are integrated exactly over the time each pod ran in the hour
//! (from its start and end, not from sample ticks, so a 20-second Job is
//! billed 20 seconds). Usage is the mean of the hour's samples over that same
//! running time; billed is the mean of max(request, usage) per sample over
//! it, or the request alone when no sample saw the container. Costs are
//! billed quantities at the node's unit prices, and each node's idle cost is
//! its cost minus what its containers were charged, so the bill adds up by
//! construction.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use arrow::error::ArrowError;
use chrono::{DateTime, Duration, DurationRound, Utc};

use super::autopilot::{RateCache, bill_pod, free_nodes};
use super::fit::{Charge, fit};
use super::runs::{SampleRuns, SortedSamples};
use super::tenant::TenantRules;
use crate::cluster::{Inventory, SlimContainer, SlimNode, SlimPod};
use crate::model::gpu::GpuSharing;
use crate::model::histogram::Histogram;
use crate::model::reserve::{Amount, OVERHEAD, RESERVED};
use crate::model::sketch::Sketch;
use crate::model::units::GIB;
use crate::model::usage::HourUsage;
use crate::pricing::{NodeClass, NodePrice, PriceBook, classify};

/// One version of a pod and from when it is billed by it: a change the
/// watch delivered (an in-place resize granted, the pod ending) takes
/// effect at the sample time of the tick that first saw it. A pod's first
/// version applies from its start, whatever its `since`.
#[derive(Debug, Clone, PartialEq)]
pub struct PodVersion {
    pub since: DateTime<Utc>,
    pub pod: Arc<SlimPod>,
}

/// What every sample of one container shares while its pod does not change:
/// the join with the inventory. Samples hold it behind one `Arc`, so an open
/// hour costs 48 bytes a sample instead of eight shared strings each.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleContext {
    pub namespace: Arc<str>,
    pub pod: Arc<str>,
    pub pod_uid: Arc<str>,
    pub container: Arc<str>,
    pub node: Arc<str>,
    pub workload_kind: Arc<str>,
    pub workload_name: Arc<str>,
    pub tenant: Arc<str>,
    pub cpu_request_cores: Option<f64>,
    pub cpu_limit_cores: Option<f64>,
    pub memory_request_bytes: Option<i64>,
    pub memory_limit_bytes: Option<i64>,
}

/// One container's usage in one metrics window, with what it was joined to.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub ts: DateTime<Utc>,
    pub window_seconds: f64,
    pub context: Arc<SampleContext>,
    /// metrics-server's nanocores rounded to the millicore: the precision
    /// requests are written in, and an integer compresses to a fraction of
    /// a float that changes every minute (docs/schema.md).
    pub cpu_usage_millicores: i64,
    pub memory_usage_bytes: i64,
}

impl Sample {
    pub fn cpu_usage_cores(&self) -> f64 {
        self.cpu_usage_millicores as f64 / 1000.0
    }

    /// The hour a sample belongs to: that of its window's midpoint, so a
    /// window ending at 01:00:00 counts for 00:00–01:00.
    pub fn hour(&self) -> DateTime<Utc> {
        window_hour(self.ts, self.window_seconds)
    }
}

/// The hour of a metrics window ending at `end`: that of its midpoint.
pub fn window_hour(end: DateTime<Utc>, window_seconds: f64) -> DateTime<Utc> {
    hour_of(end - Duration::milliseconds((window_seconds * 500.0) as i64))
}

/// The start of `time`'s clock hour.
pub fn hour_of(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(Duration::hours(1)).unwrap_or(time)
}

/// A node's usage in one metrics window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodePoint {
    pub cpu_cores: f64,
    pub memory_bytes: i64,
}

/// Restarts and OOM kills of one container seen during the hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Events {
    pub restarts: u32,
    pub oom_kills: u32,
}

/// What is known of one open hour.
#[derive(Debug, Default)]
pub struct HourBook {
    pub samples: SampleRuns,
    pub node_points: HashMap<Arc<str>, Vec<NodePoint>>,
    pub events: HashMap<(Arc<str>, Arc<str>), Events>,
}

/// One `allocation` row.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocationRow {
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub node: Arc<str>,
    pub class: Arc<NodeClass>,
    pub namespace: Arc<str>,
    pub tenant: Arc<str>,
    pub workload_kind: Arc<str>,
    pub workload_name: Arc<str>,
    pub pod: Arc<str>,
    pub pod_uid: Arc<str>,
    pub container: Arc<str>,
    pub labels: Arc<[(Arc<str>, Arc<str>)]>,
    pub running_seconds: f64,
    pub sample_count: i32,
    pub cpu_request_core_hours: f64,
    pub cpu_usage_core_hours: f64,
    pub cpu_billed_core_hours: f64,
    pub memory_request_gib_hours: f64,
    pub memory_usage_gib_hours: f64,
    pub memory_billed_gib_hours: f64,
    pub cpu_usage_p50_cores: Option<f64>,
    pub cpu_usage_p90_cores: Option<f64>,
    pub cpu_usage_p95_cores: Option<f64>,
    pub cpu_usage_max_cores: Option<f64>,
    pub memory_usage_max_bytes: Option<i64>,
    pub cpu_histogram: Histogram,
    pub memory_histogram: Histogram,
    /// The hour's CPU samples within 1 % (`model::sketch`), for KRR's percentile.
    pub cpu_sketch: Sketch,
    pub oom_kills: i32,
    pub restarts: i32,
    pub cpu_cost_usd: f64,
    pub memory_cost_usd: f64,
    pub gpu_cost_usd: f64,
    pub price_source: &'static str,
}

impl AllocationRow {
    pub fn total_cost_usd(&self) -> f64 {
        self.cpu_cost_usd + self.memory_cost_usd + self.gpu_cost_usd
    }
}

/// One `nodes` row.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub node: Arc<str>,
    pub node_pool: String,
    /// The node's `spec.providerID`, what its cloud bills the VM by; empty
    /// when it has none.
    pub provider_id: String,
    pub class: Arc<NodeClass>,
    pub vcpus: f64,
    pub memory_bytes: i64,
    pub allocatable_cpu_cores: f64,
    pub allocatable_memory_bytes: i64,
    pub running_seconds: f64,
    pub cpu_cost_usd: f64,
    pub memory_cost_usd: f64,
    pub gpu_cost_usd: f64,
    pub allocated_cost_usd: f64,
    pub cpu_core_hour_usd: f64,
    pub memory_gib_hour_usd: f64,
    pub cpu_request_core_hours: f64,
    pub memory_request_gib_hours: f64,
    pub cpu_usage_core_hours: f64,
    pub memory_usage_gib_hours: f64,
    pub price_source: &'static str,
}

impl NodeRow {
    pub fn total_cost_usd(&self) -> f64 {
        self.cpu_cost_usd + self.memory_cost_usd + self.gpu_cost_usd
    }

    pub fn idle_cost_usd(&self) -> f64 {
        self.total_cost_usd() - self.allocated_cost_usd
    }
}

/// The rows of a closed hour.
#[derive(Debug, Default)]
pub struct HourRows {
    pub start: DateTime<Utc>,
    pub allocation: Vec<AllocationRow>,
    pub nodes: Vec<NodeRow>,
    pub workloads: Vec<super::workloads::WorkloadRow>,
    /// For the `samples` table, in its order ([`super::sample_key`]).
    pub samples: HourSamples,
    /// Disks, load balancers and the cluster fee.
    pub resources: Vec<super::resources::ResourceCost>,
    /// Set when the hour was cut short (shutdown, `--duration`).
    pub partial_until: Option<DateTime<Utc>>,
    /// Autopilot rates the catalog lacked this hour, once each: the pods
    /// were billed at a stand-in (`price_source` says which) and the
    /// collector counts each.
    pub missing_prices: Vec<crate::pricing::MissingPrice>,
}

/// Where a closed hour's `samples` rows come from when it is published.
#[derive(Debug)]
pub enum HourSamples {
    /// Kept in memory since the hour was open.
    Kept(SortedSamples),
    /// Merged from the write-ahead log, which holds every one: the
    /// collector drops the hour's samples from memory once its bill is
    /// made, not after the table is written (docs/performance.md, issue 21).
    Logged(crate::store::wal::merge::LoggedSamples),
}

impl Default for HourSamples {
    fn default() -> HourSamples {
        HourSamples::Kept(SortedSamples::default())
    }
}

impl HourSamples {
    pub fn len(&self) -> usize {
        match self {
            HourSamples::Kept(samples) => samples.len(),
            HourSamples::Logged(samples) => samples.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples at `rows`, in table order.
    ///
    /// # Errors
    ///
    /// When the log cannot be read ([`crate::store::wal::merge::LoggedSamples::samples`]).
    pub fn slice(&self, rows: std::ops::Range<usize>) -> Result<Vec<Sample>, ArrowError> {
        match self {
            HourSamples::Kept(samples) => Ok(samples.slice(rows)),
            HourSamples::Logged(samples) => samples.samples(rows),
        }
    }
}

/// Node pool label keys, most specific first.
const POOL_LABELS: [&str; 4] = [
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "kubernetes.azure.com/agentpool",
    "karpenter.sh/nodepool",
];

/// Prices nodes once per hour, and on GKE Autopilot the pods.
struct Prices<'a> {
    book: &'a PriceBook,
    cache: HashMap<String, (Arc<NodeClass>, NodePrice)>,
    /// Autopilot's rates, when the hour is billed as Autopilot bills.
    autopilot: Option<RateCache>,
}

impl Prices<'_> {
    fn of(&mut self, node: &SlimNode) -> (Arc<NodeClass>, NodePrice) {
        self.cache
            .entry(node.facts.name.clone())
            .or_insert_with(|| {
                let class = classify(&node.facts);
                let price = self.book.price(&class);
                (Arc::new(class), price)
            })
            .clone()
    }
}

/// A node the inventory does not know (deleted before the collector saw
/// it): priced at the default rates, never free.
fn unknown_node(name: &str) -> SlimNode {
    SlimNode {
        facts: crate::model::NodeFacts {
            name: name.to_owned(),
            provider_id: None,
            labels: Default::default(),
            cpu_capacity: crate::model::Quantity::ZERO,
            memory_capacity: crate::model::Quantity::ZERO,
            gpu_capacity: 0,
            gpu_sharing: Default::default(),
        },
        allocatable_cpu_cores: 0.0,
        allocatable_memory_bytes: 0,
        created: None,
        deleted: None,
    }
}

/// The tenant of `pod`, by `rules`.
pub fn tenant_of<'a>(
    rules: &'a TenantRules,
    inventory: &'a Inventory,
    pod: &'a SlimPod,
) -> &'a str {
    tenant_in(rules, inventory, &pod.namespace, &pod.labels)
}

/// The tenant of an object in `namespace` with `labels` (a pod's, or a
/// claim's or Service's standing in for one), by `rules`.
pub fn tenant_in<'a>(
    rules: &'a TenantRules,
    inventory: &'a Inventory,
    namespace: &'a str,
    labels: &'a [(Arc<str>, Arc<str>)],
) -> &'a str {
    let find = |labels: &'a [(Arc<str>, Arc<str>)], key: &str| {
        labels.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    };
    let namespace_labels = inventory.namespace_labels(namespace);
    rules.tenant(
        namespace,
        |key| find(labels, key),
        |key| namespace_labels.and_then(|labels| find(labels, key)),
    )
}

/// Puts `allocation` rows in the order the files keep them: by namespace,
/// workload, container and pod. Hour after hour the same workloads come in
/// the same order, so a reader folding per workload container (`kubetally
/// recommend`) walks its state front to back instead of at random, a
/// namespace filter skips row groups by their statistics, and runs of one
/// namespace, tenant and workload compress to almost nothing.
pub fn sort_allocation(rows: &mut [AllocationRow]) {
    fn key(r: &AllocationRow) -> [&str; 5] {
        [
            &r.namespace,
            &r.workload_kind,
            &r.workload_name,
            &r.container,
            &r.pod_uid,
        ]
    }
    rows.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
}

impl HourBook {
    /// Closes the hour starting at `start`: allocation over `[start, until)`
    /// (`until` is the hour's end, or earlier for a partial flush) of every
    /// pod in `pods` (each pod's versions, oldest first).
    pub fn close(
        mut self,
        start: DateTime<Utc>,
        until: DateTime<Utc>,
        pods: &[&[PodVersion]],
        inventory: &Inventory,
        book: &PriceBook,
        rules: &TenantRules,
    ) -> HourRows {
        let end = start + Duration::hours(1);
        let until = until.clamp(start, end);
        let samples = std::mem::take(&mut self.samples).sorted();
        let autopilot = book
            .options()
            .billing
            .is_autopilot(inventory.billable_nodes().map(|node| &node.facts));
        let mut prices = Prices {
            book,
            cache: HashMap::new(),
            autopilot: autopilot.then(RateCache::default),
        };
        let closing = Closing {
            start,
            until,
            inventory,
            rules,
            samples: &samples,
            runs: samples.by_container(),
            events: &self.events,
        };
        let mut allocation = closing.allocation(pods, &mut prices);
        let mut nodes = self.node_rows(start, until, inventory, &mut prices, &allocation);
        let missing_prices = match &prices.autopilot {
            Some(rates) => {
                free_nodes(&mut nodes, &allocation);
                rates.missing()
            }
            None => {
                fit_to_nodes(&mut allocation, &mut nodes);
                Vec::new()
            }
        };
        sort_allocation(&mut allocation);
        let workloads = workload_rows(start, inventory, pods, rules, &allocation);
        HourRows {
            start,
            allocation,
            nodes,
            workloads,
            samples: HourSamples::Kept(samples),
            resources: Vec::new(),
            partial_until: (until < end).then_some(until),
            missing_prices,
        }
    }

    /// The node rows of the hour, priced, without what was allocated on them
    /// ([`fit_to_nodes`] fills that in).
    fn node_rows(
        &self,
        start: DateTime<Utc>,
        until: DateTime<Utc>,
        inventory: &Inventory,
        prices: &mut Prices,
        allocation: &[AllocationRow],
    ) -> Vec<NodeRow> {
        let used: HashSet<&str> = allocation.iter().map(|row| &*row.node).collect();
        // Nodes that pods ran on but the inventory never saw are billed too.
        let mut nodes: Vec<Arc<SlimNode>> = inventory.billable_nodes().cloned().collect();
        for name in &used {
            if inventory.node(name).is_none() {
                nodes.push(Arc::new(unknown_node(name)));
            }
        }
        let mut rows = Vec::new();
        for node in nodes {
            let mut running = node.seconds_within(start, until);
            let name: &str = &node.facts.name;
            if running <= 0.0 {
                if !used.contains(name) {
                    continue;
                }
                // Pods ran on it this hour: it existed, whatever its timestamps say.
                running = (until - start).num_milliseconds() as f64 / 1000.0;
            }
            let (class, price) = prices.of(&node);
            let hours = running / 3600.0;
            let points = self
                .node_points
                .get(name)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let (cpu_usage, memory_usage) = if points.is_empty() {
                (0.0, 0.0)
            } else {
                let n = points.len() as f64;
                (
                    points.iter().map(|p| p.cpu_cores).sum::<f64>() / n,
                    points.iter().map(|p| p.memory_bytes as f64).sum::<f64>() / n,
                )
            };
            let node_pool = POOL_LABELS
                .iter()
                .find_map(|key| node.facts.labels.get(*key))
                .cloned()
                .unwrap_or_default();
            rows.push(NodeRow {
                start_time: start,
                end_time: start + Duration::hours(1),
                node: Arc::from(name),
                node_pool,
                provider_id: node.facts.provider_id.clone().unwrap_or_default(),
                vcpus: node.facts.cpu_capacity.as_cores(),
                memory_bytes: node.facts.memory_capacity.as_bytes(),
                allocatable_cpu_cores: node.allocatable_cpu_cores,
                allocatable_memory_bytes: node.allocatable_memory_bytes,
                running_seconds: running,
                cpu_cost_usd: price.cpu_hourly_usd * hours,
                memory_cost_usd: price.memory_hourly_usd * hours,
                gpu_cost_usd: price.gpu_hourly_usd * hours,
                allocated_cost_usd: 0.0,
                cpu_core_hour_usd: price.cpu_core_hour_usd(),
                memory_gib_hour_usd: price.memory_gib_hour_usd(),
                cpu_request_core_hours: 0.0,
                memory_request_gib_hours: 0.0,
                cpu_usage_core_hours: cpu_usage * hours,
                memory_usage_gib_hours: memory_usage / GIB * hours,
                price_source: price.price_source.as_str(),
                class,
            });
        }
        rows.sort_by(|a, b| a.node.cmp(&b.node));
        rows
    }
}

/// The `workloads` rows of the hour, sorted, from each pod's newest version.
fn workload_rows(
    start: DateTime<Utc>,
    inventory: &Inventory,
    pods: &[&[PodVersion]],
    rules: &TenantRules,
    allocation: &[AllocationRow],
) -> Vec<super::workloads::WorkloadRow> {
    let latest: Vec<&Arc<SlimPod>> = pods
        .iter()
        .filter_map(|versions| versions.last().map(|v| &v.pod))
        .collect();
    let mut workloads =
        super::workloads::workload_rows(start, inventory, &latest, rules, allocation);
    super::workloads::sort_workloads(&mut workloads);
    workloads
}

/// What allocating each pod of a closing hour reads.
struct Closing<'a> {
    start: DateTime<Utc>,
    until: DateTime<Utc>,
    inventory: &'a Inventory,
    rules: &'a TenantRules,
    samples: &'a SortedSamples,
    /// Each container's runs in `samples`, by (pod uid, container).
    runs: FxHashMap<(&'a str, &'a str), std::ops::Range<usize>>,
    events: &'a HashMap<(Arc<str>, Arc<str>), Events>,
}

/// A part of a pod beyond its containers, billed on a row of its own.
struct HeldPart {
    /// The row's container name.
    name: &'static str,
    amount: fn(&SlimPod) -> Amount,
}

/// What a pod holds beyond its containers, in row order.
const HELD: [HeldPart; 2] = [
    HeldPart {
        name: RESERVED,
        amount: |p| p.reserved,
    },
    HeldPart {
        name: OVERHEAD,
        amount: |p| p.overhead,
    },
];

impl Closing<'_> {
    /// The `allocation` rows of every pod that ran in the hour, unfitted.
    fn allocation(&self, pods: &[&[PodVersion]], prices: &mut Prices) -> Vec<AllocationRow> {
        // Sized up front: at 150,000 pods the rows are ~100 MB, and a vector
        // that doubles into place holds up to three times that at the close.
        let expected: usize = pods
            .iter()
            .filter_map(|versions| versions.last())
            .map(|latest| {
                let held = HELD
                    .iter()
                    .filter(|part| (part.amount)(&latest.pod) != Amount::default());
                latest.pod.containers.len() + held.count()
            })
            .sum();
        let mut allocation = Vec::with_capacity(expected);
        for versions in pods {
            self.pod_rows(versions, prices, &mut allocation);
        }
        allocation
    }

    /// The rows of one pod (its versions, oldest first) if it ran on a node
    /// in the hour: one per container, then what the pod holds itself.
    fn pod_rows(
        &self,
        versions: &[PodVersion],
        prices: &mut Prices,
        allocation: &mut Vec<AllocationRow>,
    ) {
        let Some(latest) = versions.last().map(|v| &v.pod) else {
            return;
        };
        let Some(node_name) = &latest.node else {
            return;
        };
        let seconds = spans(versions, self.start, self.until);
        let running: f64 = seconds.iter().sum();
        if running <= 0.0 {
            return;
        }
        let node = self
            .inventory
            .node(node_name)
            .cloned()
            .unwrap_or_else(|| Arc::new(unknown_node(node_name)));
        let (class, price) = prices.of(&node);
        let region = class.region.clone();
        let mut pod = self.pod_row(latest, node_name, class, &price, running);
        pod.gpu_sharing = node.facts.gpu_sharing;
        let first = allocation.len();
        for container in &latest.containers {
            let (samples, events) = (
                self.samples_of(latest, container),
                self.events_of(latest, container),
            );
            allocation.push(pod.container(versions, &seconds, container, &samples, events));
        }
        allocation.extend(
            HELD.iter()
                .filter_map(|part| pod.held(part.name, versions, &seconds, part.amount)),
        );
        if let Some(rates) = &mut prices.autopilot {
            let (class, rates) = rates.of(prices.book.resources(), &region, &latest.node_selector);
            bill_pod(&mut allocation[first..], versions, &seconds, &class, rates);
        }
    }

    /// What every row of `latest` shares, on `node_name` at `price`.
    fn pod_row<'p>(
        &self,
        latest: &'p SlimPod,
        node_name: &Arc<str>,
        class: Arc<NodeClass>,
        price: &'p NodePrice,
        running: f64,
    ) -> PodRow<'p> {
        let workload = self.inventory.workload_of(latest);
        PodRow {
            start: self.start,
            node: node_name.clone(),
            class,
            price,
            tenant: Arc::from(tenant_of(self.rules, self.inventory, latest)),
            workload_kind: Arc::from(workload.kind.as_str()),
            workload_name: workload.name,
            latest,
            running,
            gpu_sharing: GpuSharing::default(),
        }
    }

    /// The hour's samples of `container` of `pod`, in time order.
    fn samples_of(&self, pod: &SlimPod, container: &SlimContainer) -> Vec<Sample> {
        self.runs
            .get(&(&*pod.uid, &*container.name))
            .map(|runs| self.samples.of_runs(runs.clone()))
            .unwrap_or_default()
    }

    /// The hour's restarts and OOM kills of `container` of `pod`.
    fn events_of(&self, pod: &SlimPod, container: &SlimContainer) -> Events {
        self.events
            .get(&(pod.uid.clone(), container.name.clone()))
            .copied()
            .unwrap_or_default()
    }
}

/// Applies [`fit`] to every node-hour and resource, then records on each
/// node what its containers were charged: so Σ allocation + idle = node
/// cost with idle never negative (see `fit.rs`).
fn fit_to_nodes(allocation: &mut [AllocationRow], nodes: &mut [NodeRow]) {
    let mut on_node: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
    for (index, row) in allocation.iter().enumerate() {
        on_node.entry(row.node.clone()).or_default().push(index);
    }
    for node in nodes.iter_mut() {
        let rows = on_node.remove(&node.node).unwrap_or_default();
        let charges = |charge: fn(&AllocationRow, &NodeRow) -> Charge| -> Vec<Charge> {
            rows.iter().map(|&i| charge(&allocation[i], node)).collect()
        };
        let cpu = charges(|row, node| Charge {
            request_usd: row.cpu_request_core_hours * node.cpu_core_hour_usd,
            billed_usd: row.cpu_cost_usd,
        });
        let memory = charges(|row, node| Charge {
            request_usd: row.memory_request_gib_hours * node.memory_gib_hour_usd,
            billed_usd: row.memory_cost_usd,
        });
        // GPUs are charged by request only.
        let gpu = charges(|row, _| Charge {
            request_usd: row.gpu_cost_usd,
            billed_usd: row.gpu_cost_usd,
        });
        let cpu = fit(&cpu, node.cpu_cost_usd);
        let memory = fit(&memory, node.memory_cost_usd);
        let gpu = fit(&gpu, node.gpu_cost_usd);
        for (k, &i) in rows.iter().enumerate() {
            let row = &mut allocation[i];
            row.cpu_billed_core_hours *= cpu[k];
            row.cpu_cost_usd *= cpu[k];
            row.memory_billed_gib_hours *= memory[k];
            row.memory_cost_usd *= memory[k];
            row.gpu_cost_usd *= gpu[k];
            node.allocated_cost_usd += row.total_cost_usd();
            node.cpu_request_core_hours += row.cpu_request_core_hours;
            node.memory_request_gib_hours += row.memory_request_gib_hours;
        }
    }
}

/// The seconds each version of a pod was billed by within `[from, to)`:
/// the pod's running interval (from its newest version) cut where each
/// later version took over. The first version applies from the pod's start.
pub fn spans(versions: &[PodVersion], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<f64> {
    let mut seconds = vec![0.0; versions.len()];
    let Some((begin, end)) = versions
        .last()
        .and_then(|latest| latest.pod.running_within(from, to))
    else {
        return seconds;
    };
    for (i, slot) in seconds.iter_mut().enumerate() {
        let lo = if i == 0 {
            begin
        } else {
            versions[i].since.max(begin)
        };
        let hi = versions.get(i + 1).map_or(end, |next| next.since.min(end));
        if hi > lo {
            *slot = (hi - lo).num_milliseconds() as f64 / 1000.0;
        }
    }
    seconds
}

/// What every row of one pod in one hour shares.
struct PodRow<'a> {
    start: DateTime<Utc>,
    node: Arc<str>,
    class: Arc<NodeClass>,
    price: &'a NodePrice,
    tenant: Arc<str>,
    workload_kind: Arc<str>,
    workload_name: Arc<str>,
    latest: &'a SlimPod,
    running: f64,
    /// How the node's GPUs are shared out: a container is charged the
    /// fraction of a physical GPU its devices hold (`model::gpu`).
    gpu_sharing: GpuSharing,
}

impl PodRow<'_> {
    /// A row with this pod's facts, `seconds` running, nothing measured.
    fn row(&self, container: Arc<str>) -> AllocationRow {
        AllocationRow {
            start_time: self.start,
            end_time: self.start + Duration::hours(1),
            node: self.node.clone(),
            class: self.class.clone(),
            namespace: self.latest.namespace.clone(),
            tenant: self.tenant.clone(),
            workload_kind: self.workload_kind.clone(),
            workload_name: self.workload_name.clone(),
            pod: self.latest.name.clone(),
            pod_uid: self.latest.uid.clone(),
            container,
            labels: self.latest.labels.clone(),
            running_seconds: self.running,
            sample_count: 0,
            cpu_request_core_hours: 0.0,
            cpu_usage_core_hours: 0.0,
            cpu_billed_core_hours: 0.0,
            memory_request_gib_hours: 0.0,
            memory_usage_gib_hours: 0.0,
            memory_billed_gib_hours: 0.0,
            cpu_usage_p50_cores: None,
            cpu_usage_p90_cores: None,
            cpu_usage_p95_cores: None,
            cpu_usage_max_cores: None,
            memory_usage_max_bytes: None,
            cpu_histogram: Histogram::default(),
            memory_histogram: Histogram::default(),
            cpu_sketch: Sketch::default(),
            oom_kills: 0,
            restarts: 0,
            cpu_cost_usd: 0.0,
            memory_cost_usd: 0.0,
            gpu_cost_usd: 0.0,
            price_source: self.price.price_source.as_str(),
        }
    }

    /// One container's row. Each version's request counts over its own
    /// span; billed is max(request, usage) per sample, averaged within the
    /// span (the request alone when no sample saw the container then).
    fn container(
        &self,
        versions: &[PodVersion],
        seconds: &[f64],
        container: &SlimContainer,
        samples: &[Sample],
        events: Events,
    ) -> AllocationRow {
        let requests: Vec<(f64, f64)> = versions
            .iter()
            .map(|v| {
                v.pod
                    .containers
                    .iter()
                    .find(|c| c.name == container.name)
                    .map_or((0.0, 0.0), |c| {
                        (
                            c.resources.cpu_request_cores.unwrap_or(0.0),
                            c.resources.memory_request_bytes.unwrap_or(0) as f64,
                        )
                    })
            })
            .collect();
        // Samples by the version they fall in: the last whose `since` is not after them.
        let mut by_version: Vec<(f64, f64, usize)> = vec![(0.0, 0.0, 0); versions.len()];
        for sample in samples {
            let v = versions[1..].partition_point(|v| v.since <= sample.ts);
            let (cpu, memory) = requests[v];
            let slot = &mut by_version[v];
            slot.0 += sample.cpu_usage_cores().max(cpu);
            slot.1 += (sample.memory_usage_bytes as f64).max(memory);
            slot.2 += 1;
        }
        let (mut cpu_request, mut memory_request, mut cpu_billed, mut memory_billed) =
            (0.0, 0.0, 0.0, 0.0);
        for ((&(cpu, memory), &(cpu_sum, memory_sum, n)), &s) in
            requests.iter().zip(&by_version).zip(seconds)
        {
            let hours = s / 3600.0;
            cpu_request += cpu * hours;
            memory_request += memory * hours;
            if n == 0 {
                cpu_billed += cpu * hours;
                memory_billed += memory * hours;
            } else {
                cpu_billed += cpu_sum / n as f64 * hours;
                memory_billed += memory_sum / n as f64 * hours;
            }
        }
        let hours = self.running / 3600.0;
        let cpu: Vec<f64> = samples.iter().map(Sample::cpu_usage_cores).collect();
        let memory: Vec<i64> = samples.iter().map(|s| s.memory_usage_bytes).collect();
        let mean = |sum: f64| {
            if samples.is_empty() {
                0.0
            } else {
                sum / samples.len() as f64
            }
        };
        let cpu_usage = mean(cpu.iter().sum());
        let memory_usage = mean(memory.iter().map(|m| *m as f64).sum());
        let usage = HourUsage::of(&cpu, &memory);
        let gpu_hourly = if self.price.gpus > 0 {
            self.price.gpu_hourly_usd / f64::from(self.price.gpus)
        } else {
            0.0
        };
        AllocationRow {
            sample_count: i32::try_from(samples.len()).unwrap_or(i32::MAX),
            cpu_request_core_hours: cpu_request,
            cpu_usage_core_hours: cpu_usage * hours,
            cpu_billed_core_hours: cpu_billed,
            memory_request_gib_hours: memory_request / GIB,
            memory_usage_gib_hours: memory_usage / GIB * hours,
            memory_billed_gib_hours: memory_billed / GIB,
            cpu_usage_p50_cores: usage.cpu_p50_cores,
            cpu_usage_p90_cores: usage.cpu_p90_cores,
            cpu_usage_p95_cores: usage.cpu_p95_cores,
            cpu_usage_max_cores: usage.cpu_max_cores,
            memory_usage_max_bytes: usage.memory_max_bytes,
            cpu_histogram: usage.cpu_histogram,
            memory_histogram: usage.memory_histogram,
            cpu_sketch: usage.cpu_sketch,
            oom_kills: i32::try_from(events.oom_kills).unwrap_or(i32::MAX),
            restarts: i32::try_from(events.restarts).unwrap_or(i32::MAX),
            cpu_cost_usd: cpu_billed * self.price.cpu_core_hour_usd(),
            memory_cost_usd: memory_billed / GIB * self.price.memory_gib_hour_usd(),
            gpu_cost_usd: self
                .gpu_sharing
                .share(container.resources.gpus, container.resources.mig_slices)
                * hours
                * gpu_hourly,
            ..self.row(container.name.clone())
        }
    }

    /// The row of what the pod holds beyond its containers (`part` of each
    /// version over its span), billed as requested; none when it holds nothing.
    fn held(
        &self,
        name: &str,
        versions: &[PodVersion],
        seconds: &[f64],
        part: fn(&SlimPod) -> Amount,
    ) -> Option<AllocationRow> {
        let (mut cpu, mut memory) = (0.0, 0.0);
        for (version, s) in versions.iter().zip(seconds) {
            let amount = part(&version.pod);
            cpu += amount.cpu_cores * s / 3600.0;
            memory += amount.memory_bytes as f64 / GIB * s / 3600.0;
        }
        if cpu == 0.0 && memory == 0.0 {
            return None;
        }
        Some(AllocationRow {
            cpu_request_core_hours: cpu,
            cpu_billed_core_hours: cpu,
            memory_request_gib_hours: memory,
            memory_billed_gib_hours: memory,
            cpu_cost_usd: cpu * self.price.cpu_core_hour_usd(),
            memory_cost_usd: memory * self.price.memory_gib_hour_usd(),
            ..self.row(Arc::from(name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_counts_for_the_hour_of_its_window_middle() {
        let hour = hour_of(crate::sim::epoch() + Duration::minutes(61));
        assert_eq!(hour, crate::sim::epoch() + Duration::hours(1));
        let sample = Sample {
            ts: crate::sim::epoch() + Duration::hours(1),
            window_seconds: 30.0,
            context: Arc::new(SampleContext {
                namespace: Arc::from("a"),
                pod: Arc::from("p"),
                pod_uid: Arc::from("u"),
                container: Arc::from("c"),
                node: Arc::from("n"),
                workload_kind: Arc::from("Pod"),
                workload_name: Arc::from("p"),
                tenant: Arc::from("a"),
                cpu_request_cores: None,
                cpu_limit_cores: None,
                memory_request_bytes: None,
                memory_limit_bytes: None,
            }),
            cpu_usage_millicores: 100,
            memory_usage_bytes: 1,
        };
        assert_eq!(sample.hour(), crate::sim::epoch());
    }

    #[test]
    fn samples_sort_by_container_then_time_whatever_context_they_share() {
        let context = |pod: &str, cpu: f64| {
            Arc::new(SampleContext {
                namespace: Arc::from("a"),
                pod: Arc::from(pod),
                pod_uid: Arc::from(format!("uid-{pod}")),
                container: Arc::from("c"),
                node: Arc::from("n"),
                workload_kind: Arc::from("Pod"),
                workload_name: Arc::from(pod),
                tenant: Arc::from("a"),
                cpu_request_cores: Some(cpu),
                cpu_limit_cores: None,
                memory_request_bytes: None,
                memory_limit_bytes: None,
            })
        };
        let (q, p_small, p_resized) = (context("q", 1.0), context("p", 1.0), context("p", 2.0));
        let at = |minute: i64, context: &Arc<SampleContext>| Sample {
            ts: crate::sim::epoch() + Duration::minutes(minute),
            window_seconds: 30.0,
            context: context.clone(),
            cpu_usage_millicores: minute,
            memory_usage_bytes: 1,
        };
        let runs: SampleRuns = [
            at(2, &q),
            at(2, &p_small),
            at(1, &q),
            at(1, &p_small),
            at(4, &p_resized),
            at(3, &p_resized),
        ]
        .into_iter()
        .collect();
        let sorted = runs.sorted();
        let samples = sorted.to_vec();
        let order: Vec<(&str, i64)> = samples
            .iter()
            .map(|s| (&*s.context.pod, s.cpu_usage_millicores))
            .collect();
        assert_eq!(
            order,
            [("p", 1), ("p", 2), ("p", 3), ("p", 4), ("q", 1), ("q", 2)]
        );
        // Sorted, each container's samples are one run, across a resize.
        let runs = sorted.by_container();
        let run = |pod: &str| {
            runs.get(&(pod, "c"))
                .map_or(0, |runs| sorted.of_runs(runs.clone()).len())
        };
        assert_eq!((runs.len(), run("uid-p"), run("uid-q")), (2, 4, 2));
    }

    fn node(name: &str, cores: i64, gib: i64) -> SlimNode {
        SlimNode {
            facts: crate::model::NodeFacts {
                name: name.to_owned(),
                provider_id: None,
                labels: Default::default(),
                cpu_capacity: crate::model::Quantity::from_cores(cores as f64),
                memory_capacity: crate::model::Quantity::from_bytes(gib << 30),
                gpu_capacity: 0,
                gpu_sharing: Default::default(),
            },
            allocatable_cpu_cores: cores as f64,
            allocatable_memory_bytes: gib << 30,
            created: None,
            deleted: None,
        }
    }

    fn container(name: &str, cpu: f64, memory: i64) -> SlimContainer {
        SlimContainer {
            name: Arc::from(name),
            resources: crate::cluster::ContainerResources {
                cpu_request_cores: Some(cpu),
                memory_request_bytes: Some(memory),
                ..Default::default()
            },
            restarts: 0,
            last_oom_kill: None,
        }
    }

    fn running_pod(uid: &str, containers: Vec<SlimContainer>) -> SlimPod {
        SlimPod {
            uid: Arc::from(uid),
            namespace: Arc::from("shop"),
            name: Arc::from(uid),
            node: Some(Arc::from("n1")),
            phase: crate::cluster::Phase::Running,
            started: Some(crate::sim::epoch() - Duration::hours(1)),
            containers,
            ..SlimPod::default()
        }
    }

    fn context_of(pod: &SlimPod, container: &SlimContainer) -> Arc<SampleContext> {
        Arc::new(SampleContext {
            namespace: pod.namespace.clone(),
            pod: pod.name.clone(),
            pod_uid: pod.uid.clone(),
            container: container.name.clone(),
            node: Arc::from("n1"),
            workload_kind: Arc::from("Pod"),
            workload_name: pod.name.clone(),
            tenant: Arc::from("shop"),
            cpu_request_cores: container.resources.cpu_request_cores,
            cpu_limit_cores: None,
            memory_request_bytes: container.resources.memory_request_bytes,
            memory_limit_bytes: None,
        })
    }

    fn close(book: HourBook, pods: &[Vec<PodVersion>]) -> HourRows {
        let mut inventory = Inventory::default();
        inventory.apply_node(node("n1", 4, 16));
        let prices = PriceBook::new(Vec::new(), crate::pricing::PricingOptions::default()).unwrap();
        let pods: Vec<&[PodVersion]> = pods.iter().map(Vec::as_slice).collect();
        let start = crate::sim::epoch();
        book.close(
            start,
            start + Duration::hours(1),
            &pods,
            &inventory,
            &prices,
            &TenantRules::new(None),
        )
    }

    fn version(minute: i64, pod: SlimPod) -> PodVersion {
        PodVersion {
            since: crate::sim::epoch() + Duration::minutes(minute),
            pod: Arc::new(pod),
        }
    }

    #[test]
    fn a_request_granted_mid_hour_is_billed_over_its_own_span() {
        // 1 core until minute 20, 3 cores after, no samples: 1/3 + 3 × 2/3.
        let before = running_pod("p", vec![container("app", 1.0, 1 << 30)]);
        let after = running_pod("p", vec![container("app", 3.0, 1 << 30)]);
        let rows = close(
            HourBook::default(),
            &[vec![version(-30, before), version(20, after)]],
        );
        let row = &rows.allocation[0];
        assert!((row.cpu_request_core_hours - (1.0 / 3.0 + 2.0)).abs() < 1e-9);
        assert_eq!(row.cpu_billed_core_hours, row.cpu_request_core_hours);
        assert!((row.memory_request_gib_hours - 1.0).abs() < 1e-9);
        assert_eq!(row.running_seconds, 3600.0);
    }

    #[test]
    fn samples_are_billed_against_the_request_of_their_own_span() {
        // 1 core, then 3: a sample of 2 cores in the first span bills 2,
        // one of 2 cores in the second bills 3.
        let before = running_pod("p", vec![container("app", 1.0, 0)]);
        let after = running_pod("p", vec![container("app", 3.0, 0)]);
        let context = context_of(&before, &before.containers[0]);
        let sample = |minute: i64| Sample {
            ts: crate::sim::epoch() + Duration::minutes(minute),
            window_seconds: 30.0,
            context: context.clone(),
            cpu_usage_millicores: 2000,
            memory_usage_bytes: 0,
        };
        let book = HourBook {
            samples: [sample(10), sample(40)].into_iter().collect(),
            ..HourBook::default()
        };
        let rows = close(book, &[vec![version(-30, before), version(30, after)]]);
        let row = &rows.allocation[0];
        assert!((row.cpu_billed_core_hours - (2.0 * 0.5 + 3.0 * 0.5)).abs() < 1e-9);
        assert!((row.cpu_usage_core_hours - 2.0).abs() < 1e-9);
    }

    #[test]
    fn what_a_pod_holds_beyond_its_containers_has_rows_of_its_own() {
        let mut pod = running_pod("p", vec![container("app", 1.0, 1 << 30)]);
        pod.reserved = Amount {
            cpu_cores: 2.0,
            memory_bytes: 0,
        };
        pod.overhead = Amount {
            cpu_cores: 0.25,
            memory_bytes: 64 << 20,
        };
        let rows = close(HourBook::default(), &[vec![version(-30, pod)]]);
        let by_container: HashMap<&str, &AllocationRow> =
            rows.allocation.iter().map(|r| (&*r.container, r)).collect();
        assert_eq!(by_container[RESERVED].cpu_request_core_hours, 2.0);
        assert_eq!(by_container[RESERVED].memory_request_gib_hours, 0.0);
        assert_eq!(by_container[OVERHEAD].cpu_billed_core_hours, 0.25);
        assert!((by_container[OVERHEAD].memory_request_gib_hours - 1.0 / 16.0).abs() < 1e-12);
        let pod_cost: f64 = rows
            .allocation
            .iter()
            .map(AllocationRow::total_cost_usd)
            .sum();
        let node = &rows.nodes[0];
        assert!((node.cpu_request_core_hours - 3.25).abs() < 1e-12);
        assert!((node.allocated_cost_usd - pod_cost).abs() < 1e-12);
    }

    proptest::proptest! {
        /// Random node-hours, overcommitted or not: Σ allocation ≤ node
        /// cost, idle ≥ 0, and Σ allocation + idle = node cost, per resource.
        #[test]
        fn a_node_hour_never_charges_more_than_the_node_costs(
            pods in proptest::collection::vec(
                (0.0..2.0_f64, 0_i64..6, proptest::collection::vec((0_i64..4000, 0_i64..8), 0..12)),
                0..8,
            ),
        ) {
            let mut versions = Vec::new();
            let mut samples = Vec::new();
            for (i, (cpu, gib, usage)) in pods.iter().enumerate() {
                let pod = running_pod(&format!("p{i}"), vec![container("app", *cpu, gib << 30)]);
                let context = context_of(&pod, &pod.containers[0]);
                for (k, (millicores, gib)) in usage.iter().enumerate() {
                    samples.push(Sample {
                        ts: crate::sim::epoch() + Duration::minutes(1 + k as i64 * 5),
                        window_seconds: 30.0,
                        context: context.clone(),
                        cpu_usage_millicores: *millicores,
                        memory_usage_bytes: gib << 30,
                    });
                }
                versions.push(vec![version(-30, pod)]);
            }
            let samples = samples.into_iter().collect();
            let rows = close(HourBook { samples, ..HourBook::default() }, &versions);
            for node in &rows.nodes {
                let on_node = rows.allocation.iter().filter(|r| r.node == node.node);
                let (cpu, memory, total) = on_node.fold((0.0, 0.0, 0.0), |s, r| {
                    (s.0 + r.cpu_cost_usd, s.1 + r.memory_cost_usd, s.2 + r.total_cost_usd())
                });
                let slack = 1e-9 * node.total_cost_usd().max(1.0);
                proptest::prop_assert!(cpu <= node.cpu_cost_usd + slack, "cpu {cpu} > {}", node.cpu_cost_usd);
                proptest::prop_assert!(memory <= node.memory_cost_usd + slack);
                proptest::prop_assert!(node.idle_cost_usd() >= -slack, "idle {}", node.idle_cost_usd());
                proptest::prop_assert!((total + node.idle_cost_usd() - node.total_cost_usd()).abs() <= slack);
                proptest::prop_assert!((node.allocated_cost_usd - total).abs() <= slack);
            }
        }
    }
}
