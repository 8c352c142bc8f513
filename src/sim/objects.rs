//! The API objects the simulated controllers write, shaped as the real
//! controllers and kubelet shape them (owner references, template hashes,
//! container statuses with `lastState`, `allocatedResources` and resize
//! conditions), so the collector is tested on what a real cluster sends.
//!
//! What a pod reserves on its node (its effective request, as kube-scheduler
//! computes it) is [`effective_request`]: the collector's own rule
//! ([`crate::model::reserve`]) over the simulator's models, so the scheduler,
//! resizes, the generator's sizing and the bill all agree.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::cluster::{ContainerModel, UsageProfile};
use super::etcd::uid_for;
use super::resources::Resource;

pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A controller object that owns pods or other controllers.
#[derive(Debug, Clone)]
pub struct Owner {
    pub resource: Resource,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Owner {
    pub fn new(resource: Resource, namespace: &str, name: &str) -> Owner {
        Owner {
            resource,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: uid_for(resource, namespace, name, 0),
        }
    }

    pub fn reference(&self) -> Value {
        json!({"apiVersion": self.resource.api_version(), "kind": self.resource.kind, "name": self.name, "uid": self.uid, "controller": true, "blockOwnerDeletion": true})
    }
}

/// Requests and limits of a container or a pod (`resources`); `None` is a
/// key the object does not carry.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Requirements {
    pub cpu_request_cores: Option<f64>,
    pub memory_request_bytes: Option<f64>,
    pub cpu_limit_cores: Option<f64>,
    pub memory_limit_bytes: Option<f64>,
}

impl Requirements {
    /// CPU cores and memory bytes requested, zero for what is not requested
    /// (what the scheduler counts for it).
    pub fn requested(&self) -> (f64, f64) {
        (
            self.cpu_request_cores.unwrap_or(0.0),
            self.memory_request_bytes.unwrap_or(0.0),
        )
    }

    /// Whether any request is set (kube's `IsPodLevelRequestsSet` for a pod).
    pub fn has_requests(&self) -> bool {
        self.cpu_request_cores.is_some() || self.memory_request_bytes.is_some()
    }

    /// `{"cpu": "500m", "memory": "1Gi"}` of what is requested.
    pub fn requests_json(&self) -> Value {
        quantities(self.cpu_request_cores, self.memory_request_bytes)
    }

    /// `{"requests": {...}, "limits": {...}}`, each key only when it has
    /// entries, as the API server serializes a ResourceRequirements.
    pub fn json(&self) -> Value {
        let mut value = json!({});
        let requests = self.requests_json();
        if requests.as_object().is_some_and(|m| !m.is_empty()) {
            value["requests"] = requests;
        }
        let limits = quantities(self.cpu_limit_cores, self.memory_limit_bytes);
        if limits.as_object().is_some_and(|m| !m.is_empty()) {
            value["limits"] = limits;
        }
        value
    }

    /// Guaranteed QoS for these requirements: CPU and memory limited, and
    /// requested exactly as limited.
    fn guaranteed(&self) -> bool {
        self.cpu_limit_cores.is_some()
            && self.memory_limit_bytes.is_some()
            && self.cpu_request_cores == self.cpu_limit_cores
            && self.memory_request_bytes == self.memory_limit_bytes
    }

    fn is_empty(&self) -> bool {
        *self == Requirements::default()
    }

    /// Scales every request and limit by the factors, rounded to whole
    /// millicores and MiB as people write them, never below 5m / 16Mi.
    pub fn scale(&mut self, cpu: f64, memory: f64) {
        let cores = |v: f64| round_cores(v * cpu);
        let bytes = |v: f64| round_bytes(v * memory);
        self.cpu_request_cores = self.cpu_request_cores.map(cores);
        self.cpu_limit_cores = self.cpu_limit_cores.map(cores);
        self.memory_request_bytes = self.memory_request_bytes.map(bytes);
        self.memory_limit_bytes = self.memory_limit_bytes.map(bytes);
    }
}

/// Cores rounded to a whole millicore, at least 5m.
pub fn round_cores(cores: f64) -> f64 {
    ((cores * 1000.0).round() / 1000.0).max(0.005)
}

