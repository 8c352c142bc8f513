//! The simulated cluster in GKE Autopilot mode (`--autopilot`): Google
//! manages the nodes, bills pods by what they request, and a pod picks its
//! hardware by selecting a compute class.
//!
//! The decision that shapes it: the simulator's scheduler places pods by
//! requests as in Standard mode, and a pod's selector is then what an
//! Autopilot pod placed on that node would have carried, derived from the
//! node's name (its node pool names the class). So the pods on a Scale-Out
//! node select `cloud.google.com/compute-class: Scale-Out`, those on a Spot
//! node select `cloud.google.com/gke-spot: "true"` and tolerate the Spot
//! taint, and those on general-purpose nodes select nothing (the default
//! class), at the epoch and over time alike.
//!
//! Labels, from GKE's documentation and public manifests:
//! - `cloud.google.com/compute-class` (pod nodeSelector and node label:
//!   "Choose compute classes for Autopilot Pods"; built-in classes
//!   `autopilot` and `autopilot-spot`: "About built-in ComputeClasses");
//! - `cloud.google.com/gke-spot: "true"` and the `NoSchedule` taint of that
//!   key on Spot nodes ("Spot Pods" in Autopilot);
//! - `cloud.google.com/gke-provisioning: standard|spot` and node names
//!   `gk3-<cluster>-<pool>-<hash>-<suffix>` (as Autopilot nodes appear in
//!   public tools that detect Autopilot by them);
//! - `cloud.google.com/machine-family`, `cloud.google.com/gke-nodepool`,
//!   `cloud.google.com/gke-os-distribution: cos`,
//!   `cloud.google.com/gke-boot-disk` (GKE sets them on every node).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::cluster::{ClusterModel, Pool, Rng, UsageProfile};
use super::etcd::{Etcd, EtcdError, uid_for};
use super::objects::{Owner, PodIdentity, PodTemplate, controller};
use super::resources::{DAEMONSETS, PODS};

/// The cluster's name in node names.
const CLUSTER: &str = "kubetally-sim";

/// An Autopilot node pool: the Standard pool it stands in for, its compute
/// class and the machine that backs it.
pub struct AutopilotPool {
    /// The Standard-mode pool whose share and zones it takes.
    pub replaces: &'static str,
    pub pool: Pool<'static>,
    pub class: &'static str,
    pub machine_family: &'static str,
    pub spot: bool,
}

const fn pool(
    name: &'static str,
    machine_type: &'static str,
    vcpus: u32,
    memory_gib: u32,
    spot: bool,
) -> Pool<'static> {
    Pool {
        name,
        provider: "gcp",
        machine_type,
        vcpus,
        memory_gib,
        capacity_label: if spot {
            Some(("cloud.google.com/gke-spot", "true"))
        } else {
            None
        },
        share: 0,
    }
}

/// General-purpose pools run the container-optimized `ek` machines;
/// Balanced runs N2/N2D, Scale-Out T2D (one core per vCPU); Spot is the
/// built-in `autopilot-spot` class. The lab's unknown machine stays.
pub const POOLS: [AutopilotPool; 7] = [
    AutopilotPool {
        replaces: "general-e2",
        pool: pool("pool-1", "ek-standard-8", 8, 32, false),
        class: "autopilot",
        machine_family: "ek",
        spot: false,
    },
    AutopilotPool {
        replaces: "legacy-n1",
        pool: pool("nap-balanced", "n2-standard-8", 8, 32, false),
        class: "Balanced",
        machine_family: "n2",
        spot: false,
    },
    AutopilotPool {
        replaces: "compute-n2",
        pool: pool("nap-scale-out", "t2d-standard-16", 16, 64, false),
        class: "Scale-Out",
        machine_family: "t2d",
        spot: false,
    },
    AutopilotPool {
        replaces: "spot-e2",
        pool: pool("nap-spot", "ek-standard-8", 8, 32, true),
        class: "autopilot-spot",
        machine_family: "ek",
        spot: true,
    },
    AutopilotPool {
        replaces: "batch-preemptible",
        pool: pool("nap-spot-small", "ek-standard-4", 4, 16, true),
        class: "autopilot-spot",
        machine_family: "ek",
        spot: true,
    },
    AutopilotPool {
        replaces: "burst",
        pool: pool("nap-balanced-small", "n2d-standard-4", 4, 16, false),
        class: "Balanced",
        machine_family: "n2d",
        spot: false,
    },
    AutopilotPool {
        replaces: "lab",
        pool: pool("pool-2", "z9-mega-4", 4, 16, false),
        class: "autopilot",
        machine_family: "z9",
        spot: false,
    },
];

