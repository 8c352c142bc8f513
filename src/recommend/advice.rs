//! Spot eligibility and machine families from the dataset, for `kubetally
//! recommend`'s `spot` and `machine_family` lists: the libraries
//! ([`super::spot`], [`super::family`]) fed with the `workloads`,
//! `allocation` and `nodes` tables, and their savings priced by the catalog.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::family::{PoolFacts, compare};
use super::history::{ContainerKey, History, HistoryError, NamedWorkload, Scope, for_each_batch};
use super::spot::{SpotRules, Verdict, WorkloadFacts, assess};
use crate::model::units::GIB;
use crate::model::{CapacityType, Provider};
use crate::pricing::{HOURS_PER_MONTH, NodeClass, PriceBook};
use crate::store::read::{Batch, Select};
use crate::store::schema::col;

/// One check as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "analyze", derive(schemars::JsonSchema))]
pub struct CheckItem {
    pub id: &'static str,
    pub name: &'static str,
    pub verdict: String,
    pub reason: String,
}

/// A workload's spot verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "analyze", derive(schemars::JsonSchema))]
pub struct SpotItem {
    pub namespace: String,
    pub workload_kind: String,
    pub workload_name: String,
    pub provider: String,
    pub eligible: bool,
    pub checks: Vec<CheckItem>,
    /// The nodeSelector and toleration to add, when eligible.
    pub change: Option<String>,
    /// Its current requests at the spot unit prices of the machine family it
    /// runs on instead of on-demand (0 unless eligible).
    pub monthly_savings_usd: f64,
}

fn spot_rules(name: &str) -> Option<SpotRules> {
    match name {
        "gcp" => Some(SpotRules::Gke),
        "aws" => Some(SpotRules::Aws),
        "azure" => Some(SpotRules::Azure),
        _ => None,
    }
}

/// Unit prices (per core-hour, per GiB-hour) of `placement` bought as `capacity`.
fn unit_prices(
    book: &PriceBook,
    placement: &super::history::Placement,
    capacity: CapacityType,
) -> (f64, f64) {
    let class = NodeClass {
        provider: Provider::from_name(&placement.provider),
        region: placement.region.clone(),
        zone: String::new(),
        machine_type: placement.machine_type.clone(),
        machine_family: placement.machine_family.clone(),
        capacity_type: capacity,
        gpu_type: String::new(),
        vcpus: 0.0,
        memory_gib: 0.0,
        gpus: 0,
    };
    let price = book.price(&class);
    (price.cpu_core_hour_usd(), price.memory_gib_hour_usd())
}

/// Spot verdicts for every workload that ran in the window.
pub fn spot_items(
    book: &PriceBook,
    histories: &BTreeMap<ContainerKey, History>,
    workloads: &BTreeMap<NamedWorkload, WorkloadFacts>,
) -> Vec<SpotItem> {
    let mut by_workload: BTreeMap<NamedWorkload, Vec<&History>> = BTreeMap::new();
    for (key, history) in histories {
        by_workload
            .entry((
                key.namespace.clone(),
                key.workload_kind.clone(),
                key.workload_name.clone(),
            ))
            .or_default()
            .push(history);
    }
    let mut items = Vec::new();
    for (key, containers) in by_workload {
        let Some(placement) = containers.iter().find_map(|h| h.main_placement().cloned()) else {
            continue;
        };
        let Some(provider) = spot_rules(&placement.provider) else {
            continue;
        };
        let mut facts = workloads
            .get(&key)
            .cloned()
            .unwrap_or_else(|| WorkloadFacts {
                namespace: key.0.clone(),
                kind: key.1.clone(),
                termination_grace_seconds: 30,
                ..WorkloadFacts::default()
            });
        let pod_days: f64 = containers.iter().map(|h| h.pod_hours).sum::<f64>() / 24.0;
        let restarts: u64 = containers
            .iter()
            .map(|h| h.restarts.saturating_sub(h.oom_kills))
            .sum();
        if pod_days > 0.0 {
            facts.restarts_per_pod_day = Some(restarts as f64 / pod_days);
        }
        if placement.capacity_type != "on_demand" {
            let (label, value) = provider.spot_label();
            facts.node_selector = vec![(label.to_owned(), value.to_owned())];
        }
        let assessment = assess(&facts, provider);
        let mut savings = 0.0;
        if assessment.eligible {
            let (od_cpu, od_memory) = unit_prices(book, &placement, CapacityType::OnDemand);
            let (spot_cpu, spot_memory) = unit_prices(book, &placement, CapacityType::Spot);
            for history in &containers {
                savings += (history.cpu_request_cores() * (od_cpu - spot_cpu)
                    + history.memory_request_bytes() / GIB * (od_memory - spot_memory))
                    * history.average_pods()
                    * HOURS_PER_MONTH;
            }
        }
        items.push(SpotItem {
            namespace: key.0,
            workload_kind: key.1,
            workload_name: key.2,
            provider: placement.provider.clone(),
            eligible: assessment.eligible,
            checks: assessment
                .checks
                .into_iter()
                .map(|c| CheckItem {
                    id: c.id,
                    name: c.name,
                    verdict: match c.verdict {
                        Verdict::Pass => "pass",
                        Verdict::Fail => "fail",
                        Verdict::Unknown => "unknown",
                    }
                    .to_owned(),
                    reason: c.reason,
                })
                .collect(),
            change: assessment.change,
            monthly_savings_usd: savings,
        });
    }
    items.sort_by(|a, b| b.monthly_savings_usd.total_cmp(&a.monthly_savings_usd));
    items
}

