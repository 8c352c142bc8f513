//! From the dataset's rows to FOCUS rows: each metered resource-hour is an
//! origin charge, written as the split FOCUS 1.3 describes — one allocated
//! row per consumer and the unallocated remainder — or, when nothing in the
//! cluster owns it (the cluster fee, a disk no claim holds), as one plain
//! charge.
//!
//! A node-hour is three origin charges, its vCPUs, memory and GPUs (as GCP
//! bills a VM's cores and RAM, and AWS splits an EKS node's cost), so each
//! split has one unit and its ratios are shares of one quantity.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::cost::{ChargeKey, Costs, Part, Pricing, Rates};
use super::input::{ContainerHour, NodeHour, ResourceHour};
use super::rules::{self, Basis, Metered, Method, Owner, Resource};
use super::split::split;
use crate::model::fixed::Fixed;
use crate::store::focus::{ChargeCells, LineCells, Text};

/// Where a charge's rows go: the charge, then each of its rows.
pub trait Rows {
    fn charge(&mut self, charge: &ChargeCells);
    fn line(&mut self, line: &LineCells<'_>);
}

/// What every row of an export shares.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub cluster: &'a str,
    pub billing_account: &'a str,
    /// Whether the account was given (`--billing-account`), not defaulted.
    pub billing_account_given: bool,
    pub pricing: &'a Pricing,
}

/// A value that is not a number (NaN in a corrupt file) is written as 0.
fn fixed(value: f64) -> Fixed {
    Fixed::from_f64(value).unwrap_or_default()
}

/// The dimensions of an origin charge, as the provider's row would carry them.
struct Origin<'a> {
    provider: &'a str,
    metered: Metered,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    resource_id: String,
    resource_name: &'a str,
    /// kubetally's id of the resource, as the reconciliation names it.
    metered_id: &'a str,
    sub_account: Option<String>,
    region: &'a str,
    zone: &'a str,
    capacity_type: &'a str,
    description: String,
    node_pool: Option<&'a str>,
    price_source: &'a str,
    unit: &'static str,
    meter: &'static str,
    /// Price per unit (ListUnitPrice = ContractedUnitPrice).
    unit_price: Fixed,
}

/// An empty string is a null cell.
fn some(s: &str) -> Text {
    (!s.is_empty()).then(|| Arc::from(s))
}

/// A row's quantity and costs.
fn line(quantity: Fixed, costs: Costs) -> LineCells<'static> {
    LineCells {
        billed_cost: costs.billed,
        effective_cost: costs.effective,
        list_cost: costs.list,
        contracted_cost: costs.contracted,
        quantity,
        ..LineCells::default()
    }
}

