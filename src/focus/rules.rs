//! Every rule of what a FOCUS column says for a kubetally charge, in one
//! place: provider and service names as each cloud writes them in its own
//! FOCUS export, resource ids in the provider's format, units, the method
//! ids, and the JSON of `AllocatedMethodDetails` and `AllocatedTags`.
//!
//! The names follow the focus-data-toolkit's FOCUS 1.3 samples of each
//! cloud (`shared/billing/focus-data-toolkit-1.3-synthetic/`), so a
//! warehouse that holds the cloud's own FOCUS rows groups ours with them.
//! docs/focus.md lists each column and the rule behind it.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::model::fixed::Fixed;
use crate::model::provider_id::Instance;

/// A split method: its `AllocatedMethodId` and the basis its details name
/// (`x_Basis`). Each id is documented in docs/focus.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    pub id: &'static str,
    pub basis: &'static str,
}

/// A node-hour's split: each container is charged `max(request, usage)`
/// of each resource (after the overcommit rule, docs/cost-model.md); the
/// remainder is the node's idle capacity.
pub const METHOD_NODE: Method = Method {
    id: "kubetally/max-request-usage-v1",
    basis: "max(request, usage)",
};

/// A disk's or load balancer's split: the whole charge goes to the claim
/// or Service that owns it.
pub const METHOD_OWNER: Method = Method {
    id: "kubetally/owner-v1",
    basis: "owner",
};

/// Prefix of the tags kubetally defines in `AllocatedTags` (the data
/// generator's own tag scheme, FOCUS 1.3 AllocatedTags).
pub const TAG_PREFIX: &str = "kubetally.io/";

/// Prefix of a pod label in `AllocatedTags` (the user-defined scheme).
pub const LABEL_PREFIX: &str = "k8s-label/";

pub const CHARGE_CATEGORY: &str = "Usage";
pub const CHARGE_FREQUENCY: &str = "Usage-Based";
pub const BILLING_CURRENCY: &str = "USD";

/// The provider's names: (ProviderName = ServiceProviderName =
/// HostProviderName, PublisherName, InvoiceIssuerName).
pub fn provider_names(provider: &str) -> (&str, &str, &str) {
    match provider {
        "gcp" => ("Google Cloud", "Google", "Google Cloud"),
        "aws" => ("AWS", "AWS", "AWS"),
        "azure" => ("Microsoft Azure", "Microsoft", "Microsoft Azure"),
        other => (other, other, other),
    }
}

/// BillingAccountType: the provider's word for the account given with
/// `--billing-account`, or `Kubernetes Cluster` when the account defaults
/// to the cluster's name.
pub fn billing_account_type(provider: &str, given: bool) -> &str {
    match (provider, given) {
        (_, false) => "Kubernetes Cluster",
        ("gcp", true) => "Billing Account",
        ("aws", true) => "Payer Account",
        ("azure", true) => "Billing Account",
        (other, true) => other,
    }
}

/// The provider's name for a sub-account (GCP project, AWS linked account,
/// Azure subscription).
pub fn sub_account_type(provider: &str) -> Option<&'static str> {
    match provider {
        "gcp" => Some("Project"),
        "aws" => Some("Linked Account"),
        "azure" => Some("Subscription"),
        _ => None,
    }
}

/// What was metered: a charge's kind, as it decides its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metered {
    /// A node VM's vCPU, memory or GPU for an hour.
    Node(Resource),
    /// A GKE Autopilot pod's request (billed by Google per pod).
    AutopilotPod(Resource),
    Disk,
    LoadBalancer,
    ClusterFee,
}

/// A resource of a node-hour: each is its own origin charge, as GCP bills a
/// VM's cores and RAM on separate SKUs and AWS splits an EKS node's cost
/// into vCPU-hours and GB-hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Cpu,
    Memory,
    Gpu,
}

