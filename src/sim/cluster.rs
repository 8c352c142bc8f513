//! The cluster the simulator pretends to be: node pools, tenants and their
//! workloads, generated deterministically from a seed.
//!
//! The generator writes real API objects (with owners wired as the real
//! controllers wire them) into the store, and keeps a compact model of every
//! running container beside them, from which usage is computed on demand.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::resources::{DAEMONSETS, DEPLOYMENTS, NAMESPACES, NODES, PODS, REPLICASETS, Resource};
use super::store::{Store, StoreError, uid_for};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    pub nodes: usize,
    pub pods: usize,
    pub seed: u64,
}

impl Default for ClusterSpec {
    /// A small cluster that starts instantly: 20 nodes, 300 pods, seed 1.
    fn default() -> ClusterSpec {
        ClusterSpec {
            nodes: 20,
            pods: 300,
            seed: 1,
        }
    }
}

/// How a container uses what it requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UsageProfile {
    /// Follows the day: low at night, peaks mid-afternoon (UTC).
    Diurnal,
    /// Uses a small fraction of its request all the time.
    OverProvisioned,
    /// Uses about what it requests.
    RightSized,
    /// Uses more than it requests (CPU bursts above, memory creeps over).
    UnderProvisioned,
    /// Barely runs.
    Idle,
}

/// One running container, as the usage model needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerModel {
    pub name: String,
    pub cpu_request_cores: f64,
    pub memory_request_bytes: f64,
    pub profile: UsageProfile,
    /// A per-container constant in [0, 1) that spreads containers of one profile.
    pub jitter: f64,
}

/// One running pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodModel {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: String,
    pub labels: Value,
    pub containers: Vec<ContainerModel>,
}

/// The generated cluster's running pods and node names, for metrics.
#[derive(Debug, Default)]
pub struct ClusterModel {
    pub pods: Vec<PodModel>,
    pub nodes: Vec<String>,
}

/// A node pool of the simulated cluster.
struct Pool {
    name: &'static str,
    provider: &'static str,
    machine_type: &'static str,
    vcpus: u32,
    memory_gib: u32,
    capacity_label: Option<(&'static str, &'static str)>,
    /// Share of the cluster's nodes, in percent.
    share: usize,
}

const POOLS: [Pool; 7] = [
    Pool {
        name: "general-e2",
        provider: "gcp",
        machine_type: "e2-standard-8",
        vcpus: 8,
        memory_gib: 32,
        capacity_label: None,
        share: 35,
    },
    Pool {
        name: "legacy-n1",
        provider: "gcp",
        machine_type: "n1-standard-8",
        vcpus: 8,
        memory_gib: 30,
        capacity_label: None,
        share: 15,
    },
    Pool {
        name: "compute-n2",
        provider: "gcp",
        machine_type: "n2-standard-16",
        vcpus: 16,
        memory_gib: 64,
        capacity_label: None,
        share: 15,
    },
    Pool {
        name: "spot-e2",
        provider: "gcp",
        machine_type: "e2-standard-8",
        vcpus: 8,
        memory_gib: 32,
        capacity_label: Some(("cloud.google.com/gke-spot", "true")),
        share: 15,
    },
    Pool {
        name: "batch-preemptible",
        provider: "gcp",
        machine_type: "n1-standard-4",
        vcpus: 4,
        memory_gib: 15,
        capacity_label: Some(("cloud.google.com/gke-preemptible", "true")),
        share: 12,
    },
    Pool {
        name: "burst",
        provider: "aws",
        machine_type: "m5.xlarge",
        vcpus: 4,
        memory_gib: 16,
        capacity_label: Some(("eks.amazonaws.com/capacityType", "ON_DEMAND")),
        share: 8,
    },
    Pool {
        name: "lab",
        provider: "gcp",
        machine_type: "z9-mega-4",
        vcpus: 4,
        memory_gib: 16,
        capacity_label: None,
        share: 0,
    },
];

