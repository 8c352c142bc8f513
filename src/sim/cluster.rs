//! The cluster the simulator pretends to be: node pools, tenants and their
//! workloads, generated deterministically from a seed.
//!
//! The generator writes real API objects (with owners wired as the real
//! controllers wire them) into the store, and keeps a compact model of every
//! running container beside them, from which usage is computed on demand.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::etcd::{Etcd, EtcdError};
use super::life::{self, CronState, DeploymentState, Life, unique_pod_name};
use super::objects::{
    Budget, InitContainer, Owner, Placement, PodIdentity, PodTemplate, Requirements, Sizing,
    controller, pdb, replica_status, round_bytes, round_cores, timestamp,
};
use super::resources::{
    CRONJOBS, DAEMONSETS, DEPLOYMENTS, HPAS, NAMESPACES, NODES, PDBS, REPLICASETS, STATEFULSETS,
};
use super::storage::Volumes;
use crate::model::units::GIB;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    pub nodes: usize,
    pub pods: usize,
    pub seed: u64,
    /// Two GPU nodes beyond `nodes` (one MIG-partitioned, one time-sliced)
    /// and the pods that share them ([`super::gpu`]).
    pub gpu_nodes: bool,
    /// GKE Autopilot mode: Google-managed nodes of compute classes, pods
    /// selecting the class of their node, GKE's system pods ([`super::autopilot`]).
    pub autopilot: bool,
    /// Bound PersistentVolumeClaims beyond the StatefulSets' (each with its
    /// volume, mounted by nothing), for sizing the collector's storage
    /// watches ([`super::storage::Volumes::generate`]).
    pub claims: usize,
}

impl Default for ClusterSpec {
    /// A small cluster that starts instantly: 20 nodes, 300 pods, seed 1,
    /// no GPU nodes (they would add to the bill of every demo).
    fn default() -> ClusterSpec {
        ClusterSpec {
            nodes: 20,
            pods: 300,
            seed: 1,
            gpu_nodes: false,
            autopilot: false,
            claims: 0,
        }
    }
}

/// Sizes beyond these are refused, not attempted: generating them would
/// exhaust memory long before anything useful was served (150,000 pods on
/// 5,000 nodes is the largest size the benchmarks use).
pub const MAX_NODES: usize = 50_000;
pub const MAX_PODS: usize = 1_500_000;
pub const MAX_CLAIMS: usize = 1_000_000;

/// A cluster size the simulator refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--{what} {value}: the simulator generates at most {max}")]
pub struct SizeError {
    pub what: &'static str,
    pub value: usize,
    pub max: usize,
}

impl ClusterSpec {
    /// Refuses sizes the simulator cannot generate in memory.
    ///
    /// # Errors
    ///
    /// [`SizeError`] naming the flag and its limit.
    pub fn check(&self) -> Result<(), SizeError> {
        for (what, value, max) in [
            ("nodes", self.nodes, MAX_NODES),
            ("pods", self.pods, MAX_PODS),
            ("claims", self.claims, MAX_CLAIMS),
        ] {
            if value > max {
                return Err(SizeError { what, value, max });
            }
        }
        Ok(())
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
    /// Memory grows from a third of the limit to the limit over a few
    /// hours, then the kernel kills it (OOMKilled) and it starts again.
    Leak,
    /// A batch job: busy from start to finish.
    Batch,
    /// Exactly this usage, always (hand-written scenarios).
    Constant { cpu_cores: f64, memory_bytes: f64 },
}

/// One running container, as the usage model needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerModel {
    pub name: String,
    /// Requests and limits the kubelet granted (a resize it accepted changes them).
    pub resources: Requirements,
    pub profile: UsageProfile,
    /// A per-container constant in [0, 1) that spreads containers of one profile.
    pub jitter: f64,
    /// When the container last (re)started: a leak grows from here.
    pub started: DateTime<Utc>,
    /// A native sidecar: declared as an init container with `restartPolicy: Always`.
    pub native_sidecar: bool,
}

impl ContainerModel {
    /// A container of `cpu` cores and `memory_mib` MiB requested, memory
    /// limited to its request (the common production setting), no CPU limit.
    pub fn new(name: &str, cpu: f64, memory_mib: f64, profile: UsageProfile) -> ContainerModel {
        let memory = memory_mib * 1_048_576.0;
        ContainerModel {
            name: name.to_owned(),
            resources: Requirements {
                cpu_request_cores: Some(cpu),
                memory_request_bytes: Some(memory),
                cpu_limit_cores: None,
                memory_limit_bytes: Some(memory),
            },
            profile,
            jitter: 0.0,
            started: epoch(),
            native_sidecar: false,
        }
    }

