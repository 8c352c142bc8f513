//! The bill the simulated cluster would get from its clouds
//! (`kubetally sim bill`), in the format of each export, so that
//! reconciliation can be tested end to end without a real account.
//!
//! It bills exactly what was metered (a dataset's node and resource hours,
//! named as each cloud names them: GCE instances by name with separate core
//! and RAM lines, EC2 instances and EBS volumes by id, ELBs by ARN, Azure
//! scale-set instances in `AdditionalInfo.VMName`), at kubetally's list
//! cost, then applies per-family discounts the way each export shows them
//! (GCP credits, AWS savings plans, a negotiated price elsewhere) and adds
//! one line the cluster pays but kubetally does not meter: internet egress.

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::model::metered::{Metered, MeteredKind};

/// The exports `sim bill` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// FOCUS 1.2 cost and usage, every cloud's resources in one file.
    Focus,
    /// GCP's detailed usage cost export (BigQuery → CSV): GCP resources.
    Gcp,
    /// AWS CUR 2.0: AWS resources.
    AwsCur2,
    /// Azure cost details (daily): Azure resources.
    Azure,
}

/// What to bill, and how much cheaper than list.
#[derive(Debug, Clone, PartialEq)]
pub struct BillSpec {
    pub export: Export,
    /// The cluster's name on the cloud (its resources' cluster labels).
    pub cluster: String,
    /// (family, fraction): a committed-use, savings-plan or negotiated
    /// discount on a machine family (`e2`), a resource sku (`pd-balanced`)
    /// or a kind (`disk`, `load_balancer`, `cluster_fee`, `node`).
    pub discounts: Vec<(String, f64)>,
    /// (family, fraction): GCP sustained-use credits; other exports have
    /// none and add it to the family's discount.
    pub sustained: Vec<(String, f64)>,
    /// One internet egress line of this many USD in the first period,
    /// labelled as the cluster's: cost kubetally does not meter.
    pub egress_usd: f64,
}

const ACCOUNT: &str = "123456789012";
const SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000001";

/// One charge before it is written in an export's columns.
#[derive(Debug, Clone, Default)]
struct Charge {
    start: i64,
    end: i64,
    cloud: &'static str,
    service: String,
    sku_id: String,
    description: String,
    resource_id: String,
    resource_name: String,
    vm_instance: String,
    account: String,
    region: String,
    zone: String,
    usage: f64,
    unit: &'static str,
    list: f64,
    discount: f64,
    sustained: f64,
    labels: Vec<(&'static str, String)>,
}

impl Charge {
    /// What is paid after every discount.
    fn effective(&self) -> f64 {
        self.list * (1.0 - self.discount - self.sustained)
    }
}

/// Writes the bill of `metered` as `spec` says to `out` (CSV) and returns
/// the lines written.
///
/// # Errors
///
/// Writing to `out` fails.
pub fn write_bill(
    metered: &[Metered],
    spec: &BillSpec,
    out: impl Write,
) -> Result<usize, csv::Error> {
    let mut charges: Vec<Charge> = metered
        .iter()
        .filter(|m| billed_here(spec.export, &m.provider))
        .flat_map(|m| charges_of(m, spec))
        .filter(|c| c.list > 0.0)
        .collect();
    let first = metered.iter().map(|m| m.hour_unix_s).min();
    if let Some(first) = first.filter(|_| spec.egress_usd > 0.0) {
        charges.push(egress(spec, first));
    }
    if spec.export == Export::Azure {
        charges = daily(charges);
    }
    let mut writer = csv::Writer::from_writer(out);
    let header: &[&str] = match spec.export {
        Export::Focus => FOCUS,
        Export::Gcp => GCP,
        Export::AwsCur2 => CUR2,
        Export::Azure => AZURE,
    };
    writer.write_record(header)?;
    let mut lines = 0;
    for charge in &charges {
        for record in records(spec.export, charge) {
            writer.write_record(&record)?;
            lines += 1;
        }
    }
    writer.flush()?;
    Ok(lines)
}

fn billed_here(export: Export, provider: &str) -> bool {
    match export {
        Export::Focus => matches!(provider, "gcp" | "aws" | "azure"),
        Export::Gcp => provider == "gcp",
        Export::AwsCur2 => provider == "aws",
        Export::Azure => provider == "azure",
    }
}

fn rate(list: &[(String, f64)], m: &Metered) -> f64 {
    list.iter()
        .filter(|(family, _)| *family == m.family || family == m.kind.as_str())
        .map(|(_, rate)| *rate)
        .sum()
}

/// The cluster label of a cloud.
fn cluster_label(cloud: &str) -> &'static str {
    match cloud {
        "aws" => "aws:eks:cluster-name",
        "azure" => "aks-managed-cluster-name",
        _ => "goog-k8s-cluster-name",
    }
}

