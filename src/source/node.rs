//! Node → [`NodeFacts`].

use k8s_openapi::api::core::v1::Node;

use crate::model::gpu::{GPU_DEVICES, GpuLabelError, MIG_PREFIX, node_gpus};
use crate::model::{NodeFacts, ParseQuantityError, Quantity};

/// An API object kubetally cannot use as it is.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("node {node}: status.capacity[{resource}]")]
    BadCapacity {
        node: String,
        resource: String,
        #[source]
        cause: ParseQuantityError,
    },
}

/// The facts pricing needs from a Node (see [`node_facts_checked`]),
/// without the GPU labels that had to be ignored.
///
/// # Errors
///
/// As [`node_facts_checked`].
pub fn node_facts(node: &Node) -> Result<NodeFacts, SourceError> {
    node_facts_checked(node).map(|(facts, _)| facts)
}

/// The facts pricing needs from a Node, and the GPU labels that had to be
/// ignored for the caller to count (the node's GPUs are then read from the
/// rest: [`node_gpus`]).
///
/// A node without `status.capacity` (just registered) has zero capacity and is
/// priced from its machine type alone.
///
/// # Errors
///
/// [`SourceError::BadCapacity`] naming the node and resource when a capacity
/// quantity does not parse.
pub fn node_facts_checked(node: &Node) -> Result<(NodeFacts, Vec<GpuLabelError>), SourceError> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let capacity = node
        .status
        .as_ref()
        .and_then(|status| status.capacity.as_ref());
    let quantity = |resource: &str| -> Result<Quantity, SourceError> {
        match capacity.and_then(|capacity| capacity.get(resource)) {
            None => Ok(Quantity::ZERO),
            Some(text) => Quantity::parse(&text.0).map_err(|cause| SourceError::BadCapacity {
                node: name.clone(),
                resource: resource.to_owned(),
                cause,
            }),
        }
    };
    let mut devices: Vec<(&str, u32)> = Vec::new();
    for resource in capacity.into_iter().flat_map(|c| c.keys()) {
        if GPU_DEVICES.contains(&resource.as_str()) || resource.starts_with(MIG_PREFIX) {
            let count = quantity(resource)?.as_bytes().max(0);
            devices.push((resource, u32::try_from(count).unwrap_or(u32::MAX)));
        }
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let (gpus, problems) = node_gpus(&labels, &devices);
    let facts = NodeFacts {
        provider_id: node.spec.as_ref().and_then(|spec| spec.provider_id.clone()),
        cpu_capacity: quantity("cpu")?,
        memory_capacity: quantity("memory")?,
        gpu_capacity: gpus.physical,
        gpu_sharing: gpus.sharing,
        labels,
        name,
    };
    Ok((facts, problems))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CapacityType, Provider};
    use crate::pricing::classify;

    fn gke_node(memory: &str) -> Result<Node, serde_json::Error> {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": "gke-prod-t4-pool-5f2a",
                "labels": {
                    "cloud.google.com/gke-nodepool": "t4-pool",
                    "cloud.google.com/gke-accelerator": "nvidia-tesla-t4",
                    "cloud.google.com/gke-spot": "true",
                    "node.kubernetes.io/instance-type": "n1-standard-8",
                    "topology.kubernetes.io/region": "us-central1",
                    "topology.kubernetes.io/zone": "us-central1-a"
                }
            },
            "spec": { "providerID": "gce://prod/us-central1-a/gke-prod-t4-pool-5f2a" },
            "status": { "capacity": { "cpu": "8", "memory": memory, "nvidia.com/gpu": "1", "pods": "110" } }
        }))
    }

    #[test]
    fn reads_capacity_labels_and_provider_id_from_a_node() -> Result<(), Box<dyn std::error::Error>>
    {
        let facts = node_facts(&gke_node("30794804Ki")?)?;
        assert_eq!(facts.cpu_capacity.as_cores(), 8.0);
        assert_eq!(facts.memory_capacity.as_bytes(), 30_794_804 * 1024);
        assert_eq!(facts.gpu_capacity, 1);
        let class = classify(&facts);
        assert_eq!(
            (class.provider, class.capacity_type),
            (Provider::Gcp, CapacityType::Spot)
        );
        assert_eq!(
            (class.machine_type.as_str(), class.gpu_type.as_str()),
            ("n1-standard-8", "nvidia-tesla-t4")
        );
        Ok(())
    }

    #[test]
    fn a_bad_capacity_names_the_node_and_resource() -> Result<(), serde_json::Error> {
        let error = node_facts(&gke_node("30 Gi")?).expect_err("bad memory");
        assert_eq!(
            format!("{:#}", anyhow::Error::new(error)),
            "node gke-prod-t4-pool-5f2a: status.capacity[memory]: invalid quantity \"30 Gi\": unexpected ' ' at byte 2"
        );
        Ok(())
    }
}