    /// CPU cores and memory bytes its usage profile is a fraction of: its
    /// request, else its limit, else 100m / 128 MiB (a sidecar under
    /// pod-level resources uses about what a small sidecar would request).
    pub fn usage_basis(&self) -> (f64, f64) {
        let r = &self.resources;
        (
            r.cpu_request_cores.or(r.cpu_limit_cores).unwrap_or(0.1),
            r.memory_request_bytes
                .or(r.memory_limit_bytes)
                .unwrap_or(128.0 * 1_048_576.0),
        )
    }

    /// How long a leaking container lives between OOM kills: 4 to 12 hours.
    pub fn leak_period(&self) -> Duration {
        Duration::minutes(240 + (self.jitter * 480.0) as i64)
    }
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
    /// Init containers, pod-level resources and overhead: with the
    /// containers, what decides `reserved` again after a resize.
    pub sizing: Sizing,
    /// CPU cores and memory bytes the scheduler reserved on the node.
    pub reserved: (f64, f64),
}

/// The cluster's running pods (by namespace and name, the order lists use),
/// its nodes, and the controllers that change it over simulated time.
#[derive(Debug, Default)]
pub struct ClusterModel {
    pub pods: BTreeMap<(String, String), PodModel>,
    pub nodes: Vec<String>,
    pub life: Life,
    /// Claims and volumes, and their changes (apart from `life`, so its
    /// draws and order stay as they were).
    pub volumes: Volumes,
}

impl ClusterModel {
    /// Starts the usage of a pod the generator wrote itself, outside the
    /// controllers' life (it never changes): GPU and Autopilot system pods,
    /// whose jitter comes from their module's own stream `rng`.
    pub fn adopt_pod(
        &mut self,
        template: &PodTemplate,
        identity: &PodIdentity,
        node: &str,
        started: DateTime<Utc>,
        rng: &mut Rng,
    ) {
        let mut containers = template.containers.clone();
        for container in &mut containers {
            container.jitter = rng.unit();
            container.started = started;
        }
        let key = (identity.namespace.clone(), identity.name.clone());
        self.pods.insert(
            key,
            PodModel {
                namespace: identity.namespace.clone(),
                name: identity.name.clone(),
                uid: identity.uid.clone(),
                node: node.to_owned(),
                labels: identity.labels.clone(),
                containers,
                sizing: template.sizing.clone(),
                reserved: template.request(),
            },
        );
    }

    /// When the next change of any controller is due.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        match (self.life.next_due(), self.volumes.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Applies everything due up to `until` in time order (at one instant, the
/// workload controllers before the storage ones); returns how many changes
/// happened.
///
/// # Errors
///
/// A [`EtcdError`] if the store refuses a write (a simulator defect).
pub fn advance(
    model: &mut ClusterModel,
    store: &Etcd,
    until: DateTime<Utc>,
) -> Result<usize, EtcdError> {
    let mut count = 0;
    while let Some(at) = model.volumes.next_due().filter(|at| *at <= until) {
        count += life::advance(model, store, at)?;
        count += usize::from(model.volumes.apply_next(store, at)?);
    }
    Ok(count + life::advance(model, store, until)?)
}

/// A node pool of the simulated cluster (or a scenario's node).
pub struct Pool<'a> {
    pub name: &'a str,
    pub provider: &'a str,
    pub machine_type: &'a str,
    pub vcpus: u32,
    pub memory_gib: u32,
    pub capacity_label: Option<(&'a str, &'a str)>,
    /// Share of the cluster's nodes, in percent.
    pub share: usize,
}

const POOLS: [Pool<'static>; 7] = [
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
#[derive(Debug, Default)]
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

    pub fn suffix(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| CHARS[self.below(CHARS.len())] as char)
            .collect()
    }
}

/// A workload the generator places at the start.
struct Planned {
    namespace: String,
    name: String,
    kind: PlannedKind,
    replicas: usize,
    template: PodTemplate,
    budget: Option<Budget>,
}

#[derive(Clone, Copy, PartialEq)]
enum PlannedKind {
    Deployment { autoscaled: bool },
    StatefulSet,
    Naked,
}