fn charges_of(m: &Metered, spec: &BillSpec) -> Vec<Charge> {
    let cloud: &'static str = match m.provider.as_str() {
        "aws" => "aws",
        "azure" => "azure",
        _ => "gcp",
    };
    let (mut discount, mut sustained) = (rate(&spec.discounts, m), rate(&spec.sustained, m));
    if spec.export != Export::Gcp && cloud != "gcp" {
        discount += sustained;
        sustained = 0.0;
    }
    let base = Charge {
        start: m.hour_unix_s,
        end: m.hour_unix_s + 3600,
        cloud,
        region: m.region.clone(),
        zone: m.zone.clone(),
        usage: m.running_seconds / 3600.0,
        unit: "hour",
        list: m.cost.total_usd(),
        discount,
        sustained,
        labels: vec![(cluster_label(cloud), spec.cluster.clone())],
        ..Charge::default()
    };
    match (cloud, m.kind) {
        ("gcp", MeteredKind::Node) => gce_instance(m, base),
        ("gcp", _) => vec![gcp_resource(m, base)],
        ("aws", _) => vec![aws_resource(m, base)],
        _ => vec![azure_resource(m, base)],
    }
}

/// A GCE VM's core, RAM and GPU lines, named `projects/P/instances/N`.
fn gce_instance(m: &Metered, base: Charge) -> Vec<Charge> {
    // A dataset written before `provider_id` existed: GKE names the node
    // as its instance.
    let fallback = format!("gce://kubetally-sim/{}/{}", m.zone, m.resource_id);
    let id = match m.provider_id.as_str() {
        "" => &fallback,
        id => id,
    };
    let mut parts = id.trim_start_matches("gce://").split('/');
    let project = parts.next().unwrap_or_default().to_owned();
    let zone = parts.next().unwrap_or_default().to_owned();
    let name = parts.next().unwrap_or(&m.resource_id).to_owned();
    let family = m.family.to_ascii_uppercase();
    let line = |what: &str, sku: &str, list: f64| Charge {
        service: "Compute Engine".into(),
        sku_id: sku.into(),
        description: format!("{family} Instance {what} running in Americas"),
        resource_id: format!(
            "//compute.googleapis.com/projects/{project}/zones/{zone}/instances/{name}"
        ),
        resource_name: format!("projects/{project}/instances/{name}"),
        account: project.clone(),
        zone: zone.clone(),
        list,
        ..base.clone()
    };
    vec![
        line("Core", "CF4E-A0C7-E3BF", m.cost.cpu_usd),
        line("Ram", "F449-33EC-A5EF", m.cost.memory_usd),
        Charge {
            description: "Nvidia GPU running in Americas".into(),
            ..line("Gpu", "039F-D0DA-4055", m.cost.gpu_usd)
        },
    ]
}

/// The legacy L4 balancer name of a Service: `a` + its UID without
/// dashes, 32 characters (the cloud provider's `DefaultLoadBalancerName`).
fn legacy_balancer_name(uid: &str) -> String {
    let compact: String = uid.chars().filter(|c| *c != '-').collect();
    format!("a{}", compact.chars().take(31).collect::<String>())
}

