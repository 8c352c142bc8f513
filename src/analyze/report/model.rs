//! The report as typed data: what every renderer (Markdown, HTML, CSV,
//! JSON) draws from. In a tenant's report (`--tenant`) it holds only that
//! tenant's figures, so no renderer can show another tenant's.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::options::{Basis, Period, ShareIdle, ShareShared};
pub use super::resources::Parts;

/// The weekly cost report and the chargeback it carries.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub period: Period,
    /// Whether the previous period holds any data (else changes are unknown).
    pub previous_has_data: bool,
    /// `tenant`, `namespace`, `workload` or `label_<KEY>`.
    pub group_by: String,
    pub basis: Basis,
    pub share_idle: ShareIdle,
    pub share_shared: ShareShared,
    /// The tenant a tenant's report is for.
    pub tenant: Option<String>,
    pub clusters: Vec<String>,
    /// What the report accounts for: the cluster's cost (nodes, disks, load
    /// balancers, the fee), or in a tenant's report the tenant's total.
    pub total_cost_usd: f64,
    pub previous_total_cost_usd: Option<f64>,
    pub days: Vec<Day>,
    /// Cost lines, most expensive first.
    pub groups: Vec<Group>,
    pub shared_idle: SharedIdle,
    pub reconciliation: Reconciliation,
    /// Which dollars the report shows, and what the bill says of them.
    pub cost: CostNote,
    pub waste: Vec<Waste>,
    /// Disks no pod mounted in the period (a tenant's report: the
    /// tenant's own), costliest first.
    pub unused_volumes: Vec<UnusedVolume>,
    pub pools: Vec<Pool>,
    pub quality: Quality,
    /// What the newest recommendations in the dataset save; `None` when
    /// the dataset has none (the section then says how to make them).
    pub savings: Option<Savings>,
}

/// One UTC day of the period.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Day {
    pub date: NaiveDate,
    /// The cluster's cost (a tenant's report: the tenant's total) of the day.
    pub total_cost_usd: f64,
    /// Each group's total (compute + storage + network + shared + idle), in
    /// `Report::groups` order.
    pub group_cost_usd: Vec<f64>,
    /// Shared and idle cost left unspread.
    pub unshared_cost_usd: f64,
}

/// One cost line: a tenant's invoice when grouped by tenant.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Group {
    pub name: String,
    /// Core-hours and GiB-hours under the basis.
    pub cpu_core_hours: f64,
    pub memory_gib_hours: f64,
    pub compute_cost_usd: f64,
    /// Its own disks (claimed by its namespaces, mounted or not).
    pub storage_cost_usd: f64,
    /// Its own load balancers (its Services').
    pub network_cost_usd: f64,
    pub shared_cost_usd: f64,
    pub idle_cost_usd: f64,
    pub total_cost_usd: f64,
    /// The same line in the previous period; `None` when it had none.
    pub previous_total_cost_usd: Option<f64>,
}

/// Shared and idle cost, and where it went.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SharedIdle {
    /// Everything of tenant `__shared__`: the shared namespaces' containers
    /// and the overhead resources; `None` in a tenant's report.
    pub shared_cost_usd: Option<f64>,
    /// Its parts: the containers, and the resources by part (disks no claim
    /// holds or a shared namespace claims, shared namespaces' load
    /// balancers, the cluster fee); `None` in a tenant's report.
    pub shared_containers_usd: Option<f64>,
    pub shared_resources: Option<Parts>,
    /// Node cost no container was charged under the basis; `None` in a
    /// tenant's report.
    pub idle_cost_usd: Option<f64>,
    /// The part spread over the groups shown.
    pub shared_spread_usd: f64,
    pub idle_spread_usd: f64,
    /// The part left unspread (rule `none`, or nothing to spread it over).
    pub shared_unshared_usd: f64,
    pub idle_unshared_usd: f64,
    /// Core-hours and GiB-hours of the shared namespaces (unspread lines).
    pub shared_cpu_core_hours: f64,
    pub shared_memory_gib_hours: f64,
}

/// The bill adds up: the cluster's cost is its nodes, disks, load
/// balancers and fee, and the lines' totals plus what stayed unshared equal
/// it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Reconciliation {
    /// What the cluster paid for; `None` in a tenant's report.
    pub cluster: Option<ClusterCost>,
    /// Charged to the lines directly: their containers, disks and
    /// balancers.
    pub compute_cost_usd: f64,
    pub storage_cost_usd: f64,
    pub network_cost_usd: f64,
    /// Shared cost (containers and overhead resources) and idle, spread
    /// or not.
    pub shared_cost_usd: f64,
    pub idle_cost_usd: f64,
    /// The bill's lines of the cluster no metered resource claims (at the
    /// bill's prices only; 0 at list and in a tenant's report).
    pub unallocated_cost_usd: f64,
    /// compute + storage + network + shared + idle + unallocated.
    pub sum_usd: f64,
    /// The cluster's cost of the period; in a tenant's report, the
    /// tenant's total.
    pub expected_usd: f64,
    /// What `expected_usd` is: `cluster cost` or `tenant total`.
    pub expected_label: String,
    pub difference_usd: f64,
}

/// The cluster's cost of the period by what it paid for.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ClusterCost {
    /// Σ nodes.total_cost_usd, and on GKE Autopilot what Google billed
    /// for pods.
    pub nodes_usd: f64,
    /// Every disk: charged to tenants, shared, or overhead.
    pub disks_usd: f64,
    pub load_balancers_usd: f64,
    pub cluster_fee_usd: f64,
    /// The bill's lines of the cluster no metered resource claims
    /// (egress, NAT, snapshots…): 0 at list prices.
    pub unallocated_usd: f64,
    pub total_usd: f64,
}

