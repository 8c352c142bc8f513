//! One clock hour of what the cluster pays beside its nodes: persistent
//! disks, load balancers and the cluster management fee, as `resources` rows.
//!
//! A resource is billed for the time it existed in the hour, version by
//! version (a disk resized at 10:20 costs its old size until then), at its
//! catalog price per hour. Who pays:
//! - a disk whose claim exists: the claim's namespace and tenant, whether
//!   or not a pod mounted it (an `unmounted` one is waste the report names);
//! - a disk nobody claims (`released`, `available`, `failed`, `pending`):
//!   cluster overhead, tenant [`SHARED`];
//! - a load balancer: its Service's namespace and tenant;
//! - the cluster fee: [`SHARED`], spread by the report as shared namespaces are.
//!
//! Volumes on the node's own disk (local PVs, hostPath) cost nothing beyond
//! the node and get no row.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::hour::{PodVersion, tenant_in};
use super::tenant::{SHARED, TenantRules};
use crate::cluster::{BilledKind, Inventory, SlimResource, VolumePhase};
use crate::model::Provider;
use crate::model::units::GIB;
use crate::pricing::{
    DiskClass, MissingPrice, PriceBook, ResourcePrice, VolumeCost, balancer_sku, classify,
    classify_disk, default_cluster_tier, provider_of_ingress, region_of_ingress, region_of_zone,
};

/// What a resource was from `since` on; none: it was gone. A resource's
/// first version starts when it began to cost: a disk's creation, a load
/// balancer's first sight with an address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceVersion {
    pub since: DateTime<Utc>,
    pub resource: Option<Arc<SlimResource>>,
}

/// The versions of every resource seen in one hour, by (kind, id), each
/// oldest first.
pub type ResourceHour = BTreeMap<(BilledKind, Arc<str>), Vec<ResourceVersion>>;

/// `kind` of the cluster fee's row.
pub const CLUSTER_FEE: &str = "cluster_fee";

/// `state` of a disk a pod that ran in the hour mounts; every other disk
/// state is a disk nobody used (`unmounted`: its tenant's waste; the rest:
/// overhead), which the report lists.
pub const MOUNTED: &str = "mounted";

/// What a `resources` row pays for, as invoices and summaries name it
/// (the report's `storage` and `network` columns, the demo's summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Disks.
    Storage,
    /// Load balancers, and any kind a newer collector writes that this
    /// version does not know (so its money is still counted somewhere).
    Network,
    /// The cluster management fee (always shared).
    Fee,
}

impl Part {
    /// The part of `kind` (`resources.kind`).
    pub fn of(kind: &str) -> Part {
        if kind == BilledKind::Disk.as_str() {
            Part::Storage
        } else if kind == CLUSTER_FEE {
            Part::Fee
        } else {
            Part::Network
        }
    }
}

/// Money by part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "analyze", derive(schemars::JsonSchema))]
pub struct Parts {
    pub storage_usd: f64,
    pub network_usd: f64,
    pub fee_usd: f64,
}

impl Parts {
    pub fn add(&mut self, part: Part, usd: f64) {
        match part {
            Part::Storage => self.storage_usd += usd,
            Part::Network => self.network_usd += usd,
            Part::Fee => self.fee_usd += usd,
        }
    }

    pub fn plus(&mut self, more: &Parts) {
        self.storage_usd += more.storage_usd;
        self.network_usd += more.network_usd;
        self.fee_usd += more.fee_usd;
    }

    pub fn total(&self) -> f64 {
        self.storage_usd + self.network_usd + self.fee_usd
    }
}

/// One `resources` row: one resource's cost in one hour.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceCost {
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    /// `disk`, `load_balancer` or `cluster_fee`.
    pub kind: &'static str,
    /// The volume's name, the Service's UID, or the fee tier.
    pub resource_id: Arc<str>,
    pub resource_name: Arc<str>,
    /// What the cloud's bill names it by: the disk's volume handle, the
    /// balancer's ingress address.
    pub provider_resource_id: Option<Arc<str>>,
    pub namespace: Option<Arc<str>>,
    pub tenant: Arc<str>,
    /// `namespace/name` of the claim a volume names (a released volume's
    /// claim is gone).
    pub claim: Option<String>,
    pub storage_class: Option<Arc<str>>,
    /// `mounted`, `unmounted`, `released`, `available`, `failed`, `pending`
    /// (disks), `provisioned` (load balancers), `cluster` (the fee).
    pub state: &'static str,
    pub provider: String,
    pub region: String,
    /// The price row's sku: disk type or size tier, balancer kind, fee tier.
    pub sku: Option<String>,
    pub size_gib: Option<f64>,
    pub running_seconds: f64,
    /// USD per hour while it exists.
    pub hourly_usd: f64,
    pub cost_usd: f64,
    /// `catalog`, `user`, `region_fallback`, or `unpriced`.
    pub price_source: &'static str,
    /// How the price was reached (`regional: 2 × zonal price`), or why there
    /// is none.
    pub price_note: Option<String>,
}

