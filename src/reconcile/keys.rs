//! The names a cloud bill and kubetally share for one resource, per cloud:
//! every transform between a node's `providerID` (a volume handle, a
//! balancer's hostname) and a bill line's resource id lives here.
//!
//! Both sides are reduced to a [`Key`]; a line matches a metered resource
//! when they share one (and, for GCE names, their zones agree). The rules
//! come from `../shared/reference/billing.md` §e and OpenCost's
//! `ParseProviderID` / `AzureSetProviderID`.

use crate::bill::{Cloud, LineView};
use crate::model::metered::{Metered, MeteredKind};
use crate::model::provider_id::Instance;

/// One shared identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A GCE instance by name: `gce://P/Z/<name>` ↔ the last segment of
    /// `resource.name` (`projects/N/instances/<name>`).
    GceInstance(String),
    /// A persistent disk by name: CSI `projects/P/zones/Z/disks/<name>`
    /// (or `regions/R`), in-tree `pdName` ↔ `resource.name`.
    GceDisk(String),
    /// A legacy L4 forwarding rule: `a` + the Service UID without dashes,
    /// 32 characters (the cloud provider's `DefaultLoadBalancerName`).
    GceForwardingRule(String),
    /// `aws:///AZ/i-X` ↔ `i-X` (or an ARN ending `instance/i-X`).
    AwsInstance(String),
    /// CSI `vol-X`, in-tree `aws://AZ/vol-X` ↔ `vol-X`.
    AwsVolume(String),
    /// An ELB by name: the first label of its hostname (with or without
    /// its trailing `-<id>`) ↔ the name in `loadbalancer/[net|app/]<name>`.
    AwsBalancer(String),
    /// An Azure VM, lower-cased: a scale-set instance as
    /// `<scale set id>#<vmss>_<n>` (AKS bills at scale-set level and names
    /// the instance only in `VMName`), a plain VM by its id.
    AzureVm(String),
    /// An Azure managed disk by its lower-cased ARM id.
    AzureDisk(String),
}

/// The keys a metered resource is billed by (none for the cluster fee,
/// which is matched by service, see [`is_cluster_fee`]).
pub fn metered_keys(metered: &Metered) -> Vec<Key> {
    let id = metered.provider_id.as_str();
    match metered.kind {
        MeteredKind::Node => node_keys(id, &metered.provider, &metered.resource_id),
        MeteredKind::Disk => disk_keys(id, &metered.provider).into_iter().collect(),
        MeteredKind::LoadBalancer => balancer_keys(id, &metered.provider, &metered.resource_id),
        MeteredKind::ClusterFee => Vec::new(),
    }
}

/// The zone a metered resource's id names (`gce://P/<zone>/N`,
/// `projects/P/zones/<zone>/disks/D`), else its own `zone`.
pub fn metered_zone(metered: &Metered) -> &str {
    let id = metered.provider_id.as_str();
    if let Some(zone) = id.strip_prefix("gce://").and_then(|r| r.split('/').nth(1)) {
        return zone;
    }
    if let Some(at) = id.find("/zones/") {
        let rest = &id[at + "/zones/".len()..];
        return rest.split('/').next().unwrap_or_default();
    }
    &metered.zone
}

fn node_keys(provider_id: &str, provider: &str, node: &str) -> Vec<Key> {
    match Instance::parse(provider_id) {
        Some(Instance::Gce { name, .. }) => vec![Key::GceInstance(name.to_owned())],
        Some(Instance::Aws { id }) => vec![Key::AwsInstance(id.to_owned())],
        Some(Instance::Azure { arm }) => azure_vm(&arm).into_iter().collect(),
        // Files written before `provider_id` existed: a GKE node is named as
        // its instance.
        None if provider_id.is_empty() && provider == "gcp" && !node.is_empty() => {
            vec![Key::GceInstance(node.to_owned())]
        }
        None => Vec::new(),
    }
}

/// `/subscriptions/…/virtualMachineScaleSets/V/virtualMachines/K` →
/// `<…/virtualmachinescalesets/v>#v_k`; a plain VM's id, lower-cased.
fn azure_vm(path: &str) -> Option<Key> {
    let lower = path.to_ascii_lowercase();
    let lower = lower.trim_end_matches('/');
    if !lower.starts_with("/subscriptions/") {
        return None;
    }
    const SET: &str = "/virtualmachinescalesets/";
    if let Some(at) = lower.find(SET) {
        let set_end = lower[at + SET.len()..]
            .find('/')
            .map_or(lower.len(), |i| at + SET.len() + i);
        let set_id = &lower[..set_end];
        let set_name = &lower[at + SET.len()..set_end];
        let instance = lower[set_end..]
            .strip_prefix("/virtualmachines/")
            .filter(|k| !k.is_empty() && !k.contains('/'))?;
        return Some(Key::AzureVm(format!("{set_id}#{set_name}_{instance}")));
    }
    Some(Key::AzureVm(lower.to_owned()))
}