impl Origin<'_> {
    /// The charge unsplit: one row of `tenant`'s.
    fn plain(
        &self,
        ctx: &Context<'_>,
        quantity: Fixed,
        costs: Costs,
        tenant: &str,
        out: &mut impl Rows,
    ) {
        out.charge(&self.template(ctx));
        let tenant: Arc<str> = Arc::from(tenant);
        out.line(&LineCells {
            x_tenant: Some(&tenant),
            ..line(quantity, costs)
        });
    }

    /// The columns every row of this charge shares: all but the quantity,
    /// the costs and the allocation's.
    fn template(&self, ctx: &Context<'_>) -> ChargeCells {
        let (provider, publisher, issuer) = rules::provider_names(self.provider);
        let (service, category, subcategory, resource_type) =
            rules::service(self.provider, self.metered);
        let (period_start, period_end) = rules::billing_period(self.start);
        let provider = some(provider);
        let billing_account = some(ctx.billing_account);
        let unit = some(self.unit);
        ChargeCells {
            provider_name: provider.clone(),
            publisher_name: some(publisher),
            service_provider_name: provider.clone(),
            host_provider_name: provider,
            invoice_issuer_name: some(issuer),
            billing_account_id: billing_account.clone(),
            billing_account_name: billing_account,
            billing_account_type: some(rules::billing_account_type(
                self.provider,
                ctx.billing_account_given,
            )),
            sub_account_id: self.sub_account.as_deref().map(Arc::from),
            sub_account_type: self
                .sub_account
                .as_ref()
                .and_then(|_| rules::sub_account_type(self.provider))
                .map(Arc::from),
            billing_period_start: Some(period_start),
            billing_period_end: Some(period_end),
            charge_period_start: Some(self.start),
            charge_period_end: Some(self.end),
            charge_category: some(rules::CHARGE_CATEGORY),
            charge_description: some(&self.description),
            charge_frequency: some(rules::CHARGE_FREQUENCY),
            list_unit_price: Some(self.unit_price),
            contracted_unit_price: Some(self.unit_price),
            pricing_category: some(rules::pricing_category(self.capacity_type)),
            pricing_unit: unit.clone(),
            billing_currency: some(rules::BILLING_CURRENCY),
            consumed_unit: unit,
            service_name: some(service),
            service_category: some(category),
            service_subcategory: some(subcategory),
            sku_meter: some(self.meter),
            resource_id: some(&self.resource_id),
            resource_name: some(self.resource_name),
            resource_type: some(resource_type),
            region_id: some(self.region),
            availability_zone: some(self.zone),
            x_cluster_name: some(ctx.cluster),
            x_node_pool: self.node_pool.and_then(some),
            x_cost_basis: some(ctx.pricing.basis().as_str()),
            x_price_source: some(self.price_source),
            ..ChargeCells::default()
        }
    }

    fn key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.resource_id,
            self.meter,
            self.start.format("%Y-%m-%dT%H:%M:%SZ")
        )
    }

    fn costs(&self, ctx: &Context<'_>, list: Fixed) -> Costs {
        self.rates(ctx).costs(list)
    }

    fn rates(&self, ctx: &Context<'_>) -> Rates {
        let (kind, part) = match self.metered {
            Metered::Node(resource) => (
                "node",
                match resource {
                    Resource::Cpu => Part::Cpu,
                    Resource::Memory => Part::Memory,
                    Resource::Gpu => Part::Gpu,
                },
            ),
            // Google bills Autopilot pods, which no reconciliation matches.
            Metered::AutopilotPod(_) => ("autopilot_pod", Part::Whole),
            Metered::Disk => ("disk", Part::Whole),
            Metered::LoadBalancer => ("load_balancer", Part::Whole),
            Metered::ClusterFee => ("cluster_fee", Part::Whole),
        };
        ctx.pricing.rates(&ChargeKey {
            cluster: ctx.cluster,
            kind,
            resource_id: self.metered_id,
            part,
            hour_ms: self.start.timestamp_millis(),
        })
    }
}

/// Who consumes a charge, as its rows name it: made once per container-hour
/// (or owner) and shared by the rows of its vCPU, memory and GPU.
#[derive(Clone)]
struct Identity {
    id: Arc<str>,
    name: Arc<str>,
    tags: Arc<str>,
    tenant: Arc<str>,
}

/// A consumer of an origin charge.
struct Consumer {
    identity: Identity,
    basis: Basis,
    list_cost: Fixed,
}

/// The metrics of a split, by index into its vectors.
const QUANTITY: usize = 0;
const LIST: usize = 1;
const CONTRACTED: usize = 2;
const EFFECTIVE: usize = 3;
const BILLED: usize = 4;
const RATIO: usize = 5;

fn metrics(quantity: Fixed, costs: Costs, ratio: Fixed) -> [Fixed; 6] {
    [
        quantity,
        costs.list,
        costs.contracted,
        costs.effective,
        costs.billed,
        ratio,
    ]
}

fn costs_of(m: &[Fixed; 6]) -> Costs {
    Costs {
        list: m[LIST],
        contracted: m[CONTRACTED],
        effective: m[EFFECTIVE],
        billed: m[BILLED],
    }
}

