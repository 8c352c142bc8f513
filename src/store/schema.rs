//! The dataset contract: every table, column, type and unit, in one place.
//!
//! Writers, queries and tests all name columns through the constants in
//! [`col`], and `docs/schema.md` is checked against [`TABLES`] by a test, so
//! code and documentation cannot drift. Column names are a public contract
//! with every warehouse that reads the dataset: add columns freely, never
//! rename one.
//!
//! `cluster` and `date` are Hive partition columns: they live in the path
//! (`<table>/cluster=<name>/date=<YYYY-MM-DD>/part-….parquet`), not inside
//! the files, because Spark rejects a file column that repeats a partition
//! column and every engine reads the path value back as a column.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Column names, shared by writers, queries and tests.
pub mod col {
    pub const TS: &str = "ts";
    pub const WINDOW_SECONDS: &str = "window_seconds";
    pub const START_TIME: &str = "start_time";
    pub const END_TIME: &str = "end_time";
    pub const CLUSTER: &str = "cluster";
    pub const DATE: &str = "date";
    pub const PROVIDER: &str = "provider";
    pub const REGION: &str = "region";
    pub const ZONE: &str = "zone";
    pub const NODE: &str = "node";
    pub const NODE_POOL: &str = "node_pool";
    pub const MACHINE_TYPE: &str = "machine_type";
    pub const MACHINE_FAMILY: &str = "machine_family";
    pub const CAPACITY_TYPE: &str = "capacity_type";
    pub const NAMESPACE: &str = "namespace";
    pub const TENANT: &str = "tenant";
    pub const WORKLOAD_KIND: &str = "workload_kind";
    pub const WORKLOAD_NAME: &str = "workload_name";
    pub const POD: &str = "pod";
    pub const POD_UID: &str = "pod_uid";
    pub const CONTAINER: &str = "container";
    pub const LABELS: &str = "labels";
    pub const CPU_REQUEST_CORES: &str = "cpu_request_cores";
    pub const CPU_LIMIT_CORES: &str = "cpu_limit_cores";
    pub const CPU_USAGE_MILLICORES: &str = "cpu_usage_millicores";
    pub const MEMORY_REQUEST_BYTES: &str = "memory_request_bytes";
    pub const MEMORY_LIMIT_BYTES: &str = "memory_limit_bytes";
    pub const MEMORY_USAGE_BYTES: &str = "memory_usage_bytes";
    pub const RUNNING_SECONDS: &str = "running_seconds";
    pub const SAMPLE_COUNT: &str = "sample_count";
    pub const CPU_REQUEST_CORE_HOURS: &str = "cpu_request_core_hours";
    pub const CPU_USAGE_CORE_HOURS: &str = "cpu_usage_core_hours";
    pub const CPU_BILLED_CORE_HOURS: &str = "cpu_billed_core_hours";
    pub const MEMORY_REQUEST_GIB_HOURS: &str = "memory_request_gib_hours";
    pub const MEMORY_USAGE_GIB_HOURS: &str = "memory_usage_gib_hours";
    pub const MEMORY_BILLED_GIB_HOURS: &str = "memory_billed_gib_hours";
    pub const CPU_USAGE_P50_CORES: &str = "cpu_usage_p50_cores";
    pub const CPU_USAGE_P90_CORES: &str = "cpu_usage_p90_cores";
    pub const CPU_USAGE_P95_CORES: &str = "cpu_usage_p95_cores";
    pub const CPU_USAGE_MAX_CORES: &str = "cpu_usage_max_cores";
    pub const MEMORY_USAGE_MAX_BYTES: &str = "memory_usage_max_bytes";
    pub const CPU_USAGE_HISTOGRAM: &str = "cpu_usage_histogram";
    pub const MEMORY_USAGE_HISTOGRAM: &str = "memory_usage_histogram";
    pub const CPU_USAGE_SKETCH: &str = "cpu_usage_sketch";
    pub const OOM_KILLS: &str = "oom_kills";
    pub const RESTARTS: &str = "restarts";
    pub const CPU_COST_USD: &str = "cpu_cost_usd";
    pub const MEMORY_COST_USD: &str = "memory_cost_usd";
    pub const GPU_COST_USD: &str = "gpu_cost_usd";
    pub const TOTAL_COST_USD: &str = "total_cost_usd";
    pub const ALLOCATED_COST_USD: &str = "allocated_cost_usd";
    pub const IDLE_COST_USD: &str = "idle_cost_usd";
    pub const PRICE_SOURCE: &str = "price_source";
    pub const VCPUS: &str = "vcpus";
    pub const MEMORY_BYTES: &str = "memory_bytes";
    pub const ALLOCATABLE_CPU_CORES: &str = "allocatable_cpu_cores";
    pub const ALLOCATABLE_MEMORY_BYTES: &str = "allocatable_memory_bytes";
    pub const GPUS: &str = "gpus";
    pub const GPU_TYPE: &str = "gpu_type";
    pub const CPU_CORE_HOUR_USD: &str = "cpu_core_hour_usd";
    pub const MEMORY_GIB_HOUR_USD: &str = "memory_gib_hour_usd";
    pub const REPLICAS: &str = "replicas";
    pub const POD_COUNT: &str = "pod_count";
    pub const HPA_MIN_REPLICAS: &str = "hpa_min_replicas";
    pub const HPA_MAX_REPLICAS: &str = "hpa_max_replicas";
    pub const HPA_METRICS: &str = "hpa_metrics";
    pub const HAS_PDB: &str = "has_pdb";
    pub const PDB_DISRUPTIONS_ALLOWED: &str = "pdb_disruptions_allowed";
    pub const TERMINATION_GRACE_SECONDS: &str = "termination_grace_seconds";
    pub const VOLUME_KINDS: &str = "volume_kinds";
    pub const ANNOTATIONS: &str = "annotations";
    pub const PRIORITY_CLASS: &str = "priority_class";
    pub const CONTAINERS: &str = "containers";
    pub const MAX_UNAVAILABLE: &str = "max_unavailable";
    pub const BACKOFF_LIMIT: &str = "backoff_limit";
    pub const POD_RUN_MAX_SECONDS: &str = "pod_run_max_seconds";
    pub const STARTUP_MAX_SECONDS: &str = "startup_max_seconds";
    pub const GENERATED_AT: &str = "generated_at";
    pub const WINDOW_START: &str = "window_start";
    pub const WINDOW_END: &str = "window_end";
    pub const KIND: &str = "kind";
    pub const RESOURCE_ID: &str = "resource_id";
    pub const RESOURCE_NAME: &str = "resource_name";
    pub const PROVIDER_RESOURCE_ID: &str = "provider_resource_id";
    pub const PROVIDER_ID: &str = "provider_id";
    pub const CLAIM: &str = "claim";
    pub const STORAGE_CLASS: &str = "storage_class";
    pub const STATE: &str = "state";
    pub const SKU: &str = "sku";
    pub const SIZE_GIB: &str = "size_gib";
    pub const HOURLY_USD: &str = "hourly_usd";
    pub const COST_USD: &str = "cost_usd";
    pub const PRICE_NOTE: &str = "price_note";
    pub const STRATEGY: &str = "strategy";
    pub const ACTION: &str = "action";
    pub const CURRENT_CPU_REQUEST_CORES: &str = "current_cpu_request_cores";
    pub const CURRENT_CPU_LIMIT_CORES: &str = "current_cpu_limit_cores";
    pub const CURRENT_MEMORY_REQUEST_BYTES: &str = "current_memory_request_bytes";
    pub const CURRENT_MEMORY_LIMIT_BYTES: &str = "current_memory_limit_bytes";
    pub const RECOMMENDED_CPU_REQUEST_CORES: &str = "recommended_cpu_request_cores";
    pub const RECOMMENDED_CPU_LIMIT_CORES: &str = "recommended_cpu_limit_cores";
    pub const RECOMMENDED_MEMORY_REQUEST_BYTES: &str = "recommended_memory_request_bytes";
    pub const RECOMMENDED_MEMORY_LIMIT_BYTES: &str = "recommended_memory_limit_bytes";
    pub const MONTHLY_SAVINGS_USD: &str = "monthly_savings_usd";
    pub const CONFIDENCE: &str = "confidence";
    pub const REASON: &str = "reason";
    pub const STATUS: &str = "status";
    pub const PART: &str = "part";
    pub const SERVICE: &str = "service";
    pub const CURRENCY: &str = "currency";
    pub const LIST_COST_USD: &str = "list_cost_usd";
    pub const BILLED_COST: &str = "billed_cost";
    pub const EFFECTIVE_COST: &str = "effective_cost";
    pub const BILL_LIST_COST: &str = "bill_list_cost";
    pub const MATCHED_LINES: &str = "matched_lines";
    pub const BILLED_FACTOR: &str = "billed_factor";
    pub const EFFECTIVE_FACTOR: &str = "effective_factor";
    pub const BILL: &str = "bill";
    // Fields of the list-of-struct columns' items.
    pub const KEY: &str = "key";
    pub const VALUE: &str = "value";
    pub const BUCKET: &str = "bucket";
    pub const WEIGHT: &str = "weight";
    pub const NAME: &str = "name";
    pub const HAS_LIVENESS_PROBE: &str = "has_liveness_probe";
    pub const HAS_READINESS_PROBE: &str = "has_readiness_probe";
    pub const HAS_STARTUP_PROBE: &str = "has_startup_probe";
    pub const IS_INIT: &str = "is_init";
}

