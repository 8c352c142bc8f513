//! Node classification: which provider, region, machine type and capacity type
//! a node is, read from the labels and `providerID` that clouds set.
//!
//! Every cloud spells the same facts differently (GKE's `gke-spot`, Karpenter's
//! `capacity-type`, EKS's `capacityType`, AKS's `scalesetpriority`); this is the
//! one place that knows the spellings, so the rest of kubetally sees one shape.

use crate::model::{CapacityType, NodeFacts, Provider};

use super::shapes::family_from_name;
use crate::model::units::GIB;

/// Well-known node labels kubetally reads.
pub mod labels {
    pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
    pub const INSTANCE_TYPE_BETA: &str = "beta.kubernetes.io/instance-type";
    pub const REGION: &str = "topology.kubernetes.io/region";
    pub const REGION_BETA: &str = "failure-domain.beta.kubernetes.io/region";
    pub const ZONE: &str = "topology.kubernetes.io/zone";
    pub const ZONE_BETA: &str = "failure-domain.beta.kubernetes.io/zone";
    pub const GKE_SPOT: &str = "cloud.google.com/gke-spot";
    pub const GKE_PREEMPTIBLE: &str = "cloud.google.com/gke-preemptible";
    pub const GKE_PROVISIONING: &str = "cloud.google.com/gke-provisioning";
    pub const GKE_NODEPOOL: &str = "cloud.google.com/gke-nodepool";
    pub const GKE_MACHINE_FAMILY: &str = "cloud.google.com/machine-family";
    pub const GKE_ACCELERATOR: &str = "cloud.google.com/gke-accelerator";
    pub const KARPENTER_CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
    pub const EKS_CAPACITY_TYPE: &str = "eks.amazonaws.com/capacityType";
    pub const EKS_NODEGROUP: &str = "eks.amazonaws.com/nodegroup";
    pub const AKS_SCALESET_PRIORITY: &str = "kubernetes.azure.com/scalesetpriority";
    pub const AKS_CLUSTER: &str = "kubernetes.azure.com/cluster";
    pub const NVIDIA_GPU_PRODUCT: &str = "nvidia.com/gpu.product";
}

/// What pricing needs to know about a node, in kubetally's words.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeClass {
    pub provider: Provider,
    /// Region, or empty when neither labels nor zone tell it.
    pub region: String,
    pub zone: String,
    /// Machine type as the cloud spells it, or empty when unlabelled.
    pub machine_type: String,
    /// Lowercase family (`e2`, `m5`, `ds_v5`), or empty when unknown.
    pub machine_family: String,
    pub capacity_type: CapacityType,
    /// GPU model (`nvidia-tesla-t4`), or empty.
    pub gpu_type: String,
    /// Capacity in vCPUs, memory GiB and GPUs, from the node's status.
    pub vcpus: f64,
    pub memory_gib: f64,
    pub gpus: u32,
}

/// Classifies a node from its labels, `providerID` and capacity.
///
/// Never fails: what cannot be read stays empty and is priced by the
/// fallbacks of [`super::PriceBook`] (flagged in `price_source`).
pub fn classify(node: &NodeFacts) -> NodeClass {
    let label = |key: &str| node.labels.get(key).map(String::as_str).unwrap_or("");
    let first = |keys: &[&str]| {
        keys.iter()
            .map(|key| label(key))
            .find(|value| !value.is_empty())
            .unwrap_or("")
            .to_owned()
    };
    let provider = provider_of(node);
    let machine_type = first(&[labels::INSTANCE_TYPE, labels::INSTANCE_TYPE_BETA]);
    let mut zone = first(&[labels::ZONE, labels::ZONE_BETA]);
    if zone.is_empty() && provider == Provider::Gcp {
        // gce://project/zone/instance
        if let Some(from_id) = node
            .provider_id
            .as_deref()
            .and_then(|id| id.strip_prefix("gce://"))
            .and_then(|rest| rest.split('/').nth(1))
        {
            zone = from_id.to_owned();
        }
    }
    let mut region = first(&[labels::REGION, labels::REGION_BETA]);
    if region.is_empty() {
        region = region_of_zone(&provider, &zone);
    }
    let machine_family = match label(labels::GKE_MACHINE_FAMILY) {
        "" => family_from_name(provider.as_str(), &machine_type).unwrap_or_default(),
        family => family.to_ascii_lowercase(),
    };
    NodeClass {
        capacity_type: capacity_type_of(node),
        gpu_type: first(&[labels::GKE_ACCELERATOR, labels::NVIDIA_GPU_PRODUCT])
            .to_ascii_lowercase(),
        vcpus: node.cpu_capacity.as_cores(),
        memory_gib: node.memory_capacity.as_bytes() as f64 / GIB,
        gpus: node.gpu_capacity,
        provider,
        region,
        zone,
        machine_type,
        machine_family,
    }
}

fn provider_of(node: &NodeFacts) -> Provider {
    if let Some((scheme, _)) = node
        .provider_id
        .as_deref()
        .and_then(|id| id.split_once("://"))
    {
        return match scheme {
            "gce" => Provider::Gcp,
            "aws" => Provider::Aws,
            "azure" => Provider::Azure,
            other => Provider::from_name(other),
        };
    }
    let has = |key: &str| node.labels.contains_key(key);
    if has(labels::GKE_NODEPOOL) {
        Provider::Gcp
    } else if has(labels::EKS_NODEGROUP) || has(labels::EKS_CAPACITY_TYPE) {
        Provider::Aws
    } else if has(labels::AKS_CLUSTER) || has(labels::AKS_SCALESET_PRIORITY) {
        Provider::Azure
    } else {
        Provider::Other("unknown".to_owned())
    }
}