/// Writes `origin` split over `consumers` by `method`: their rows, then the
/// remainder's (unless nothing remains).
fn split_rows(
    ctx: &Context<'_>,
    origin: &Origin<'_>,
    quantity: Fixed,
    list_cost: Fixed,
    consumers: Vec<Consumer>,
    method: Method,
    out: &mut impl Rows,
) {
    let rates = origin.rates(ctx);
    let origin_costs = rates.costs(list_cost);
    let whole = metrics(quantity, origin_costs, Fixed::ONE);
    let shares: Vec<[Fixed; 6]> = consumers
        .iter()
        .map(|c| {
            let ratio = c
                .basis
                .billed
                .ratio_of(quantity)
                .or_else(|| c.list_cost.ratio_of(list_cost))
                .unwrap_or_default();
            metrics(c.basis.billed, rates.costs(c.list_cost), ratio)
        })
        .collect();
    let parts = split(&whole, shares);
    let mut charge = origin.template(ctx);
    charge.allocated_method_id = some(method.id);
    charge.x_split_origin_id = Some(Arc::from(origin.key()));
    charge.x_split_origin_cost = Some(origin_costs.billed);
    out.charge(&charge);
    let mut details = String::with_capacity(192);
    for (consumer, m) in consumers.iter().zip(&parts.consumers) {
        let basis = Basis {
            billed: m[QUANTITY],
            ..consumer.basis
        };
        let identity = &consumer.identity;
        rules::method_details(&mut details, m[RATIO], origin.unit, &basis, method.basis);
        out.line(&LineCells {
            allocated_method_details: Some(&details),
            allocated_resource_id: Some(&identity.id),
            allocated_resource_name: Some(&identity.name),
            allocated_tags: Some(&identity.tags),
            x_tenant: Some(&identity.tenant),
            ..line(m[QUANTITY], costs_of(m))
        });
    }
    let rest = &parts.remainder;
    if rest.iter().all(|m| m.is_zero()) {
        return;
    }
    let basis = Basis {
        billed: rest[QUANTITY],
        request: None,
        usage: None,
    };
    rules::method_details(&mut details, rest[RATIO], origin.unit, &basis, method.basis);
    out.line(&LineCells {
        allocated_method_details: Some(&details),
        ..line(rest[QUANTITY], costs_of(rest))
    });
}

/// The rows of one node-hour and the containers that ran on it.
pub fn node_hour(
    ctx: &Context<'_>,
    node: &NodeHour,
    containers: &[&ContainerHour],
    identities: &mut Identities,
    out: &mut impl Rows,
) {
    let hours = node.running_seconds / 3600.0;
    let (resource_id, sub_account) =
        rules::node_resource_id(node.provider_id.as_deref(), &node.node);
    let gpu_quantity = f64::from(node.gpus) * hours;
    let gpu_price = if gpu_quantity > 0.0 {
        node.gpu_cost_usd / gpu_quantity
    } else {
        0.0
    };
    let identities: Vec<Identity> = containers.iter().map(|c| identities.get(c)).collect();
    let resources = [
        (
            Resource::Cpu,
            node.vcpus * hours,
            node.cpu_core_hour_usd,
            node.cpu_cost_usd,
        ),
        (
            Resource::Memory,
            node.memory_gib * hours,
            node.memory_gib_hour_usd,
            node.memory_cost_usd,
        ),
        (Resource::Gpu, gpu_quantity, gpu_price, node.gpu_cost_usd),
    ];
    for (resource, quantity, price, cost) in resources {
        if quantity <= 0.0 && cost == 0.0 {
            continue;
        }
        let origin = Origin {
            provider: &node.provider,
            metered: Metered::Node(resource),
            start: node.start,
            end: node.end,
            resource_id: resource_id.clone(),
            resource_name: &node.node,
            metered_id: &node.node,
            sub_account: sub_account.clone(),
            region: &node.region,
            zone: &node.zone,
            capacity_type: &node.capacity_type,
            description: rules::node_description(&node.machine_type, resource, &node.region),
            node_pool: Some(&node.node_pool),
            price_source: &node.price_source,
            unit: resource.unit(),
            meter: resource.meter(),
            unit_price: fixed(price),
        };
        let consumers = containers
            .iter()
            .zip(&identities)
            .filter_map(|(c, identity)| container_share(c, identity, resource, gpu_price))
            .collect();
        split_rows(
            ctx,
            &origin,
            fixed(quantity),
            fixed(cost),
            consumers,
            rules::METHOD_NODE,
            out,
        );
    }
}

/// How a container-hour's rows name it.
fn identity(c: &ContainerHour) -> Identity {
    Identity {
        id: Arc::from(format!("{}/{}", c.pod_uid, c.container)),
        name: Arc::from(format!("{}/{}/{}", c.namespace, c.pod, c.container)),
        tags: Arc::from(rules::allocated_tags(&owner(c))),
        tenant: Arc::clone(&c.tenant),
    }
}

