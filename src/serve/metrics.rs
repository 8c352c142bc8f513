//! What `/metrics` says: OpenCost-compatible price and allocation series,
//! so existing OpenCost dashboards work unchanged, then kubetally's own
//! health series.
//!
//! Everything is computed at scrape time from the collector's shared state
//! (the watch cache, the newest tick's samples, the counters); nothing is
//! registered or kept between scrapes, so a deleted node or pod simply stops
//! appearing. The families and their labels are listed in [`FAMILIES`],
//! which `docs/metrics.md` documents (a test compares them).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::allocate::{CLUSTER_FEE, ResourceCost, Sample, hourly_now};
use crate::cluster::{Collection, SharedInventory, SlimNode, lock};
use crate::collect::Stats;
use crate::model::CapacityType;
use crate::pricing::{PriceBook, PriceSource, classify};

use super::text::{Exposition, FamilySpec, Kind};

/// OpenCost's node labels; `instance` is the node name, as OpenCost sets it.
const NODE_LABELS: &[&str] = &[
    "instance",
    "node",
    "instance_type",
    "region",
    "provider_id",
    "arch",
];

/// OpenCost's container labels; `instance` is the node name.
const CONTAINER_LABELS: &[&str] = &["namespace", "pod", "container", "instance", "node"];

/// The node label OpenCost reads `arch` from, and its deprecated spelling.
const ARCH_LABELS: [&str; 2] = ["kubernetes.io/arch", "beta.kubernetes.io/arch"];

const fn node_gauge(name: &'static str, help: &'static str) -> FamilySpec {
    FamilySpec {
        name,
        kind: Kind::Gauge,
        labels: NODE_LABELS,
        help,
    }
}

const fn container_gauge(name: &'static str, help: &'static str) -> FamilySpec {
    FamilySpec {
        name,
        kind: Kind::Gauge,
        labels: CONTAINER_LABELS,
        help,
    }
}

const fn own(name: &'static str, kind: Kind, help: &'static str) -> FamilySpec {
    FamilySpec {
        name,
        kind,
        labels: &[],
        help,
    }
}

pub const NODE_CPU_HOURLY_COST: FamilySpec = node_gauge(
    "node_cpu_hourly_cost",
    "Hourly cost of one vCPU of this node, USD.",
);
pub const NODE_RAM_HOURLY_COST: FamilySpec = node_gauge(
    "node_ram_hourly_cost",
    "Hourly cost of one GiB of memory of this node, USD.",
);
pub const NODE_GPU_HOURLY_COST: FamilySpec = node_gauge(
    "node_gpu_hourly_cost",
    "Hourly cost of one GPU of this node, USD (0 without GPUs).",
);
pub const NODE_GPU_COUNT: FamilySpec = node_gauge("node_gpu_count", "GPUs of this node.");
pub const NODE_TOTAL_HOURLY_COST: FamilySpec = node_gauge(
    "node_total_hourly_cost",
    "Hourly cost of the whole node, USD.",
);
pub const NODE_IS_SPOT: FamilySpec = node_gauge(
    "kubecost_node_is_spot",
    "1 if the node is spot or preemptible capacity, else 0.",
);
pub const PV_HOURLY_COST: FamilySpec = FamilySpec {
    name: "pv_hourly_cost",
    kind: Kind::Gauge,
    labels: &["volumename", "persistentvolume", "provider_id"],
    help: "Hourly cost of one GiB of this persistent volume, USD (OpenCost's unit).",
};
pub const LOAD_BALANCER_COST: FamilySpec = FamilySpec {
    name: "kubecost_load_balancer_cost",
    kind: Kind::Gauge,
    labels: &["ingress_ip", "namespace", "service_name"],
    help: "Hourly cost of this Service's load balancer, USD.",
};
pub const CLUSTER_MANAGEMENT_COST: FamilySpec = FamilySpec {
    name: "kubecost_cluster_management_cost",
    kind: Kind::Gauge,
    labels: &["provisioner_name"],
    help: "Hourly cluster management fee, USD; provisioner_name is the provider (gcp, aws, azure).",
};
pub const CONTAINER_CPU_ALLOCATION: FamilySpec = container_gauge(
    "container_cpu_allocation",
    "Cores allocated to the container in the newest sample: max(request, usage).",
);
pub const CONTAINER_MEMORY_ALLOCATION_BYTES: FamilySpec = container_gauge(
    "container_memory_allocation_bytes",
    "Memory allocated to the container in the newest sample: max(request, working set), bytes.",
);
pub const CONTAINER_GPU_ALLOCATION: FamilySpec = container_gauge(
    "container_gpu_allocation",
    "GPUs requested by the container (containers requesting GPUs only).",
);