/// The logical type of a column; each maps to exactly one Arrow type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Timestamp(Millisecond, "UTC")`.
    Timestamp,
    /// A string that repeats from row to row: `Dictionary(Int32, Utf8)`.
    Symbol,
    Float64,
    Int64,
    Int32,
    Boolean,
    /// `List<Struct<key: Utf8, value: Utf8>>`, as GKE usage metering writes labels.
    KeyValues,
    /// A sparse usage histogram: `List<Struct<bucket: Int32, weight: Float64>>`.
    Histogram,
    /// `List<Utf8>`.
    Strings,
    /// A workload's containers and their spec facts.
    Containers,
}

impl Kind {
    /// The Arrow type of this kind.
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            Kind::Symbol => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            Kind::Float64 => DataType::Float64,
            Kind::Int64 => DataType::Int64,
            Kind::Int32 => DataType::Int32,
            Kind::Boolean => DataType::Boolean,
            Kind::KeyValues => list_of_struct(vec![
                Field::new(col::KEY, DataType::Utf8, false),
                Field::new(col::VALUE, DataType::Utf8, false),
            ]),
            Kind::Histogram => list_of_struct(vec![
                Field::new(col::BUCKET, DataType::Int32, false),
                Field::new(col::WEIGHT, DataType::Float64, false),
            ]),
            Kind::Strings => DataType::List(Arc::new(Field::new("item", DataType::Utf8, false))),
            Kind::Containers => list_of_struct(vec![
                Field::new(col::NAME, DataType::Utf8, false),
                Field::new(col::CPU_REQUEST_CORES, DataType::Float64, true),
                Field::new(col::CPU_LIMIT_CORES, DataType::Float64, true),
                Field::new(col::MEMORY_REQUEST_BYTES, DataType::Int64, true),
                Field::new(col::MEMORY_LIMIT_BYTES, DataType::Int64, true),
                Field::new(col::HAS_LIVENESS_PROBE, DataType::Boolean, false),
                Field::new(col::HAS_READINESS_PROBE, DataType::Boolean, false),
                Field::new(col::HAS_STARTUP_PROBE, DataType::Boolean, false),
                Field::new(col::IS_INIT, DataType::Boolean, false),
            ]),
        }
    }

    /// The type as `docs/schema.md` writes it.
    pub fn doc_name(self) -> &'static str {
        match self {
            Kind::Timestamp => "timestamp(ms, UTC)",
            Kind::Symbol => "string (dictionary)",
            Kind::Float64 => "float64",
            Kind::Int64 => "int64",
            Kind::Int32 => "int32",
            Kind::Boolean => "boolean",
            Kind::KeyValues => "list<struct<key: string, value: string>>",
            Kind::Histogram => "list<struct<bucket: int32, weight: float64>>",
            Kind::Strings => "list<string>",
            Kind::Containers => {
                "list<struct<name, cpu_request_cores, cpu_limit_cores, memory_request_bytes, memory_limit_bytes, has_liveness_probe, has_readiness_probe, has_startup_probe, is_init>>"
            }
        }
    }
}

