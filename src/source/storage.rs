//! StorageClass, PersistentVolume, PersistentVolumeClaim and Service →
//! the slim forms of [`crate::cluster::storage`].

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Service};
use k8s_openapi::api::storage::v1::StorageClass;

use super::pod::timestamp;
use crate::cluster::storage::BALANCER_ANNOTATIONS;
use crate::cluster::{
    Interner, SlimBalancer, SlimClaim, SlimStorageClass, SlimVolume, VolumePhase,
};
use crate::model::Quantity;
use crate::pricing::{drivers, is_disk_parameter};

/// Node labels a volume's node affinity pins its zone with.
const ZONE_KEYS: [&str; 4] = [
    "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/zone",
    "topology.gke.io/zone",
    "topology.ebs.csi.aws.com/zone",
];
const REGION_KEYS: [&str; 2] = [
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/region",
];

pub fn slim_class(class: &StorageClass, interner: &mut Interner) -> SlimStorageClass {
    SlimStorageClass {
        name: interner.get(class.metadata.name.as_deref().unwrap_or_default()),
        provisioner: interner.get(&class.provisioner),
        parameters: Arc::new(
            class
                .parameters
                .iter()
                .flatten()
                .filter(|(key, _)| is_disk_parameter(key))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
    }
}

/// The slim projection of a PersistentVolume. A capacity that does not
/// parse is zero (priced as nothing, never as garbage).
pub fn slim_volume(volume: &PersistentVolume, interner: &mut Interner) -> SlimVolume {
    let meta = &volume.metadata;
    let spec = volume.spec.as_ref();
    let mut attributes = BTreeMap::new();
    let (driver, handle): (&str, Option<&str>) = match spec {
        Some(spec) => {
            if let Some(csi) = &spec.csi {
                attributes = csi
                    .volume_attributes
                    .iter()
                    .flatten()
                    .filter(|(key, _)| is_disk_parameter(key))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                (csi.driver.as_str(), Some(csi.volume_handle.as_str()))
            } else if let Some(pd) = &spec.gce_persistent_disk {
                (drivers::GCE_PD_IN_TREE, Some(pd.pd_name.as_str()))
            } else if let Some(ebs) = &spec.aws_elastic_block_store {
                (drivers::AWS_EBS_IN_TREE, Some(ebs.volume_id.as_str()))
            } else if let Some(azure) = &spec.azure_disk {
                if let Some(kind) = &azure.kind {
                    attributes.insert("kind".to_owned(), kind.clone());
                }
                (drivers::AZURE_DISK_IN_TREE, Some(azure.disk_uri.as_str()))
            } else if spec.local.is_some() || spec.host_path.is_some() {
                // Space on a node's own disk: the node's price holds it.
                (drivers::NO_PROVISIONER, None)
            } else {
                ("", None)
            }
        }
        None => ("", None),
    };
    let capacity_bytes = spec
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("storage"))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .map_or(0, |q| q.as_bytes());
    let labels = meta.labels.as_ref();
    let region = labels
        .and_then(|l| REGION_KEYS.iter().find_map(|k| l.get(*k)))
        .map(|r| interner.get(r));
    let mut zones: Vec<Arc<str>> = spec
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
        .into_iter()
        .flat_map(|r| r.node_selector_terms.iter())
        .flat_map(|t| t.match_expressions.iter().flatten())
        .filter(|e| ZONE_KEYS.contains(&e.key.as_str()) && e.operator == "In")
        .flat_map(|e| e.values.iter().flatten())
        .map(|z| interner.get(z))
        .collect();
    if zones.is_empty()
        && let Some(zone) = labels.and_then(|l| ZONE_KEYS.iter().find_map(|k| l.get(*k)))
    {
        // The beta label joins a regional disk's zones with `__`.
        zones = zone.split("__").map(|z| interner.get(z)).collect();
    }
    zones.sort();
    zones.dedup();
    SlimVolume {
        name: interner.get(meta.name.as_deref().unwrap_or_default()),
        created: meta.creation_timestamp.as_ref().map(timestamp),
        capacity_bytes,
        driver: interner.get(driver),
        attributes,
        handle: handle.filter(|h| !h.is_empty()).map(Arc::from),
        storage_class: spec
            .and_then(|s| s.storage_class_name.as_deref())
            .filter(|c| !c.is_empty())
            .map(|c| interner.get(c)),
        phase: VolumePhase::parse(
            volume
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or_default(),
        ),
        claim: spec.and_then(|s| s.claim_ref.as_ref()).map(|c| {
            (
                interner.get(c.namespace.as_deref().unwrap_or_default()),
                interner.get(c.name.as_deref().unwrap_or_default()),
            )
        }),
        region,
        zones,
    }
}

pub fn slim_claim(claim: &PersistentVolumeClaim, interner: &mut Interner) -> SlimClaim {
    let meta = &claim.metadata;
    SlimClaim {
        namespace: interner.get(meta.namespace.as_deref().unwrap_or_default()),
        name: interner.get(meta.name.as_deref().unwrap_or_default()),
        labels: {
            let labels = meta
                .labels
                .iter()
                .flatten()
                .map(|(k, v)| (interner.get(k), interner.get(v)))
                .collect();
            interner.pairs(labels)
        },
        volume: claim
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.as_deref())
            .filter(|v| !v.is_empty())
            .map(|v| interner.get(v)),
    }
}