/// Where the cluster runs, by its nodes: the provider and region most of
/// them are in.
#[derive(Debug, Clone, PartialEq)]
pub struct Whereabouts {
    pub provider: Provider,
    pub region: String,
}

impl Whereabouts {
    pub fn of(inventory: &Inventory) -> Option<Whereabouts> {
        let mut counts: HashMap<(String, String), usize> = HashMap::new();
        let mut providers: HashMap<String, Provider> = HashMap::new();
        for node in inventory.billable_nodes() {
            let class = classify(&node.facts);
            let name = class.provider.as_str().to_owned();
            *counts
                .entry((name.clone(), class.region.clone()))
                .or_default() += 1;
            providers.entry(name).or_insert(class.provider);
        }
        let ((provider, region), _) = counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))?;
        Some(Whereabouts {
            provider: providers.remove(&provider)?,
            region,
        })
    }
}

/// The `resources` rows of the hour `[start, until)`: every resource of
/// `hour`, and the cluster fee while the cluster was watched.
pub fn resource_costs(
    start: DateTime<Utc>,
    until: DateTime<Utc>,
    hour: &ResourceHour,
    pods: &[&[PodVersion]],
    inventory: &Inventory,
    book: &PriceBook,
    rules: &TenantRules,
) -> Vec<ResourceCost> {
    let end = start + Duration::hours(1);
    let until = until.clamp(start, end);
    let place = Whereabouts::of(inventory);
    let mounted = mounted_claims(start, until, pods);
    let mut rows = Vec::new();
    for versions in hour.values() {
        for (index, version) in versions.iter().enumerate() {
            let Some(resource) = &version.resource else {
                continue;
            };
            let from = version.since.max(start);
            let to = versions
                .get(index + 1)
                .map_or(until, |next| next.since.min(until));
            if to <= from {
                continue;
            }
            let seconds = (to - from).num_milliseconds() as f64 / 1000.0;
            let row = match resource.kind {
                BilledKind::Disk => {
                    disk(resource, &mounted, place.as_ref(), book, rules, inventory)
                }
                BilledKind::LoadBalancer => {
                    balancer(resource, place.as_ref(), book, rules, inventory)
                }
            };
            if let Some(mut row) = row {
                row.start_time = start;
                row.end_time = end;
                row.running_seconds = seconds;
                row.cost_usd = row.hourly_usd * seconds / 3600.0;
                rows.push(row);
            }
        }
    }
    merge_spans(&mut rows);
    if let Some(fee) = cluster_fee(place.as_ref(), book) {
        let seconds = (until - start).num_milliseconds() as f64 / 1000.0;
        rows.push(ResourceCost {
            start_time: start,
            end_time: end,
            running_seconds: seconds,
            cost_usd: fee.hourly_usd * seconds / 3600.0,
            ..fee
        });
    }
    rows
}

/// What each disk and load balancer the inventory holds now, and the
/// cluster fee, cost an hour (`/metrics`), priced as the hour's rows are;
/// without time, and every claimed disk `unmounted` (mounts are an hour's).
pub fn hourly_now(inventory: &Inventory, book: &PriceBook) -> Vec<ResourceCost> {
    let place = Whereabouts::of(inventory);
    let rules = TenantRules::new(None);
    let mounted = HashSet::new();
    let resources = inventory.storage().resources();
    resources
        .iter()
        .filter_map(|resource| match resource.kind {
            BilledKind::Disk => disk(resource, &mounted, place.as_ref(), book, &rules, inventory),
            BilledKind::LoadBalancer => balancer(resource, place.as_ref(), book, &rules, inventory),
        })
        .chain(cluster_fee(place.as_ref(), book))
        .collect()
}