pub const INFO: FamilySpec = FamilySpec {
    name: "kubetally_info",
    kind: Kind::Gauge,
    labels: &["cluster", "version"],
    help: "Always 1; the cluster this collector meters and its version.",
};
pub const SAMPLES_TOTAL: FamilySpec = own(
    "kubetally_samples_total",
    Kind::Counter,
    "Container samples taken from metrics.k8s.io.",
);
pub const TICKS_TOTAL: FamilySpec = own(
    "kubetally_ticks_total",
    Kind::Counter,
    "Metrics polls that returned samples.",
);
pub const ERRORS_TOTAL: FamilySpec = FamilySpec {
    name: "kubetally_errors_total",
    kind: Kind::Counter,
    labels: &["kind"],
    help: "Failures by kind (watch_pods, metrics, node_metrics, ...); each also logged.",
};
pub const GAPS_TOTAL: FamilySpec = own(
    "kubetally_metrics_gaps_total",
    Kind::Counter,
    "Polls without samples because metrics.k8s.io failed.",
);
pub const PODS_WITHOUT_METRICS_TOTAL: FamilySpec = own(
    "kubetally_pods_without_metrics_total",
    Kind::Counter,
    "Running pods the metrics API had no sample for, summed over polls.",
);
pub const METRICS_WITHOUT_POD_TOTAL: FamilySpec = own(
    "kubetally_metrics_without_pod_total",
    Kind::Counter,
    "Pod or container metrics not matching anything in the watch cache.",
);
pub const LATE_SAMPLES_TOTAL: FamilySpec = own(
    "kubetally_late_samples_total",
    Kind::Counter,
    "Samples that arrived after their hour was published (dropped).",
);
pub const HOURS_PUBLISHED_TOTAL: FamilySpec = own(
    "kubetally_hours_published_total",
    Kind::Counter,
    "Hours published to the dataset (a partial hour republished counts again).",
);
pub const LAST_PUBLISH_TIMESTAMP: FamilySpec = own(
    "kubetally_last_publish_timestamp_seconds",
    Kind::Gauge,
    "Wall-clock Unix time of the last publish; 0 before the first.",
);
pub const LAST_SAMPLE_TIMESTAMP: FamilySpec = own(
    "kubetally_last_sample_timestamp_seconds",
    Kind::Gauge,
    "Unix time of the newest sample, by the metrics API's clock; 0 before the first.",
);
pub const UNPRICED_NODES: FamilySpec = own(
    "kubetally_unpriced_nodes",
    Kind::Gauge,
    "Nodes priced at the default rates because no catalog row matches them.",
);
pub const CACHE_PODS: FamilySpec = own(
    "kubetally_cache_pods",
    Kind::Gauge,
    "Pods in the watch cache.",
);
pub const CACHE_NODES: FamilySpec = own(
    "kubetally_cache_nodes",
    Kind::Gauge,
    "Nodes in the watch cache.",
);
pub const SAMPLE_DURATION: FamilySpec = own(
    "kubetally_sample_duration_seconds",
    Kind::Gauge,
    "Wall-clock time the last metrics poll took: list, join, log and publish.",
);
pub const WAL_BYTES: FamilySpec = own(
    "kubetally_wal_bytes",
    Kind::Gauge,
    "Bytes the write-ahead log of the open hours holds on disk.",
);
pub const LEADER: FamilySpec = own(
    "kubetally_leader",
    Kind::Gauge,
    "1 while this replica samples and writes: it holds the lease, or runs without --leader-elect.",
);
pub const CACHE_SYNCED: FamilySpec = FamilySpec {
    name: "kubetally_cache_synced",
    kind: Kind::Gauge,
    labels: &["collection"],
    help: "1 once the watched collection completed its first list, else 0.",
};