/// Containers' identities, made once and reused for every hour they ran:
/// a container runs ~24 hours a day, and its AllocatedTags (a JSON object
/// of every pod label) is the costliest text of its rows. An entry is reused
/// only while everything its identity is made of is unchanged (a label
/// edited mid-day makes a new one).
#[derive(Default)]
pub struct Identities {
    /// By pod UID: the pod's containers seen so far.
    by_pod: rustc_hash::FxHashMap<Arc<str>, Vec<(ContainerHour, Identity)>>,
}

impl Identities {
    fn get(&mut self, c: &ContainerHour) -> Identity {
        let same = |seen: &ContainerHour| {
            seen.container == c.container
                && seen.namespace == c.namespace
                && seen.pod == c.pod
                && seen.tenant == c.tenant
                && seen.workload_kind == c.workload_kind
                && seen.workload_name == c.workload_name
                && seen.labels == c.labels
        };
        if let Some(seen) = self.by_pod.get_mut(&*c.pod_uid) {
            if let Some((_, identity)) = seen.iter().find(|(seen, _)| same(seen)) {
                return identity.clone();
            }
            let made = identity(c);
            seen.push((c.clone(), made.clone()));
            return made;
        }
        let made = identity(c);
        self.by_pod
            .insert(Arc::clone(&c.pod_uid), vec![(c.clone(), made.clone())]);
        made
    }
}

/// What a container was charged of one resource of its node: `None` when
/// nothing.
fn container_share(
    c: &ContainerHour,
    identity: &Identity,
    resource: Resource,
    gpu_price: f64,
) -> Option<Consumer> {
    let (billed, request, usage, cost) = match resource {
        Resource::Cpu => (
            c.cpu_billed_core_hours,
            Some(c.cpu_request_core_hours),
            Some(c.cpu_usage_core_hours),
            c.cpu_cost_usd,
        ),
        Resource::Memory => (
            c.memory_billed_gib_hours,
            Some(c.memory_request_gib_hours),
            Some(c.memory_usage_gib_hours),
            c.memory_cost_usd,
        ),
        Resource::Gpu => {
            let held = if gpu_price > 0.0 {
                c.gpu_cost_usd / gpu_price
            } else {
                0.0
            };
            (held, None, None, c.gpu_cost_usd)
        }
    };
    if billed <= 0.0 && cost <= 0.0 {
        return None;
    }
    Some(Consumer {
        identity: identity.clone(),
        basis: Basis {
            billed: fixed(billed),
            request: request.map(fixed),
            usage: usage.map(fixed),
        },
        list_cost: fixed(cost),
    })
}

fn owner(c: &ContainerHour) -> Owner<'_> {
    Owner {
        namespace: &c.namespace,
        tenant: &c.tenant,
        workload_kind: &c.workload_kind,
        workload_name: &c.workload_name,
        labels: &c.labels,
    }
}

/// The rows of a container-hour that no node-hour's split holds: a GKE
/// Autopilot pod's (Google bills pods there, not nodes), or one whose node
/// row is missing. Plain charges, one per resource it cost.
pub fn lone_container(ctx: &Context<'_>, c: &ContainerHour, out: &mut impl Rows) {
    let autopilot = c.price_source.starts_with("autopilot");
    let resources = [
        (Resource::Cpu, c.cpu_billed_core_hours, c.cpu_cost_usd),
        (
            Resource::Memory,
            c.memory_billed_gib_hours,
            c.memory_cost_usd,
        ),
        (Resource::Gpu, 0.0, c.gpu_cost_usd),
    ];
    for (resource, quantity, cost) in resources {
        if cost == 0.0 {
            continue;
        }
        let price = if quantity > 0.0 { cost / quantity } else { 0.0 };
        let (metered, resource_id, name) = if autopilot {
            (
                Metered::AutopilotPod(resource),
                format!("{}/{}", c.pod_uid, c.container),
                format!("{}/{}/{}", c.namespace, c.pod, c.container),
            )
        } else {
            (
                Metered::Node(resource),
                c.node.to_string(),
                c.node.to_string(),
            )
        };
        let origin = Origin {
            provider: &c.provider,
            metered,
            start: c.start,
            end: c.end,
            resource_id,
            resource_name: &name,
            metered_id: &c.node,
            sub_account: None,
            region: &c.region,
            zone: &c.zone,
            capacity_type: &c.capacity_type,
            description: format!("{} {} of {}", resource.unit(), c.container, c.pod),
            node_pool: None,
            price_source: &c.price_source,
            unit: resource.unit(),
            meter: resource.meter(),
            unit_price: fixed(price),
        };
        let costs = origin.costs(ctx, fixed(cost));
        origin.plain(ctx, fixed(quantity), costs, &c.tenant, out);
    }
}

