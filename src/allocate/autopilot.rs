//! GKE Autopilot billing: a pod costs its requests, rounded up as Autopilot
//! rounds them, at its compute class's rates, for the seconds it ran; its
//! rows (containers, and what the pod holds beyond them) share that bill.
//!
//! The decision that shapes it: Autopilot bills pods, not nodes, so the
//! pod's bill is computed first, from the pod's total requests (the
//! rounding applies to the pod: `pricing::autopilot`), and only then split
//! over its rows, each resource by each row's share of the pod's request of
//! it. Rounding-up is then paid by the containers in proportion to what
//! they asked, and the rows of a pod add up to its bill exactly. Usage above
//! request is not billed (Autopilot bills requests), and the nodes cost
//! nothing: their rows keep their facts at zero cost, with no idle.

use std::collections::{BTreeMap, HashMap};

use super::hour::{AllocationRow, NodeRow, PodVersion};
use crate::cluster::SlimPod;
use crate::model::reserve::{OVERHEAD, RESERVED};
use crate::model::units::GIB;
use crate::pricing::{
    GENERAL_PURPOSE, MissingPrice, PodRequests, PriceSource, ResourcePrice, ResourcePrices,
    billed_requests, is_system_namespace, pod_class,
};

/// `price_source` of a pod billed at its class's catalog (or `--pricing`) rates.
pub const PRICE_SOURCE: &str = "autopilot";
/// … at the rates of the provider's reference region (the pod's lacks them).
pub const PRICE_SOURCE_REGION_FALLBACK: &str = "autopilot_region_fallback";
/// … at general-purpose rates, because its class's are missing (counted).
pub const PRICE_SOURCE_DEFAULT: &str = "autopilot_default";
/// … at nothing: no Autopilot rate at all (counted).
pub const PRICE_SOURCE_UNPRICED: &str = "autopilot_unpriced";
/// A system pod, which Autopilot does not bill.
pub const PRICE_SOURCE_SYSTEM: &str = "autopilot_system";

/// The rates one pod is billed at.
#[derive(Debug, Clone, PartialEq)]
pub struct PodRates {
    pub vcpu_hour_usd: f64,
    pub memory_gib_hour_usd: f64,
    pub price_source: &'static str,
    /// Why the class's own rates were not used, when they were not.
    pub missing: Option<MissingPrice>,
}

/// The rates of `class` (spot or not) in `region`: the class's own, else
/// general-purpose's of the same capacity, else general-purpose on-demand,
/// else none (zero, flagged [`PRICE_SOURCE_UNPRICED`]). Both rates come
/// from one stand-in, never half from each.
pub fn pod_rates(prices: &ResourcePrices, region: &str, class: &str, spot: bool) -> PodRates {
    let pair = |class: &str, spot: bool| {
        let rates = prices.autopilot(region, class, spot);
        Ok::<_, MissingPrice>((rates.vcpu_hour?, rates.memory_gib_hour?))
    };
    let source = |cpu: &ResourcePrice, memory: &ResourcePrice| {
        if [cpu, memory]
            .iter()
            .any(|p| p.price_source == PriceSource::RegionFallback)
        {
            PRICE_SOURCE_REGION_FALLBACK
        } else {
            PRICE_SOURCE
        }
    };
    let missing = match pair(class, spot) {
        Ok((cpu, memory)) => {
            return PodRates {
                vcpu_hour_usd: cpu.hourly_usd(1.0),
                memory_gib_hour_usd: memory.hourly_usd(1.0),
                price_source: source(&cpu, &memory),
                missing: None,
            };
        }
        Err(missing) => missing,
    };
    let stand_in = [(GENERAL_PURPOSE, spot), (GENERAL_PURPOSE, false)]
        .into_iter()
        .find_map(|(class, spot)| pair(class, spot).ok());
    match stand_in {
        Some((cpu, memory)) => PodRates {
            vcpu_hour_usd: cpu.hourly_usd(1.0),
            memory_gib_hour_usd: memory.hourly_usd(1.0),
            price_source: PRICE_SOURCE_DEFAULT,
            missing: Some(missing),
        },
        None => PodRates {
            vcpu_hour_usd: 0.0,
            memory_gib_hour_usd: 0.0,
            price_source: PRICE_SOURCE_UNPRICED,
            missing: Some(missing),
        },
    }
}