/// Every family `/metrics` writes, in the order it writes them.
pub const FAMILIES: [FamilySpec; 30] = [
    NODE_CPU_HOURLY_COST,
    NODE_RAM_HOURLY_COST,
    NODE_GPU_HOURLY_COST,
    NODE_GPU_COUNT,
    NODE_TOTAL_HOURLY_COST,
    NODE_IS_SPOT,
    PV_HOURLY_COST,
    LOAD_BALANCER_COST,
    CLUSTER_MANAGEMENT_COST,
    CONTAINER_CPU_ALLOCATION,
    CONTAINER_MEMORY_ALLOCATION_BYTES,
    CONTAINER_GPU_ALLOCATION,
    INFO,
    SAMPLES_TOTAL,
    TICKS_TOTAL,
    SAMPLE_DURATION,
    ERRORS_TOTAL,
    GAPS_TOTAL,
    PODS_WITHOUT_METRICS_TOTAL,
    METRICS_WITHOUT_POD_TOTAL,
    LATE_SAMPLES_TOTAL,
    HOURS_PUBLISHED_TOTAL,
    LAST_PUBLISH_TIMESTAMP,
    LAST_SAMPLE_TIMESTAMP,
    WAL_BYTES,
    LEADER,
    UNPRICED_NODES,
    CACHE_PODS,
    CACHE_NODES,
    CACHE_SYNCED,
];

/// What a scrape reads from the collector.
pub struct Sources<'a> {
    pub inventory: &'a SharedInventory,
    pub stats: &'a Stats,
    pub latest: &'a Mutex<Vec<Sample>>,
    pub prices: &'a PriceBook,
    pub cluster: &'a str,
}

/// A node's labels and price, computed once per scrape.
struct NodeLine {
    labels: [String; 6],
    cpu_core_hour_usd: f64,
    memory_gib_hour_usd: f64,
    gpu_hour_usd: f64,
    gpus: u32,
    total_hourly_usd: f64,
    spot: bool,
    unpriced: bool,
}

/// GPUs requested, by (namespace, pod, container), for containers requesting any.
type GpuRequests = HashMap<(Arc<str>, Arc<str>, Arc<str>), u32>;

