//! GPU nodes shared between pods (`--gpu-nodes`): one A100 partitioned by
//! MIG, advertised by the NVIDIA device plugin's mixed strategy as
//! `nvidia.com/mig-<profile>` resources, and one L4 time-sliced into four
//! `nvidia.com/gpu` replicas, each with the pods that request those slices.
//!
//! The shapes follow NVIDIA's GPU Operator (gpu-feature-discovery labels:
//! `nvidia.com/mig.strategy`, `nvidia.com/gpu.product` with `-SHARED` for
//! time-slicing, `nvidia.com/gpu.count` physical GPUs against
//! `nvidia.com/gpu.replicas`) and GKE (`cloud.google.com/gke-accelerator`,
//! and for time-sharing `cloud.google.com/gke-gpu-sharing-strategy` and
//! `cloud.google.com/gke-max-shared-clients-per-gpu`, from "Time-sharing
//! GPUs on GKE"). The nodes carry the `nvidia.com/gpu=present:NoSchedule`
//! taint GKE puts on GPU nodes, so the scheduler never places other pods
//! there: they are kept out of it, and their pods are placed here, with
//! draws from this module's own stream, so opting in leaves the rest of the
//! cluster exactly as it was.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::cluster::{ClusterModel, Pool, Rng, UsageProfile, node_object};
use super::etcd::{Etcd, EtcdError, uid_for};
use super::objects::{Owner, PodIdentity, PodTemplate, controller, replica_status};
use super::resources::{DEPLOYMENTS, NODES, PODS, REPLICASETS};

/// One GPU node: its machine and what its device plugin advertises.
pub struct GpuNode {
    pub name: &'static str,
    pub pool: Pool<'static>,
    /// GKE's accelerator label value.
    pub accelerator: &'static str,
    /// Extended resources in `status.capacity` and `allocatable`.
    pub devices: &'static [(&'static str, u32)],
    pub labels: &'static [(&'static str, &'static str)],
}

/// The MIG node and the time-sliced node.
pub const GPU_NODES: [GpuNode; 2] = [
    GpuNode {
        name: "gke-gpu-a100-mig-00000",
        pool: Pool {
            name: "gpu-a100-mig",
            provider: "gcp",
            machine_type: "a2-highgpu-1g",
            vcpus: 12,
            memory_gib: 85,
            capacity_label: None,
            share: 0,
        },
        accelerator: "nvidia-tesla-a100",
        // One A100 40GB: 3 + 2 + 1 + 1 of its 7 compute slices.
        devices: &[
            ("nvidia.com/gpu", 0),
            ("nvidia.com/mig-1g.5gb", 2),
            ("nvidia.com/mig-2g.10gb", 1),
            ("nvidia.com/mig-3g.20gb", 1),
        ],
        labels: &[
            ("nvidia.com/mig.strategy", "mixed"),
            ("nvidia.com/mig.capable", "true"),
            ("nvidia.com/gpu.product", "NVIDIA-A100-SXM4-40GB"),
            ("nvidia.com/gpu.count", "1"),
            ("nvidia.com/gpu.memory", "40960"),
            ("nvidia.com/mig-1g.5gb.count", "2"),
            ("nvidia.com/mig-2g.10gb.count", "1"),
            ("nvidia.com/mig-3g.20gb.count", "1"),
        ],
    },
    GpuNode {
        name: "gke-gpu-l4-shared-00000",
        pool: Pool {
            name: "gpu-l4-shared",
            provider: "gcp",
            machine_type: "g2-standard-8",
            vcpus: 8,
            memory_gib: 32,
            capacity_label: None,
            share: 0,
        },
        accelerator: "nvidia-l4",
        // One L4 handed out as four replicas.
        devices: &[("nvidia.com/gpu", 4)],
        labels: &[
            ("cloud.google.com/gke-gpu-sharing-strategy", "time-sharing"),
            ("cloud.google.com/gke-max-shared-clients-per-gpu", "4"),
            ("nvidia.com/gpu.sharing-strategy", "time-slicing"),
            ("nvidia.com/gpu.product", "NVIDIA-L4-SHARED"),
            ("nvidia.com/gpu.count", "1"),
            ("nvidia.com/gpu.replicas", "4"),
            ("nvidia.com/gpu.memory", "23034"),
        ],
    },
];