/// Rows of one resource that came out the same (a version changed what the
/// bill does not depend on) become one.
fn merge_spans(rows: &mut Vec<ResourceCost>) {
    let mut merged: Vec<ResourceCost> = Vec::with_capacity(rows.len());
    for row in rows.drain(..) {
        if let Some(last) = merged.last_mut() {
            let same = ResourceCost {
                running_seconds: last.running_seconds,
                cost_usd: last.cost_usd,
                ..row.clone()
            };
            if *last == same {
                last.running_seconds += row.running_seconds;
                last.cost_usd += row.cost_usd;
                continue;
            }
        }
        merged.push(row);
    }
    *rows = merged;
}

/// `(namespace, claim)` of every claim a pod that ran in `[start, until)` mounts.
fn mounted_claims<'a>(
    start: DateTime<Utc>,
    until: DateTime<Utc>,
    pods: &[&'a [PodVersion]],
) -> HashSet<(&'a str, &'a str)> {
    let mut mounted = HashSet::new();
    for versions in pods {
        for version in *versions {
            let pod = &version.pod;
            if pod.claims.is_empty() || pod.running_within(start, until).is_none() {
                continue;
            }
            for claim in pod.claims.iter() {
                mounted.insert((&*pod.namespace, &**claim));
            }
        }
    }
    mounted
}

fn tenant(resource: &SlimResource, rules: &TenantRules, inventory: &Inventory) -> Arc<str> {
    match &resource.namespace {
        Some(namespace) => Arc::from(tenant_in(rules, inventory, namespace, &resource.labels)),
        None => Arc::from(SHARED),
    }
}

/// A row with everything but its time and cost, priced by `price`.
fn priced(
    base: ResourceCost,
    price: Result<(f64, ResourcePrice, Vec<String>), MissingPrice>,
) -> ResourceCost {
    match price {
        Ok((hourly_usd, price, adjustments)) => ResourceCost {
            hourly_usd,
            sku: Some(price.sku.clone()),
            price_source: price.price_source.as_str(),
            price_note: (!adjustments.is_empty()).then(|| adjustments.join("; ")),
            ..base
        },
        Err(missing) => ResourceCost {
            price_source: "unpriced",
            price_note: Some(missing.to_string()),
            ..base
        },
    }
}

fn empty_row(kind: &'static str, resource: &SlimResource) -> ResourceCost {
    ResourceCost {
        start_time: DateTime::<Utc>::MIN_UTC,
        end_time: DateTime::<Utc>::MIN_UTC,
        kind,
        resource_id: resource.id.clone(),
        resource_name: resource.name.clone(),
        provider_resource_id: resource.handle.clone(),
        namespace: None,
        tenant: Arc::from(SHARED),
        claim: None,
        storage_class: resource.storage_class.clone(),
        state: "",
        provider: String::new(),
        region: String::new(),
        sku: None,
        size_gib: None,
        running_seconds: 0.0,
        hourly_usd: 0.0,
        cost_usd: 0.0,
        price_source: "unpriced",
        price_note: None,
    }
}

fn disk(
    resource: &SlimResource,
    mounted: &HashSet<(&str, &str)>,
    place: Option<&Whereabouts>,
    book: &PriceBook,
    rules: &TenantRules,
    inventory: &Inventory,
) -> Option<ResourceCost> {
    let class = classify_disk(
        &resource.driver,
        &resource.parameters,
        resource.handle.as_deref(),
    );
    let provider = match &class {
        DiskClass::NodeLocal => return None,
        DiskClass::Cloud(disk) => disk.provider.clone(),
        DiskClass::Unknown { .. } => {
            place.map_or(Provider::Other(String::new()), |p| p.provider.clone())
        }
    };
    let region = resource
        .region
        .as_deref()
        .map(str::to_owned)
        .or_else(|| {
            resource
                .zones
                .first()
                .map(|zone| region_of_zone(&provider, zone))
                .filter(|r| !r.is_empty())
        })
        .or_else(|| place.map(|p| p.region.clone()))
        .unwrap_or_default();
    let size_gib = resource.size_bytes as f64 / GIB;
    let claimed = resource.claimed && resource.phase == Some(VolumePhase::Bound);
    let state = match resource.phase {
        _ if claimed => {
            let key = (
                resource.namespace.as_deref().unwrap_or_default(),
                resource.claim.as_deref().unwrap_or_default(),
            );
            if mounted.contains(&key) {
                MOUNTED
            } else {
                "unmounted"
            }
        }
        Some(VolumePhase::Available) => "available",
        Some(VolumePhase::Failed) => "failed",
        Some(VolumePhase::Pending) | None => "pending",
        Some(VolumePhase::Bound | VolumePhase::Released) => "released",
    };
    let base = ResourceCost {
        namespace: if claimed {
            resource.namespace.clone()
        } else {
            None
        },
        tenant: if claimed {
            tenant(resource, rules, inventory)
        } else {
            Arc::from(SHARED)
        },
        claim: resource
            .namespace
            .as_ref()
            .zip(resource.claim.as_ref())
            .map(|(ns, name)| format!("{ns}/{name}")),
        state,
        provider: provider.as_str().to_owned(),
        region: region.clone(),
        size_gib: Some(size_gib),
        ..empty_row(BilledKind::Disk.as_str(), resource)
    };
    let price = book
        .resources()
        .volume(&class, &region, size_gib)
        .and_then(|cost| match cost {
            VolumeCost::Priced {
                hourly_usd,
                price,
                adjustments,
            } => Ok((hourly_usd, price, adjustments)),
            VolumeCost::NodeLocal => Err(MissingPrice::UnclassifiedVolume {
                driver: resource.driver.to_string(),
                reason: "node-local".to_owned(),
            }),
        });
    Some(priced(base, price))
}