/// Tenants of the simulated SaaS and their relative sizes (a long tail).
const TENANTS: [(&str, usize); 12] = [
    ("acme", 30),
    ("globex", 18),
    ("initech", 12),
    ("umbrella", 9),
    ("hooli", 7),
    ("stark", 6),
    ("wayne", 5),
    ("wonka", 4),
    ("tyrell", 3),
    ("cyberdyne", 3),
    ("soylent", 2),
    ("massive", 1),
];

const SHARED_NAMESPACES: [&str; 3] = ["kube-system", "monitoring", "ingress"];

/// The simulated cluster's epoch: every seed starts on Monday 2026-11-02 00:00 UTC.
pub fn epoch() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_793_577_600, 0).unwrap_or_default()
}

/// A small deterministic generator (SplitMix64), so a seed reproduces a cluster
/// on every platform and version.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    fn suffix(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| CHARS[self.below(CHARS.len())] as char)
            .collect()
    }
}

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Generates the cluster into `store` and returns the usage model.
///
/// # Errors
///
/// A [`StoreError`] if the store refuses an object (a generator defect).
pub fn generate(spec: &ClusterSpec, store: &Store) -> Result<ClusterModel, StoreError> {
    let mut rng = Rng::new(spec.seed);
    let now = epoch();
    let mut model = ClusterModel::default();

    let nodes = node_names(spec.nodes);
    for (name, pool, zone_index) in &nodes {
        store.put(
            NODES,
            node_object(name, pool, *zone_index, now - Duration::days(30)),
        )?;
        model.nodes.push(name.clone());
    }

    for namespace in SHARED_NAMESPACES {
        store.put(NAMESPACES, namespace_object(namespace, None, now))?;
    }
    for (tenant, _) in TENANTS {
        store.put(NAMESPACES, namespace_object(tenant, Some(tenant), now))?;
    }

    // Two DaemonSets run on every node, as logging and monitoring agents do.
    let daemon_pods = if spec.pods >= 4 * spec.nodes { 2 } else { 0 };
    let daemonsets = [
        ("kube-system", "fluent-bit", 0.1, 200),
        ("monitoring", "node-exporter", 0.05, 64),
    ];
    if daemon_pods > 0 {
        for (namespace, name, cpu, memory_mib) in daemonsets {
            let owner = Owner::new(DAEMONSETS, namespace, name);
            store.put(
                DAEMONSETS,
                workload_object(&owner, None, cpu, memory_mib, now),
            )?;
            for (node, _, _) in &nodes {
                let pod_name = unique_pod_name(store, &mut rng, namespace, name);
                let containers = vec![container(
                    name,
                    cpu,
                    memory_mib,
                    UsageProfile::OverProvisioned,
                    &mut rng,
                )];
                add_pod(
                    store, &mut model, &mut rng, namespace, &pod_name, node, &owner, name,
                    containers, now,
                )?;
            }
        }
    }

    // Deployments of the tenants, sized by tenant weight; shared services too.
    let mut budget = spec.pods.saturating_sub(daemon_pods * nodes.len());
    let total_weight: usize = TENANTS.iter().map(|(_, w)| w).sum();
    let mut node_cursor = 0;
    let services = [
        "api", "web", "worker", "cache", "search", "billing", "reports", "auth",
    ];
    let profiles = [
        UsageProfile::Diurnal,
        UsageProfile::OverProvisioned,
        UsageProfile::RightSized,
        UsageProfile::OverProvisioned,
        UsageProfile::UnderProvisioned,
        UsageProfile::Idle,
    ];
    let mut deployments: Vec<(String, String, usize)> = Vec::new();
    for (tenant, weight) in TENANTS {
        let share = spec.pods.saturating_sub(daemon_pods * nodes.len()) * weight / total_weight;
        let count = (share / 6).clamp(1, services.len());
        for (index, service) in services.iter().take(count).enumerate() {
            let replicas = (share / count + usize::from(index < share % count)).max(1);
            deployments.push((tenant.to_owned(), (*service).to_owned(), replicas));
        }
    }
    deployments.push(("ingress".into(), "ingress-nginx-controller".into(), 3));
    deployments.push(("kube-system".into(), "coredns".into(), 2));
    for (index, (namespace, service, replicas)) in deployments.into_iter().enumerate() {
        if budget == 0 {
            break;
        }
        let replicas = replicas.min(budget);
        budget -= replicas;
        let profile = profiles[index % profiles.len()];
        let (cpu, memory_mib) = [
            (0.25, 256),
            (0.5, 512),
            (1.0, 1024),
            (0.1, 128),
            (2.0, 4096),
        ][index % 5];
        let deployment = Owner::new(DEPLOYMENTS, &namespace, &service);
        store.put(
            DEPLOYMENTS,
            workload_object(&deployment, Some(replicas), cpu, memory_mib, now),
        )?;
        let hash = rng.suffix(10);
        let rs_name = format!("{service}-{hash}");
        let replica_set = Owner::new(REPLICASETS, &namespace, &rs_name);
        let mut rs = workload_object(&replica_set, Some(replicas), cpu, memory_mib, now);
        rs["metadata"]["ownerReferences"] = json!([deployment.reference()]);
        rs["metadata"]["labels"]["pod-template-hash"] = json!(hash);
        store.put(REPLICASETS, rs)?;
        let sidecar = index % 4 == 0;
        for _ in 0..replicas {
            let pod_name = unique_pod_name(store, &mut rng, &namespace, &rs_name);
            let mut containers = vec![container(&service, cpu, memory_mib, profile, &mut rng)];
            if sidecar {
                containers.push(container(
                    "istio-proxy",
                    0.1,
                    128,
                    UsageProfile::RightSized,
                    &mut rng,
                ));
            }
            let node = &nodes[node_cursor % nodes.len()].0;
            node_cursor += 1;
            add_pod(
                store,
                &mut model,
                &mut rng,
                &namespace,
                &pod_name,
                node,
                &replica_set,
                &service,
                containers,
                now,
            )?;
        }
    }
    Ok(model)
}