/// Bytes rounded to a whole MiB, at least 16 MiB.
pub fn round_bytes(bytes: f64) -> f64 {
    ((bytes / 1_048_576.0).round() * 1_048_576.0).max(16.0 * 1_048_576.0)
}

fn quantities(cpu: Option<f64>, memory: Option<f64>) -> Value {
    let mut map = serde_json::Map::new();
    if let Some(cpu) = cpu {
        map.insert("cpu".into(), json!(cpu_text(cpu)));
    }
    if let Some(memory) = memory {
        map.insert("memory".into(), json!(memory_text(memory)));
    }
    Value::Object(map)
}

/// A regular init container: runs to completion before the pod's containers.
#[derive(Debug, Clone, PartialEq)]
pub struct InitContainer {
    pub name: String,
    pub resources: Requirements,
    /// How many of the pod's native sidecars are declared before it: those
    /// already run while it does, so they count toward its request.
    pub sidecars_before: usize,
}

/// What besides its containers decides what a pod reserves on its node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sizing {
    pub init: Vec<InitContainer>,
    /// Pod-level `spec.resources` (on by default since 1.34).
    pub pod_level: Option<Requirements>,
    /// `spec.overhead` (cores, bytes), copied from the pod's RuntimeClass;
    /// `None` where it sets none.
    pub overhead: Option<(Option<f64>, Option<f64>)>,
}

/// CPU cores and memory bytes the scheduler reserves for a pod, by
/// kube's `resource.PodRequests` (k8s.io/component-helpers) as
/// [`crate::model::reserve`] implements it for the collector: one rule,
/// so the simulated scheduler and the bill cannot disagree on it.
pub fn effective_request(containers: &[ContainerModel], sizing: &Sizing) -> (f64, f64) {
    use crate::model::reserve::{Amount, Demand, InitDemand, PodDemand, Requests, reserve};
    let requests = |r: &Requirements| Requests {
        cpu_cores: r.cpu_request_cores,
        memory_bytes: r.memory_request_bytes.map(|b| b.round() as i64),
    };
    let demand = |r: &Requirements| Demand {
        spec: requests(r),
        ..Demand::default()
    };
    let sidecars: Vec<InitDemand> = containers
        .iter()
        .filter(|c| c.native_sidecar)
        .map(|c| InitDemand {
            demand: demand(&c.resources),
            sidecar: true,
        })
        .collect();
    // spec.initContainers in declared order: each init container after the
    // sidecars declared before it.
    let mut init = Vec::new();
    let mut declared = 0;
    for container in &sizing.init {
        let before = container.sidecars_before.min(sidecars.len());
        init.extend_from_slice(&sidecars[declared.min(before)..before]);
        declared = declared.max(before);
        init.push(InitDemand {
            demand: demand(&container.resources),
            sidecar: false,
        });
    }
    init.extend_from_slice(&sidecars[declared..]);
    let (cpu, memory) = sizing
        .overhead
        .map_or((None, None), |(cpu, memory)| (cpu, memory));
    let pod = PodDemand {
        containers: containers
            .iter()
            .filter(|c| !c.native_sidecar)
            .map(|c| demand(&c.resources))
            .collect(),
        init,
        pod: sizing.pod_level.map(|r| requests(&r)).unwrap_or_default(),
        overhead: Amount {
            cpu_cores: cpu.unwrap_or(0.0),
            memory_bytes: memory.map_or(0, |b| b.round() as i64),
        },
        ..PodDemand::default()
    };
    let total = reserve(&pod).total();
    (total.cpu_cores, total.memory_bytes as f64)
}

/// An Autopilot pod's selector and tolerations replace whatever its
/// template asked (a Standard pool's selector has no node here).
fn autopilot_scheduling(spec: &mut Value, selector: Value, tolerations: Value) {
    for (key, value) in [("nodeSelector", selector), ("tolerations", tolerations)] {
        match (value, spec.as_object_mut()) {
            (Value::Null, Some(map)) => {
                map.remove(key);
            }
            (value, _) => spec[key] = value,
        }
    }
}

/// Where a pod may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Anywhere,
    /// Batch work pinned to the preemptible pool, as its nodeSelector says.
    Preemptible,
}