/// Generates the cluster into `store` and returns its model, with the
/// controllers' life queued from the epoch on.
///
/// # Errors
///
/// A [`EtcdError`] if the store refuses an object (a generator defect).
pub fn generate(spec: &ClusterSpec, store: &Etcd) -> Result<ClusterModel, EtcdError> {
    let now = epoch();
    let mut model = ClusterModel {
        life: Life::new(spec.seed),
        ..ClusterModel::default()
    };

    let nodes = if spec.autopilot {
        super::autopilot::nodes(node_names(spec.nodes))
    } else {
        node_names(spec.nodes)
    };
    for (name, pool, zone_index) in &nodes {
        let node = node_object(name, pool, *zone_index, now - Duration::days(30));
        let node = if spec.autopilot {
            super::autopilot::relabel(node)
        } else {
            node
        };
        store.put(NODES, node)?;
        let (cpu, memory) = allocatable(pool);
        let preemptible = pool
            .capacity_label
            .is_some_and(|(key, _)| key == "cloud.google.com/gke-preemptible");
        model
            .life
            .scheduler
            .add_node(name, preemptible, cpu, memory);
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
    if daemon_pods > 0 {
        for (namespace, name, cpu, memory_mib) in [
            ("kube-system", "fluent-bit", 0.1, 200.0),
            ("monitoring", "node-exporter", 0.05, 64.0),
        ] {
            let mut template =
                PodTemplate::single(name, cpu, memory_mib, UsageProfile::OverProvisioned);
            template.priority = Some(("system-node-critical", 2_000_001_000));
            template.volumes =
                vec![json!({"name": "varlog", "hostPath": {"path": "/var/log", "type": ""}})];
            let owner = Owner::new(DAEMONSETS, namespace, name);
            let labels = json!({"app": name});
            let spec = json!({"selector": {"matchLabels": labels}, "template": template.template_json(&labels)});
            let count = nodes.len();
            let status = json!({"desiredNumberScheduled": count, "currentNumberScheduled": count, "numberReady": count, "numberAvailable": count, "updatedNumberScheduled": count, "observedGeneration": 1});
            store.put(
                DAEMONSETS,
                controller(&owner, &labels, spec, status, now - Duration::days(30)),
            )?;
            for (node, _, _) in &nodes {
                let pod = unique_pod_name(store, model.life.rng(), namespace, name);
                let identity = PodIdentity {
                    uid: model.life.pod_uid(namespace, &pod),
                    namespace: namespace.to_owned(),
                    name: pod,
                    labels: labels.clone(),
                    owner: Some(owner.reference()),
                };
                let started = now - Duration::days(20);
                model.life.start_pod(
                    &mut model.pods,
                    store,
                    &template,
                    identity,
                    Some(node.clone()),
                    started,
                )?;
            }
        }
    }

    let budget = spec.pods.saturating_sub(daemon_pods * nodes.len());
    let mut planned = plan_workloads(budget);
    // Size requests so the cluster is about 70% allocated, as a well-run
    // cluster with autoscaled node pools is; what does not fit stays Pending.
    let wanted = planned.iter().fold((0.0, 0.0), |sum, w| {
        let (cpu, memory) = w.template.request();
        (
            sum.0 + cpu * w.replicas as f64,
            sum.1 + memory * w.replicas as f64,
        )
    });
    let (cpu_free, memory_free) = model.life.scheduler.free_for(Placement::Anywhere);
    let cpu_factor = (0.7 * cpu_free / wanted.0.max(1e-9)).min(1.0);
    let memory_factor = (0.7 * memory_free / wanted.1.max(1e-9)).min(1.0);
    for workload in &mut planned {
        workload.template.scale(cpu_factor, memory_factor);
    }
    for workload in planned {
        place_workload(&mut model, store, workload, now)?;
    }
    for cron in plan_cronjobs() {
        let labels = json!({"app": cron.template.app});
        let spec = json!({
            "schedule": cron.schedule(), "concurrencyPolicy": "Allow", "suspend": false,
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
            "jobTemplate": {"spec": {"backoffLimit": cron.backoff_limit, "ttlSecondsAfterFinished": life::JOB_TTL_SECONDS, "template": cron.template.template_json(&labels)}}
        });
        store.put(
            CRONJOBS,
            controller(
                &cron.owner,
                &labels,
                spec,
                json!({}),
                now - Duration::days(40),
            ),
        )?;
        model.life.cronjobs.push(cron);
    }
    model.life.start(now);
    if spec.autopilot {
        super::autopilot::system_pods(&mut model, store, spec.seed, now)?;
    }
    if spec.gpu_nodes {
        super::gpu::generate(&mut model, store, spec.seed, now)?;
    }
    super::services::generate(store, now)?;
    model.volumes = Volumes::new(spec.seed);
    model
        .volumes
        .generate(store, &model.nodes, now, spec.claims)?;
    Ok(model)
}

/// Pods not yet given to a workload.
struct Allowance(usize);

impl Allowance {
    /// Up to `wanted` pods, fewer when fewer are left.
    fn take(&mut self, wanted: usize) -> usize {
        let granted = wanted.min(self.0);
        self.0 -= granted;
        granted
    }
}

/// Deployments, StatefulSets and naked pods of the tenants and shared services.
fn plan_workloads(budget: usize) -> Vec<Planned> {
    let mut planned = Vec::new();
    let mut left = Allowance(budget);
    let mut take = |wanted: usize| left.take(wanted);
    // Shared services first: a cluster always has them.
    let mut coredns = service_template("coredns", 1, UsageProfile::OverProvisioned);
    coredns.priority = Some(("system-cluster-critical", 2_000_000_000));
    planned.push(Planned {
        namespace: "kube-system".into(),
        name: "coredns".into(),
        kind: PlannedKind::Deployment { autoscaled: false },
        replicas: take(2),
        template: coredns,
        budget: Some(Budget::MaxUnavailable(1)),
    });
    planned.push(Planned {
        namespace: "ingress".into(),
        name: "ingress-nginx-controller".into(),
        kind: PlannedKind::Deployment { autoscaled: true },
        replicas: take(3),
        template: service_template("ingress-nginx-controller", 2, UsageProfile::Diurnal),
        budget: Some(Budget::MinAvailable(1)),
    });
    if budget >= 50 {
        for (namespace, name) in [("acme", "debug-shell"), ("globex", "toolbox")] {
            planned.push(Planned {
                namespace: namespace.into(),
                name: name.into(),
                kind: PlannedKind::Naked,
                replicas: take(1),
                template: service_template(name, 3, UsageProfile::Idle),
                budget: None,
            });
        }
    }
    if budget >= 100 {
        for (tenant, weight) in TENANTS.iter().filter(|(_, w)| *w >= 5) {
            let mut template = service_template("postgres", 2, UsageProfile::RightSized);
            template.annotations =
                json!({"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"});
            template.grace_seconds = 120;
            let replicas = take(1 + weight / 10);
            let budget = if replicas > 1 {
                Budget::MaxUnavailable(1)
            } else {
                Budget::MinAvailable(1)
            };
            planned.push(Planned {
                namespace: (*tenant).into(),
                name: "postgres".into(),
                kind: PlannedKind::StatefulSet,
                replicas,
                template,
                budget: Some(budget),
            });
        }
    }
    // The tenants' Deployments share what is left by tenant weight.
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
    let total_weight: usize = TENANTS.iter().map(|(_, w)| w).sum();
    let tenant_pods = take(usize::MAX);
    let mut left = Allowance(tenant_pods);
    let mut take = |wanted: usize| left.take(wanted);
    let mut index = 0;
    for (tenant, weight) in TENANTS {
        let share = tenant_pods * weight / total_weight;
        let count = (share / 6).clamp(1, services.len());
        for (position, service) in services.iter().take(count).enumerate() {
            let replicas = take((share / count + usize::from(position < share % count)).max(1));
            if replicas == 0 {
                continue;
            }
            let profile = if *service == "search" {
                UsageProfile::Leak
            } else {
                profiles[index % profiles.len()]
            };
            let template = service_template(service, index, profile);
            let autoscaled = matches!(*service, "api" | "web") && replicas >= 2;
            let budget = match *service {
                "api" => Some(Budget::MinAvailable(1)),
                "web" => Some(Budget::MaxUnavailable(1)),
                "billing" => Some(Budget::MaxUnavailable(0)),
                _ => None,
            };
            planned.push(Planned {
                namespace: tenant.into(),
                name: (*service).into(),
                kind: PlannedKind::Deployment { autoscaled },
                replicas,
                template,
                budget,
            });
            index += 1;
        }
    }
    // Rounding leaves a few pods over: the biggest tenant's first service takes them.
    if let Some(first) = planned
        .iter_mut()
        .find(|w| w.namespace == TENANTS[0].0 && w.name == services[0])
    {
        first.replicas += take(usize::MAX);
    }
    planned
}

/// The pod template of a service: its size, profile and the habits of its
/// kind (sidecars, init containers, volumes, limits, priorities).
fn service_template(service: &str, index: usize, profile: UsageProfile) -> PodTemplate {
    let (cpu, memory_mib) = [
        (0.25, 256.0),
        (0.5, 512.0),
        (1.0, 1024.0),
        (0.1, 128.0),
        (2.0, 4096.0),
    ][index % 5];
    let mut main = ContainerModel::new(service, cpu, memory_mib, profile);
    if profile == UsageProfile::UnderProvisioned {
        // Usage above request needs a limit above request to survive.
        main.resources.memory_limit_bytes = Some(memory_mib * 1_048_576.0 * 2.0);
    }
    if service == "reports" {
        main.resources.cpu_limit_cores = Some(cpu);
    }
    let mut containers = vec![main];
    if matches!(service, "api" | "auth") {
        containers.push(ContainerModel::new(
            "istio-proxy",
            0.1,
            128.0,
            UsageProfile::RightSized,
        ));
    }
    if service == "worker" {
        let mut shipper = ContainerModel::new("log-shipper", 0.05, 64.0, UsageProfile::RightSized);
        shipper.native_sidecar = true;
        containers.push(shipper);
    }
    let mut template = PodTemplate::new(service, containers);
    match service {
        "api" => template.sizing.init.push(migrate(&template)),
        "auth" => pod_level_resources(&mut template),
        "search" => {
            // Sandboxed: the RuntimeClass admission controller copies
            // gvisor's overhead.podFixed into every pod.
            template.runtime_class = Some(GVISOR.into());
            template.sizing.overhead = Some(GVISOR_OVERHEAD);
        }
        "cache" => {
            template.volumes = vec![json!({"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}})];
            template.annotations =
                json!({"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"});
        }
        "reports" => template.startup_seconds = 90,
        "billing" => {
            template.grace_seconds = 120;
            template.priority = Some(("tenant-high", 100_000));
        }
        _ => {}
    }
    template
}

/// The RuntimeClass of sandboxed pods and its `overhead.podFixed` (cores, bytes).
pub const GVISOR: &str = "gvisor";
pub const GVISOR_OVERHEAD: (Option<f64>, Option<f64>) = (Some(0.25), Some(64.0 * 1_048_576.0));

/// `api`'s schema migration: it loads the whole schema, so it requests half
/// again what the pod's containers do together, and the init container
/// decides the pod's effective request.
fn migrate(template: &PodTemplate) -> InitContainer {
    let (cpu, memory) = template.request();
    InitContainer {
        name: "migrate".into(),
        resources: Requirements {
            cpu_request_cores: Some(round_cores(cpu * 1.5)),
            memory_request_bytes: Some(round_bytes(memory * 1.5)),
            cpu_limit_cores: None,
            memory_limit_bytes: Some(round_bytes(memory * 1.5)),
        },
        sidecars_before: 0,
    }
}

/// `auth` sizes the pod as a whole (pod-level `spec.resources`): the
/// istio-proxy sidecar declares nothing of its own and shares the pod's
/// request with the main container.
fn pod_level_resources(template: &mut PodTemplate) {
    let (cpu, memory) = template.request();
    for sidecar in template
        .containers
        .iter_mut()
        .filter(|c| c.name == "istio-proxy")
    {
        sidecar.resources = Requirements::default();
    }
    template.sizing.pod_level = Some(Requirements {
        cpu_request_cores: Some(cpu),
        memory_request_bytes: Some(memory),
        cpu_limit_cores: None,
        memory_limit_bytes: Some(memory),
    });
}

/// Batch work: a quick sync in every tenant, hourly ETL in the big ones, a
/// nightly report in the biggest, all on the preemptible pool.
fn plan_cronjobs() -> Vec<CronState> {
    let mut crons = Vec::new();
    for (rank, (tenant, _)) in TENANTS.iter().enumerate() {
        let mut jobs = vec![("sync", 15, rank as i64 % 15, (20, 90), 0.1, 128.0, 0.1, 2)];
        if rank < 4 {
            jobs.push(("etl", 60, 5, (300, 2400), 0.5, 1024.0, 0.05, 1));
        }
        if rank == 0 {
            jobs.push((
                "report-nightly",
                1440,
                120,
                (3600, 7200),
                1.0,
                2048.0,
                0.0,
                0,
            ));
        }
        for (name, every, offset, duration, cpu, memory_mib, failure_rate, backoff_limit) in jobs {
            let mut template = PodTemplate::single(name, cpu, memory_mib, UsageProfile::Batch);
            template.restart_policy = "Never";
            template.placement = Placement::Preemptible;
            template.grace_seconds = 30;
            crons.push(CronState {
                owner: Owner::new(CRONJOBS, tenant, name),
                template,
                every_minutes: every,
                offset_minutes: offset,
                duration_seconds: duration,
                failure_rate,
                backoff_limit,
            });
        }
    }
    crons
}

/// Writes a planned workload's objects and starts its pods.
fn place_workload(
    model: &mut ClusterModel,
    store: &Etcd,
    workload: Planned,
    now: DateTime<Utc>,
) -> Result<(), EtcdError> {
    let Planned {
        namespace,
        name,
        kind,
        replicas,
        template,
        budget,
    } = workload;
    let app = template.app.clone();
    let labels = json!({"app": app});
    let created = now - Duration::days(20);
    if let Some(budget) = budget {
        store.put(PDBS, pdb(&namespace, &app, budget, replicas, created))?;
    }
    let started = |rng: &mut Rng| now - Duration::minutes(10 + rng.below(60 * 24 * 7) as i64);
    match kind {
        PlannedKind::Naked => {
            let started = started(model.life.rng());
            let identity = PodIdentity {
                uid: model.life.pod_uid(&namespace, &name),
                namespace,
                name,
                labels,
                owner: None,
            };
            model
                .life
                .start_pod(&mut model.pods, store, &template, identity, None, started)
        }
        PlannedKind::StatefulSet => {
            let owner = Owner::new(STATEFULSETS, &namespace, &name);
            let revision = format!("{name}-{}", model.life.rng().suffix(10));
            let spec = json!({
                "replicas": replicas, "serviceName": name, "podManagementPolicy": "OrderedReady",
                "selector": {"matchLabels": labels}, "template": template.template_json(&labels),
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}}}]
            });
            let mut status = replica_status(replicas, replicas, 1);
            status["currentRevision"] = json!(revision);
            status["updateRevision"] = json!(revision);
            store.put(
                STATEFULSETS,
                controller(&owner, &labels, spec, status, created),
            )?;
            for ordinal in 0..replicas {
                let pod = format!("{name}-{ordinal}");
                let mut template = template.clone();
                template.volumes = vec![
                    json!({"name": "data", "persistentVolumeClaim": {"claimName": format!("data-{pod}")}}),
                ];
                let identity = PodIdentity {
                    uid: model.life.pod_uid(&namespace, &pod),
                    labels: json!({"app": app, "controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": pod, "apps.kubernetes.io/pod-index": ordinal.to_string()}),
                    namespace: namespace.clone(),
                    name: pod,
                    owner: Some(owner.reference()),
                };
                let started = started(model.life.rng());
                model
                    .life
                    .start_pod(&mut model.pods, store, &template, identity, None, started)?;
            }
            Ok(())
        }
        PlannedKind::Deployment { autoscaled } => {
            let owner = Owner::new(DEPLOYMENTS, &namespace, &name);
            let hash = model.life.rng().suffix(10);
            let replica_set = Owner::new(REPLICASETS, &namespace, &format!("{name}-{hash}"));
            let spec = json!({
                "replicas": replicas, "selector": {"matchLabels": labels},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "revisionHistoryLimit": 10, "template": template.template_json(&labels)
            });
            store.put(
                DEPLOYMENTS,
                controller(
                    &owner,
                    &labels,
                    spec,
                    replica_status(replicas, replicas, 1),
                    created,
                ),
            )?;
            let rs_labels = json!({"app": app, "pod-template-hash": hash});
            let rs_spec = json!({"replicas": replicas, "selector": {"matchLabels": rs_labels}, "template": template.template_json(&rs_labels)});
            let mut rs = controller(
                &replica_set,
                &rs_labels,
                rs_spec,
                replica_status(replicas, replicas, 1),
                created,
            );
            rs["metadata"]["ownerReferences"] = json!([owner.reference()]);
            store.put(REPLICASETS, rs)?;
            let hpa = autoscaled.then(|| ((replicas / 2).max(1), replicas * 2));
            model.life.deployments.push(DeploymentState {
                owner,
                replica_set,
                hash,
                template,
                pods: Vec::new(),
                hpa,
                generation: 1,
            });
            let index = model.life.deployments.len() - 1;
            for _ in 0..replicas {
                let started = started(model.life.rng());
                model
                    .life
                    .add_replica(&mut model.pods, store, index, started)?;
            }
            if let Some(object) = life::hpa_object(&model.life.deployments[index], created) {
                store.put(HPAS, object)?;
            }
            Ok(())
        }
    }
}