impl Resource {
    /// PricingUnit, ConsumedUnit and the details' UsageUnit.
    pub fn unit(self) -> &'static str {
        match self {
            Resource::Cpu => "Core-Hours",
            Resource::Memory => "GiB-Hours",
            Resource::Gpu => "GPU-Hours",
        }
    }

    /// SkuMeter: the part of the VM metered.
    pub fn meter(self) -> &'static str {
        match self {
            Resource::Cpu => "Compute vCPU",
            Resource::Memory => "Compute Memory",
            Resource::Gpu => "GPU",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Resource::Cpu => "vCPU",
            Resource::Memory => "RAM",
            Resource::Gpu => "GPU",
        }
    }
}

/// (ServiceName, ServiceCategory, ServiceSubcategory, ResourceType).
pub fn service(
    provider: &str,
    metered: Metered,
) -> (&'static str, &'static str, &'static str, &'static str) {
    use Metered::*;
    match (provider, metered) {
        ("gcp", Node(_)) => (
            "Compute Engine",
            "Compute",
            "Virtual Machines",
            "Compute Instance",
        ),
        ("aws", Node(_)) => ("AmazonEC2", "Compute", "Virtual Machines", "EC2 Instance"),
        ("azure", Node(_)) => (
            "Virtual Machines",
            "Compute",
            "Virtual Machines",
            "Virtual Machine",
        ),
        (_, Node(_)) => ("Compute", "Compute", "Virtual Machines", "Virtual Machine"),
        (_, AutopilotPod(_)) => (
            "Google Kubernetes Engine",
            "Compute",
            "Containers",
            "Autopilot Pod",
        ),
        ("gcp", Disk) => (
            "Compute Engine",
            "Storage",
            "Block Storage",
            "Persistent Disk",
        ),
        ("aws", Disk) => ("AmazonEC2", "Storage", "Block Storage", "EBS Volume"),
        ("azure", Disk) => ("Storage", "Storage", "Block Storage", "Managed Disk"),
        (_, Disk) => ("Storage", "Storage", "Block Storage", "Disk"),
        ("gcp", LoadBalancer) => (
            "Compute Engine",
            "Networking",
            "Application Networking",
            "Forwarding Rule",
        ),
        ("aws", LoadBalancer) => (
            "AWSELB",
            "Networking",
            "Application Networking",
            "Load Balancer",
        ),
        ("azure", LoadBalancer) => (
            "Load Balancer",
            "Networking",
            "Application Networking",
            "Load Balancer",
        ),
        (_, LoadBalancer) => (
            "Load Balancer",
            "Networking",
            "Application Networking",
            "Load Balancer",
        ),
        ("gcp", ClusterFee) => (
            "Google Kubernetes Engine",
            "Compute",
            "Containers",
            "Kubernetes Cluster",
        ),
        ("aws", ClusterFee) => ("AmazonEKS", "Compute", "Containers", "EKS Cluster"),
        ("azure", ClusterFee) => (
            "Azure Kubernetes Service",
            "Compute",
            "Containers",
            "Managed Cluster",
        ),
        (_, ClusterFee) => ("Kubernetes", "Compute", "Containers", "Kubernetes Cluster"),
    }
}

/// PricingCategory: `Dynamic` for spot and preemptible capacity, whose
/// price the provider moves; `Standard` otherwise.
pub fn pricing_category(capacity_type: &str) -> &'static str {
    match capacity_type {
        "spot" | "preemptible" => "Dynamic",
        _ => "Standard",
    }
}

/// ChargeDescription of a node resource: `e2-standard-4 vCPU running in us-central1`.
pub fn node_description(machine_type: &str, resource: Resource, region: &str) -> String {
    let machine = if machine_type.is_empty() {
        "Instance"
    } else {
        machine_type
    };
    let region = if region.is_empty() {
        "an unknown region"
    } else {
        region
    };
    format!("{machine} {} running in {region}", resource.word())
}