/// Autopilot's rates by (region, class, spot), looked up once an hour, and
/// the rates that were missing.
#[derive(Debug, Default)]
pub struct RateCache {
    rates: HashMap<(String, String, bool), PodRates>,
}

impl RateCache {
    /// The rates of a pod with `node_selector` on a node in `region`.
    pub fn of(
        &mut self,
        prices: &ResourcePrices,
        region: &str,
        node_selector: &[(std::sync::Arc<str>, std::sync::Arc<str>)],
    ) -> (String, &PodRates) {
        let selector: BTreeMap<String, String> = node_selector
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (class, spot) = pod_class(&selector);
        let rates = self
            .rates
            .entry((region.to_owned(), class.clone(), spot))
            .or_insert_with(|| pod_rates(prices, region, &class, spot));
        (class, rates)
    }

    /// Every rate that was missing this hour, once each.
    pub fn missing(&self) -> Vec<MissingPrice> {
        let mut missing: Vec<MissingPrice> = self
            .rates
            .values()
            .filter_map(|r| r.missing.clone())
            .collect();
        missing.sort_by_key(ToString::to_string);
        missing.dedup();
        missing
    }
}

/// A row's request in one version of its pod: (cores, GiB).
fn row_request(pod: &SlimPod, row: &str) -> (f64, f64) {
    let amount = match row {
        RESERVED => Some(pod.reserved),
        OVERHEAD => Some(pod.overhead),
        _ => None,
    };
    if let Some(amount) = amount {
        return (amount.cpu_cores, amount.memory_bytes as f64 / GIB);
    }
    pod.containers
        .iter()
        .find(|c| &*c.name == row)
        .map_or((0.0, 0.0), |c| {
            (
                c.resources.cpu_request_cores.unwrap_or(0.0),
                c.resources.memory_request_bytes.unwrap_or(0) as f64 / GIB,
            )
        })
}

/// Bills `rows`, all the rows of one pod (its `versions`, oldest first,
/// each over `seconds`), as Autopilot does: per version, the pod's total
/// request rounded for `class`, at `rates`, shared by the rows' requests
/// (equally when the pod requests none of a resource). A system pod's rows
/// cost nothing.
pub fn bill_pod(
    rows: &mut [AllocationRow],
    versions: &[PodVersion],
    seconds: &[f64],
    class: &str,
    rates: &PodRates,
) {
    let system = versions
        .last()
        .is_some_and(|v| is_system_namespace(&v.pod.namespace));
    for row in rows.iter_mut() {
        row.cpu_billed_core_hours = 0.0;
        row.memory_billed_gib_hours = 0.0;
        row.cpu_cost_usd = 0.0;
        row.memory_cost_usd = 0.0;
        row.gpu_cost_usd = 0.0;
        row.price_source = if system {
            PRICE_SOURCE_SYSTEM
        } else {
            rates.price_source
        };
    }
    if rows.is_empty() {
        return;
    }
    let even = 1.0 / rows.len() as f64;
    for (version, &s) in versions.iter().zip(seconds) {
        if s <= 0.0 {
            continue;
        }
        let requests: Vec<(f64, f64)> = rows
            .iter()
            .map(|row| row_request(&version.pod, &row.container))
            .collect();
        let (cpu, memory) = requests
            .iter()
            .fold((0.0, 0.0), |(c, m), (rc, rm)| (c + rc, m + rm));
        let billed = billed_requests(
            class,
            PodRequests {
                cpu_vcpu: cpu,
                memory_gib: memory,
                ephemeral_gib: 0.0,
            },
        );
        let hours = s / 3600.0;
        for (row, (row_cpu, row_memory)) in rows.iter_mut().zip(&requests) {
            let cpu_part = if cpu > 0.0 { row_cpu / cpu } else { even };
            let memory_part = if memory > 0.0 {
                row_memory / memory
            } else {
                even
            };
            row.cpu_billed_core_hours += cpu_part * billed.cpu_vcpu * hours;
            row.memory_billed_gib_hours += memory_part * billed.memory_gib * hours;
        }
    }
    if system {
        return;
    }
    for row in rows.iter_mut() {
        row.cpu_cost_usd = row.cpu_billed_core_hours * rates.vcpu_hour_usd;
        row.memory_cost_usd = row.memory_billed_gib_hours * rates.memory_gib_hour_usd;
    }
}