fn disk_keys(handle: &str, provider: &str) -> Option<Key> {
    if handle.is_empty() {
        return None;
    }
    let lower = handle.to_ascii_lowercase();
    if lower.starts_with("/subscriptions/") {
        return Some(Key::AzureDisk(lower));
    }
    let last = last_segment(handle)?;
    if last.starts_with("vol-") {
        return Some(Key::AwsVolume(last.to_owned()));
    }
    if handle.starts_with("projects/") || provider == "gcp" {
        return Some(Key::GceDisk(last.to_owned()));
    }
    None
}

fn balancer_keys(ingress: &str, provider: &str, service_uid: &str) -> Vec<Key> {
    let compact: String = service_uid.chars().filter(|c| *c != '-').collect();
    let legacy = format!("a{}", compact.chars().take(31).collect::<String>());
    match provider {
        "gcp" => vec![Key::GceForwardingRule(legacy)],
        "aws" => {
            let mut keys = vec![Key::AwsBalancer(legacy)];
            if let Some(label) = ingress.split('.').next().filter(|l| !l.is_empty()) {
                keys.push(Key::AwsBalancer(label.to_owned()));
                if let Some((name, _)) = label.rsplit_once('-') {
                    keys.push(Key::AwsBalancer(name.to_owned()));
                }
            }
            keys
        }
        _ => Vec::new(),
    }
}

/// The keys a bill line may be matched by.
pub fn line_keys(line: &LineView<'_>) -> Vec<Key> {
    let id = line.resource_id();
    let mut keys = Vec::new();
    if line.cloud() == Cloud::Gcp {
        let name = Some(line.resource_name())
            .filter(|n| !n.is_empty())
            .or(Some(id).filter(|i| !i.is_empty()))
            .and_then(last_segment);
        if let Some(name) = name {
            if is_disk_sku(line.sku_description()) {
                keys.push(Key::GceDisk(name.to_owned()));
            } else {
                keys.push(Key::GceInstance(name.to_owned()));
                keys.push(Key::GceForwardingRule(name.to_owned()));
            }
        }
        return keys;
    }
    let lower = id.to_ascii_lowercase();
    if lower.starts_with("/subscriptions/") {
        let instance = line.vm_instance();
        if instance.is_empty() {
            keys.push(Key::AzureVm(lower.clone()));
            keys.push(Key::AzureDisk(lower));
        } else {
            keys.push(Key::AzureVm(format!(
                "{lower}#{}",
                instance.to_ascii_lowercase()
            )));
        }
        return keys;
    }
    if let Some(rest) = id.split(":loadbalancer/").nth(1) {
        let mut parts = rest.split('/');
        let name = match parts.next() {
            Some("net" | "app" | "gwy") => parts.next(),
            other => other,
        };
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            keys.push(Key::AwsBalancer(name.to_owned()));
        }
        return keys;
    }
    if let Some(last) = last_segment(id) {
        if last.starts_with("i-") {
            keys.push(Key::AwsInstance(last.to_owned()));
        } else if last.starts_with("vol-") {
            keys.push(Key::AwsVolume(last.to_owned()));
        }
    }
    keys
}

/// Whether a GCP SKU bills a disk (`Balanced PD Capacity`, `Storage PD
/// Capacity`, `SSD backed PD Capacity`, `Hyperdisk Balanced Capacity…`):
/// a GKE node's boot disk is named as the node, so the SKU tells them apart.
pub fn is_disk_sku(description: &str) -> bool {
    description.contains("PD ") || description.contains("Hyperdisk")
}

/// The part of a node's cost a GCP instance line bills, by its SKU:
/// `E2 Instance Core running in Americas`, `… Instance Ram …`, `Nvidia
/// Tesla T4 GPU running in …`; `None` for anything else of the VM.
pub fn gcp_part(description: &str) -> Option<Part> {
    let lower = description.to_ascii_lowercase();
    if lower.contains(" gpu") || lower.starts_with("gpu") {
        Some(Part::Gpu)
    } else if lower.contains(" core") || lower.contains(" cpu") || lower.contains("vcpu") {
        Some(Part::Cpu)
    } else if lower.contains(" ram") || lower.contains("memory") {
        Some(Part::Memory)
    } else {
        None
    }
}

/// Which part of a metered resource a reconciliation row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// The whole resource (every line of a node on AWS and Azure, a disk…).
    All,
    Cpu,
    Memory,
    Gpu,
    /// Lines of a GCP node that are none of its core, RAM or GPU SKUs
    /// (kubetally prices nothing else of a VM: list cost 0).
    Other,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::All => "all",
            Part::Cpu => "cpu",
            Part::Memory => "memory",
            Part::Gpu => "gpu",
            Part::Other => "other",
        }
    }
}