/// Node names by pool, spread over three zones; at least one unknown machine type.
fn node_names(count: usize) -> Vec<(String, &'static Pool, usize)> {
    let mut nodes = Vec::with_capacity(count);
    let priced: usize = POOLS.iter().map(|p| p.share).sum();
    for pool in &POOLS {
        let wanted = if pool.share == 0 {
            usize::from(count >= 5)
        } else {
            count * pool.share / priced
        };
        for index in 0..wanted {
            let prefix = if pool.provider == "aws" { "eks" } else { "gke" };
            nodes.push((
                format!("{prefix}-{}-{index:05}", pool.name),
                pool,
                index % 3,
            ));
        }
    }
    let mut filler = 0;
    while nodes.len() < count {
        nodes.push((
            format!("gke-{}-x{filler:05}", POOLS[0].name),
            &POOLS[0],
            filler % 3,
        ));
        filler += 1;
    }
    nodes.truncate(count);
    nodes
}

fn node_object(name: &str, pool: &Pool, zone_index: usize, created: DateTime<Utc>) -> Value {
    let (region, zone, provider_id, pool_label) = if pool.provider == "aws" {
        let zone = format!("us-east-1{}", ['a', 'b', 'c'][zone_index]);
        let id = format!(
            "aws:///{zone}/i-{:017x}",
            name.len() as u64 * 7919 + zone_index as u64
        );
        (
            "us-east-1".to_owned(),
            zone,
            id,
            ("eks.amazonaws.com/nodegroup", pool.name),
        )
    } else {
        let zone = format!("us-central1-{}", ['a', 'b', 'c'][zone_index]);
        let id = format!("gce://kubetally-sim/{zone}/{name}");
        (
            "us-central1".to_owned(),
            zone,
            id,
            ("cloud.google.com/gke-nodepool", pool.name),
        )
    };
    let mut labels = json!({
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": pool.machine_type,
        "beta.kubernetes.io/instance-type": pool.machine_type,
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": zone,
    });
    labels[pool_label.0] = json!(pool_label.1);
    if let Some((key, value)) = pool.capacity_label {
        labels[key] = json!(value);
    }
    let memory_ki = u64::from(pool.memory_gib) * 1024 * 1024;
    json!({
        "metadata": {"name": name, "labels": labels, "creationTimestamp": timestamp(created)},
        "spec": {"providerID": provider_id, "podCIDR": "10.0.0.0/24"},
        "status": {
            "capacity": {"cpu": pool.vcpus.to_string(), "memory": format!("{memory_ki}Ki"), "pods": "110", "ephemeral-storage": "98831908Ki"},
            "allocatable": {
                "cpu": format!("{}m", pool.vcpus * 1000 - 90 - pool.vcpus * 10),
                "memory": format!("{}Ki", memory_ki * 9 / 10),
                "pods": "110",
                "ephemeral-storage": "47060071478"
            },
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": timestamp(created), "lastTransitionTime": timestamp(created)}],
            "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Container-Optimized OS", "containerRuntimeVersion": "containerd://1.7.0", "kernelVersion": "6.1.0", "operatingSystem": "linux", "architecture": "amd64", "machineID": "", "systemUUID": "", "bootID": "", "kubeProxyVersion": "v1.33.0"}
        }
    })
}