fn list_of_struct(fields: Vec<Field>) -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(Fields::from(fields)),
        false,
    )))
}

/// One column of one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    /// The unit of the value (`cores`, `bytes`, `USD`, …), or `-` for none.
    pub unit: &'static str,
    pub doc: &'static str,
}

/// One table of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    /// What one row is.
    pub grain: &'static str,
    /// Columns stored inside each file, in file order.
    pub columns: &'static [Column],
}

/// Columns every table gets from its Hive partition path.
#[rustfmt::skip]
pub const PARTITION_COLUMNS: [Column; 2] = [
    c(col::CLUSTER, Kind::Symbol, false, "-", "Cluster name (`--cluster-name`); partition folder `cluster=<name>`."),
    c(col::DATE, Kind::Symbol, false, "-", "UTC date of the row's time (`YYYY-MM-DD`); partition folder `date=<date>`."),
];

const fn c(
    name: &'static str,
    kind: Kind,
    nullable: bool,
    unit: &'static str,
    doc: &'static str,
) -> Column {
    Column {
        name,
        kind,
        nullable,
        unit,
        doc,
    }
}

/// The clock hour an hourly row covers.
#[rustfmt::skip]
const HOUR: [Column; 2] = [
    c(col::START_TIME, Kind::Timestamp, false, "UTC", "Start of the clock hour."),
    c(col::END_TIME, Kind::Timestamp, false, "UTC", "End of the clock hour (start + 1 h)."),
];

#[rustfmt::skip]
const WORKLOAD_IDENTITY: [Column; 4] = [
    c(col::NAMESPACE, Kind::Symbol, false, "-", "Kubernetes namespace."),
    c(col::TENANT, Kind::Symbol, false, "-", "Tenant: the tenant label of the pod or its namespace, the tenant map, or the namespace; `__shared__` for shared namespaces."),
    c(col::WORKLOAD_KIND, Kind::Symbol, false, "-", "Kind of the owning workload: Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet, or Pod for a naked pod."),
    c(col::WORKLOAD_NAME, Kind::Symbol, false, "-", "Name of the owning workload (the pod's own name for a naked pod)."),
];

/// `samples`: one row per container per metrics sample.
#[rustfmt::skip]
pub const SAMPLES: Table = Table {
    name: "samples",
    grain: "one row per container per metrics sample",
    columns: &[
        c(col::TS, Kind::Timestamp, false, "UTC", "End of the metrics window: the PodMetrics `timestamp`, not the collector's clock."),
        c(col::WINDOW_SECONDS, Kind::Float64, false, "seconds", "Length of the metrics window the usage was averaged over (PodMetrics `window`)."),
        WORKLOAD_IDENTITY[0],
        c(col::POD, Kind::Symbol, false, "-", "Pod name."),
        c(col::POD_UID, Kind::Symbol, false, "-", "Pod UID; tells apart pods that reuse a name (StatefulSets)."),
        c(col::CONTAINER, Kind::Symbol, false, "-", "Container name."),
        c(col::NODE, Kind::Symbol, false, "-", "Node the pod runs on."),
        WORKLOAD_IDENTITY[2],
        WORKLOAD_IDENTITY[3],
        WORKLOAD_IDENTITY[1],
        c(col::CPU_REQUEST_CORES, Kind::Float64, true, "cores", "CPU request the kubelet granted at this sample (after an in-place resize; a share of a pod-level request for a container without its own); null when there is none."),
        c(col::CPU_LIMIT_CORES, Kind::Float64, true, "cores", "CPU limit; null when the container sets none."),
        c(col::CPU_USAGE_MILLICORES, Kind::Int64, false, "millicores", "CPU usage averaged over the window, rounded to the millicore (divide by 1000 for cores)."),
        c(col::MEMORY_REQUEST_BYTES, Kind::Int64, true, "bytes", "Memory request the kubelet granted at this sample (as for CPU); null when there is none."),
        c(col::MEMORY_LIMIT_BYTES, Kind::Int64, true, "bytes", "Memory limit; null when the container sets none."),
        c(col::MEMORY_USAGE_BYTES, Kind::Int64, false, "bytes", "Memory working set at the end of the window."),
    ],
};