/// The Autopilot pool standing in for a Standard pool.
fn replacing(standard: &str) -> &'static AutopilotPool {
    POOLS
        .iter()
        .find(|p| p.replaces == standard)
        .unwrap_or(&POOLS[0])
}

/// The Autopilot pool a node named by [`nodes`] belongs to.
fn of_node(node: &str) -> Option<&'static AutopilotPool> {
    let rest = node.strip_prefix("gk3-")?.strip_prefix(CLUSTER)?;
    POOLS
        .iter()
        .filter(|p| rest.starts_with(&format!("-{}-", p.pool.name)))
        .max_by_key(|p| p.pool.name.len())
}

/// The Standard cluster's nodes as Autopilot's: same shares and zones,
/// named `gk3-kubetally-sim-<pool>-<hash>-<suffix>`, on the pools above.
pub fn nodes(
    standard: Vec<(String, &'static Pool<'static>, usize)>,
) -> Vec<(String, &'static Pool<'static>, usize)> {
    standard
        .into_iter()
        .enumerate()
        .map(|(index, (_, pool, zone))| {
            let autopilot = replacing(pool.name);
            let hash = uid_for(PODS, CLUSTER, autopilot.pool.name, 0);
            let name = format!(
                "gk3-{CLUSTER}-{}-{}-{index:04x}",
                autopilot.pool.name,
                &hash[..8]
            );
            (name, &autopilot.pool, zone)
        })
        .collect()
}

/// Adds the labels and taint GKE puts on an Autopilot node to `node`.
pub fn relabel(mut node: Value) -> Value {
    let name = node["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let Some(pool) = of_node(&name) else {
        return node;
    };
    let labels = &mut node["metadata"]["labels"];
    labels["cloud.google.com/compute-class"] = json!(pool.class);
    labels["cloud.google.com/machine-family"] = json!(pool.machine_family);
    labels["cloud.google.com/gke-provisioning"] =
        json!(if pool.spot { "spot" } else { "standard" });
    labels["cloud.google.com/gke-os-distribution"] = json!("cos");
    labels["cloud.google.com/gke-boot-disk"] = json!("pd-balanced");
    if pool.spot {
        node["spec"]["taints"] =
            json!([{"key": "cloud.google.com/gke-spot", "value": "true", "effect": "NoSchedule"}]);
    }
    node
}