/// The node object: a GKE node of its pool with the accelerator's labels,
/// taint and extended resources.
pub fn gpu_node_object(node: &GpuNode, created: DateTime<Utc>) -> Value {
    let mut object = node_object(node.name, &node.pool, 0, created);
    let labels = &mut object["metadata"]["labels"];
    labels["cloud.google.com/gke-accelerator"] = json!(node.accelerator);
    labels["nvidia.com/gpu.present"] = json!("true");
    for (key, value) in node.labels {
        labels[*key] = json!(value);
    }
    object["spec"]["taints"] =
        json!([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]);
    for (resource, count) in node.devices {
        for field in ["capacity", "allocatable"] {
            object["status"][field][*resource] = json!(count.to_string());
        }
    }
    object
}

/// A workload on a GPU node: `replicas` pods each asking one `device`.
struct GpuWorkload {
    namespace: &'static str,
    name: &'static str,
    node: usize,
    device: &'static str,
    replicas: usize,
    cpu: f64,
    memory_mib: f64,
}

/// Three of the L4's four replicas, both 1g.5gb slices and the 3g.20gb
/// slice are taken; the 2g.10gb slice stays free (idle, yet paid for).
const WORKLOADS: [GpuWorkload; 3] = [
    GpuWorkload {
        namespace: "acme",
        name: "inference",
        node: 1,
        device: "nvidia.com/gpu",
        replicas: 3,
        cpu: 1.0,
        memory_mib: 4096.0,
    },
    GpuWorkload {
        namespace: "globex",
        name: "notebook",
        node: 0,
        device: "nvidia.com/mig-1g.5gb",
        replicas: 2,
        cpu: 0.5,
        memory_mib: 2048.0,
    },
    GpuWorkload {
        namespace: "initech",
        name: "trainer",
        node: 0,
        device: "nvidia.com/mig-3g.20gb",
        replicas: 1,
        cpu: 4.0,
        memory_mib: 16384.0,
    },
];

/// Requests and limits of `device` (extended resources are requested as
/// limited) on every container of a pod or pod template spec.
fn with_device(spec: &mut Value, device: &str) {
    for container in spec["containers"].as_array_mut().into_iter().flatten() {
        for part in ["requests", "limits"] {
            container["resources"][part][device] = json!("1");
        }
    }
    spec["tolerations"] =
        json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]);
}