/// The node rows of an Autopilot hour: Google bills no node, so each keeps
/// its facts and usage at zero cost and zero unit prices, with what its
/// pods requested, nothing allocated and no idle.
pub fn free_nodes(nodes: &mut [NodeRow], allocation: &[AllocationRow]) {
    let mut requested: HashMap<&str, (f64, f64)> = HashMap::new();
    for row in allocation {
        let entry = requested.entry(&*row.node).or_default();
        entry.0 += row.cpu_request_core_hours;
        entry.1 += row.memory_request_gib_hours;
    }
    for node in nodes {
        let (cpu, memory) = requested.get(&*node.node).copied().unwrap_or_default();
        node.cpu_cost_usd = 0.0;
        node.memory_cost_usd = 0.0;
        node.gpu_cost_usd = 0.0;
        node.allocated_cost_usd = 0.0;
        node.cpu_core_hour_usd = 0.0;
        node.memory_gib_hour_usd = 0.0;
        node.cpu_request_core_hours = cpu;
        node.memory_request_gib_hours = memory;
        node.price_source = PRICE_SOURCE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::RowOrigin;

    const HEADER: &str = "kind,provider,region,sku,capacity_type,unit,usd,as_of,source\n";

    fn prices(body: &str) -> ResourcePrices {
        let rows = crate::pricing::parse_resources(
            &format!("{HEADER}{body}"),
            "t.csv",
            RowOrigin::Embedded,
        )
        .unwrap();
        ResourcePrices::new(rows)
    }

    /// $0.04 a vCPU-hour and $0.005 a GiB-hour general-purpose; spot half.
    fn book() -> ResourcePrices {
        prices(
            "autopilot,gcp,us-central1,general-purpose,,vcpu_hour,0.04,,a\n\
             autopilot,gcp,us-central1,general-purpose,,gib_hour,0.005,,a\n\
             autopilot,gcp,us-central1,general-purpose,spot,vcpu_hour,0.02,,a\n\
             autopilot,gcp,us-central1,general-purpose,spot,gib_hour,0.0025,,a\n\
             autopilot,gcp,us-central1,scale-out,,vcpu_hour,0.05,,a\n",
        )
    }

    #[test]
    fn a_class_without_rates_is_billed_at_general_purpose_and_says_so() {
        let book = book();
        let own = pod_rates(&book, "us-central1", GENERAL_PURPOSE, true);
        assert_eq!(
            (own.vcpu_hour_usd, own.price_source, own.missing),
            (0.02, PRICE_SOURCE, None)
        );
        // Scale-Out has a vCPU rate but no memory rate: both stand in.
        let stand_in = pod_rates(&book, "us-central1", "scale-out", false);
        assert_eq!(
            (stand_in.vcpu_hour_usd, stand_in.price_source),
            (0.04, PRICE_SOURCE_DEFAULT)
        );
        assert!(
            stand_in
                .missing
                .is_some_and(|m| m.to_string().contains("scale-out"))
        );
        let elsewhere = pod_rates(&book, "europe-west1", GENERAL_PURPOSE, false);
        assert_eq!(elsewhere.price_source, PRICE_SOURCE_REGION_FALLBACK);
        let none = pod_rates(&prices(""), "us-central1", GENERAL_PURPOSE, false);
        assert_eq!(
            (none.vcpu_hour_usd, none.price_source),
            (0.0, PRICE_SOURCE_UNPRICED)
        );
    }
}