/// `allocation`: one row per container per clock hour it ran; the chargeback fact table.
#[rustfmt::skip]
pub const ALLOCATION: Table = Table {
    name: "allocation",
    grain: "one row per container per clock hour it ran",
    columns: &[
        HOUR[0],
        HOUR[1],
        c(col::PROVIDER, Kind::Symbol, false, "-", "Cloud provider of the node: gcp, aws, azure, or another name from `providerID`."),
        c(col::REGION, Kind::Symbol, false, "-", "Region of the node; empty when unknown."),
        c(col::ZONE, Kind::Symbol, false, "-", "Zone of the node; empty when unknown."),
        c(col::NODE, Kind::Symbol, false, "-", "Node the container ran on."),
        c(col::MACHINE_TYPE, Kind::Symbol, false, "-", "Machine type of the node (`e2-standard-4`, `m5.large`); empty when unlabelled."),
        c(col::MACHINE_FAMILY, Kind::Symbol, false, "-", "Machine family (`e2`, `n2d`, `m5`); empty when unknown."),
        c(col::CAPACITY_TYPE, Kind::Symbol, false, "-", "How the node is bought: on_demand, spot or preemptible."),
        WORKLOAD_IDENTITY[0],
        WORKLOAD_IDENTITY[1],
        WORKLOAD_IDENTITY[2],
        WORKLOAD_IDENTITY[3],
        c(col::POD, Kind::Symbol, false, "-", "Pod name."),
        c(col::POD_UID, Kind::Symbol, false, "-", "Pod UID."),
        c(col::CONTAINER, Kind::Symbol, false, "-", "Container name, or `__reserved__` / `__overhead__` for a pod's own rows (above)."),
        c(col::LABELS, Kind::KeyValues, false, "-", "Pod labels as key/value pairs, like GKE usage metering's `labels`."),
        c(col::RUNNING_SECONDS, Kind::Float64, false, "seconds", "Time the pod ran within the hour, from pod status and watch events (0 < s ≤ 3600)."),
        c(col::SAMPLE_COUNT, Kind::Int32, false, "samples", "Usage samples of this container within the hour."),
        c(col::CPU_REQUEST_CORE_HOURS, Kind::Float64, false, "core-hours", "CPU request integrated over the running time: the request the kubelet granted (after an in-place resize), each value over its own span."),
        c(col::CPU_USAGE_CORE_HOURS, Kind::Float64, false, "core-hours", "CPU usage integrated from the samples."),
        c(col::CPU_BILLED_CORE_HOURS, Kind::Float64, false, "core-hours", "max(request, usage) integrated: what the container is charged for (the part above request scaled down when the node-hour is overcommitted, docs/cost-model.md)."),
        c(col::MEMORY_REQUEST_GIB_HOURS, Kind::Float64, false, "GiB-hours", "Memory request integrated over the running time (granted, each value over its own span)."),
        c(col::MEMORY_USAGE_GIB_HOURS, Kind::Float64, false, "GiB-hours", "Memory working set integrated from the samples."),
        c(col::MEMORY_BILLED_GIB_HOURS, Kind::Float64, false, "GiB-hours", "max(request, usage) integrated: what the container is charged for (overcommit rule as for CPU)."),
        c(col::CPU_USAGE_P50_CORES, Kind::Float64, true, "cores", "Median CPU usage over the hour's samples; null without samples."),
        c(col::CPU_USAGE_P90_CORES, Kind::Float64, true, "cores", "90th percentile CPU usage; null without samples."),
        c(col::CPU_USAGE_P95_CORES, Kind::Float64, true, "cores", "95th percentile CPU usage; null without samples."),
        c(col::CPU_USAGE_MAX_CORES, Kind::Float64, true, "cores", "Highest CPU usage sample; null without samples."),
        c(col::MEMORY_USAGE_MAX_BYTES, Kind::Int64, true, "bytes", "Highest memory working set sample; null without samples."),
        c(col::CPU_USAGE_HISTOGRAM, Kind::Histogram, false, "samples per bucket", "CPU usage histogram, VPA bucket scheme (first bucket 0.01 core, ratio 1.05); only non-empty buckets."),
        c(col::MEMORY_USAGE_HISTOGRAM, Kind::Histogram, false, "samples per bucket", "Memory working-set histogram, VPA bucket scheme (first bucket 1e7 bytes, ratio 1.05); only non-empty buckets."),
        c(col::CPU_USAGE_SKETCH, Kind::Histogram, false, "samples per bucket", "CPU usage within 1 % (a relative-error sketch, for KRR's percentile): bucket 0 holds usage ≤ 1e-6 core (read as 0), bucket k ≥ 1 holds (1e-6 × 1.02^(k−1), 1e-6 × 1.02^k] core and reads as 2e-6 × 1.02^k / 2.02; only non-empty buckets. Absent from files written before it existed."),
        c(col::OOM_KILLS, Kind::Int32, false, "events", "Container terminations with reason OOMKilled within the hour."),
        c(col::RESTARTS, Kind::Int32, false, "events", "Increase of the container's restart count within the hour."),
        c(col::CPU_COST_USD, Kind::Float64, false, "USD", "cpu_billed_core_hours × the node's price per core-hour (on GKE Autopilot: × the pod's class's Autopilot vCPU-hour rate)."),
        c(col::MEMORY_COST_USD, Kind::Float64, false, "USD", "memory_billed_gib_hours × the node's price per GiB-hour (on GKE Autopilot: × the Autopilot GiB-hour rate)."),
        c(col::GPU_COST_USD, Kind::Float64, false, "USD", "Physical GPUs held × hours × the node's price per GPU-hour: a time-sliced replica holds 1/replicas of a GPU, a MIG device g/7 (docs/cost-model.md, GPU slices)."),
        c(col::TOTAL_COST_USD, Kind::Float64, false, "USD", "cpu_cost_usd + memory_cost_usd + gpu_cost_usd."),
        c(col::PRICE_SOURCE, Kind::Symbol, false, "-", "Where the price came from: the node's (catalog, user, region_fallback or default), or on GKE Autopilot the pod's: autopilot, autopilot_region_fallback, autopilot_default (its class's rate is missing: general-purpose's), autopilot_unpriced (no rate: zero) or autopilot_system (a system pod, not billed)."),
    ],
};