fn namespace_object(name: &str, tenant: Option<&str>, now: DateTime<Utc>) -> Value {
    let mut labels = json!({"kubernetes.io/metadata.name": name});
    if let Some(tenant) = tenant {
        labels["tenant"] = json!(tenant);
    }
    json!({
        "metadata": {"name": name, "labels": labels, "creationTimestamp": timestamp(now - Duration::days(90))},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"}
    })
}

/// A controller object that owns pods.
struct Owner {
    resource: Resource,
    namespace: String,
    name: String,
    uid: String,
}

impl Owner {
    fn new(resource: Resource, namespace: &str, name: &str) -> Owner {
        Owner {
            resource,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: uid_for(resource, namespace, name, 0),
        }
    }

    fn reference(&self) -> Value {
        json!({"apiVersion": self.resource.api_version(), "kind": self.resource.kind, "name": self.name, "uid": self.uid, "controller": true, "blockOwnerDeletion": true})
    }
}

fn container_spec(name: &str, cpu: f64, memory_mib: u32) -> Value {
    json!({
        "name": name,
        "image": format!("registry.example.com/{name}:1.0"),
        "resources": {
            "requests": {"cpu": format!("{}m", (cpu * 1000.0).round()), "memory": format!("{memory_mib}Mi")},
            "limits": {"memory": format!("{memory_mib}Mi")}
        },
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10}
    })
}