/// Writes the GPU nodes, their workloads' Deployments, ReplicaSets and
/// running pods, and adds the pods to the usage model.
///
/// # Errors
///
/// A [`EtcdError`] if the store refuses an object (a generator defect).
pub fn generate(
    model: &mut ClusterModel,
    store: &Etcd,
    seed: u64,
    now: DateTime<Utc>,
) -> Result<(), EtcdError> {
    let mut rng = Rng::new(seed ^ 0x6770_7573);
    for node in &GPU_NODES {
        store.put(NODES, gpu_node_object(node, now - Duration::days(30)))?;
        model.nodes.push(node.name.to_owned());
    }
    let created = now - Duration::days(14);
    for (index, workload) in WORKLOADS.iter().enumerate() {
        let template = PodTemplate::single(
            workload.name,
            workload.cpu,
            workload.memory_mib,
            UsageProfile::RightSized,
        );
        let hash = rng.suffix(10);
        let labels = json!({"app": workload.name});
        let pod_labels = json!({"app": workload.name, "pod-template-hash": hash});
        let owner = Owner::new(DEPLOYMENTS, workload.namespace, workload.name);
        let set = Owner::new(
            REPLICASETS,
            workload.namespace,
            &format!("{}-{hash}", workload.name),
        );
        let mut pod_template = template.template_json(&pod_labels);
        with_device(&mut pod_template["spec"], workload.device);
        let status = replica_status(workload.replicas, workload.replicas, 1);
        let mut deployment_template = pod_template.clone();
        deployment_template["metadata"]["labels"] = labels.clone();
        let spec = json!({"replicas": workload.replicas, "selector": {"matchLabels": labels}, "template": deployment_template});
        store.put(
            DEPLOYMENTS,
            controller(&owner, &labels, spec, status.clone(), created),
        )?;
        let spec = json!({"replicas": workload.replicas, "selector": {"matchLabels": pod_labels}, "template": pod_template});
        let mut replica_set = controller(&set, &pod_labels, spec, status, created);
        replica_set["metadata"]["ownerReferences"] = json!([owner.reference()]);
        store.put(REPLICASETS, replica_set)?;
        let node = GPU_NODES[workload.node].name;
        for replica in 0..workload.replicas {
            let name = format!("{}-{}", set.name, rng.suffix(5));
            let identity = PodIdentity {
                uid: uid_for(
                    PODS,
                    workload.namespace,
                    &name,
                    (1 << 40) + 8 * index as u64 + replica as u64,
                ),
                namespace: workload.namespace.to_owned(),
                name,
                labels: pod_labels.clone(),
                owner: Some(set.reference()),
            };
            let started = created + Duration::minutes(rng.below(60 * 24) as i64);
            let mut pod = template.pod(&identity, Some(node), started);
            with_device(&mut pod["spec"], workload.device);
            store.put(PODS, pod)?;
            model.adopt_pod(&template, &identity, node, started, &mut rng);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::cluster::epoch;

    #[test]
    fn the_mig_node_advertises_slices_and_the_shared_node_more_gpus_than_it_has() {
        let mig = gpu_node_object(&GPU_NODES[0], epoch());
        assert_eq!(mig["status"]["allocatable"]["nvidia.com/mig-1g.5gb"], "2");
        assert_eq!(mig["status"]["capacity"]["nvidia.com/mig-3g.20gb"], "1");
        assert_eq!(
            mig["metadata"]["labels"]["nvidia.com/mig.strategy"],
            "mixed"
        );
        assert_eq!(
            mig["metadata"]["labels"]["cloud.google.com/gke-accelerator"],
            "nvidia-tesla-a100"
        );
        let shared = gpu_node_object(&GPU_NODES[1], epoch());
        let labels = &shared["metadata"]["labels"];
        let advertised: u32 = shared["status"]["allocatable"]["nvidia.com/gpu"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or_default();
        let physical: u32 = labels["nvidia.com/gpu.count"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or_default();
        let replicas: u32 = labels["nvidia.com/gpu.replicas"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or_default();
        assert_eq!((advertised, physical * replicas), (4, 4));
        assert!(advertised > physical);
        assert_eq!(shared["spec"]["taints"][0]["key"], "nvidia.com/gpu");
    }

    #[test]
    fn gpu_pods_request_what_their_node_advertises_and_no_more() -> Result<(), EtcdError> {
        let store = Etcd::new(10_000);
        let mut model = ClusterModel::default();
        generate(&mut model, &store, 1, epoch())?;
        assert_eq!(model.nodes.len(), 2);
        assert_eq!(model.pods.len(), 6);
        for node in &GPU_NODES {
            for (device, count) in node.devices {
                let asked: usize = model
                    .pods
                    .values()
                    .filter(|p| p.node == node.name)
                    .filter_map(|p| store.get(PODS, &p.namespace, &p.name).ok())
                    .filter(|p| {
                        p.value()["spec"]["containers"][0]["resources"]["limits"][*device] == "1"
                    })
                    .count();
                assert!(asked <= *count as usize, "{device} on {}", node.name);
            }
        }
        let trainer = model
            .pods
            .values()
            .find(|p| p.namespace == "initech")
            .and_then(|p| store.get(PODS, &p.namespace, &p.name).ok())
            .map(|p| p.value())
            .unwrap_or_default();
        assert_eq!(
            trainer["spec"]["containers"][0]["resources"]["requests"]["nvidia.com/mig-3g.20gb"],
            "1"
        );
        assert_eq!(trainer["spec"]["nodeName"], GPU_NODES[0].name);
        Ok(())
    }
}