/// `nodes`: one row per node per clock hour.
#[rustfmt::skip]
pub const NODES: Table = Table {
    name: "nodes",
    grain: "one row per node per clock hour it existed",
    columns: &[
        HOUR[0],
        HOUR[1],
        c(col::NODE, Kind::Symbol, false, "-", "Node name."),
        c(col::NODE_POOL, Kind::Symbol, false, "-", "Node pool (GKE `cloud.google.com/gke-nodepool`, EKS `eks.amazonaws.com/nodegroup`, AKS `kubernetes.azure.com/agentpool`, Karpenter `karpenter.sh/nodepool`); empty when none."),
        c(col::PROVIDER, Kind::Symbol, false, "-", "Cloud provider: gcp, aws, azure, or another name from `providerID`."),
        c(col::REGION, Kind::Symbol, false, "-", "Region; empty when unknown."),
        c(col::ZONE, Kind::Symbol, false, "-", "Zone; empty when unknown."),
        c(col::MACHINE_TYPE, Kind::Symbol, false, "-", "Machine type; empty when unlabelled."),
        c(col::MACHINE_FAMILY, Kind::Symbol, false, "-", "Machine family; empty when unknown."),
        c(col::CAPACITY_TYPE, Kind::Symbol, false, "-", "on_demand, spot or preemptible."),
        c(col::PROVIDER_ID, Kind::Symbol, false, "-", "The node's `spec.providerID` (`gce://project/zone/name`, `aws:///zone/i-…`, `azure:///subscriptions/…/virtualMachines/…`): what the cloud's bill names its VM by (`kubetally reconcile`, docs/reconcile.md); empty when the node has none. Absent from files written before it existed."),
        c(col::VCPUS, Kind::Float64, false, "cores", "vCPU capacity."),
        c(col::MEMORY_BYTES, Kind::Int64, false, "bytes", "Memory capacity."),
        c(col::ALLOCATABLE_CPU_CORES, Kind::Float64, false, "cores", "CPU allocatable to pods."),
        c(col::ALLOCATABLE_MEMORY_BYTES, Kind::Int64, false, "bytes", "Memory allocatable to pods."),
        c(col::GPUS, Kind::Int32, false, "GPUs", "Physical GPUs: a GPU time-sliced into replicas or cut into MIG devices counts once."),
        c(col::GPU_TYPE, Kind::Symbol, false, "-", "GPU model (`nvidia-tesla-t4`); empty without GPUs."),
        c(col::RUNNING_SECONDS, Kind::Float64, false, "seconds", "Time the node existed within the hour."),
        c(col::CPU_CORE_HOUR_USD, Kind::Float64, false, "USD per core-hour", "Price of one core of capacity for an hour."),
        c(col::MEMORY_GIB_HOUR_USD, Kind::Float64, false, "USD per GiB-hour", "Price of one GiB of capacity for an hour."),
        c(col::CPU_COST_USD, Kind::Float64, false, "USD", "CPU part of the node's cost for its running time."),
        c(col::MEMORY_COST_USD, Kind::Float64, false, "USD", "Memory part of the node's cost."),
        c(col::GPU_COST_USD, Kind::Float64, false, "USD", "GPU part of the node's cost."),
        c(col::TOTAL_COST_USD, Kind::Float64, false, "USD", "The node's cost for the hour: cpu + memory + gpu. Zero on GKE Autopilot, where Google bills pods, not nodes."),
        c(col::ALLOCATED_COST_USD, Kind::Float64, false, "USD", "Σ allocation.total_cost_usd of the containers on this node in this hour."),
        c(col::IDLE_COST_USD, Kind::Float64, false, "USD", "total_cost_usd − allocated_cost_usd: what no container was charged."),
        c(col::CPU_REQUEST_CORE_HOURS, Kind::Float64, false, "core-hours", "Σ CPU requests of the node's containers, integrated."),
        c(col::CPU_USAGE_CORE_HOURS, Kind::Float64, false, "core-hours", "Σ CPU usage of the node's containers, integrated."),
        c(col::MEMORY_REQUEST_GIB_HOURS, Kind::Float64, false, "GiB-hours", "Σ memory requests of the node's containers, integrated."),
        c(col::MEMORY_USAGE_GIB_HOURS, Kind::Float64, false, "GiB-hours", "Σ memory usage of the node's containers, integrated."),
        c(col::PRICE_SOURCE, Kind::Symbol, false, "-", "catalog, user, region_fallback or default; autopilot for a GKE Autopilot node (no cost of its own)."),
    ],
};