fn workload_object(
    owner: &Owner,
    replicas: Option<usize>,
    cpu: f64,
    memory_mib: u32,
    now: DateTime<Utc>,
) -> Value {
    let app = owner
        .name
        .split('-')
        .next()
        .unwrap_or(&owner.name)
        .to_owned();
    let mut spec = json!({
        "selector": {"matchLabels": {"app": app}},
        "template": {
            "metadata": {"labels": {"app": app}},
            "spec": {"containers": [container_spec(&app, cpu, memory_mib)], "terminationGracePeriodSeconds": 30}
        }
    });
    let mut status = json!({});
    if let Some(replicas) = replicas {
        spec["replicas"] = json!(replicas);
        status = json!({"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas, "observedGeneration": 1});
    }
    json!({
        "metadata": {"name": owner.name, "namespace": owner.namespace, "uid": owner.uid, "labels": {"app": app}, "generation": 1, "creationTimestamp": timestamp(now - Duration::days(20))},
        "spec": spec,
        "status": status
    })
}

fn container(
    name: &str,
    cpu: f64,
    memory_mib: u32,
    profile: UsageProfile,
    rng: &mut Rng,
) -> ContainerModel {
    ContainerModel {
        name: name.to_owned(),
        cpu_request_cores: cpu,
        memory_request_bytes: f64::from(memory_mib) * 1024.0 * 1024.0,
        profile,
        jitter: rng.unit(),
    }
}

/// `<prefix>-<5 random characters>`, drawn again on a collision as the
/// ReplicaSet controller's name generator is (a 5,000-replica set collides
/// about once with 27⁵ names).
fn unique_pod_name(store: &Store, rng: &mut Rng, namespace: &str, prefix: &str) -> String {
    loop {
        let name = format!("{prefix}-{}", rng.suffix(5));
        if store.get(PODS, namespace, &name).is_err() {
            return name;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn add_pod(
    store: &Store,
    model: &mut ClusterModel,
    rng: &mut Rng,
    namespace: &str,
    name: &str,
    node: &str,
    owner: &Owner,
    app: &str,
    containers: Vec<ContainerModel>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let started = now - Duration::minutes(10 + rng.below(60 * 24 * 7) as i64);
    let uid = uid_for(PODS, namespace, name, 0);
    let labels = json!({"app": app});
    let specs: Vec<Value> = containers
        .iter()
        .map(|c| {
            container_spec(
                &c.name,
                c.cpu_request_cores,
                (c.memory_request_bytes / 1048576.0) as u32,
            )
        })
        .collect();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "ready": true, "started": true, "restartCount": 0,
                "image": format!("registry.example.com/{}:1.0", c.name), "imageID": "",
                "containerID": format!("containerd://{}", uid.replace('-', "")),
                "state": {"running": {"startedAt": timestamp(started)}}
            })
        })
        .collect();
    let pod = json!({
        "metadata": {
            "name": name, "namespace": namespace, "uid": uid, "labels": labels,
            "ownerReferences": [owner.reference()],
            "creationTimestamp": timestamp(started)
        },
        "spec": {"nodeName": node, "containers": specs, "terminationGracePeriodSeconds": 30, "restartPolicy": "Always", "schedulerName": "default-scheduler"},
        "status": {
            "phase": "Running", "qosClass": "Burstable", "startTime": timestamp(started),
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": timestamp(started)}],
            "containerStatuses": statuses
        }
    });
    store.put(PODS, pod)?;
    model.pods.push(PodModel {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        uid,
        node: node.to_owned(),
        labels,
        containers,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::selector::{FieldSelector, LabelSelector};

    #[test]
    fn generates_the_requested_size_deterministically() -> Result<(), StoreError> {
        let spec = ClusterSpec {
            nodes: 20,
            pods: 300,
            seed: 7,
        };
        let (a, b) = (Store::new(1000), Store::new(1000));
        let model = generate(&spec, &a)?;
        generate(&spec, &b)?;
        let all = (LabelSelector::default(), FieldSelector::default());
        let pods_a = a.list(PODS, None, &all.0, &all.1, None, None);
        let pods_b = b.list(PODS, None, &all.0, &all.1, None, None);
        assert_eq!(pods_a.items.len(), 300);
        assert_eq!(model.pods.len(), 300);
        let json = |page: &crate::sim::store::Page| {
            page.items
                .iter()
                .map(|s| s.json.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(json(&pods_a), json(&pods_b));
        assert_eq!(
            a.list(NODES, None, &all.0, &all.1, None, None).items.len(),
            20
        );
        let spot = LabelSelector::parse("cloud.google.com/gke-spot=true").unwrap_or_default();
        assert!(
            !a.list(NODES, None, &spot, &all.1, None, None)
                .items
                .is_empty()
        );
        let unknown =
            LabelSelector::parse("node.kubernetes.io/instance-type=z9-mega-4").unwrap_or_default();
        assert_eq!(
            a.list(NODES, None, &unknown, &all.1, None, None)
                .items
                .len(),
            1
        );
        Ok(())
    }
}