/// Everything that makes the pods of one workload alike.
#[derive(Debug, Clone, PartialEq)]
pub struct PodTemplate {
    pub app: String,
    pub annotations: Value,
    /// Containers (native sidecars among them), jitter and start time
    /// unset: each pod draws its own.
    pub containers: Vec<ContainerModel>,
    /// Init containers, pod-level resources and overhead.
    pub sizing: Sizing,
    /// `spec.runtimeClassName` (`gvisor` for sandboxed pods).
    pub runtime_class: Option<String>,
    pub volumes: Vec<Value>,
    pub priority: Option<(&'static str, i64)>,
    pub grace_seconds: i64,
    pub restart_policy: &'static str,
    pub placement: Placement,
    /// Seconds from start to Ready (a JVM's warm-up, a cache's load).
    pub startup_seconds: i64,
}

/// One entry of `spec.initContainers`, in declared order.
enum InitEntry<'a> {
    Run(&'a InitContainer),
    Sidecar(&'a ContainerModel),
}

impl PodTemplate {
    pub fn new(app: &str, containers: Vec<ContainerModel>) -> PodTemplate {
        PodTemplate {
            app: app.to_owned(),
            annotations: json!({}),
            containers,
            sizing: Sizing::default(),
            runtime_class: None,
            volumes: Vec::new(),
            priority: None,
            grace_seconds: 30,
            restart_policy: "Always",
            placement: Placement::Anywhere,
            startup_seconds: 5,
        }
    }

    /// A template of one container of the same name.
    pub fn single(app: &str, cpu: f64, memory_mib: f64, profile: UsageProfile) -> PodTemplate {
        PodTemplate::new(
            app,
            vec![ContainerModel::new(app, cpu, memory_mib, profile)],
        )
    }

    /// Scales every request and limit (containers, init containers and
    /// pod-level; not the RuntimeClass's fixed overhead) by the factors.
    pub fn scale(&mut self, cpu: f64, memory: f64) {
        for c in &mut self.containers {
            c.resources.scale(cpu, memory);
        }
        for i in &mut self.sizing.init {
            i.resources.scale(cpu, memory);
        }
        if let Some(pod) = &mut self.sizing.pod_level {
            pod.scale(cpu, memory);
        }
    }

    /// CPU cores and memory bytes the scheduler reserves for one pod
    /// ([`effective_request`]).
    pub fn request(&self) -> (f64, f64) {
        effective_request(&self.containers, &self.sizing)
    }

    /// `spec.template` of the workload object.
    pub fn template_json(&self, labels: &Value) -> Value {
        json!({"metadata": {"labels": labels, "annotations": self.annotations}, "spec": self.pod_spec(None)})
    }

    /// Init containers and native sidecars in declared order.
    fn init_entries(&self) -> Vec<InitEntry<'_>> {
        let mut entries = Vec::new();
        let mut regular = self.sizing.init.iter().peekable();
        let sidecars = self.containers.iter().filter(|c| c.native_sidecar);
        for (position, sidecar) in sidecars.enumerate() {
            while let Some(init) = regular.next_if(|i| i.sidecars_before <= position) {
                entries.push(InitEntry::Run(init));
            }
            entries.push(InitEntry::Sidecar(sidecar));
        }
        entries.extend(regular.map(InitEntry::Run));
        entries
    }

    fn pod_spec(&self, node: Option<&str>) -> Value {
        let init: Vec<Value> = self
            .init_entries()
            .into_iter()
            .map(|entry| match entry {
                InitEntry::Run(i) => container_spec(&i.name, &i.resources),
                InitEntry::Sidecar(c) => {
                    let mut spec = container_spec(&c.name, &c.resources);
                    spec["restartPolicy"] = json!("Always");
                    spec
                }
            })
            .collect();
        let containers: Vec<Value> = self
            .containers
            .iter()
            .filter(|c| !c.native_sidecar)
            .map(|c| {
                let mut spec = container_spec(&c.name, &c.resources);
                spec["readinessProbe"] =
                    json!({"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 10});
                spec["livenessProbe"] =
                    json!({"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10});
                spec
            })
            .collect();
        let mut spec = json!({
            "containers": containers,
            "terminationGracePeriodSeconds": self.grace_seconds,
            "restartPolicy": self.restart_policy,
            "schedulerName": "default-scheduler",
            "dnsPolicy": "ClusterFirst",
        });
        if !init.is_empty() {
            spec["initContainers"] = json!(init);
        }
        if !self.volumes.is_empty() {
            spec["volumes"] = json!(self.volumes);
        }
        if let Some((class, priority)) = self.priority {
            spec["priorityClassName"] = json!(class);
            spec["priority"] = json!(priority);
        }
        if self.placement == Placement::Preemptible {
            spec["nodeSelector"] = json!({"cloud.google.com/gke-preemptible": "true"});
            spec["tolerations"] = json!([{"key": "cloud.google.com/gke-preemptible", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]);
        }
        if let Some(class) = &self.runtime_class {
            spec["runtimeClassName"] = json!(class);
        }
        if let Some((cpu, memory)) = self.sizing.overhead {
            spec["overhead"] = quantities(cpu, memory);
        }
        if let Some(pod) = &self.sizing.pod_level {
            spec["resources"] = pod.json();
        }
        if let Some(node) = node {
            spec["nodeName"] = json!(node);
            if let Some((selector, tolerations)) = super::autopilot::scheduling(node) {
                autopilot_scheduling(&mut spec, selector, tolerations);
            }
        }
        spec
    }

    fn metadata(&self, pod: &PodIdentity, created: DateTime<Utc>) -> Value {
        let mut metadata = json!({
            "name": pod.name, "namespace": pod.namespace, "uid": pod.uid,
            "labels": pod.labels, "annotations": self.annotations,
            "creationTimestamp": timestamp(created), "generation": 1,
        });
        if let Some(owner) = &pod.owner {
            metadata["ownerReferences"] = json!([owner]);
        }
        metadata
    }

    /// A pod of this template, running since `started`. `node: None` is a
    /// pod the scheduler could not place: Pending and Unschedulable, as a
    /// full cluster leaves it.
    pub fn pod(&self, pod: &PodIdentity, node: Option<&str>, started: DateTime<Utc>) -> Value {
        let status = match node {
            Some(_) => self.running_status(&pod.uid, started, started),
            None => json!({
                "phase": "Pending", "qosClass": self.qos_class(),
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/1 nodes are available: Insufficient cpu.", "lastTransitionTime": timestamp(started)}]
            }),
        };
        json!({"metadata": self.metadata(pod, started), "spec": self.pod_spec(node), "status": status})
    }

    /// A pod bound to `node` at `bound` whose containers have not started:
    /// Pending, `startTime` set, every container waiting for `reason`
    /// (`ContainerCreating`, `ImagePullBackOff`, `CrashLoopBackOff`, …).
    pub fn waiting_pod(
        &self,
        pod: &PodIdentity,
        node: &str,
        bound: DateTime<Utc>,
        reason: &str,
    ) -> Value {
        json!({"metadata": self.metadata(pod, bound), "spec": self.pod_spec(Some(node)), "status": self.waiting_status(pod, bound, reason)})
    }

    fn waiting_status(&self, pod: &PodIdentity, bound: DateTime<Utc>, reason: &str) -> Value {
        let waiting = |c: &ContainerModel| waiting_container(c, pod, bound, reason);
        let init: Vec<Value> = self
            .init_entries()
            .into_iter()
            .map(|entry| match entry {
                InitEntry::Run(i) => completed_init(i, &pod.uid, bound),
                InitEntry::Sidecar(c) => waiting(c),
            })
            .collect();
        let statuses: Vec<Value> = self
            .containers
            .iter()
            .filter(|c| !c.native_sidecar)
            .map(waiting)
            .collect();
        let names: Vec<&str> = self.containers.iter().map(|c| c.name.as_str()).collect();
        let unready = format!("containers with unready status: [{}]", names.join(" "));
        let at = timestamp(bound);
        // The sandbox (and so the pod IP) exists once the pod is past ContainerCreating.
        let sandbox = reason != "ContainerCreating";
        let mut status = json!({
            "phase": "Pending", "qosClass": self.qos_class(), "startTime": at,
            "hostIP": "10.128.0.2", "observedGeneration": 1,
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": if sandbox { "True" } else { "False" }, "lastTransitionTime": at},
                {"type": "Initialized", "status": "True", "lastTransitionTime": at},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": unready, "lastTransitionTime": at},
                {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady", "message": unready, "lastTransitionTime": at},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": at}
            ],
            "containerStatuses": statuses,
        });
        if sandbox {
            status["podIP"] = json!("10.4.0.2");
        }
        if !init.is_empty() {
            status["initContainerStatuses"] = json!(init);
        }
        status
    }

    /// `status` of a pod bound at `bound` whose containers started at
    /// `started` (the same instant unless it waited first).
    pub fn running_status(&self, uid: &str, bound: DateTime<Utc>, started: DateTime<Utc>) -> Value {
        let init: Vec<Value> = self
            .init_entries()
            .into_iter()
            .map(|entry| match entry {
                InitEntry::Run(i) => completed_init(i, uid, started),
                InitEntry::Sidecar(c) => running_container(c, uid, started),
            })
            .collect();
        let statuses: Vec<Value> = self
            .containers
            .iter()
            .filter(|c| !c.native_sidecar)
            .map(|c| running_container(c, uid, started))
            .collect();
        // Ready from its transition time on; the status is written once at
        // start, so a client sees Ready with a transition time a few seconds
        // ahead (a real kubelet would first report not ready).
        let ready = started + chrono::Duration::seconds(self.startup_seconds);
        let mut status = json!({
            "phase": "Running", "qosClass": self.qos_class(), "startTime": timestamp(bound),
            "hostIP": "10.128.0.2", "podIP": "10.4.0.2", "observedGeneration": 1,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": timestamp(bound)},
                {"type": "Initialized", "status": "True", "lastTransitionTime": timestamp(started)},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": timestamp(ready)},
                {"type": "Ready", "status": "True", "lastTransitionTime": timestamp(ready)}
            ],
            "containerStatuses": statuses,
        });
        if !init.is_empty() {
            status["initContainerStatuses"] = json!(init);
        }
        status
    }

    /// The pod's QoS class, from pod-level resources when it has them
    /// (as 1.34+ computes it), else from its containers'.
    fn qos_class(&self) -> &'static str {
        let declared: Vec<&Requirements> = self
            .containers
            .iter()
            .map(|c| &c.resources)
            .chain(self.sizing.init.iter().map(|i| &i.resources))
            .collect();
        let guaranteed = match &self.sizing.pod_level {
            Some(pod) => pod.guaranteed(),
            None => declared.iter().all(|r| r.guaranteed()),
        };
        let best_effort = declared.iter().all(|r| r.is_empty())
            && self.sizing.pod_level.is_none_or(|p| p.is_empty());
        if guaranteed {
            "Guaranteed"
        } else if best_effort {
            "BestEffort"
        } else {
            "Burstable"
        }
    }
}

/// What distinguishes one pod from its siblings.
#[derive(Debug, Clone)]
pub struct PodIdentity {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: Value,
    pub owner: Option<Value>,
}

fn image(name: &str) -> String {
    format!("registry.example.com/{name}:1.0")
}

fn container_id(uid: &str) -> String {
    format!("containerd://{}", uid.replace('-', ""))
}

/// A running container's status, with what the kubelet allocated to it and
/// what it actuated (`allocatedResources`, `resources`), as a 1.33+ kubelet
/// writes them for every container.
fn running_container(c: &ContainerModel, uid: &str, started: DateTime<Utc>) -> Value {
    let mut status = json!({
        "name": c.name, "ready": true, "started": true, "restartCount": 0,
        "image": image(&c.name), "imageID": "", "containerID": container_id(uid),
        "state": {"running": {"startedAt": timestamp(started)}},
        "resources": c.resources.json(),
    });
    allocate(&mut status, &c.resources);
    status
}

/// `allocatedResources`: the requests the kubelet admitted (absent when
/// the container requests nothing, as the kubelet's omitempty leaves it).
fn allocate(status: &mut Value, resources: &Requirements) {
    let requests = resources.requests_json();
    if requests.as_object().is_some_and(|m| !m.is_empty()) {
        status["allocatedResources"] = requests;
    }
}

/// A regular init container that ran to completion at `at`.
fn completed_init(i: &InitContainer, uid: &str, at: DateTime<Utc>) -> Value {
    let mut status = json!({
        "name": i.name, "ready": true, "restartCount": 0, "image": image(&i.name), "imageID": "", "containerID": container_id(uid),
        "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": timestamp(at), "finishedAt": timestamp(at)}}
    });
    allocate(&mut status, &i.resources);
    status
}

/// A container that has not started: no container yet (ContainerCreating,
/// ImagePullBackOff) or one that keeps crashing (CrashLoopBackOff).
fn waiting_container(
    c: &ContainerModel,
    pod: &PodIdentity,
    bound: DateTime<Utc>,
    reason: &str,
) -> Value {
    let message = match reason {
        "ImagePullBackOff" => format!("Back-off pulling image \"{}\"", image(&c.name)),
        "ErrImagePull" => format!("failed to pull image \"{}\"", image(&c.name)),
        "CrashLoopBackOff" => format!(
            "back-off 40s restarting failed container={} pod={}_{}({})",
            c.name, pod.name, pod.namespace, pod.uid
        ),
        _ => String::new(),
    };
    let mut waiting = json!({"reason": reason});
    if !message.is_empty() {
        waiting["message"] = json!(message);
    }
    let mut status = json!({
        "name": c.name, "ready": false, "started": false, "restartCount": 0,
        "image": image(&c.name), "imageID": "", "state": {"waiting": waiting},
    });
    if reason == "CrashLoopBackOff" {
        status["restartCount"] = json!(3);
        status["containerID"] = json!(container_id(&pod.uid));
        status["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": timestamp(bound), "finishedAt": timestamp(bound)}});
    }
    allocate(&mut status, &c.resources);
    status
}