/// `resources`: what the cluster pays beside its nodes, per hour.
#[rustfmt::skip]
pub const RESOURCES: Table = Table {
    name: "resources",
    grain: "one row per persistent disk, load balancer and cluster fee per clock hour it cost (a disk whose size, claim or state changed within the hour has a row per span)",
    columns: &[
        HOUR[0],
        HOUR[1],
        c(col::KIND, Kind::Symbol, false, "-", "disk, load_balancer or cluster_fee."),
        c(col::RESOURCE_ID, Kind::Symbol, false, "-", "The PersistentVolume's name, the Service's UID, or `cluster_fee`."),
        c(col::RESOURCE_NAME, Kind::Symbol, false, "-", "The PersistentVolume's name, the Service's name, or the fee tier."),
        c(col::PROVIDER_RESOURCE_ID, Kind::Symbol, false, "-", "What the cloud's bill names it by: the disk's volume handle (`projects/…/disks/…`, `vol-…`, an Azure disk URI), the balancer's ingress IP or hostname; empty for the fee."),
        c(col::NAMESPACE, Kind::Symbol, false, "-", "The claim's or the Service's namespace; empty for cluster overhead (a volume no claim holds, the fee)."),
        c(col::TENANT, Kind::Symbol, false, "-", "Tenant of that namespace (by the same rules as pods, the claim's or Service's labels in place of the pod's); `__shared__` for cluster overhead."),
        c(col::CLAIM, Kind::Symbol, false, "-", "`namespace/name` of the PersistentVolumeClaim a volume names (a released volume's claim is gone); empty otherwise."),
        c(col::STORAGE_CLASS, Kind::Symbol, false, "-", "The volume's StorageClass; empty when none."),
        c(col::STATE, Kind::Symbol, false, "-", "Disks: mounted (a pod that ran in the hour mounts its claim), unmounted (claimed, no pod mounted it: waste), released (its claim is gone), available, failed or pending (no claim: overhead). Load balancers: provisioned. The fee: cluster."),
        c(col::PROVIDER, Kind::Symbol, false, "-", "gcp, aws, azure, or another provider name."),
        c(col::REGION, Kind::Symbol, false, "-", "Region the resource is priced in; empty when unknown."),
        c(col::SKU, Kind::Symbol, false, "-", "The price row's sku: disk type or Azure size tier (`pd-balanced`, `gp3`, `P10_LRS`), balancer kind (`forwarding_rule`, `clb`, `nlb`, `standard`), fee tier (`standard`); empty when unpriced."),
        c(col::SIZE_GIB, Kind::Float64, true, "GiB", "Disk size (the PersistentVolume's capacity); null for other kinds."),
        c(col::RUNNING_SECONDS, Kind::Float64, false, "seconds", "Time it existed (and cost) within the hour, to the tick that saw it change or go."),
        c(col::HOURLY_USD, Kind::Float64, false, "USD per hour", "Its price per hour: GiB-month or disk-month price ÷ 730 (× 2 for a GCE regional disk), the balancer's or the fee's hourly price."),
        c(col::COST_USD, Kind::Float64, false, "USD", "hourly_usd × running_seconds ÷ 3600."),
        c(col::PRICE_SOURCE, Kind::Symbol, false, "-", "catalog, user, region_fallback, or unpriced (no row: cost 0, price_note says what row to add)."),
        c(col::PRICE_NOTE, Kind::Symbol, false, "-", "How the price was reached (`regional: 2 × zonal price`, `tier P10_LRS holds 100 GiB`) or why there is none; empty otherwise."),
    ],
};

/// `workloads`: one row per workload per clock hour it existed.
#[rustfmt::skip]
pub const WORKLOADS: Table = Table {
    name: "workloads",
    grain: "one row per workload per clock hour it existed",
    columns: &[
        HOUR[0],
        HOUR[1],
        WORKLOAD_IDENTITY[0],
        WORKLOAD_IDENTITY[1],
        WORKLOAD_IDENTITY[2],
        WORKLOAD_IDENTITY[3],
        c(col::REPLICAS, Kind::Int32, true, "pods", "Desired replicas at the end of the hour; null for kinds without replicas (DaemonSet, Job, Pod)."),
        c(col::POD_COUNT, Kind::Int32, false, "pods", "Most pods of the workload running at the same moment of the hour (from pod start and end times)."),
        c(col::HPA_MIN_REPLICAS, Kind::Int32, true, "pods", "minReplicas of the HorizontalPodAutoscaler targeting it; null without an HPA."),
        c(col::HPA_MAX_REPLICAS, Kind::Int32, true, "pods", "maxReplicas of that HPA; null without an HPA."),
        c(col::HPA_METRICS, Kind::Strings, false, "-", "Resources the HPA scales on (`cpu`, `memory`, or `external`/`pods`/`object` for others); empty without an HPA."),
        c(col::HAS_PDB, Kind::Boolean, false, "-", "Whether a PodDisruptionBudget selects the workload's pods."),
        c(col::PDB_DISRUPTIONS_ALLOWED, Kind::Int32, true, "pods", "The PDB's status.disruptionsAllowed; null without a PDB."),
        c(col::TERMINATION_GRACE_SECONDS, Kind::Int64, false, "seconds", "Pod template terminationGracePeriodSeconds (Kubernetes default 30)."),
        c(col::VOLUME_KINDS, Kind::Strings, false, "-", "Kinds of the pod template's volumes (emptyDir, hostPath, persistentVolumeClaim, …), sorted, distinct."),
        c(col::ANNOTATIONS, Kind::KeyValues, false, "-", "Pod template annotations that matter to recommendations (`cluster-autoscaler.kubernetes.io/safe-to-evict`, `kubetally.io/*`)."),
        c(col::PRIORITY_CLASS, Kind::Symbol, false, "-", "Pod template priorityClassName; empty when none."),
        c(col::CONTAINERS, Kind::Containers, false, "cores, bytes", "Containers of the pod template: requests and limits (cores, bytes; null when unset) and which probes they have."),
        c(col::MAX_UNAVAILABLE, Kind::Int32, true, "pods", "Deployments: pods a rollout may take down at once (rollingUpdate.maxUnavailable resolved against replicas, percentages rounded down; Recreate: all); null for other kinds."),
        c(col::BACKOFF_LIMIT, Kind::Int32, true, "retries", "Jobs and CronJobs: the job's backoffLimit; null for other kinds."),
        c(col::POD_RUN_MAX_SECONDS, Kind::Float64, true, "seconds", "Longest start-to-end run among the workload's pods that ended in the hour (a Job's run time); null when none ended."),
        c(col::STARTUP_MAX_SECONDS, Kind::Float64, true, "seconds", "Slowest start-to-Ready among the workload's pods that became Ready in the hour; null when none did."),
    ],
};