/// A node's ResourceId and SubAccountId from its `spec.providerID`, in the
/// form the provider's bill uses (docs/focus.md); without one, the node's
/// name (the instance name on GKE, EKS and AKS alike) and no sub-account.
pub fn node_resource_id(provider_id: Option<&str>, node: &str) -> (String, Option<String>) {
    let Some(id) = provider_id.filter(|id| !id.is_empty()) else {
        return (node.to_owned(), None);
    };
    match Instance::parse(id) {
        Some(Instance::Gce {
            project,
            zone,
            name,
        }) => (
            format!("//compute.googleapis.com/projects/{project}/zones/{zone}/instances/{name}"),
            Some(project.to_owned()),
        ),
        // The bill names the instance id.
        Some(Instance::Aws { id }) => (id.to_owned(), None),
        // The ARM id, lower-cased as Azure's FOCUS export writes it.
        Some(Instance::Azure { arm }) => {
            let subscription = arm
                .strip_prefix("/subscriptions/")
                .and_then(|s| s.split('/').next())
                .map(str::to_owned);
            (arm, subscription)
        }
        None => (id.to_owned(), None),
    }
}

/// A disk's ResourceId: its volume handle as the provider's bill names the
/// disk (`//compute.googleapis.com/projects/…/disks/D`, `vol-…`, the Azure
/// disk URI lower-cased); the PersistentVolume's name when unknown.
pub fn disk_resource_id(provider: &str, provider_resource_id: &str, volume: &str) -> String {
    if provider_resource_id.is_empty() {
        return volume.to_owned();
    }
    match provider {
        "gcp" if provider_resource_id.starts_with("projects/") => {
            format!("//compute.googleapis.com/{provider_resource_id}")
        }
        "aws" => provider_resource_id
            .rsplit('/')
            .next()
            .unwrap_or(provider_resource_id)
            .to_owned(),
        "azure" => provider_resource_id.to_ascii_lowercase(),
        _ => provider_resource_id.to_owned(),
    }
}

/// The billing period of an hour: its UTC calendar month, [start, end).
pub fn billing_period(hour: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let (year, month) = (hour.year(), hour.month());
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let at = |y, m| {
        Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
            .single()
            .unwrap_or(hour)
    };
    (at(year, month), at(next_year, next_month))
}

/// What a container's allocated row is tagged with: kubetally's facts
/// under [`TAG_PREFIX`], the pod's labels under [`LABEL_PREFIX`].
#[derive(Debug, Clone, Default)]
pub struct Owner<'a> {
    pub namespace: &'a str,
    pub tenant: &'a str,
    pub workload_kind: &'a str,
    pub workload_name: &'a str,
    pub labels: &'a [(std::sync::Arc<str>, std::sync::Arc<str>)],
}

/// AllocatedTags as a JSON object string.
pub fn allocated_tags(owner: &Owner<'_>) -> String {
    let mut tags = Map::new();
    let mut put = |key: &str, value: &str| {
        if !value.is_empty() {
            tags.insert(format!("{TAG_PREFIX}{key}"), Value::from(value));
        }
    };
    put("namespace", owner.namespace);
    put("tenant", owner.tenant);
    put("workload-kind", owner.workload_kind);
    put("workload-name", owner.workload_name);
    for (key, value) in owner.labels {
        tags.insert(format!("{LABEL_PREFIX}{key}"), Value::from(&**value));
    }
    Value::Object(tags).to_string()
}

/// The quantities behind one allocated row's ratio.
#[derive(Debug, Clone, Copy)]
pub struct Basis {
    /// What the row was charged for (the ratio's numerator).
    pub billed: Fixed,
    /// Requested, and measured usage, for the record (`None`: not known,
    /// as for the remainder row).
    pub request: Option<Fixed>,
    pub usage: Option<Fixed>,
}

/// AllocatedMethodDetails: one element, its ratio of the origin and the
/// quantity it was charged, per the FOCUS AllocatedMethodDetailsObject
/// schema; request and usage as `x_` keys. Written into `details` (cleared
/// first), as it is made for every allocated row.
pub fn method_details(
    details: &mut String,
    ratio: Fixed,
    unit: &str,
    basis: &Basis,
    method_basis: &str,
) {
    // Written by hand, not through serde_json's f64 numbers, so every
    // decimal appears exactly as it sums.
    details.clear();
    details.push_str("{\"Elements\":[{\"AllocatedRatio\":");
    ratio.push_to(details);
    details.push_str(",\"UsageUnit\":");
    json_string(details, unit);
    details.push_str(",\"UsageQuantity\":");
    basis.billed.push_to(details);
    if let Some(request) = basis.request {
        details.push_str(",\"x_RequestQuantity\":");
        request.push_to(details);
    }
    if let Some(usage) = basis.usage {
        details.push_str(",\"x_UsedQuantity\":");
        usage.push_to(details);
    }
    details.push_str("}],\"x_Basis\":");
    json_string(details, method_basis);
    details.push('}');
}