/// Whole cores as `N`, the rest in millicores, as the API server writes
/// a quantity in its canonical form.
fn cpu_text(cores: f64) -> String {
    let millis = (cores * 1000.0).round() as u64;
    if millis.is_multiple_of(1000) {
        format!("{}", millis / 1000)
    } else {
        format!("{millis}m")
    }
}

/// Whole MiB as `NMi` (how the generator sizes memory); any other amount
/// in bytes, so a scenario's `500M` is served exactly.
fn memory_text(bytes: f64) -> String {
    let mib = bytes / 1_048_576.0;
    if (mib - mib.round()).abs() < 1e-9 {
        format!("{}Mi", mib.round() as u64)
    } else {
        format!("{}", bytes.round() as u64)
    }
}

fn container_spec(name: &str, resources: &Requirements) -> Value {
    json!({"name": name, "image": image(name), "resources": resources.json()})
}

/// The container statuses of `pod` (regular, then init) named `container`.
fn statuses_named<'a>(
    pod: &'a mut Value,
    container: &'a str,
) -> impl Iterator<Item = &'a mut Value> {
    let status = &mut pod["status"];
    let (regular, init) = match status.as_object_mut() {
        Some(map) => {
            let mut regular = None;
            let mut init = None;
            for (key, value) in map.iter_mut() {
                match key.as_str() {
                    "containerStatuses" => regular = value.as_array_mut(),
                    "initContainerStatuses" => init = value.as_array_mut(),
                    _ => {}
                }
            }
            (regular, init)
        }
        None => (None, None),
    };
    regular
        .into_iter()
        .flatten()
        .chain(init.into_iter().flatten())
        .filter(move |s| s["name"] == container)
}