/// `recommendations`: what one `kubetally recommend --write` run advised.
#[rustfmt::skip]
pub const RECOMMENDATIONS: Table = Table {
    name: "recommendations",
    grain: "one row per recommendation of a `kubetally recommend --write` run (right-sizing per workload container, spot per workload, machine family per node pool); a run replaces the same strategy's earlier run of its UTC day",
    columns: &[
        c(col::GENERATED_AT, Kind::Timestamp, false, "UTC", "When the run was made."),
        c(col::WINDOW_START, Kind::Timestamp, false, "UTC", "Start of the data window the run read (whole UTC days)."),
        c(col::WINDOW_END, Kind::Timestamp, false, "UTC", "End of that window: the end of the newest day of data."),
        c(col::STRATEGY, Kind::Symbol, false, "-", "The run's right-sizing strategy: kubetally, vpa or krr-simple (on every row of the run)."),
        c(col::KIND, Kind::Symbol, false, "-", "rightsizing, spot or machine_family."),
        c(col::ACTION, Kind::Symbol, false, "-", "rightsizing: resize, keep or undecided; spot: move_to_spot or stay; machine_family: switch or keep."),
        WORKLOAD_IDENTITY[0],
        WORKLOAD_IDENTITY[2],
        WORKLOAD_IDENTITY[3],
        c(col::CONTAINER, Kind::Symbol, false, "-", "Container name (rightsizing rows; empty otherwise)."),
        c(col::NODE_POOL, Kind::Symbol, false, "-", "Node pool (machine_family rows; empty otherwise). namespace, workload_kind and workload_name are empty on these rows."),
        c(col::CURRENT_CPU_REQUEST_CORES, Kind::Float64, true, "cores", "CPU request now (rightsizing rows); null when unset or not applicable."),
        c(col::CURRENT_CPU_LIMIT_CORES, Kind::Float64, true, "cores", "CPU limit now; null when unset."),
        c(col::CURRENT_MEMORY_REQUEST_BYTES, Kind::Float64, true, "bytes", "Memory request now; null when unset."),
        c(col::CURRENT_MEMORY_LIMIT_BYTES, Kind::Float64, true, "bytes", "Memory limit now; null when unset."),
        c(col::RECOMMENDED_CPU_REQUEST_CORES, Kind::Float64, true, "cores", "Recommended CPU request; null: leave unset."),
        c(col::RECOMMENDED_CPU_LIMIT_CORES, Kind::Float64, true, "cores", "Recommended CPU limit; null: none (kubetally and krr-simple drop CPU limits)."),
        c(col::RECOMMENDED_MEMORY_REQUEST_BYTES, Kind::Float64, true, "bytes", "Recommended memory request."),
        c(col::RECOMMENDED_MEMORY_LIMIT_BYTES, Kind::Float64, true, "bytes", "Recommended memory limit."),
        c(col::MONTHLY_SAVINGS_USD, Kind::Float64, false, "USD/month", "What following it saves per month (730 h) at the prices paid; negative when it asks for more; 0 for undecided and stay rows."),
        c(col::CONFIDENCE, Kind::Symbol, false, "-", "rightsizing: low (under a day of history), medium (under a week) or high; empty on other rows."),
        c(col::REASON, Kind::Symbol, false, "-", "Why, in words: the rule applied, why it cannot decide, the failed spot checks, the family to switch to."),
    ],
};