/// Whether a line is a managed cluster's fee: GKE's `Zonal/Regional/
/// Autopilot Kubernetes Clusters` SKUs, EKS's per-cluster hours, AKS's
/// tier (Uptime SLA / Standard / Premium) meters.
pub fn is_cluster_fee(line: &LineView<'_>) -> bool {
    let service = line.service().to_ascii_lowercase();
    let description = line.sku_description().to_ascii_lowercase();
    let sku = line.sku_id().to_ascii_lowercase();
    if service.contains("kubernetes engine") {
        return description.contains("kubernetes clusters");
    }
    if service == "amazoneks" || service.contains("elastic kubernetes service") {
        return sku.contains("percluster")
            || description.contains("cluster usage")
            || description.contains("per cluster");
    }
    if service.contains("kubernetes service") {
        return ["uptime sla", "standard", "premium", "long term support"]
            .iter()
            .any(|tier| description.contains(tier) || sku.contains(tier));
    }
    false
}

/// The text after the last `/` (the whole text without one); `None` when
/// that is empty.
pub fn last_segment(text: &str) -> Option<&str> {
    text.rsplit('/').next().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::metered::MeteredCost;

    fn metered(kind: MeteredKind, provider: &str, id: &str, provider_id: &str) -> Metered {
        Metered {
            kind,
            hour_unix_s: 0,
            resource_id: id.to_owned(),
            resource_name: id.to_owned(),
            provider_id: provider_id.to_owned(),
            provider: provider.to_owned(),
            region: String::new(),
            zone: String::new(),
            family: String::new(),
            running_seconds: 3600.0,
            size_gib: None,
            cost: MeteredCost::default(),
        }
    }

    #[test]
    fn node_provider_ids_become_the_names_each_cloud_bills_by() {
        let cases = [
            (
                "gcp",
                "gce://proj/us-central1-a/gke-a-1",
                Key::GceInstance("gke-a-1".into()),
            ),
            (
                "aws",
                "aws:///us-east-1a/i-0abc",
                Key::AwsInstance("i-0abc".into()),
            ),
            (
                "azure",
                "azure:///subscriptions/S/resourceGroups/MC_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-1-vmss/virtualMachines/3",
                Key::AzureVm("/subscriptions/s/resourcegroups/mc_rg/providers/microsoft.compute/virtualmachinescalesets/aks-pool-1-vmss#aks-pool-1-vmss_3".into()),
            ),
            (
                "azure",
                "azure:///subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/vm1",
                Key::AzureVm("/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1".into()),
            ),
            ("gcp", "", Key::GceInstance("n1".into())),
        ];
        for (provider, id, key) in cases {
            let node = metered(MeteredKind::Node, provider, "n1", id);
            assert_eq!(metered_keys(&node), vec![key], "{id}");
        }
        assert!(metered_keys(&metered(MeteredKind::Node, "other", "n1", "metal://x")).is_empty());
    }

    #[test]
    fn volume_handles_and_balancers_become_bill_names() {
        let disk =
            |provider, handle| metered_keys(&metered(MeteredKind::Disk, provider, "pv", handle));
        assert_eq!(
            disk("gcp", "projects/p/zones/us-central1-a/disks/pvc-1"),
            [Key::GceDisk("pvc-1".into())]
        );
        assert_eq!(
            disk("aws", "aws://us-east-1a/vol-9"),
            [Key::AwsVolume("vol-9".into())]
        );
        assert_eq!(disk("aws", "vol-9"), [Key::AwsVolume("vol-9".into())]);
        assert_eq!(
            disk(
                "azure",
                "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/disks/pvc-2"
            ),
            [Key::AzureDisk(
                "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/disks/pvc-2".into()
            )]
        );
        let uid = "0740bfd3-489b-4642-a07c-e281219b7ac2";
        let gcp = metered_keys(&metered(MeteredKind::LoadBalancer, "gcp", uid, "34.1.2.3"));
        assert_eq!(
            gcp,
            [Key::GceForwardingRule(
                "a0740bfd3489b4642a07ce281219b7ac".into()
            )]
        );
        let aws = metered_keys(&metered(
            MeteredKind::LoadBalancer,
            "aws",
            uid,
            "k8s-stark-api-01daa66d2b.elb.us-east-1.amazonaws.com",
        ));
        assert!(aws.contains(&Key::AwsBalancer("k8s-stark-api-01daa66d2b".into())));
        assert!(aws.contains(&Key::AwsBalancer("k8s-stark-api".into())));
        let zone = metered(
            MeteredKind::Disk,
            "gcp",
            "pv",
            "projects/p/zones/us-central1-b/disks/d",
        );
        assert_eq!(metered_zone(&zone), "us-central1-b");
    }

    #[test]
    fn gcp_skus_name_the_part_of_the_vm_they_bill() {
        assert_eq!(
            gcp_part("E2 Instance Core running in Americas"),
            Some(Part::Cpu)
        );
        assert_eq!(
            gcp_part("N1 Predefined Instance Ram running in EMEA"),
            Some(Part::Memory)
        );
        assert_eq!(
            gcp_part("Nvidia Tesla T4 GPU running in Americas"),
            Some(Part::Gpu)
        );
        assert_eq!(
            gcp_part("Network Internet Egress from Americas to EMEA"),
            None
        );
        assert!(is_disk_sku("Balanced PD Capacity"));
        assert!(!is_disk_sku("E2 Instance Core running in Americas"));
    }
}