/// `text` as a JSON string, escaped as RFC 8259 requires.
fn json_string(out: &mut String, text: &str) {
    use std::fmt::Write as _;
    out.push('"');
    // Units and bases never need escaping: one scan, one copy.
    if !text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(text);
        out.push('"');
        return;
    }
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gce_provider_id_becomes_the_instance_full_name_and_its_project() {
        let (id, project) =
            node_resource_id(Some("gce://acme-prod/us-central1-a/gke-n-1"), "gke-n-1");
        assert_eq!(
            id,
            "//compute.googleapis.com/projects/acme-prod/zones/us-central1-a/instances/gke-n-1"
        );
        assert_eq!(project.as_deref(), Some("acme-prod"));
    }

    #[test]
    fn aws_and_azure_provider_ids_become_what_their_bills_name() {
        let (id, _) = node_resource_id(Some("aws:///us-east-1a/i-0abc"), "ip-10-0-0-1");
        assert_eq!(id, "i-0abc");
        let (id, sub) = node_resource_id(
            Some(
                "azure:///subscriptions/S1/resourceGroups/RG/providers/Microsoft.Compute/virtualMachineScaleSets/V/virtualMachines/0",
            ),
            "aks-0",
        );
        assert!(
            id.starts_with("/subscriptions/s1/resourcegroups/rg/"),
            "{id}"
        );
        assert_eq!(sub.as_deref(), Some("s1"));
    }

    #[test]
    fn without_a_provider_id_the_node_name_is_the_resource_id() {
        assert_eq!(
            node_resource_id(None, "gke-a-1"),
            ("gke-a-1".to_owned(), None)
        );
    }

    #[test]
    fn the_billing_period_is_the_calendar_month() {
        let hour = Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap();
        let (start, end) = billing_period(hour);
        assert_eq!(start.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2027-01-01T00:00:00+00:00");
    }

    #[test]
    fn method_details_follow_the_focus_object_schema() {
        let basis = Basis {
            billed: Fixed::from_f64(0.5).unwrap(),
            request: Fixed::from_f64(0.25),
            usage: Fixed::from_f64(0.5),
        };
        let mut details = String::from("left over");
        method_details(
            &mut details,
            Fixed::from_f64(0.125).unwrap(),
            "Core-Hours",
            &basis,
            METHOD_NODE.basis,
        );
        assert_eq!(
            details,
            r#"{"Elements":[{"AllocatedRatio":0.125,"UsageUnit":"Core-Hours","UsageQuantity":0.5,"x_RequestQuantity":0.25,"x_UsedQuantity":0.5}],"x_Basis":"max(request, usage)"}"#
        );
    }

    #[test]
    fn json_strings_are_escaped_as_serde_json_escapes_them() {
        for text in [
            "Core-Hours",
            "a\"b",
            "back\\slash",
            "tab\there",
            "\u{1}",
            "é",
        ] {
            let mut out = String::new();
            json_string(&mut out, text);
            assert_eq!(out, Value::from(text).to_string(), "{text:?}");
        }
    }

    #[test]
    fn tags_carry_kubetally_facts_and_prefixed_labels() {
        let labels = vec![(std::sync::Arc::from("app"), std::sync::Arc::from("web"))];
        let tags = allocated_tags(&Owner {
            namespace: "shop",
            tenant: "acme",
            workload_kind: "Deployment",
            workload_name: "web",
            labels: &labels,
        });
        assert_eq!(
            tags,
            r#"{"kubetally.io/namespace":"shop","kubetally.io/tenant":"acme","kubetally.io/workload-kind":"Deployment","kubetally.io/workload-name":"web","k8s-label/app":"web"}"#
        );
    }
}