/// `reconciliation`: what `kubetally reconcile` matched of a cloud bill.
#[rustfmt::skip]
pub const RECONCILIATION: Table = Table {
    name: "reconciliation",
    grain: "one row per metered resource (per part, for a GCP node) per period the cluster's bill covers — the clock hour of an hourly bill, the UTC day of a daily one — and one per service and SKU of the cluster's unallocated bill lines per period; reconciling a period again replaces its rows (docs/reconcile.md)",
    columns: &[
        c(col::START_TIME, Kind::Timestamp, false, "UTC", "Start of the period (an hour, or a UTC day for a daily bill)."),
        c(col::END_TIME, Kind::Timestamp, false, "UTC", "End of the period."),
        c(col::GENERATED_AT, Kind::Timestamp, false, "UTC", "When the reconciliation was made."),
        c(col::BILL, Kind::Symbol, false, "-", "The bill files read, comma-separated, as given."),
        c(col::STATUS, Kind::Symbol, false, "-", "matched (bill lines were found for it), not_billed (metered, but no line of the bill names it in the period), or unallocated (lines of the cluster no metered resource claims)."),
        c(col::KIND, Kind::Symbol, false, "-", "node, disk, load_balancer, cluster_fee; unallocated for unallocated rows."),
        c(col::PART, Kind::Symbol, false, "-", "Which part of the resource: all; for a node billed by GCP in separate SKU lines, cpu, memory, gpu, or other (lines of the VM that are none of those, list cost 0); empty on unallocated rows."),
        c(col::RESOURCE_ID, Kind::Symbol, false, "-", "kubetally's id: the node's name, the PersistentVolume's name, the Service's UID, `cluster_fee`; empty on unallocated rows."),
        c(col::PROVIDER_RESOURCE_ID, Kind::Symbol, false, "-", "What the cloud names it by: the node's providerID, the disk's volume handle, the balancer's ingress; on unallocated rows the resource id of the first line (empty when lines of several resources were summed)."),
        c(col::PROVIDER, Kind::Symbol, false, "-", "gcp, aws, azure, or another provider."),
        c(col::SERVICE, Kind::Symbol, false, "-", "The bill's service of the lines (GCP service, AWS product code, Azure meter category, FOCUS ServiceName); empty when the lines name several."),
        c(col::SKU, Kind::Symbol, false, "-", "The bill's SKU description of the lines (GCP sku.description, AWS line item description, Azure product, FOCUS ChargeDescription); empty when the lines name several."),
        c(col::CURRENCY, Kind::Symbol, false, "-", "Currency of billed_cost, effective_cost and bill_list_cost; empty when the bill does not say."),
        c(col::LIST_COST_USD, Kind::Float64, true, "USD", "kubetally's cost at list prices for the period (Σ nodes / resources cost of its hours; the part's cost for a node part); null on unallocated rows."),
        c(col::BILLED_COST, Kind::Float64, false, "currency", "Σ the bill's billed cost of the lines (what the invoice charges; docs/billing.md has the column per export); 0 when not billed."),
        c(col::EFFECTIVE_COST, Kind::Float64, false, "currency", "Σ the bill's effective cost of the lines: discounts, credits and amortised commitments applied (FOCUS EffectiveCost, GCP cost + credits, AWS amortised, Azure amortised)."),
        c(col::BILL_LIST_COST, Kind::Float64, true, "currency", "Σ the bill's own list cost of the lines (FOCUS ListCost, GCP cost_at_list, AWS public on-demand cost, Azure PayG cost); null when the bill gives none."),
        c(col::MATCHED_LINES, Kind::Int64, false, "lines", "Bill lines summed in this row; 0 on not_billed rows."),
        c(col::BILLED_FACTOR, Kind::Float64, true, "-", "billed_cost ÷ list_cost_usd: what re-prices the resource's allocation at billed cost; null without a list cost above 0 or when the currency is not USD."),
        c(col::EFFECTIVE_FACTOR, Kind::Float64, true, "-", "effective_cost ÷ list_cost_usd: what re-prices it at effective cost (0.7 for a 30 % discount); null as billed_factor."),
    ],
};

/// Every table of the dataset, in documentation order.
pub const TABLES: [Table; 7] = [
    SAMPLES,
    ALLOCATION,
    NODES,
    RESOURCES,
    WORKLOADS,
    RECOMMENDATIONS,
    RECONCILIATION,
];

impl Table {
    /// The Arrow schema of the table's files (partition columns excluded).
    ///
    /// Each field carries its unit and description in its metadata
    /// (`unit`, `description`), which Parquet keeps in the embedded Arrow schema.
    pub fn schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|column| {
                Field::new(column.name, column.kind.data_type(), column.nullable).with_metadata(
                    HashMap::from([
                        ("unit".to_owned(), column.unit.to_owned()),
                        ("description".to_owned(), column.doc.to_owned()),
                    ]),
                )
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The column named `name`, if the table has it (partition columns included).
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .chain(PARTITION_COLUMNS.iter())
            .find(|column| column.name == name)
    }
}

/// The table named `name`.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|table| table.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique_within_each_table_and_never_repeat_a_partition_column() {
        for table in TABLES {
            let mut names: Vec<_> = table.columns.iter().map(|c| c.name).collect();
            names.extend(PARTITION_COLUMNS.iter().map(|c| c.name));
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), count, "{} repeats a column", table.name);
        }
    }

    #[test]
    fn design_contract_columns_are_all_present() {
        // The column lists of design.md ("Dataset layout"), cluster excepted: it is a partition column.
        // One deliberate deviation: samples.cpu_usage_cores is cpu_usage_millicores (an integer
        // compresses to under half the bytes of a float; docs/schema.md says why).
        let contract: [(&Table, &str); 3] = [
            (
                &SAMPLES,
                "ts window_seconds namespace pod pod_uid container node workload_kind workload_name tenant cpu_request_cores cpu_limit_cores cpu_usage_millicores memory_request_bytes memory_limit_bytes memory_usage_bytes",
            ),
            (
                &ALLOCATION,
                "start_time end_time provider region zone node machine_type machine_family capacity_type namespace tenant workload_kind workload_name pod pod_uid container labels running_seconds cpu_request_core_hours cpu_usage_core_hours cpu_billed_core_hours memory_request_gib_hours memory_usage_gib_hours memory_billed_gib_hours cpu_usage_p50_cores cpu_usage_p90_cores cpu_usage_p95_cores cpu_usage_max_cores memory_usage_max_bytes cpu_usage_histogram memory_usage_histogram oom_kills restarts cpu_cost_usd memory_cost_usd gpu_cost_usd total_cost_usd price_source",
            ),
            (
                &NODES,
                "start_time end_time node provider region zone machine_type machine_family capacity_type vcpus memory_bytes allocatable_cpu_cores allocatable_memory_bytes gpus gpu_type running_seconds cpu_cost_usd memory_cost_usd gpu_cost_usd total_cost_usd allocated_cost_usd idle_cost_usd cpu_usage_core_hours memory_usage_gib_hours price_source",
            ),
        ];
        for (table, names) in contract {
            for name in names.split_whitespace() {
                assert!(
                    table.column(name).is_some(),
                    "{}.{name} missing",
                    table.name
                );
            }
            assert!(table.column(col::CLUSTER).is_some());
        }
    }

    #[test]
    fn schemas_carry_units_in_field_metadata() {
        let schema = ALLOCATION.schema();
        let field = schema
            .field_with_name(col::CPU_COST_USD)
            .map(|f| f.metadata().get("unit").cloned());
        assert_eq!(field.ok().flatten().as_deref(), Some("USD"));
    }
}