fn gcp_resource(m: &Metered, base: Charge) -> Charge {
    let project = "kubetally-sim".to_owned();
    match m.kind {
        MeteredKind::Disk => {
            let name = m
                .provider_id
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            let zone = m
                .provider_id
                .split("/zones/")
                .nth(1)
                .and_then(|z| z.split('/').next())
                .unwrap_or_default()
                .to_owned();
            let kind = match m.family.as_str() {
                "pd-standard" => "Storage PD Capacity".to_owned(),
                "pd-ssd" => "SSD backed PD Capacity".to_owned(),
                "pd-balanced" => "Balanced PD Capacity".to_owned(),
                other => format!("{other} PD Capacity"),
            };
            let regional = if zone.is_empty() { "Regional " } else { "" };
            Charge {
                service: "Compute Engine".into(),
                sku_id: "D973-5D65-BAB2".into(),
                description: format!("{regional}{kind}"),
                resource_id: name.clone(),
                resource_name: name,
                account: project,
                zone,
                usage: m.size_gib.unwrap_or(0.0) * m.running_seconds / 3600.0 / 730.0,
                unit: "gibibyte month",
                ..base
            }
        }
        MeteredKind::LoadBalancer => Charge {
            service: "Compute Engine".into(),
            sku_id: "E9F0-CE4B-A8B5".into(),
            description:
                "Network Load Balancing: Forwarding Rule Minimum Service Charge in Americas".into(),
            resource_name: legacy_balancer_name(&m.resource_id),
            account: project,
            ..base
        },
        _ => Charge {
            service: "Kubernetes Engine".into(),
            sku_id: "B561-BFBD-1264".into(),
            description: "Regional Kubernetes Clusters".into(),
            resource_name: base.labels[0].1.clone(),
            account: project,
            ..base
        },
    }
}

fn aws_resource(m: &Metered, base: Charge) -> Charge {
    let region = if m.region.is_empty() {
        "us-east-1"
    } else {
        &m.region
    };
    let last = m.provider_id.rsplit('/').next().unwrap_or_default();
    let (service, usage_type, id) = match m.kind {
        MeteredKind::Node => (
            "AmazonEC2",
            format!("BoxUsage:{}", m.family),
            last.to_owned(),
        ),
        MeteredKind::Disk => (
            "AmazonEC2",
            format!("EBS:VolumeUsage.{}", m.family),
            last.to_owned(),
        ),
        MeteredKind::LoadBalancer => {
            let label = m.provider_id.split('.').next().unwrap_or_default();
            (
                "AWSELB",
                "LoadBalancerUsage".to_owned(),
                format!(
                    "arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:loadbalancer/net/{label}/0123456789abcdef"
                ),
            )
        }
        MeteredKind::ClusterFee => (
            "AmazonEKS",
            "USE1-AmazonEKS-Hours:perCluster".to_owned(),
            format!(
                "arn:aws:eks:{region}:{ACCOUNT}:cluster/{}",
                base.labels[0].1
            ),
        ),
    };
    let zone = m
        .provider_id
        .strip_prefix("aws:///")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned();
    Charge {
        service: service.into(),
        description: format!("{usage_type} in {region}"),
        sku_id: usage_type,
        resource_id: id,
        account: ACCOUNT.into(),
        region: region.to_owned(),
        zone,
        ..base
    }
}

fn azure_resource(m: &Metered, base: Charge) -> Charge {
    let (service, description, id, instance) = match m.kind {
        MeteredKind::Node => {
            let path = m.provider_id.trim_start_matches("azure://");
            match path.split_once("/virtualMachines/") {
                Some((set, k)) if set.contains("/virtualMachineScaleSets/") => {
                    let name = set.rsplit('/').next().unwrap_or_default();
                    (
                        "Virtual Machines",
                        m.family.clone(),
                        set.to_owned(),
                        format!("{name}_{k}"),
                    )
                }
                _ => (
                    "Virtual Machines",
                    m.family.clone(),
                    path.to_owned(),
                    String::new(),
                ),
            }
        }
        MeteredKind::Disk => (
            "Storage",
            m.family.clone(),
            m.provider_id.clone(),
            String::new(),
        ),
        MeteredKind::LoadBalancer => (
            "Load Balancer",
            "Standard Load Balancer".into(),
            format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/mc_rg/providers/Microsoft.Network/loadBalancers/kubernetes"
            ),
            String::new(),
        ),
        MeteredKind::ClusterFee => (
            "Azure Kubernetes Service",
            "Standard Uptime SLA".into(),
            format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/{}",
                base.labels[0].1
            ),
            String::new(),
        ),
    };
    Charge {
        service: service.into(),
        description,
        resource_id: id,
        vm_instance: instance,
        account: SUBSCRIPTION.into(),
        ..base
    }
}