/// Marks a pod's container (or native sidecar) as killed for exceeding its
/// memory limit and restarted at `at`, as kubelet reports it.
pub fn record_oom_kill(pod: &mut Value, container: &str, at: DateTime<Utc>) {
    for status in statuses_named(pod, container) {
        if status["state"]["running"].is_null() {
            continue;
        }
        let started = status["state"]["running"]["startedAt"].clone();
        let restarts = status["restartCount"].as_u64().unwrap_or(0) + 1;
        status["restartCount"] = json!(restarts);
        status["lastState"] = json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": started, "finishedAt": timestamp(at)}});
        status["state"] = json!({"running": {"startedAt": timestamp(at)}});
    }
}

/// The two pod conditions of an in-place resize (KEP-1287, GA in 1.35).
const RESIZE_PENDING: &str = "PodResizePending";
const RESIZE_IN_PROGRESS: &str = "PodResizeInProgress";

/// Writes a resize of `container` to `resources` into the pod's spec, as
/// the API server's `resize` subresource does, and returns the pod's new
/// `metadata.generation` (which the kubelet reports as observed).
pub fn record_resize_request(pod: &mut Value, container: &str, resources: &Requirements) -> i64 {
    for list in ["containers", "initContainers"] {
        if let Some(specs) = pod["spec"][list].as_array_mut() {
            for spec in specs.iter_mut().filter(|s| s["name"] == container) {
                spec["resources"] = resources.json();
            }
        }
    }
    let generation = pod["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
    pod["metadata"]["generation"] = json!(generation);
    pod["status"]["observedGeneration"] = json!(generation);
    generation
}

/// The kubelet accepted a resize: the container's `allocatedResources` is
/// the new request, and `PodResizeInProgress` stays until it is actuated
/// ([`record_resize_actuated`]); `status.resources` still holds the old values.
pub fn record_resize_accepted(
    pod: &mut Value,
    container: &str,
    resources: &Requirements,
    generation: i64,
    at: DateTime<Utc>,
) {
    for status in statuses_named(pod, container) {
        allocate(status, resources);
    }
    set_resize_condition(
        pod,
        json!({"type": RESIZE_IN_PROGRESS, "status": "True", "observedGeneration": generation, "lastTransitionTime": timestamp(at)}),
    );
}

/// The kubelet cannot grant a resize now (`Deferred`) or ever on this node
/// (`Infeasible`): a `PodResizePending` condition says why; nothing else changes.
pub fn record_resize_pending(
    pod: &mut Value,
    reason: &str,
    message: &str,
    generation: i64,
    at: DateTime<Utc>,
) {
    set_resize_condition(
        pod,
        json!({"type": RESIZE_PENDING, "status": "True", "reason": reason, "message": message, "observedGeneration": generation, "lastTransitionTime": timestamp(at)}),
    );
}

/// The runtime applied the allocation: each container's `status.resources`
/// is what it now runs with, and `PodResizeInProgress` is gone.
pub fn record_resize_actuated(pod: &mut Value, containers: &[ContainerModel]) {
    for c in containers {
        for status in statuses_named(pod, &c.name) {
            if !status["state"]["running"].is_null() {
                status["resources"] = c.resources.json();
            }
        }
    }
    if let Some(conditions) = pod["status"]["conditions"].as_array_mut() {
        conditions.retain(|c| c["type"] != RESIZE_IN_PROGRESS);
    }
}

/// Replaces any resize condition with `condition` (a new resize supersedes
/// the last one's verdict).
fn set_resize_condition(pod: &mut Value, condition: Value) {
    let conditions = &mut pod["status"]["conditions"];
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    if let Some(list) = conditions.as_array_mut() {
        list.retain(|c| c["type"] != RESIZE_PENDING && c["type"] != RESIZE_IN_PROGRESS);
        list.push(condition);
    }
}

/// Ends a pod that ran to completion (or failed): phase, container states
/// and the Ready condition, as kubelet reports a finished Job pod.
pub fn record_finished(pod: &mut Value, succeeded: bool, at: DateTime<Utc>) {
    let (phase, reason, code) = if succeeded {
        ("Succeeded", "Completed", 0)
    } else {
        ("Failed", "Error", 1)
    };
    pod["status"]["phase"] = json!(phase);
    if let Some(statuses) = pod["status"]["containerStatuses"].as_array_mut() {
        for status in statuses {
            let started = status["state"]["running"]["startedAt"].clone();
            status["ready"] = json!(false);
            status["started"] = json!(false);
            status["state"] = json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": timestamp(at)}});
        }
    }
    if let Some(conditions) = pod["status"]["conditions"].as_array_mut() {
        for condition in conditions
            .iter_mut()
            .filter(|c| c["type"] == "Ready" || c["type"] == "ContainersReady")
        {
            condition["status"] = json!("False");
            condition["reason"] = json!("PodCompleted");
            condition["lastTransitionTime"] = json!(timestamp(at));
        }
    }
}

/// A controller object (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job).
pub fn controller(
    owner: &Owner,
    labels: &Value,
    spec: Value,
    status: Value,
    created: DateTime<Utc>,
) -> Value {
    json!({
        "metadata": {"name": owner.name, "namespace": owner.namespace, "uid": owner.uid, "labels": labels, "generation": 1, "creationTimestamp": timestamp(created)},
        "spec": spec,
        "status": status
    })
}

/// `status` of a Deployment, ReplicaSet or StatefulSet with `ready` of `replicas` up.
pub fn replica_status(replicas: usize, ready: usize, generation: u64) -> Value {
    json!({"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": replicas, "currentReplicas": replicas, "observedGeneration": generation})
}

/// An autoscaling/v2 HorizontalPodAutoscaler on CPU utilisation.
pub fn hpa(
    namespace: &str,
    target: &str,
    min: usize,
    max: usize,
    current: usize,
    created: DateTime<Utc>,
) -> Value {
    json!({
        "metadata": {"name": target, "namespace": namespace, "creationTimestamp": timestamp(created)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min, "maxReplicas": max,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
        },
        "status": {"currentReplicas": current, "desiredReplicas": current}
    })
}

/// How many pods a disruption budget keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    MinAvailable(usize),
    MaxUnavailable(usize),
}