/// Which dollars a report shows (`--cost`), and, at the bill's prices,
/// how much of the period the bill covers and how well it matched.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CostNote {
    /// `list`, `effective` or `billed`.
    pub basis: String,
    /// Clock hours of the period with node rows, and of them the hours the
    /// reconciled bill covers (the others stay at list prices).
    pub hours: u64,
    pub hours_billed: u64,
    /// At the bill's prices and not in a tenant's report: the bill's total
    /// for the cluster over the period's covered hours…
    pub bill_total_usd: Option<f64>,
    /// …the share of it on metered resources (percent)…
    pub match_rate_pct: Option<f64>,
    /// …the resources metered but not on the bill, and their list cost…
    pub not_billed_resources: u64,
    pub not_billed_list_usd: f64,
    /// …and the bill's unallocated lines by service and SKU, costliest first.
    pub unallocated: Vec<UnallocatedLine>,
}

/// Bill lines of the cluster no metered resource claims, of one service
/// and SKU, over the period.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct UnallocatedLine {
    pub service: String,
    pub sku: String,
    pub cost_usd: f64,
}

/// A disk no pod mounted, over the period: `unmounted` (its claim's tenant
/// pays for it: waste it can delete), or `released`, `available`,
/// `failed`, `pending` (no claim holds it: cluster overhead).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct UnusedVolume {
    pub cluster: String,
    /// The PersistentVolume's name.
    pub volume: String,
    pub state: String,
    /// Who pays: the claim's tenant, or `__shared__`.
    pub tenant: String,
    /// `namespace/name` of the claim; empty when none holds it.
    pub claim: String,
    pub storage_class: String,
    /// Its largest size in the period.
    pub size_gib: f64,
    /// Hours it existed in that state in the period.
    pub hours: f64,
    pub cost_usd: f64,
}

/// A workload charged for far more than it used.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Waste {
    pub cluster: String,
    pub namespace: String,
    pub workload_kind: String,
    pub workload_name: String,
    pub cpu_request_core_hours: f64,
    pub cpu_usage_core_hours: f64,
    pub memory_request_gib_hours: f64,
    pub memory_usage_gib_hours: f64,
    /// Its compute cost under the basis.
    pub cost_usd: f64,
    /// Requested but unused CPU and memory at its nodes' unit prices.
    pub waste_usd: f64,
}

/// A node pool.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Pool {
    pub cluster: String,
    /// `(none)` for nodes outside any pool.
    pub pool: String,
    pub machine_types: String,
    pub capacity_type: String,
    pub nodes: u64,
    pub node_hours: f64,
    /// Node cost; in a tenant's report, the tenant's compute cost there.
    pub cost_usd: f64,
    /// Idle under the basis; `None` in a tenant's report.
    pub idle_cost_usd: Option<f64>,
}

/// How far to trust the figures.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Quality {
    /// Container-hours in the period.
    pub container_hours: u64,
    /// Samples per fully sampled hour (the densest container-hour), the
    /// collector's `--interval` seen from the data.
    pub samples_per_hour: Option<u64>,
    /// Σ samples / samples expected for the time containers ran (percent).
    pub sample_coverage_pct: Option<f64>,
    /// Container-hours of two minutes or more without one usage sample
    /// (charged their requests, usage counted as zero).
    pub unsampled_container_hours: u64,
    /// Per cluster: clock hours of the period with no node row.
    pub missing_hours: Vec<(String, u64)>,
    /// Per cluster: hours every node was written for less than the full
    /// hour although it is not the newest hour (the collector stopped in it
    /// and did not complete it after a restart).
    pub partial_hours: Vec<(String, u64)>,
    /// Nodes priced at the default rate (unknown machine type).
    pub unpriced_nodes: Vec<UnpricedNode>,
}

/// A node priced at the default rate.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct UnpricedNode {
    pub cluster: String,
    pub node: String,
    pub machine_type: String,
    pub node_hours: f64,
    /// Node cost at the default rate; in a tenant's report, the tenant's
    /// compute cost on it.
    pub cost_usd: f64,
}

/// What the newest `kubetally recommend --write` run in the dataset found
/// (per cluster; the `kubetally` strategy's run when there is one). The
/// three kinds overlap, so they are shown side by side, never added.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Savings {
    /// When the newest run read was made.
    pub generated_at: DateTime<Utc>,
    pub strategy: String,
    /// Net monthly savings of the right-sizing to apply (asking for more
    /// counts negative), and how many containers it changes.
    pub rightsizing_monthly_usd: f64,
    pub rightsizing_items: usize,
    /// Monthly savings of the spot-eligible workloads.
    pub spot_monthly_usd: f64,
    pub spot_items: usize,
    /// Monthly savings of the pools a cheaper family would run for less
    /// (left out of a tenant's report: pools are shared).
    pub machine_family_monthly_usd: f64,
    pub machine_family_items: usize,
    /// The largest, most first.
    pub top: Vec<SavingsItem>,
}

/// One recommendation worth money.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SavingsItem {
    pub cluster: String,
    /// `rightsizing`, `spot` or `machine_family`.
    pub kind: String,
    /// `namespace/Kind/name/container`, `namespace/Kind/name` or the pool.
    pub target: String,
    pub monthly_usd: f64,
    pub reason: String,
}