/// What the watch cache holds, copied out so the lock is held briefly.
struct CacheView {
    nodes: Vec<Arc<SlimNode>>,
    gpus: GpuRequests,
    pods: usize,
    node_count: usize,
    synced: Vec<(&'static str, bool)>,
    /// Disks, load balancers and the fee, priced per hour.
    resources: Vec<ResourceCost>,
}

fn cache_view(inventory: &SharedInventory, prices: &PriceBook) -> CacheView {
    let inventory = lock(inventory);
    // Live nodes only, each once: a retired node has a deletion time, and a
    // node re-created under the same name keeps its live entry (listed first).
    let mut nodes: BTreeMap<&str, Arc<SlimNode>> = BTreeMap::new();
    for node in inventory.billable_nodes().filter(|n| n.deleted.is_none()) {
        nodes
            .entry(node.facts.name.as_str())
            .or_insert_with(|| node.clone());
    }
    let nodes = nodes.into_values().collect();
    let mut gpus = HashMap::new();
    for pod in inventory.pods() {
        for container in pod.containers.iter().filter(|c| c.resources.gpus > 0) {
            gpus.insert(
                (
                    pod.namespace.clone(),
                    pod.name.clone(),
                    container.name.clone(),
                ),
                container.resources.gpus,
            );
        }
    }
    CacheView {
        nodes,
        gpus,
        pods: inventory.pod_count(),
        node_count: inventory.node_count(),
        synced: Collection::ALL
            .iter()
            .map(|c| (c.as_str(), inventory.synced(*c)))
            .collect(),
        resources: hourly_now(&inventory, prices),
    }
}

fn node_line(node: &SlimNode, prices: &PriceBook) -> NodeLine {
    let facts = &node.facts;
    let class = classify(facts);
    let price = prices.price(&class);
    let arch = ARCH_LABELS
        .iter()
        .find_map(|key| facts.labels.get(*key))
        .cloned()
        .unwrap_or_default();
    NodeLine {
        labels: [
            facts.name.clone(),
            facts.name.clone(),
            class.machine_type.clone(),
            class.region.clone(),
            facts.provider_id.clone().unwrap_or_default(),
            arch,
        ],
        cpu_core_hour_usd: price.cpu_core_hour_usd(),
        memory_gib_hour_usd: price.memory_gib_hour_usd(),
        gpu_hour_usd: if price.gpus > 0 {
            price.gpu_hourly_usd / f64::from(price.gpus)
        } else {
            0.0
        },
        gpus: price.gpus,
        total_hourly_usd: price.total_hourly_usd(),
        spot: matches!(
            class.capacity_type,
            CapacityType::Spot | CapacityType::Preemptible
        ),
        unpriced: price.price_source == PriceSource::Default,
    }
}

/// Renders the whole exposition.
pub fn render(sources: &Sources<'_>) -> String {
    let cache = cache_view(sources.inventory, sources.prices);
    let nodes: Vec<NodeLine> = cache
        .nodes
        .iter()
        .map(|node| node_line(node, sources.prices))
        .collect();
    let latest = match sources.latest.lock() {
        Ok(latest) => latest,
        Err(poisoned) => poisoned.into_inner(),
    };
    // About 150 bytes a series; three families per container.
    let mut text = Exposition::with_capacity(4096 + nodes.len() * 6 * 200 + latest.len() * 2 * 160);
    write_nodes(&mut text, &nodes);
    write_resources(&mut text, &cache.resources);
    write_containers(&mut text, &latest, &cache.gpus);
    drop(latest);
    write_own(&mut text, sources, &cache, &nodes);
    text.finish()
}

fn write_nodes(text: &mut Exposition, nodes: &[NodeLine]) {
    type Value = fn(&NodeLine) -> f64;
    let families: [(&FamilySpec, Value); 6] = [
        (&NODE_CPU_HOURLY_COST, |n| n.cpu_core_hour_usd),
        (&NODE_RAM_HOURLY_COST, |n| n.memory_gib_hour_usd),
        (&NODE_GPU_HOURLY_COST, |n| n.gpu_hour_usd),
        (&NODE_GPU_COUNT, |n| f64::from(n.gpus)),
        (&NODE_TOTAL_HOURLY_COST, |n| n.total_hourly_usd),
        (&NODE_IS_SPOT, |n| if n.spot { 1.0 } else { 0.0 }),
    ];
    for (spec, value) in families {
        let mut family = text.family(spec);
        for node in nodes {
            let labels = node.labels.each_ref().map(String::as_str);
            family.sample(&labels, value(node));
        }
    }
}

fn write_resources(text: &mut Exposition, resources: &[ResourceCost]) {
    let mut volumes = text.family(&PV_HOURLY_COST);
    for disk in resources.iter().filter(|r| r.kind == "disk") {
        let Some(gib) = disk.size_gib.filter(|gib| *gib > 0.0) else {
            continue;
        };
        let handle = disk.provider_resource_id.as_deref().unwrap_or_default();
        let name = &*disk.resource_name;
        volumes.sample(&[name, name, handle], disk.hourly_usd / gib);
    }
    let mut balancers = text.family(&LOAD_BALANCER_COST);
    for balancer in resources.iter().filter(|r| r.kind == "load_balancer") {
        let labels = [
            balancer.provider_resource_id.as_deref().unwrap_or_default(),
            balancer.namespace.as_deref().unwrap_or_default(),
            &*balancer.resource_name,
        ];
        balancers.sample(&labels, balancer.hourly_usd);
    }
    let mut fee = text.family(&CLUSTER_MANAGEMENT_COST);
    for row in resources.iter().filter(|r| r.kind == CLUSTER_FEE) {
        fee.sample(&[row.provider.as_str()], row.hourly_usd);
    }
}

fn write_containers(text: &mut Exposition, samples: &[Sample], gpus: &GpuRequests) {
    fn labels(s: &Sample) -> [&str; 5] {
        let c = &*s.context;
        [&c.namespace, &c.pod, &c.container, &c.node, &c.node]
    }
    let mut cpu = text.family(&CONTAINER_CPU_ALLOCATION);
    for sample in samples {
        let allocated = sample
            .context
            .cpu_request_cores
            .unwrap_or(0.0)
            .max(sample.cpu_usage_cores());
        cpu.sample(&labels(sample), allocated);
    }
    let mut memory = text.family(&CONTAINER_MEMORY_ALLOCATION_BYTES);
    for sample in samples {
        let allocated = sample
            .context
            .memory_request_bytes
            .unwrap_or(0)
            .max(sample.memory_usage_bytes);
        memory.sample(&labels(sample), allocated as f64);
    }
    let mut gpu = text.family(&CONTAINER_GPU_ALLOCATION);
    if gpus.is_empty() {
        return;
    }
    for sample in samples {
        let key = (
            sample.context.namespace.clone(),
            sample.context.pod.clone(),
            sample.context.container.clone(),
        );
        if let Some(&count) = gpus.get(&key) {
            gpu.count(&labels(sample), u64::from(count));
        }
    }
}

fn write_own(text: &mut Exposition, sources: &Sources<'_>, cache: &CacheView, nodes: &[NodeLine]) {
    let stats = sources.stats;
    text.family(&INFO)
        .sample(&[sources.cluster, env!("CARGO_PKG_VERSION")], 1.0);
    let counters = [
        (&SAMPLES_TOTAL, &stats.samples),
        (&TICKS_TOTAL, &stats.ticks),
    ];
    for (spec, counter) in counters {
        text.family(spec).count(&[], Stats::get(counter));
    }
    text.family(&SAMPLE_DURATION)
        .sample(&[], Stats::get(&stats.sample_duration_micros) as f64 / 1e6);
    let mut errors = text.family(&ERRORS_TOTAL);
    for (kind, count) in stats.errors() {
        errors.count(&[&kind], count);
    }
    let counters = [
        (&GAPS_TOTAL, &stats.gaps),
        (&PODS_WITHOUT_METRICS_TOTAL, &stats.pods_without_metrics),
        (&METRICS_WITHOUT_POD_TOTAL, &stats.metrics_without_pod),
        (&LATE_SAMPLES_TOTAL, &stats.late_samples),
        (&HOURS_PUBLISHED_TOTAL, &stats.hours_published),
        (&LAST_PUBLISH_TIMESTAMP, &stats.last_publish_seconds),
        (&LAST_SAMPLE_TIMESTAMP, &stats.last_sample_seconds),
        (&WAL_BYTES, &stats.wal_bytes),
        (&LEADER, &stats.leader),
    ];
    for (spec, counter) in counters {
        text.family(spec).count(&[], Stats::get(counter));
    }
    let unpriced = nodes.iter().filter(|n| n.unpriced).count();
    text.family(&UNPRICED_NODES).count(&[], unpriced as u64);
    text.family(&CACHE_PODS).count(&[], cache.pods as u64);
    text.family(&CACHE_NODES)
        .count(&[], cache.node_count as u64);
    let mut synced = text.family(&CACHE_SYNCED);
    for (collection, is_synced) in &cache.synced {
        synced.count(&[collection], u64::from(*is_synced));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::allocate::SampleContext;
    use crate::cluster::Inventory;
    use crate::model::units::millicores;
    use crate::model::{NodeFacts, Quantity};
    use crate::pricing::PricingOptions;

    fn node(name: &str, labels: &[(&str, &str)]) -> SlimNode {
        SlimNode {
            facts: NodeFacts {
                name: name.to_owned(),
                provider_id: Some(format!("gce://proj/us-central1-a/{name}")),
                labels: labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
                cpu_capacity: Quantity::from_cores(4.0),
                memory_capacity: Quantity::from_bytes(16 << 30),
                gpu_capacity: 0,
                gpu_sharing: Default::default(),
            },
            allocatable_cpu_cores: 3.9,
            allocatable_memory_bytes: 15 << 30,
            created: None,
            deleted: None,
        }
    }

    fn sample(pod: &str, request: Option<f64>, usage: f64) -> Sample {
        Sample {
            ts: Utc
                .timestamp_opt(1_800_000_000, 0)
                .single()
                .unwrap_or_default(),
            window_seconds: 30.0,
            context: Arc::new(SampleContext {
                namespace: "shop".into(),
                pod: pod.into(),
                pod_uid: format!("uid-{pod}").into(),
                container: "app".into(),
                node: "n1".into(),
                workload_kind: "Deployment".into(),
                workload_name: "api".into(),
                tenant: "acme".into(),
                cpu_request_cores: request,
                cpu_limit_cores: None,
                memory_request_bytes: Some(1 << 30),
                memory_limit_bytes: None,
            }),
            cpu_usage_millicores: millicores(usage),
            memory_usage_bytes: 3 << 29,
        }
    }

    fn rendered(inventory: Inventory, samples: Vec<Sample>) -> String {
        let prices = PriceBook::new(Vec::new(), PricingOptions::default()).unwrap();
        let inventory = Arc::new(Mutex::new(inventory));
        let stats = Stats::default();
        stats.error("metrics");
        stats.error("watch_pods");
        stats.error("metrics");
        let latest = Mutex::new(samples);
        render(&Sources {
            inventory: &inventory,
            stats: &stats,
            latest: &latest,
            prices: &prices,
            cluster: "prod \"eu\"",
        })
    }

    fn standard_inventory() -> Inventory {
        let mut inventory = Inventory::default();
        inventory.apply_node(node(
            "n1",
            &[
                ("node.kubernetes.io/instance-type", "e2-standard-4"),
                ("topology.kubernetes.io/region", "us-central1"),
                ("kubernetes.io/arch", "arm64"),
            ],
        ));
        inventory.apply_node(node(
            "n0-spot",
            &[
                ("node.kubernetes.io/instance-type", "e2-standard-4"),
                ("topology.kubernetes.io/region", "us-central1"),
                ("cloud.google.com/gke-spot", "true"),
            ],
        ));
        inventory
    }

    #[test]
    fn disks_balancers_and_the_fee_carry_opencosts_names_labels_and_units() {
        use crate::cluster::{SlimBalancer, SlimVolume, VolumePhase};
        let mut inventory = standard_inventory();
        inventory.apply_volume(SlimVolume {
            name: "pv-1".into(),
            capacity_bytes: 100 << 30,
            driver: "pd.csi.storage.gke.io".into(),
            handle: Some("projects/p/zones/us-central1-a/disks/pv-1".into()),
            phase: VolumePhase::Available,
            region: Some("us-central1".into()),
            attributes: [("type".to_owned(), "pd-ssd".to_owned())].into(),
            ..SlimVolume::default()
        });
        inventory.apply_service(
            "s1",
            Some(SlimBalancer {
                uid: "s1".into(),
                namespace: "shop".into(),
                name: "web".into(),
                ingress: "34.1.2.3".into(),
                ..SlimBalancer::default()
            }),
        );
        let text = rendered(inventory, Vec::new());
        // The embedded catalog: pd-ssd 0.17 a GiB-month, a forwarding rule
        // 0.025 an hour, GKE's fee 0.10 an hour.
        let gib_hour = 0.17 / 730.0;
        assert!(
            text.contains(&format!(
                "pv_hourly_cost{{volumename=\"pv-1\",persistentvolume=\"pv-1\",provider_id=\"projects/p/zones/us-central1-a/disks/pv-1\"}} {gib_hour}\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(
                "kubecost_load_balancer_cost{ingress_ip=\"34.1.2.3\",namespace=\"shop\",service_name=\"web\"} 0.025\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("kubecost_cluster_management_cost{provisioner_name=\"gcp\"} 0.1\n"),
            "{text}"
        );
    }

    #[test]
    fn every_family_has_help_and_type_exactly_once_and_in_one_group() {
        let text = rendered(
            standard_inventory(),
            vec![sample("a", Some(0.5), 0.2), sample("b", None, 0.3)],
        );
        let mut seen = Vec::new();
        for line in text.lines() {
            let name = match line.strip_prefix("# TYPE ") {
                Some(rest) => rest.split(' ').next().unwrap_or(""),
                None => continue,
            };
            seen.push(name.to_owned());
        }
        let expected: Vec<String> = FAMILIES.iter().map(|f| f.name.to_owned()).collect();
        assert_eq!(seen, expected);
        for family in &FAMILIES {
            assert_eq!(
                text.matches(&format!("# HELP {} ", family.name)).count(),
                1,
                "{}",
                family.name
            );
        }
        // Samples of a family follow its header before the next one opens.
        let mut current = String::new();
        let mut closed = HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                closed.insert(std::mem::take(&mut current));
                current = rest.split(' ').next().unwrap_or("").to_owned();
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap_or("");
                assert_eq!(name, current, "{line}");
                assert!(!closed.contains(name), "{line}");
            }
        }
    }

    #[test]
    fn node_series_carry_opencost_labels_and_spot_flag() {
        let text = rendered(standard_inventory(), Vec::new());
        assert!(
            text.contains(
                "kubecost_node_is_spot{instance=\"n1\",node=\"n1\",instance_type=\"e2-standard-4\",\
                 region=\"us-central1\",provider_id=\"gce://proj/us-central1-a/n1\",arch=\"arm64\"} 0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("kubecost_node_is_spot{instance=\"n0-spot\",node=\"n0-spot\""),
            "{text}"
        );
        assert!(text.contains("arch=\"\"} 1\n"), "{text}");
        assert!(text.contains("kubetally_unpriced_nodes 0\n"), "{text}");
        assert!(text.contains("kubetally_cache_nodes 2\n"), "{text}");
    }

    #[test]
    fn container_allocation_is_the_larger_of_request_and_usage() {
        let text = rendered(
            standard_inventory(),
            vec![sample("a", Some(0.5), 0.2), sample("b", None, 0.3)],
        );
        let labels = |pod: &str| {
            format!(
                "{{namespace=\"shop\",pod=\"{pod}\",container=\"app\",instance=\"n1\",node=\"n1\"}}"
            )
        };
        assert!(text.contains(&format!("container_cpu_allocation{} 0.5\n", labels("a"))));
        assert!(text.contains(&format!("container_cpu_allocation{} 0.3\n", labels("b"))));
        assert!(text.contains(&format!(
            "container_memory_allocation_bytes{} {}\n",
            labels("a"),
            3_u64 << 29
        )));
        assert!(!text.contains("container_gpu_allocation{"), "{text}");
    }

    #[test]
    fn errors_are_counted_by_kind_and_the_cluster_is_escaped() {
        let text = rendered(Inventory::default(), Vec::new());
        assert!(text.contains("kubetally_errors_total{kind=\"metrics\"} 2\n"));
        assert!(text.contains("kubetally_errors_total{kind=\"watch_pods\"} 1\n"));
        assert!(text.contains("kubetally_info{cluster=\"prod \\\"eu\\\"\",version=\""));
        assert!(text.contains("kubetally_cache_synced{collection=\"pods\"} 0\n"));
    }

    #[test]
    fn a_node_without_a_catalog_row_counts_as_unpriced() {
        let mut inventory = Inventory::default();
        let mut mystery = node("m1", &[("node.kubernetes.io/instance-type", "z9-mega-4")]);
        mystery.facts.provider_id = Some("metal://rack1/m1".to_owned());
        inventory.apply_node(mystery);
        let text = rendered(inventory, Vec::new());
        assert!(text.contains("kubetally_unpriced_nodes 1\n"), "{text}");
    }

    #[test]
    fn deleted_nodes_leave_the_price_series() {
        let mut inventory = standard_inventory();
        inventory.clock = Utc.timestamp_opt(1_800_000_000, 0).single();
        inventory.delete_node("n0-spot");
        let text = rendered(inventory, Vec::new());
        assert!(!text.contains("n0-spot"), "{text}");
        assert!(
            text.contains("node_total_hourly_cost{instance=\"n1\""),
            "{text}"
        );
    }

    #[test]
    fn docs_list_every_family_with_its_type_and_labels() {
        let doc = include_str!("../../docs/metrics.md");
        for family in &FAMILIES {
            let row = doc
                .lines()
                .find(|line| line.starts_with(&format!("| `{}` |", family.name)))
                .unwrap_or_else(|| panic!("docs/metrics.md has no row for {}", family.name));
            assert!(
                row.contains(&format!("| {} |", family.kind.as_str())),
                "docs/metrics.md gives {} another type: {row}",
                family.name
            );
            let labels = family
                .labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let labels = if labels.is_empty() {
                "—".to_owned()
            } else {
                labels
            };
            assert!(
                row.contains(&format!("| {labels} |")),
                "docs/metrics.md gives {} other labels than {labels}: {row}",
                family.name
            );
        }
    }
}