/// The rows of a disk, load balancer or the cluster fee for an hour: split
/// to its owner (the claim or Service's namespace) with method
/// [`rules::METHOD_OWNER`], or a plain charge of tenant `__shared__` when
/// nothing owns it.
pub fn resource_hour(ctx: &Context<'_>, r: &ResourceHour, out: &mut impl Rows) {
    let (metered, resource_id, description) = match r.kind.as_str() {
        "disk" => (
            Metered::Disk,
            rules::disk_resource_id(&r.provider, &r.provider_resource_id, &r.resource_id),
            format!("{} disk {}", r.sku, r.resource_name),
        ),
        "load_balancer" => (
            Metered::LoadBalancer,
            if r.provider_resource_id.is_empty() {
                r.resource_id.clone()
            } else {
                r.provider_resource_id.clone()
            },
            format!("{} load balancer of Service {}", r.sku, r.resource_name),
        ),
        _ => (
            Metered::ClusterFee,
            ctx.cluster.to_owned(),
            format!("{} cluster management fee", r.resource_name),
        ),
    };
    let origin = Origin {
        provider: &r.provider,
        metered,
        start: r.start,
        end: r.end,
        resource_id,
        resource_name: &r.resource_name,
        metered_id: &r.resource_id,
        sub_account: None,
        region: &r.region,
        zone: "",
        capacity_type: "",
        description,
        node_pool: None,
        price_source: &r.price_source,
        unit: "Hours",
        meter: match metered {
            Metered::Disk => "Storage",
            Metered::LoadBalancer => "Load Balancing",
            _ => "Cluster Management",
        },
        unit_price: fixed(r.hourly_usd),
    };
    let quantity = fixed(r.running_seconds / 3600.0);
    let list = fixed(r.cost_usd);
    if r.namespace.is_empty() {
        let costs = origin.costs(ctx, list);
        origin.plain(ctx, quantity, costs, &r.tenant, out);
        return;
    }
    let (id, name) = match metered {
        Metered::Disk if !r.claim.is_empty() => (r.claim.clone(), r.claim.clone()),
        _ => (
            r.resource_id.clone(),
            format!("{}/{}", r.namespace, r.resource_name),
        ),
    };
    let consumer = Consumer {
        identity: Identity {
            id: Arc::from(id),
            name: Arc::from(name),
            tags: Arc::from(rules::allocated_tags(&Owner {
                namespace: &r.namespace,
                tenant: &r.tenant,
                ..Owner::default()
            })),
            tenant: Arc::from(r.tenant.as_str()),
        },
        basis: Basis {
            billed: quantity,
            request: None,
            usage: None,
        },
        list_cost: list,
    };
    split_rows(
        ctx,
        &origin,
        quantity,
        list,
        vec![consumer],
        rules::METHOD_OWNER,
        out,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(labels: &[(&str, &str)]) -> ContainerHour {
        ContainerHour {
            namespace: "shop".into(),
            tenant: "acme".into(),
            pod: "web-1".into(),
            pod_uid: "uid-1".into(),
            container: "app".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (Arc::from(*k), Arc::from(*v)))
                .collect(),
            ..ContainerHour::default()
        }
    }

    #[test]
    fn a_containers_identity_is_reused_until_what_it_is_made_of_changes() {
        let mut identities = Identities::default();
        let first = identities.get(&container(&[("app", "web")]));
        let again = identities.get(&container(&[("app", "web")]));
        assert!(Arc::ptr_eq(&first.tags, &again.tags), "made once");
        assert_eq!(&*first.id, "uid-1/app");
        assert_eq!(&*first.name, "shop/web-1/app");
        let relabelled = identities.get(&container(&[("app", "web"), ("tier", "gold")]));
        assert_ne!(first.tags, relabelled.tags, "a new label is a new identity");
        assert!(relabelled.tags.contains("gold"), "{}", relabelled.tags);
        let back = identities.get(&container(&[("app", "web")]));
        assert!(Arc::ptr_eq(&first.tags, &back.tags));
    }
}