fn capacity_type_of(node: &NodeFacts) -> CapacityType {
    let label = |key: &str| node.labels.get(key).map(|v| v.to_ascii_lowercase());
    let is = |key: &str, value: &str| label(key).as_deref() == Some(value);
    if is(labels::GKE_SPOT, "true")
        || is(labels::GKE_PROVISIONING, "spot")
        || is(labels::KARPENTER_CAPACITY_TYPE, "spot")
        || is(labels::EKS_CAPACITY_TYPE, "spot")
        || is(labels::AKS_SCALESET_PRIORITY, "spot")
    {
        CapacityType::Spot
    } else if is(labels::GKE_PREEMPTIBLE, "true") || is(labels::GKE_PROVISIONING, "preemptible") {
        CapacityType::Preemptible
    } else {
        CapacityType::OnDemand
    }
}

/// The region a zone belongs to by the provider's naming: GCP `us-central1-a`
/// → `us-central1`, AWS `us-east-1a` → `us-east-1`. Azure zones are numbers
/// and say nothing of the region.
pub fn region_of_zone(provider: &Provider, zone: &str) -> String {
    match provider {
        Provider::Gcp => zone
            .rsplit_once('-')
            .map(|(region, _)| region)
            .unwrap_or(""),
        Provider::Aws => zone.trim_end_matches(|c: char| c.is_ascii_lowercase()),
        _ => "",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Quantity;

    fn node(provider_id: Option<&str>, labels: &[(&str, &str)]) -> NodeFacts {
        NodeFacts {
            name: "n".into(),
            provider_id: provider_id.map(str::to_owned),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cpu_capacity: Quantity::from_cores(4.0),
            memory_capacity: Quantity::from_bytes(16 << 30),
            gpu_capacity: 0,
            gpu_sharing: Default::default(),
        }
    }

    #[test]
    fn reads_a_gke_spot_node() {
        let class = classify(&node(
            Some("gce://my-project/us-central1-b/gke-pool-1-abc"),
            &[
                (labels::INSTANCE_TYPE, "e2-standard-4"),
                (labels::REGION, "us-central1"),
                (labels::ZONE, "us-central1-b"),
                (labels::GKE_SPOT, "true"),
            ],
        ));
        assert_eq!(class.provider, Provider::Gcp);
        assert_eq!(
            (class.region.as_str(), class.zone.as_str()),
            ("us-central1", "us-central1-b")
        );
        assert_eq!(
            (class.machine_type.as_str(), class.machine_family.as_str()),
            ("e2-standard-4", "e2")
        );
        assert_eq!(class.capacity_type, CapacityType::Spot);
        assert_eq!((class.vcpus, class.memory_gib), (4.0, 16.0));
    }

    #[test]
    fn reads_region_from_the_zone_or_provider_id_when_unlabelled() {
        let gke = classify(&node(
            Some("gce://p/europe-west1-c/n"),
            &[
                (labels::INSTANCE_TYPE_BETA, "n1-standard-2"),
                (labels::GKE_PREEMPTIBLE, "true"),
            ],
        ));
        assert_eq!(
            (gke.region.as_str(), gke.zone.as_str()),
            ("europe-west1", "europe-west1-c")
        );
        assert_eq!(gke.capacity_type, CapacityType::Preemptible);
        let eks = classify(&node(
            Some("aws:///us-east-1a/i-0abc"),
            &[
                (labels::ZONE_BETA, "us-east-1a"),
                (labels::EKS_CAPACITY_TYPE, "SPOT"),
            ],
        ));
        assert_eq!(
            (eks.provider, eks.region.as_str()),
            (Provider::Aws, "us-east-1")
        );
        assert_eq!(eks.capacity_type, CapacityType::Spot);
    }

    #[test]
    fn knows_every_clouds_spot_label() {
        for (key, value) in [
            (labels::KARPENTER_CAPACITY_TYPE, "spot"),
            (labels::AKS_SCALESET_PRIORITY, "spot"),
            (labels::GKE_PROVISIONING, "spot"),
        ] {
            assert_eq!(
                classify(&node(None, &[(key, value)])).capacity_type,
                CapacityType::Spot,
                "{key}"
            );
        }
        let on_demand = classify(&node(
            None,
            &[(labels::KARPENTER_CAPACITY_TYPE, "on-demand")],
        ));
        assert_eq!(on_demand.capacity_type, CapacityType::OnDemand);
    }

    #[test]
    fn guesses_provider_from_labels_without_provider_id() {
        assert_eq!(
            classify(&node(None, &[(labels::GKE_NODEPOOL, "p")])).provider,
            Provider::Gcp
        );
        assert_eq!(
            classify(&node(None, &[(labels::AKS_CLUSTER, "c")])).provider,
            Provider::Azure
        );
        assert_eq!(
            classify(&node(Some("kind://docker/kind/kind-worker"), &[])).provider,
            Provider::Other("kind".into())
        );
        let bare = classify(&node(None, &[]));
        assert_eq!(bare.provider, Provider::Other("unknown".into()));
        assert_eq!((bare.machine_type.as_str(), bare.region.as_str()), ("", ""));
    }
}
