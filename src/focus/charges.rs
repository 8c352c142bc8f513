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

/// Text that a thread's charges repeat, each value made once.
///
/// Charge after charge, ~40 text columns take the same few values (the
/// provider, the account, the service, a node's region and id). Made
/// anew per charge they were ~40 allocations a charge, and a row group
/// kept a copy of each, because it keys text by the `Arc`'s address
/// (`store::focus::batch`); the same `Arc` is found there at once.
#[derive(Default)]
struct Texts(rustc_hash::FxHashSet<Arc<str>>);

impl Texts {
    /// `s` as shared text; an empty string is a null cell.
    fn get(&mut self, s: &str) -> Text {
        if s.is_empty() {
            return None;
        }
        if let Some(text) = self.0.get(s) {
            return Some(Arc::clone(text));
        }
        let text: Arc<str> = Arc::from(s);
        self.0.insert(Arc::clone(&text));
        Some(text)
    }
}

/// What a thread keeps from charge to charge of a day: the text its
/// charges repeat and its consumers' identities. Dropped at the end of a
/// cluster's day, so it stays a day's size.
#[derive(Default)]
pub struct Memo {
    texts: Texts,
    identities: Identities,
    /// The pods' text as the input makes it.
    pub pods: super::input::Pods,
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
        memo: &mut Memo,
        out: &mut impl Rows,
    ) {
        out.charge(&self.template(ctx, &mut memo.texts));
        let tenant = memo.texts.get(tenant);
        out.line(&LineCells {
            x_tenant: tenant.as_ref(),
            ..line(quantity, costs)
        });
    }

    /// The columns every row of this charge shares: all but the quantity,
    /// the costs and the allocation's.
    fn template(&self, ctx: &Context<'_>, texts: &mut Texts) -> ChargeCells {
        let (provider, publisher, issuer) = rules::provider_names(self.provider);
        let (service, category, subcategory, resource_type) =
            rules::service(self.provider, self.metered);
        let (period_start, period_end) = rules::billing_period(self.start);
        let mut some = |s: &str| texts.get(s);
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
            sub_account_id: self.sub_account.as_deref().and_then(&mut some),
            sub_account_type: self
                .sub_account
                .as_ref()
                .and_then(|_| rules::sub_account_type(self.provider))
                .and_then(&mut some),
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
            x_node_pool: self.node_pool.and_then(&mut some),
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

/// An origin charge's quantity and list cost: what its rows split.
#[derive(Debug, Clone, Copy)]
struct Whole {
    quantity: Fixed,
    list_cost: Fixed,
}

/// Writes `origin` split over `consumers` by `method`: their rows, then the
/// remainder's (unless nothing remains).
fn split_rows(
    ctx: &Context<'_>,
    origin: &Origin<'_>,
    Whole {
        quantity,
        list_cost,
    }: Whole,
    consumers: Vec<Consumer>,
    method: Method,
    texts: &mut Texts,
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
    let mut charge = origin.template(ctx, texts);
    charge.allocated_method_id = texts.get(method.id);
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
    memo: &mut Memo,
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
    let identities: Vec<Identity> = containers.iter().map(|c| memo.identities.get(c)).collect();
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
            Whole {
                quantity: fixed(quantity),
                list_cost: fixed(cost),
            },
            consumers,
            rules::METHOD_NODE,
            &mut memo.texts,
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
/// only while everything its identity is made of is unchanged: the pod's
/// text, which the input numbers by version (`input::Pods`; a label edited
/// mid-day is a new version), and the container's name.
#[derive(Default)]
struct Identities {
    /// By pod version: the pod's containers seen so far.
    by_pod: Vec<Vec<(Arc<str>, Identity)>>,
}

impl Identities {
    fn get(&mut self, c: &ContainerHour) -> Identity {
        if c.pod_version == 0 {
            // Not read through `input::Pods`: nothing says it is the same.
            return identity(c);
        }
        let at = c.pod_version as usize;
        if at >= self.by_pod.len() {
            self.by_pod.resize_with(at + 1, Vec::new);
        }
        let seen = &mut self.by_pod[at];
        if let Some((_, identity)) = seen.iter().find(|(name, _)| *name == c.container) {
            return identity.clone();
        }
        let made = identity(c);
        seen.push((Arc::clone(&c.container), made.clone()));
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
pub fn lone_container(ctx: &Context<'_>, c: &ContainerHour, memo: &mut Memo, out: &mut impl Rows) {
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
        origin.plain(ctx, fixed(quantity), costs, &c.tenant, memo, out);
    }
}

/// The rows of a disk, load balancer or the cluster fee for an hour: split
/// to its owner (the claim or Service's namespace) with method
/// [`rules::METHOD_OWNER`], or a plain charge of tenant `__shared__` when
/// nothing owns it.
pub fn resource_hour(ctx: &Context<'_>, r: &ResourceHour, memo: &mut Memo, out: &mut impl Rows) {
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
        origin.plain(ctx, quantity, costs, &r.tenant, memo, out);
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
        Whole {
            quantity,
            list_cost: list,
        },
        vec![consumer],
        rules::METHOD_OWNER,
        &mut memo.texts,
        out,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(pod_version: u32, name: &str, labels: &[(&str, &str)]) -> ContainerHour {
        ContainerHour {
            namespace: "shop".into(),
            tenant: "acme".into(),
            pod: "web-1".into(),
            pod_uid: "uid-1".into(),
            pod_version,
            container: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (Arc::from(*k), Arc::from(*v)))
                .collect(),
            ..ContainerHour::default()
        }
    }

    #[test]
    fn a_containers_identity_is_reused_while_its_pod_version_and_name_are() {
        let mut identities = Identities::default();
        let first = identities.get(&container(1, "app", &[("app", "web")]));
        let again = identities.get(&container(1, "app", &[("app", "web")]));
        assert!(Arc::ptr_eq(&first.tags, &again.tags), "made once");
        assert_eq!(&*first.id, "uid-1/app");
        assert_eq!(&*first.name, "shop/web-1/app");
        let sidecar = identities.get(&container(1, "proxy", &[("app", "web")]));
        assert_eq!(&*sidecar.id, "uid-1/proxy", "another container of the pod");
        let relabelled = identities.get(&container(2, "app", &[("app", "web"), ("tier", "gold")]));
        assert_ne!(
            first.tags, relabelled.tags,
            "a new pod version is a new identity"
        );
        assert!(relabelled.tags.contains("gold"), "{}", relabelled.tags);
        let back = identities.get(&container(1, "app", &[("app", "web")]));
        assert!(Arc::ptr_eq(&first.tags, &back.tags));
        let unnumbered = identities.get(&container(0, "app", &[("app", "api")]));
        assert!(unnumbered.tags.contains("api"), "version 0 is never reused");
    }
}