/// A pool's family comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "analyze", derive(schemars::JsonSchema))]
pub struct FamilyItem {
    pub pool: String,
    pub provider: String,
    pub region: String,
    pub current_family: String,
    pub current_monthly_usd: f64,
    pub cpu_utilisation: f64,
    pub options: Vec<FamilyOption>,
    pub needs_faster: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "analyze", derive(schemars::JsonSchema))]
pub struct FamilyOption {
    pub family: String,
    pub effective_monthly_usd: f64,
    pub sustained_use_percent: f64,
    pub monthly_savings_usd: f64,
}

#[derive(Default)]
struct PoolSums {
    provider: String,
    region: String,
    family: String,
    vcpu_hours: f64,
    gib_hours: f64,
    node_hours: f64,
    cost: f64,
    cpu_used: f64,
    nodes: std::collections::BTreeSet<String>,
}

/// Machine-family comparisons of every on-demand node pool in the window.
///
/// # Errors
///
/// [`HistoryError`] naming the `nodes` file that cannot be read.
pub fn family_items(
    book: &PriceBook,
    root: &Path,
    scope: &Scope,
) -> Result<Vec<FamilyItem>, HistoryError> {
    let mut pools: BTreeMap<String, PoolSums> = BTreeMap::new();
    let mut hours = std::collections::BTreeSet::new();
    for_each_batch(root, "nodes", scope, &NODE_COLUMNS, |batch| {
        fold_nodes(batch, &mut pools, &mut hours)
    })?;
    let window_hours = hours.len().max(1) as f64;
    let mut items = Vec::new();
    for (name, sums) in pools {
        if sums.node_hours <= 0.0 {
            continue;
        }
        let facts = PoolFacts {
            name: name.clone(),
            provider: sums.provider.clone(),
            region: sums.region.clone(),
            family: sums.family.clone(),
            vcpus: sums.vcpu_hours / window_hours,
            memory_gib: sums.gib_hours / window_hours,
            month_fraction: (sums.node_hours / (sums.nodes.len().max(1) as f64 * window_hours))
                .min(1.0),
            hourly_usd: sums.cost / window_hours,
            cpu_utilisation: if sums.vcpu_hours > 0.0 {
                sums.cpu_used / sums.vcpu_hours
            } else {
                0.0
            },
        };
        let comparison = compare(book, &facts);
        items.push(FamilyItem {
            pool: name,
            provider: sums.provider,
            region: sums.region,
            current_family: sums.family,
            current_monthly_usd: facts.hourly_usd * HOURS_PER_MONTH,
            cpu_utilisation: facts.cpu_utilisation,
            options: comparison
                .options
                .into_iter()
                .map(|o| FamilyOption {
                    family: o.family,
                    effective_monthly_usd: o.effective_hourly_usd * HOURS_PER_MONTH,
                    sustained_use_percent: o.sustained_use_percent,
                    monthly_savings_usd: o.monthly_savings_usd,
                })
                .collect(),
            needs_faster: comparison.needs_faster,
        });
    }
    Ok(items)
}

/// The `nodes` columns a pool's sums are made of.
const NODE_COLUMNS: Select<'static> = Select::columns(&[
    col::START_TIME,
    col::NODE_POOL,
    col::NODE,
    col::PROVIDER,
    col::REGION,
    col::MACHINE_FAMILY,
    col::CAPACITY_TYPE,
    col::VCPUS,
    col::MEMORY_BYTES,
    col::RUNNING_SECONDS,
    col::TOTAL_COST_USD,
    col::CPU_USAGE_CORE_HOURS,
]);

fn fold_nodes(
    batch: &Batch,
    pools: &mut BTreeMap<String, PoolSums>,
    hours: &mut std::collections::BTreeSet<i64>,
) -> Result<(), HistoryError> {
    let batch = batch.columns();
    let (pool, node, provider, region, family, capacity) = (
        batch.text(col::NODE_POOL)?,
        batch.text(col::NODE)?,
        batch.text(col::PROVIDER)?,
        batch.text(col::REGION)?,
        batch.text(col::MACHINE_FAMILY)?,
        batch.text(col::CAPACITY_TYPE)?,
    );
    let (vcpus, running, cost, used) = (
        batch.floats(col::VCPUS)?.values(),
        batch.floats(col::RUNNING_SECONDS)?.values(),
        batch.floats(col::TOTAL_COST_USD)?.values(),
        batch.floats(col::CPU_USAGE_CORE_HOURS)?.values(),
    );
    let memory = batch.int64s(col::MEMORY_BYTES)?.values();
    let start = batch.millis(col::START_TIME)?.values();
    for row in 0..batch.rows() {
        hours.insert(start[row]);
        // Spot pools are already as cheap as their family gets.
        if capacity.get(row) != "on_demand" {
            continue;
        }
        let name = match pool.get(row) {
            "" => "(no pool label)",
            pool => pool,
        };
        let sums = pools.entry(name.to_owned()).or_default();
        let h = running[row] / 3600.0;
        sums.provider = provider.get(row).to_owned();
        sums.region = region.get(row).to_owned();
        sums.family = family.get(row).to_owned();
        sums.vcpu_hours += vcpus[row] * h;
        sums.gib_hours += memory[row] as f64 / GIB * h;
        sums.node_hours += h;
        sums.cost += cost[row];
        sums.cpu_used += used[row];
        sums.nodes.insert(node.get(row).to_owned());
    }
    Ok(())
}