fn egress(spec: &BillSpec, first: i64) -> Charge {
    let cloud = match spec.export {
        Export::AwsCur2 => "aws",
        Export::Azure => "azure",
        _ => "gcp",
    };
    let (service, description) = match cloud {
        "aws" => ("AWSDataTransfer", "DataTransfer-Out-Bytes"),
        "azure" => ("Bandwidth", "Standard Data Transfer Out"),
        _ => (
            "Networking",
            "Network Internet Data Transfer Out from Americas to Americas",
        ),
    };
    Charge {
        start: first,
        end: first + 3600,
        cloud,
        service: service.into(),
        sku_id: description.into(),
        description: description.into(),
        account: match cloud {
            "aws" => ACCOUNT.into(),
            "azure" => SUBSCRIPTION.into(),
            _ => "kubetally-sim".into(),
        },
        usage: spec.egress_usd / 0.12,
        unit: "gibibyte",
        list: spec.egress_usd,
        labels: vec![(cluster_label(cloud), spec.cluster.clone())],
        ..Charge::default()
    }
}

/// Azure's cost details are daily: one charge per resource and day.
fn daily(charges: Vec<Charge>) -> Vec<Charge> {
    let mut days: Vec<Charge> = Vec::new();
    for charge in charges {
        let day = charge.start - charge.start.rem_euclid(86_400);
        let same = days.iter_mut().find(|d| {
            d.start == day
                && d.resource_id == charge.resource_id
                && d.vm_instance == charge.vm_instance
                && d.description == charge.description
        });
        match same {
            // Discounts are per family, so one resource's hours share them.
            Some(d) => {
                d.list += charge.list;
                d.usage += charge.usage;
            }
            None => days.push(Charge {
                start: day,
                end: day + 86_400,
                ..charge
            }),
        }
    }
    days
}