/// A policy/v1 PodDisruptionBudget over `app`'s `pods` healthy pods.
pub fn pdb(
    namespace: &str,
    app: &str,
    budget: Budget,
    pods: usize,
    created: DateTime<Utc>,
) -> Value {
    let (spec_field, desired) = match budget {
        Budget::MinAvailable(n) => (json!({"minAvailable": n}), n),
        Budget::MaxUnavailable(n) => (json!({"maxUnavailable": n}), pods.saturating_sub(n)),
    };
    let mut spec = json!({"selector": {"matchLabels": {"app": app}}});
    if let (Some(spec), Some(field)) = (spec.as_object_mut(), spec_field.as_object()) {
        spec.extend(field.clone());
    }
    json!({
        "metadata": {"name": app, "namespace": namespace, "creationTimestamp": timestamp(created)},
        "spec": spec,
        "status": {"currentHealthy": pods, "desiredHealthy": desired, "disruptionsAllowed": pods.saturating_sub(desired), "expectedPods": pods, "observedGeneration": 1}
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::units::MIB;

    fn container(name: &str, cpu: f64, memory_mib: f64, sidecar: bool) -> ContainerModel {
        let mut c = ContainerModel::new(name, cpu, memory_mib, UsageProfile::Idle);
        c.native_sidecar = sidecar;
        c
    }

    fn init(cpu: f64, memory_mib: f64, sidecars_before: usize) -> InitContainer {
        InitContainer {
            name: "init".into(),
            resources: Requirements {
                cpu_request_cores: Some(cpu),
                memory_request_bytes: Some(memory_mib * 1_048_576.0),
                ..Requirements::default()
            },
            sidecars_before,
        }
    }

    #[test]
    fn the_effective_request_follows_kubes_pod_requests() {
        let containers = vec![
            container("app", 1.0, 512.0, false),
            container("proxy", 0.5, 256.0, true),
            container("shipper", 0.25, 128.0, true),
        ];
        // Containers and sidecars add up when no init container is bigger.
        let plain = Sizing::default();
        assert_eq!(effective_request(&containers, &plain), (1.75, 896.0 * MIB));
        // An init container bigger than them decides, with the sidecars
        // declared before it (here: proxy only) running beside it.
        let mut sizing = Sizing {
            init: vec![init(2.0, 256.0, 1)],
            ..Sizing::default()
        };
        assert_eq!(effective_request(&containers, &sizing), (2.5, 896.0 * MIB));
        sizing.init[0].sidecars_before = 0;
        assert_eq!(effective_request(&containers, &sizing), (2.0, 896.0 * MIB));
        // A pod-level request replaces the aggregate for its resource only.
        sizing.pod_level = Some(Requirements {
            cpu_request_cores: Some(1.0),
            ..Requirements::default()
        });
        assert_eq!(effective_request(&containers, &sizing), (1.0, 896.0 * MIB));
        // The RuntimeClass overhead comes on top.
        sizing.overhead = Some((Some(0.25), Some(64.0 * MIB)));
        assert_eq!(effective_request(&containers, &sizing), (1.25, 960.0 * MIB));
    }

    #[test]
    fn quantities_are_written_in_canonical_form() {
        assert_eq!(cpu_text(2.0), "2");
        assert_eq!(cpu_text(0.25), "250m");
        assert_eq!(memory_text(64.0 * MIB), "64Mi");
        assert_eq!(memory_text(500_000_000.0), "500000000");
        let none = Requirements::default();
        assert_eq!(none.json(), json!({}));
    }
}