fn balancer(
    resource: &SlimResource,
    place: Option<&Whereabouts>,
    book: &PriceBook,
    rules: &TenantRules,
    inventory: &Inventory,
) -> Option<ResourceCost> {
    let address = resource.handle.as_deref().unwrap_or_default();
    let provider = provider_of_ingress(address)
        .or_else(|| place.map(|p| p.provider.clone()))
        .unwrap_or(Provider::Other(String::new()));
    let region = region_of_ingress(address)
        .or_else(|| place.map(|p| p.region.clone()))
        .unwrap_or_default();
    let sku = balancer_sku(
        &provider,
        resource.balancer_class.as_deref(),
        &resource.parameters,
    );
    let base = ResourceCost {
        namespace: resource.namespace.clone(),
        tenant: tenant(resource, rules, inventory),
        state: "provisioned",
        provider: provider.as_str().to_owned(),
        region: region.clone(),
        sku: Some(sku.to_owned()),
        ..empty_row(BilledKind::LoadBalancer.as_str(), resource)
    };
    let price = book
        .resources()
        .load_balancer(&provider, &region, sku)
        .map(|price| (price.hourly_usd(1.0), price, Vec::new()));
    Some(priced(base, price))
}

/// The cluster fee's row (without time and cost), unless the tier is `none`
/// or the provider charges none kubetally knows.
fn cluster_fee(place: Option<&Whereabouts>, book: &PriceBook) -> Option<ResourceCost> {
    let place = place?;
    let tier = match book.options().cluster_tier.as_deref() {
        Some("none") => return None,
        Some(tier) => tier.to_owned(),
        None => default_cluster_tier(&place.provider)?.to_owned(),
    };
    let fee = SlimResource {
        id: Arc::from(CLUSTER_FEE),
        name: Arc::from(tier.as_str()),
        ..SlimResource::default()
    };
    let base = ResourceCost {
        state: "cluster",
        provider: place.provider.as_str().to_owned(),
        region: place.region.clone(),
        sku: Some(tier.clone()),
        ..empty_row(CLUSTER_FEE, &fee)
    };
    let price = book
        .resources()
        .cluster_fee(&place.provider, &place.region, &tier)
        .map(|price| (price.hourly_usd(1.0), price, Vec::new()));
    Some(priced(base, price))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::SlimNode;
    use crate::pricing::{PricingOptions, RowOrigin, parse_resources};

    const PRICES: &str = "kind,provider,region,sku,capacity_type,unit,usd,as_of,source
disk,gcp,,pd-standard,on_demand,gib_month,0.73,,test
cluster_fee,gcp,,standard,on_demand,hour,1.0,,test
";

    fn book(tier: Option<&str>) -> PriceBook {
        let rows = parse_resources(PRICES, "test", RowOrigin::User).unwrap();
        let options = PricingOptions {
            cluster_tier: tier.map(str::to_owned),
            ..PricingOptions::default()
        };
        PriceBook::new(Vec::new(), options)
            .unwrap()
            .with_resource_rows(rows)
    }

    fn inventory() -> Inventory {
        let mut inventory = Inventory::default();
        inventory.apply_node(SlimNode {
            facts: crate::model::NodeFacts {
                name: "gke-a".into(),
                provider_id: Some("gce://p/us-central1-a/gke-a".into()),
                labels: [(
                    "node.kubernetes.io/instance-type".to_owned(),
                    "e2-standard-4".to_owned(),
                )]
                .into(),
                cpu_capacity: crate::model::Quantity::from_cores(4.0),
                memory_capacity: crate::model::Quantity::from_bytes(16 << 30),
                gpu_capacity: 0,
                gpu_sharing: Default::default(),
            },
            allocatable_cpu_cores: 4.0,
            allocatable_memory_bytes: 16 << 30,
            created: None,
            deleted: None,
        });
        inventory
    }

    fn disk(gib: i64, claimed: bool) -> Arc<SlimResource> {
        Arc::new(SlimResource {
            kind: BilledKind::Disk,
            id: "pv-1".into(),
            name: "pv-1".into(),
            namespace: Some("shop".into()),
            claim: Some("data".into()),
            claimed,
            phase: Some(if claimed {
                VolumePhase::Bound
            } else {
                VolumePhase::Released
            }),
            size_bytes: gib << 30,
            driver: "pd.csi.storage.gke.io".into(),
            parameters: Arc::new([("type".to_owned(), "pd-standard".to_owned())].into()),
            region: Some("us-central1".into()),
            ..SlimResource::default()
        })
    }

    fn costs(versions: Vec<ResourceVersion>, tier: Option<&str>) -> Vec<ResourceCost> {
        let start = crate::sim::epoch();
        let hour: ResourceHour = [((BilledKind::Disk, Arc::from("pv-1")), versions)].into();
        resource_costs(
            start,
            start + Duration::hours(1),
            &hour,
            &[],
            &inventory(),
            &book(tier),
            &TenantRules::new(None),
        )
    }

    fn at(minutes: i64, resource: Option<Arc<SlimResource>>) -> ResourceVersion {
        ResourceVersion {
            since: crate::sim::epoch() + Duration::minutes(minutes),
            resource,
        }
    }

    #[test]
    fn a_resize_a_release_and_a_deletion_split_the_hour_between_who_paid() {
        // 100 GiB at 0.001 a GiB-hour = 0.10 an hour; 200 GiB = 0.20.
        let rows = costs(
            vec![
                at(0, Some(disk(100, true))),
                at(20, Some(disk(200, true))),
                at(30, Some(disk(200, false))),
                at(45, None),
            ],
            Some("none"),
        );
        let got: Vec<(&str, &str, f64, f64)> = rows
            .iter()
            .map(|r| (r.state, &*r.tenant, r.running_seconds, r.cost_usd))
            .collect();
        let expected = [
            ("unmounted", "shop", 1200.0, 0.10 / 3.0),
            ("unmounted", "shop", 600.0, 0.20 / 6.0),
            ("released", SHARED, 900.0, 0.05),
        ];
        assert_eq!(got.len(), expected.len(), "{rows:#?}");
        for (got, expected) in got.iter().zip(expected) {
            assert_eq!((got.0, got.1), (expected.0, expected.1));
            assert!((got.2 - expected.2).abs() < 1e-9, "{got:?}");
            assert!((got.3 - expected.3).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn a_change_the_bill_ignores_makes_one_row_and_the_fee_follows_the_tier() {
        let mut relabelled = SlimResource::clone(&disk(100, true));
        relabelled.labels = Arc::new([("app".into(), "db".into())]);
        let rows = costs(
            vec![
                at(0, Some(disk(100, true))),
                at(10, Some(Arc::new(relabelled))),
            ],
            None,
        );
        assert_eq!(rows.len(), 2, "{rows:#?}");
        assert_eq!(rows[0].running_seconds, 3600.0);
        let fee = rows.iter().find(|r| r.kind == CLUSTER_FEE).unwrap();
        assert_eq!((fee.cost_usd, &*fee.tenant), (1.0, SHARED));
        let unknown_tier = costs(vec![], Some("platinum"));
        assert_eq!(unknown_tier.len(), 1);
        assert_eq!(unknown_tier[0].price_source, "unpriced");
        assert!(
            unknown_tier[0]
                .price_note
                .as_deref()
                .is_some_and(|note| note.contains("platinum")),
            "{unknown_tier:?}"
        );
    }

    #[test]
    fn each_kind_has_its_part_and_an_unknown_one_still_counts() {
        assert_eq!(Part::of("disk"), Part::Storage);
        assert_eq!(Part::of("load_balancer"), Part::Network);
        assert_eq!(Part::of("cluster_fee"), Part::Fee);
        assert_eq!(Part::of("nat_gateway"), Part::Network);
    }
}