/// The projection of a Service that is a load balancer the cloud has
/// provisioned (an ingress IP or hostname); none for any other Service,
/// including a LoadBalancer still pending.
pub fn slim_balancer(service: &Service, interner: &mut Interner) -> Option<SlimBalancer> {
    let spec = service.spec.as_ref()?;
    if spec.type_.as_deref() != Some("LoadBalancer") {
        return None;
    }
    let ingress = service
        .status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .as_ref()?
        .iter()
        .find_map(|i| {
            i.ip.as_deref()
                .or(i.hostname.as_deref())
                .filter(|a| !a.is_empty())
        })?;
    let meta = &service.metadata;
    Some(SlimBalancer {
        uid: Arc::from(meta.uid.as_deref().unwrap_or_default()),
        namespace: interner.get(meta.namespace.as_deref().unwrap_or_default()),
        name: interner.get(meta.name.as_deref().unwrap_or_default()),
        labels: meta
            .labels
            .iter()
            .flatten()
            .map(|(k, v)| (interner.get(k), interner.get(v)))
            .collect(),
        created: meta.creation_timestamp.as_ref().map(timestamp),
        ingress: Arc::from(ingress),
        class: spec.load_balancer_class.as_deref().map(|c| interner.get(c)),
        annotations: Arc::new(
            meta.annotations
                .iter()
                .flatten()
                .filter(|(k, _)| BALANCER_ANNOTATIONS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_csi_volume_keeps_its_driver_handle_size_claim_and_zones() {
        let volume: PersistentVolume = serde_json::from_value(json!({
            "metadata": {"name": "pvc-1", "creationTimestamp": "2026-11-02T00:00:00Z"},
            "spec": {
                "capacity": {"storage": "100Gi"},
                "claimRef": {"namespace": "shop", "name": "data-db-0"},
                "csi": {"driver": "pd.csi.storage.gke.io", "volumeHandle": "projects/p/regions/us-central1/disks/pvc-1",
                        "volumeAttributes": {"storage.kubernetes.io/csiProvisionerIdentity": "x"}},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "topology.gke.io/zone", "operator": "In", "values": ["us-central1-b", "us-central1-a"]}]}]}},
                "storageClassName": "regional"
            },
            "status": {"phase": "Bound"}
        }))
        .unwrap();
        let slim = slim_volume(&volume, &mut Interner::default());
        assert_eq!(&*slim.driver, "pd.csi.storage.gke.io");
        assert_eq!(slim.capacity_bytes, 100 << 30);
        assert_eq!(slim.phase, VolumePhase::Bound);
        assert_eq!(
            slim.claim,
            Some((Arc::from("shop"), Arc::from("data-db-0")))
        );
        assert_eq!(
            slim.zones,
            [Arc::from("us-central1-a"), Arc::from("us-central1-b")]
        );
        assert_eq!(
            slim.handle.as_deref(),
            Some("projects/p/regions/us-central1/disks/pvc-1")
        );
    }

    #[test]
    fn a_local_volume_is_the_nodes_and_a_bad_capacity_is_zero() {
        let volume: PersistentVolume = serde_json::from_value(json!({
            "metadata": {"name": "local-pv"},
            "spec": {"capacity": {"storage": "lots"}, "local": {"path": "/mnt/disks/ssd0"}},
            "status": {"phase": "Available"}
        }))
        .unwrap();
        let slim = slim_volume(&volume, &mut Interner::default());
        assert_eq!(&*slim.driver, drivers::NO_PROVISIONER);
        assert_eq!(slim.capacity_bytes, 0);
        assert_eq!(slim.phase, VolumePhase::Available);
    }

    #[test]
    fn only_a_provisioned_load_balancer_is_kept() {
        let service = |kind: &str, status: serde_json::Value| -> Service {
            serde_json::from_value(json!({
                "metadata": {"name": "web", "namespace": "shop", "uid": "s1",
                    "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "external", "other": "x"}},
                "spec": {"type": kind, "loadBalancerClass": "service.k8s.aws/nlb"},
                "status": status
            }))
            .unwrap()
        };
        let mut interner = Interner::default();
        let ready = service(
            "LoadBalancer",
            json!({"loadBalancer": {"ingress": [{"hostname": "k8s-shop-web.elb.us-east-1.amazonaws.com"}]}}),
        );
        let slim = slim_balancer(&ready, &mut interner).unwrap();
        assert_eq!(&*slim.ingress, "k8s-shop-web.elb.us-east-1.amazonaws.com");
        assert_eq!(slim.class.as_deref(), Some("service.k8s.aws/nlb"));
        assert_eq!(slim.annotations.len(), 1);
        let pending = service("LoadBalancer", json!({"loadBalancer": {}}));
        assert_eq!(slim_balancer(&pending, &mut interner), None);
        let internal = service("ClusterIP", json!({}));
        assert_eq!(slim_balancer(&internal, &mut interner), None);
    }
}