fn time(unix_s: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix_s, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn money(usd: f64) -> String {
    format!("{usd:.10}")
}

fn labels_json(labels: &[(&str, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

const GCP: &[&str] = &[
    "billing_account_id",
    "service.description",
    "sku.id",
    "sku.description",
    "usage_start_time",
    "usage_end_time",
    "project.id",
    "labels",
    "location.region",
    "location.zone",
    "cost",
    "currency",
    "usage.amount",
    "usage.unit",
    "credits",
    "resource.name",
    "resource.global_name",
    "cost_type",
    "cost_at_list",
];

const CUR2: &[&str] = &[
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_line_item_type",
    "line_item_unblended_cost",
    "line_item_resource_id",
    "line_item_product_code",
    "line_item_usage_type",
    "line_item_line_item_description",
    "line_item_availability_zone",
    "product_region_code",
    "line_item_usage_account_id",
    "line_item_usage_amount",
    "pricing_unit",
    "line_item_currency_code",
    "pricing_public_on_demand_cost",
    "savings_plan_savings_plan_effective_cost",
    "resource_tags",
];

const AZURE: &[&str] = &[
    "Date",
    "SubscriptionId",
    "MeterCategory",
    "MeterName",
    "ProductName",
    "ResourceId",
    "ResourceLocation",
    "Quantity",
    "UnitOfMeasure",
    "CostInBillingCurrency",
    "PayGCostInBillingCurrency",
    "BillingCurrency",
    "ChargeType",
    "PricingModel",
    "AdditionalInfo",
    "Tags",
];

const FOCUS: &[&str] = &[
    "ProviderName",
    "SubAccountId",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeDescription",
    "ServiceName",
    "SkuId",
    "RegionId",
    "AvailabilityZone",
    "ResourceId",
    "ResourceName",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ListCost",
    "BilledCost",
    "EffectiveCost",
    "BillingCurrency",
    "Tags",
    "x_SkuDetails",
];

/// The rows of one charge in an export's columns (an AWS savings plan
/// covers a line in two rows: the covered usage and its negation).
fn records(export: Export, c: &Charge) -> Vec<Vec<String>> {
    match export {
        Export::Gcp => {
            let mut credits = Vec::new();
            for (kind, name, rate) in [
                (
                    "COMMITTED_USAGE_DISCOUNT",
                    "Committed use discount",
                    c.discount,
                ),
                (
                    "SUSTAINED_USAGE_DISCOUNT",
                    "Sustained usage discount",
                    c.sustained,
                ),
            ] {
                if rate > 0.0 {
                    credits.push(serde_json::json!({
                        "name": name, "type": kind, "amount": -c.list * rate,
                    }));
                }
            }
            vec![vec![
                "01A2B3-C4D5E6-F7A8B9".into(),
                c.service.clone(),
                c.sku_id.clone(),
                c.description.clone(),
                time(c.start),
                time(c.end),
                c.account.clone(),
                labels_json(&c.labels),
                c.region.clone(),
                c.zone.clone(),
                money(c.list),
                "USD".into(),
                format!("{}", c.usage),
                c.unit.into(),
                serde_json::Value::Array(credits).to_string(),
                c.resource_name.clone(),
                c.resource_id.clone(),
                "regular".into(),
                money(c.list),
            ]]
        }
        Export::AwsCur2 => {
            let row = |line_type: &str, unblended: f64, sp: Option<f64>| {
                vec![
                    time(c.start),
                    time(c.end),
                    line_type.to_owned(),
                    money(unblended),
                    c.resource_id.clone(),
                    c.service.clone(),
                    c.sku_id.clone(),
                    c.description.clone(),
                    c.zone.clone(),
                    c.region.clone(),
                    c.account.clone(),
                    format!("{}", c.usage),
                    c.unit.to_owned(),
                    "USD".into(),
                    money(if unblended < 0.0 { 0.0 } else { c.list }),
                    sp.map(money).unwrap_or_default(),
                    labels_json(&c.labels),
                ]
            };
            if c.discount > 0.0 {
                vec![
                    row("SavingsPlanCoveredUsage", c.list, Some(c.effective())),
                    row("SavingsPlanNegation", -c.list, None),
                ]
            } else {
                vec![row("Usage", c.list, None)]
            }
        }
        Export::Azure => {
            let info = if c.vm_instance.is_empty() {
                String::new()
            } else {
                serde_json::json!({ "VMName": c.vm_instance }).to_string()
            };
            vec![vec![
                DateTime::<Utc>::from_timestamp(c.start, 0)
                    .unwrap_or_default()
                    .format("%Y-%m-%d")
                    .to_string(),
                c.account.clone(),
                c.service.clone(),
                c.description.clone(),
                c.description.clone(),
                c.resource_id.clone(),
                c.region.clone(),
                format!("{}", c.usage),
                c.unit.into(),
                money(c.effective()),
                money(c.list),
                "USD".into(),
                "Usage".into(),
                "OnDemand".into(),
                info,
                labels_json(&c.labels),
            ]]
        }
        Export::Focus => {
            let provider = match c.cloud {
                "aws" => "AWS",
                "azure" => "Microsoft",
                _ => "Google Cloud",
            };
            let details = if c.vm_instance.is_empty() {
                String::new()
            } else {
                serde_json::json!({ "VMName": c.vm_instance }).to_string()
            };
            let name = if c.resource_name.is_empty() {
                c.resource_id
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            } else {
                c.resource_name.clone()
            };
            vec![vec![
                provider.into(),
                c.account.clone(),
                time(c.start),
                time(c.end),
                "Usage".into(),
                c.description.clone(),
                c.service.clone(),
                c.sku_id.clone(),
                c.region.clone(),
                c.zone.clone(),
                if c.resource_id.is_empty() {
                    name.clone()
                } else {
                    c.resource_id.clone()
                },
                name,
                format!("{}", c.usage),
                c.unit.into(),
                money(c.list),
                money(c.effective()),
                money(c.effective()),
                "USD".into(),
                labels_json(&c.labels),
                details,
            ]]
        }
    }
}