/// The nodeSelector and tolerations of an Autopilot pod running on `node`;
/// `None` on a node that is not an Autopilot one. General-purpose pods
/// select nothing (the default class).
pub fn scheduling(node: &str) -> Option<(Value, Value)> {
    let pool = of_node(node)?;
    Some(if pool.spot {
        (
            json!({"cloud.google.com/gke-spot": "true"}),
            json!([{"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]),
        )
    } else if pool.class == "autopilot" {
        (Value::Null, Value::Null)
    } else {
        (
            json!({"cloud.google.com/compute-class": pool.class}),
            Value::Null,
        )
    })
}

/// The system DaemonSets GKE runs on every Autopilot node (not billed to
/// the tenant): workload identity's metadata server and the PD CSI node plugin.
const SYSTEM_DAEMONSETS: [(&str, f64, f64); 2] = [
    ("gke-metadata-server", 0.1, 100.0),
    ("pdcsi-node", 0.01, 20.0),
];

/// Writes the system DaemonSets of `kube-system` and one pod of each per
/// node, beyond the cluster's `--pods`, drawn from this module's own stream.
///
/// # Errors
///
/// A [`EtcdError`] if the store refuses an object (a generator defect).
pub fn system_pods(
    model: &mut ClusterModel,
    store: &Etcd,
    seed: u64,
    now: DateTime<Utc>,
) -> Result<(), EtcdError> {
    let mut rng = Rng::new(seed ^ 0x6175_746f);
    let created = now - Duration::days(30);
    let nodes = model.nodes.clone();
    for (name, cpu, memory_mib) in SYSTEM_DAEMONSETS {
        let mut template =
            PodTemplate::single(name, cpu, memory_mib, UsageProfile::OverProvisioned);
        template.priority = Some(("system-node-critical", 2_000_001_000));
        let owner = Owner::new(DAEMONSETS, "kube-system", name);
        let labels = json!({"k8s-app": name, "app": name});
        let count = nodes.len();
        let spec = json!({"selector": {"matchLabels": labels}, "template": template.template_json(&labels)});
        let status = json!({"desiredNumberScheduled": count, "currentNumberScheduled": count, "numberReady": count, "numberAvailable": count, "updatedNumberScheduled": count, "observedGeneration": 1});
        store.put(
            DAEMONSETS,
            controller(&owner, &labels, spec, status, created),
        )?;
        for (index, node) in nodes.iter().enumerate() {
            let pod = format!("{name}-{}", rng.suffix(5));
            let identity = PodIdentity {
                uid: uid_for(PODS, "kube-system", &pod, (1 << 41) + index as u64),
                namespace: "kube-system".into(),
                name: pod,
                labels: labels.clone(),
                owner: Some(owner.reference()),
            };
            let mut object = template.pod(&identity, Some(node), created);
            // DaemonSet pods tolerate every taint of their nodes.
            object["spec"]["tolerations"] = json!([{"operator": "Exists"}]);
            store.put(PODS, object)?;
            model.adopt_pod(&template, &identity, node, created, &mut rng);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::cluster::{ClusterSpec, generate};
    use crate::sim::resources::NODES;
    use crate::sim::selector::{FieldSelector, LabelSelector};

    #[test]
    fn a_node_name_tells_its_pool_and_so_what_its_pods_select() {
        let named = nodes(vec![("x".into(), &POOLS[0].pool, 0)]);
        assert!(
            named[0].0.starts_with("gk3-kubetally-sim-pool-1-"),
            "{}",
            named[0].0
        );
        let scale_out = format!("gk3-{CLUSTER}-nap-scale-out-12345678-0001");
        assert_eq!(
            scheduling(&scale_out).map(|s| s.0),
            Some(json!({"cloud.google.com/compute-class": "Scale-Out"}))
        );
        // The longest pool name wins: nap-spot-small is not nap-spot.
        let small = format!("gk3-{CLUSTER}-nap-spot-small-12345678-0002");
        assert_eq!(of_node(&small).map(|p| p.pool.name), Some("nap-spot-small"));
        assert_eq!(
            scheduling(&small).map(|s| s.0),
            Some(json!({"cloud.google.com/gke-spot": "true"}))
        );
        assert_eq!(scheduling(&named[0].0), Some((Value::Null, Value::Null)));
        assert_eq!(scheduling("gke-general-e2-00000"), None);
    }

    #[test]
    fn every_pod_selects_the_class_of_the_node_it_runs_on() -> Result<(), EtcdError> {
        let store = Etcd::new(1_000_000);
        let spec = ClusterSpec {
            autopilot: true,
            ..ClusterSpec::default()
        };
        let model = generate(&spec, &store)?;
        let list = |resource| {
            store
                .list(
                    resource,
                    None,
                    &LabelSelector::default(),
                    &FieldSelector::default(),
                    None,
                    None,
                )
                .items
                .iter()
                .map(|s| s.value())
                .collect::<Vec<Value>>()
        };
        let nodes = list(NODES);
        assert_eq!(nodes.len(), 20);
        for node in &nodes {
            let labels = &node["metadata"]["labels"];
            assert!(
                labels["cloud.google.com/gke-provisioning"].is_string(),
                "{node}"
            );
            assert!(
                labels["cloud.google.com/compute-class"].is_string(),
                "{node}"
            );
            assert!(
                node["spec"]["providerID"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("gce://"))
            );
        }
        let pods = list(PODS);
        let system = pods
            .iter()
            .filter(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("gke-metadata-server-"))
            })
            .count();
        assert_eq!(system, 20);
        let mut selected = std::collections::BTreeSet::new();
        for pod in pods.iter().filter(|p| p["spec"]["nodeName"].is_string()) {
            let node = nodes
                .iter()
                .find(|n| n["metadata"]["name"] == pod["spec"]["nodeName"])
                .unwrap_or_else(|| panic!("no node for {pod}"));
            let labels = &node["metadata"]["labels"];
            for (key, value) in pod["spec"]["nodeSelector"]
                .as_object()
                .into_iter()
                .flatten()
            {
                assert_eq!(&labels[key], value, "{pod} on {node}");
                selected.insert(format!("{key}={value}"));
            }
        }
        for wanted in [
            "cloud.google.com/compute-class=\"Balanced\"",
            "cloud.google.com/compute-class=\"Scale-Out\"",
            "cloud.google.com/gke-spot=\"true\"",
        ] {
            assert!(
                selected.contains(wanted),
                "no pod selects {wanted}: {selected:?}"
            );
        }
        assert!(model.pods.len() > 300);
        Ok(())
    }
}