/// What kubelet leaves allocatable on a node of `pool`: GKE's reservation
/// is about 90 m + 1 % of CPU and 10 % of memory here.
pub fn allocatable(pool: &Pool) -> (f64, f64) {
    let cpu = f64::from(pool.vcpus * 1000 - 90 - pool.vcpus * 10) / 1000.0;
    let memory = f64::from(pool.memory_gib) * GIB * 0.9;
    (cpu, memory)
}

/// Node names by pool, spread over three zones; at least one unknown machine type.
fn node_names(count: usize) -> Vec<(String, &'static Pool<'static>, usize)> {
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

pub fn node_object(name: &str, pool: &Pool, zone_index: usize, created: DateTime<Utc>) -> Value {
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

pub fn namespace_object(name: &str, tenant: Option<&str>, now: DateTime<Utc>) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::etcd::Stored;
    use crate::sim::resources::{JOBS, PODS, Resource};
    use crate::sim::selector::{FieldSelector, LabelSelector};
    use std::sync::Arc;

    fn all(store: &Etcd, resource: Resource, selector: &str) -> Vec<Arc<Stored>> {
        let labels = LabelSelector::parse(selector).unwrap_or_default();
        store
            .list(
                resource,
                None,
                &labels,
                &FieldSelector::default(),
                None,
                None,
            )
            .items
    }

    fn spec(seed: u64) -> ClusterSpec {
        ClusterSpec {
            nodes: 20,
            pods: 300,
            seed,
            ..ClusterSpec::default()
        }
    }

    #[test]
    fn generates_the_requested_size_deterministically() -> Result<(), EtcdError> {
        let (a, b) = (Etcd::new(1000), Etcd::new(1000));
        let model = generate(&spec(7), &a)?;
        generate(&spec(7), &b)?;
        let pods_a = all(&a, PODS, "");
        assert_eq!(pods_a.len(), 300);
        let running = pods_a.iter().filter(|p| p.phase == "Running").count();
        assert_eq!(model.pods.len(), running);
        assert!(running >= 290, "only {running} of 300 pods fit");
        let json =
            |items: &[Arc<Stored>]| items.iter().map(|s| s.json.to_string()).collect::<Vec<_>>();
        assert_eq!(json(&pods_a), json(&all(&b, PODS, "")));
        assert_eq!(all(&a, NODES, "").len(), 20);
        assert!(!all(&a, NODES, "cloud.google.com/gke-spot=true").is_empty());
        assert_eq!(
            all(&a, NODES, "node.kubernetes.io/instance-type=z9-mega-4").len(),
            1
        );
        for (resource, at_least) in [
            (STATEFULSETS, 1),
            (DAEMONSETS, 2),
            (CRONJOBS, 12),
            (HPAS, 1),
            (PDBS, 3),
        ] {
            assert!(
                all(&a, resource, "").len() >= at_least,
                "{}",
                resource.plural
            );
        }
        // A naked pod, a native sidecar, an init container, a PVC and a hostPath.
        let texts = json(&pods_a).join("\n");
        assert!(pods_a.iter().any(|p| !p.json.contains("ownerReferences")));
        for needle in [
            "\"restartPolicy\":\"Always\"",
            "\"migrate\"",
            "persistentVolumeClaim",
            "hostPath",
            "emptyDir",
            "safe-to-evict",
            "priorityClassName",
            "OOMKilled",
        ] {
            assert!(texts.contains(needle), "no pod has {needle}");
        }
        Ok(())
    }

    /// No node has more requested than it can allocate.
    fn assert_not_overcommitted(model: &ClusterModel) {
        assert_eq!(model.life.scheduler.overcommitted(), Vec::<&str>::new());
        let reserved: f64 = model.pods.values().map(|p| p.reserved.0).sum();
        let (free, _) = model.life.scheduler.free_for(Placement::Anywhere);
        assert!(reserved > 0.0 && free > 0.0);
    }

    #[test]
    fn a_simulated_day_runs_jobs_kills_leaks_rolls_out_and_scales() -> Result<(), EtcdError> {
        let store = Etcd::new(1_000_000);
        let mut model = generate(&spec(3), &store)?;
        let start = all(&store, PODS, "").len();
        let replica_sets = all(&store, REPLICASETS, "").len();
        let mut succeeded = 0;
        let mut sizes = Vec::new();
        let mut short_job_seen = false;
        // Step through the day a quarter hour at a time, as a watcher would.
        for step in 1..=96 {
            let at = epoch() + Duration::minutes(15 * step);
            life::advance(&mut model, &store, at)?;
            assert_not_overcommitted(&model);
            sizes.push(all(&store, PODS, "").len());
            for pod in all(&store, PODS, "job-name") {
                if pod.phase == "Succeeded" {
                    succeeded += 1;
                    let value = pod.value();
                    let state = &value["status"]["containerStatuses"][0]["state"]["terminated"];
                    let (Some(from), Some(to)) =
                        (state["startedAt"].as_str(), state["finishedAt"].as_str())
                    else {
                        panic!("a finished job pod has no start and finish: {value}");
                    };
                    let (from, to) = (
                        DateTime::parse_from_rfc3339(from),
                        DateTime::parse_from_rfc3339(to),
                    );
                    if let (Ok(from), Ok(to)) = (from, to) {
                        short_job_seen |= (to - from).num_seconds() < 120;
                    }
                }
            }
        }
        assert!(succeeded > 50, "{succeeded} finished job pods seen");
        assert!(short_job_seen, "no job shorter than two minutes");
        assert!(!all(&store, JOBS, "").is_empty());
        assert!(
            all(&store, REPLICASETS, "").len() > replica_sets,
            "no rollout in a day"
        );
        assert!(
            sizes.iter().any(|&n| n != start),
            "the pod count never changed"
        );
        let restarted = all(&store, PODS, "app=search").iter().any(|p| {
            let value = p.value();
            value["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"]
                == "OOMKilled"
                && value["status"]["containerStatuses"][0]["restartCount"].as_u64() > Some(0)
        });
        assert!(restarted, "no leaking container was OOMKilled");
        Ok(())
    }

    /// Every event the store logged for pods after `version`, with its kind.
    fn pod_events(store: &Etcd, version: u64) -> Vec<(&'static str, Value)> {
        let events = store.watch_from(PODS, version).map(|(events, _)| events);
        events
            .unwrap_or_default()
            .iter()
            .map(|e| (e.kind.as_str(), e.object.value()))
            .collect()
    }

    fn resize_reasons(pod: &Value) -> Vec<String> {
        pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| match c["type"].as_str() {
                Some("PodResizeInProgress") => Some("InProgress".to_owned()),
                Some("PodResizePending") => c["reason"].as_str().map(str::to_owned),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_generated_cluster_has_every_new_shape_in_a_modest_share() -> Result<(), EtcdError> {
        let store = Etcd::new(1_000_000);
        let mut model = generate(&spec(3), &store)?;
        let pods: Vec<Value> = all(&store, PODS, "").iter().map(|p| p.value()).collect();
        let search = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["app"] == "search");
        for pod in search {
            assert_eq!(pod["spec"]["runtimeClassName"], GVISOR, "{pod}");
            assert_eq!(
                pod["spec"]["overhead"],
                json!({"cpu": "250m", "memory": "64Mi"})
            );
        }
        let auth = pods
            .iter()
            .find(|p| p["metadata"]["labels"]["app"] == "auth")
            .unwrap_or_else(|| panic!("no auth pod"));
        assert!(
            auth["spec"]["resources"]["requests"]["cpu"].is_string(),
            "{auth}"
        );
        assert_eq!(auth["spec"]["containers"][1]["name"], "istio-proxy");
        assert_eq!(auth["spec"]["containers"][1]["resources"], json!({}));
        // api's migrate requests more than its containers together.
        let api = model
            .life
            .deployments
            .iter()
            .find(|d| d.template.app == "api")
            .unwrap_or_else(|| panic!("no api"));
        let containers: f64 = api
            .template
            .containers
            .iter()
            .map(|c| c.resources.requested().0)
            .sum();
        let migrate = api.template.sizing.init[0].resources.requested().0;
        assert!(migrate > containers, "{migrate} <= {containers}");
        // (The rule splits the total into parts and adds them back up.)
        assert!((api.template.request().0 - migrate).abs() < 1e-9);
        // Every running container reports what it was allocated.
        for pod in pods.iter().filter(|p| p["status"]["phase"] == "Running") {
            for status in pod["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
            {
                assert!(status["resources"].is_object(), "{status}");
                let requested =
                    status["name"] != "istio-proxy" || pod["spec"]["resources"].is_null();
                assert_eq!(
                    status["allocatedResources"].is_object(),
                    requested,
                    "{status}"
                );
            }
        }

        let version = store.resource_version();
        life::advance(&mut model, &store, epoch() + Duration::days(2))?;
        assert_not_overcommitted(&model);
        let events = pod_events(&store, version);
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut waited = BTreeMap::new();
        for (_, pod) in &events {
            for reason in resize_reasons(pod) {
                *reasons.entry(reason).or_default() += 1;
            }
            if pod["status"]["phase"] == "Pending" && pod["spec"]["nodeName"].is_string() {
                let state = &pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"];
                *waited
                    .entry(state.as_str().unwrap_or_default().to_owned())
                    .or_insert(0) += 1;
            }
        }
        for reason in ["InProgress", "Infeasible", "Deferred"] {
            assert!(
                reasons.contains_key(reason),
                "no {reason} resize in {reasons:?}"
            );
        }
        assert!(reasons["InProgress"] > reasons["Infeasible"], "{reasons:?}");
        for reason in ["ContainerCreating", "ImagePullBackOff"] {
            assert!(
                waited.contains_key(reason),
                "no pod waited in {reason}: {waited:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_seed_reproduces_the_week() -> Result<(), EtcdError> {
        let run = || -> Result<Vec<String>, EtcdError> {
            let store = Etcd::new(1_000_000);
            let mut model = generate(&spec(11), &store)?;
            life::advance(&mut model, &store, epoch() + Duration::days(2))?;
            Ok(all(&store, PODS, "")
                .iter()
                .map(|p| p.json.to_string())
                .collect())
        };
        assert_eq!(run()?, run()?);
        Ok(())
    }
}
