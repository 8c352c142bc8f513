//! Hand-written clusters: exact nodes, pods, usage and lifetimes, so a test
//! (or a user reproducing a bill) knows every number the collector must
//! produce. `kubetally sim serve --scenario FILE.json` serves one.
//!
//! Times are seconds from the simulated epoch (Monday 2026-11-02 00:00 UTC);
//! a negative start is a pod already running at the epoch.
//!
//! A scenario says what a user wrote; the objects served are what the API
//! server and kubelet make of it: a container request left out while its
//! limit is set defaults to the limit, pod-level requests default as KEP-2837
//! says, and a pod reserves its effective request
//! ([`super::objects::effective_request`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::cluster::{
    ClusterModel, ContainerModel, Pool, UsageProfile, allocatable, epoch, namespace_object,
    node_object,
};
use super::etcd::{Etcd, EtcdError};
use super::life::{self, Life, PlannedResize, ResizeOutcome, ScenarioPod as LivePod, Waiting};
use super::objects::{
    InitContainer, Owner, PodIdentity, PodTemplate, Requirements, Sizing, controller,
    effective_request, replica_status,
};
use super::resources::{
    CRONJOBS, DAEMONSETS, DEPLOYMENTS, JOBS, NAMESPACES, NODES, REPLICASETS, Resource, STATEFULSETS,
};
use crate::model::Quantity;

/// A whole hand-written cluster.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub nodes: Vec<ScenarioNode>,
    /// Namespaces with labels; a pod's namespace is created without labels if absent.
    #[serde(default)]
    pub namespaces: Vec<ScenarioNamespace>,
    pub pods: Vec<ScenarioPod>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioNode {
    pub name: String,
    pub machine_type: String,
    /// `gcp` (default) or `aws`.
    #[serde(default = "gcp")]
    pub provider: String,
    /// `on_demand` (default), `spot` or `preemptible`.
    #[serde(default = "on_demand")]
    pub capacity: String,
    pub vcpus: u32,
    pub memory_gib: u32,
    #[serde(default)]
    pub pool: Option<String>,
    /// 0, 1 or 2: zone a, b or c of the provider's reference region.
    #[serde(default)]
    pub zone: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioNamespace {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioPod {
    pub namespace: String,
    pub name: String,
    pub node: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The controller the pod belongs to; none for a naked pod.
    #[serde(default)]
    pub owner: Option<ScenarioOwner>,
    pub containers: Vec<ScenarioContainer>,
    /// Seconds from the epoch when the pod starts (negative: already running).
    #[serde(default)]
    pub start: i64,
    /// Seconds from the epoch when it stops; never, when absent.
    #[serde(default)]
    pub end: Option<i64>,
    /// How it stops: `succeeded` (default), `failed`, or `deleted`.
    #[serde(default = "succeeded")]
    pub outcome: String,
    /// `spec.runtimeClassName` (`gvisor`).
    #[serde(default)]
    pub runtime_class: Option<String>,
    /// `spec.overhead`, as the RuntimeClass admission controller copies it.
    #[serde(default)]
    pub overhead: Option<ScenarioOverhead>,
    /// Pod-level `spec.resources`.
    #[serde(default)]
    pub resources: Option<ScenarioPodResources>,
    /// Init containers in declared order: regular ones ran to completion at
    /// start; sidecars (`restartPolicy: Always`) run for the pod's life.
    #[serde(default)]
    pub init_containers: Vec<ScenarioInitContainer>,
    /// In-place resizes of a container or sidecar.
    #[serde(default)]
    pub resizes: Vec<ScenarioResize>,
    /// Bound but not running from `start` until `waiting.until`.
    #[serde(default)]
    pub waiting: Option<ScenarioWaiting>,
    /// Seconds from the epoch when the finished pod object is deleted
    /// (as a Job's `ttlSecondsAfterFinished` does); at or after `end`.
    #[serde(default)]
    pub deleted: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioOverhead {
    #[serde(default)]
    pub cpu: Option<Quantity>,
    #[serde(default)]
    pub memory: Option<Quantity>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioPodResources {
    #[serde(default)]
    pub cpu_request: Option<Quantity>,
    #[serde(default)]
    pub memory_request: Option<Quantity>,
    #[serde(default)]
    pub cpu_limit: Option<Quantity>,
    #[serde(default)]
    pub memory_limit: Option<Quantity>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioInitContainer {
    pub name: String,
    #[serde(default)]
    pub cpu_request: Option<Quantity>,
    #[serde(default)]
    pub memory_request: Option<Quantity>,
    #[serde(default)]
    pub cpu_limit: Option<Quantity>,
    #[serde(default)]
    pub memory_limit: Option<Quantity>,
    /// Usage of a sidecar (required for one; a regular init container has none).
    #[serde(default)]
    pub cpu_usage: Option<Quantity>,
    #[serde(default)]
    pub memory_usage: Option<Quantity>,
    /// OOM kills of a sidecar.
    #[serde(default)]
    pub oom_kills: Vec<i64>,
    /// A native sidecar: `restartPolicy: Always`, runs like a container.
    #[serde(default)]
    pub sidecar: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioResize {
    /// Seconds from the epoch.
    pub at: i64,
    pub container: String,
    /// The new request; unchanged when absent.
    #[serde(default)]
    pub cpu_request: Option<Quantity>,
    #[serde(default)]
    pub memory_request: Option<Quantity>,
    /// `done` (default), `infeasible` or `deferred`.
    #[serde(default = "done")]
    pub outcome: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioWaiting {
    /// `state.waiting.reason` of every container: `ContainerCreating`,
    /// `ImagePullBackOff`, `CrashLoopBackOff`, …
    pub reason: String,
    /// Seconds from the epoch when the containers start; never, when absent.
    #[serde(default)]
    pub until: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioOwner {
    /// Deployment, StatefulSet, DaemonSet, Job or CronJob.
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioContainer {
    pub name: String,
    /// Absent: no request of its own (the limit, when set, is defaulted in).
    #[serde(default)]
    pub cpu_request: Option<Quantity>,
    #[serde(default)]
    pub memory_request: Option<Quantity>,
    #[serde(default)]
    pub cpu_limit: Option<Quantity>,
    #[serde(default)]
    pub memory_limit: Option<Quantity>,
    /// Constant usage, exactly as metrics.k8s.io will report it.
    pub cpu_usage: Quantity,
    pub memory_usage: Quantity,
    /// Seconds from the epoch at which the container is OOMKilled and restarts.
    #[serde(default)]
    pub oom_kills: Vec<i64>,
}

fn gcp() -> String {
    "gcp".into()
}
fn on_demand() -> String {
    "on_demand".into()
}
fn succeeded() -> String {
    "succeeded".into()
}
fn done() -> String {
    "done".into()
}

/// The waiting reasons a kubelet writes for a bound pod's containers.
const WAITING_REASONS: [&str; 7] = [
    "ContainerCreating",
    "PodInitializing",
    "ImagePullBackOff",
    "ErrImagePull",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// Why a scenario cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario {origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("scenario: writing the objects")]
    Etcd(#[from] EtcdError),
}

impl Scenario {
    /// Parses a scenario from JSON; errors name the line and column.
    ///
    /// # Errors
    ///
    /// [`ScenarioError::Invalid`] naming `origin` and the place in the text.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario =
            serde_json::from_str(text).map_err(|error| ScenarioError::Invalid {
                origin: origin.to_owned(),
                message: format!(
                    "line {} column {}: {}",
                    error.line(),
                    error.column(),
                    strip_position(&error.to_string())
                ),
            })?;
        scenario.check(origin)?;
        Ok(scenario)
    }

    fn check(&self, origin: &str) -> Result<(), ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        let nodes: BTreeSet<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        for node in &self.nodes {
            if !matches!(node.provider.as_str(), "gcp" | "aws") {
                return Err(invalid(format!(
                    "node {}: provider {:?} is not gcp or aws",
                    node.name, node.provider
                )));
            }
            if !matches!(node.capacity.as_str(), "on_demand" | "spot" | "preemptible") {
                return Err(invalid(format!(
                    "node {}: capacity {:?} is not on_demand, spot or preemptible",
                    node.name, node.capacity
                )));
            }
        }
        let mut seen = BTreeSet::new();
        for pod in &self.pods {
            let at = format!("pod {}/{}", pod.namespace, pod.name);
            if !seen.insert((&pod.namespace, &pod.name)) {
                return Err(invalid(format!("{at}: defined twice")));
            }
            if !nodes.contains(pod.node.as_str()) {
                return Err(invalid(format!("{at}: node {:?} is not defined", pod.node)));
            }
            if pod.end.is_some_and(|end| end <= pod.start) {
                return Err(invalid(format!("{at}: ends before it starts")));
            }
            if !matches!(pod.outcome.as_str(), "succeeded" | "failed" | "deleted") {
                return Err(invalid(format!(
                    "{at}: outcome {:?} is not succeeded, failed or deleted",
                    pod.outcome
                )));
            }
            if let Some(owner) = &pod.owner
                && owner_resource(&owner.kind).is_none()
            {
                return Err(invalid(format!(
                    "{at}: owner kind {:?} is not Deployment, StatefulSet, DaemonSet, Job or CronJob",
                    owner.kind
                )));
            }
            if pod.containers.is_empty() {
                return Err(invalid(format!("{at}: has no containers")));
            }
            pod.check_shapes()
                .map_err(|m| invalid(format!("{at}: {m}")))?;
        }
        Ok(())
    }
}

impl ScenarioPod {
    /// Checks the newer shapes (init containers, resizes, waiting, deletion,
    /// overhead, pod-level resources); the message says what is wrong.
    fn check_shapes(&self) -> Result<(), String> {
        let mut names = BTreeSet::new();
        let all = self.containers.iter().map(|c| &c.name);
        for name in all.chain(self.init_containers.iter().map(|i| &i.name)) {
            if !names.insert(name) {
                return Err(format!("container {name:?} is defined twice"));
            }
        }
        for init in &self.init_containers {
            if init.sidecar && (init.cpu_usage.is_none() || init.memory_usage.is_none()) {
                return Err(format!(
                    "sidecar init container {:?} needs cpu_usage and memory_usage",
                    init.name
                ));
            }
            if !init.sidecar && !init.oom_kills.is_empty() {
                return Err(format!(
                    "init container {:?} runs to completion and cannot be OOMKilled later (only sidecars can)",
                    init.name
                ));
            }
        }
        if self.overhead.is_some() && self.runtime_class.is_none() {
            return Err("overhead needs a runtime_class (the RuntimeClass sets it)".into());
        }
        if let Some(pod) = &self.resources {
            check_limit("pod-level cpu_request", pod.cpu_request, pod.cpu_limit)?;
            check_limit(
                "pod-level memory_request",
                pod.memory_request,
                pod.memory_limit,
            )?;
        }
        self.check_life()?;
        self.resizes.iter().try_for_each(|r| self.check_resize(r))
    }

    /// `waiting` and `deleted` against `start`, `end` and `outcome`.
    fn check_life(&self) -> Result<(), String> {
        if let Some(waiting) = &self.waiting {
            if !WAITING_REASONS.contains(&waiting.reason.as_str()) {
                return Err(format!(
                    "waiting reason {:?} is not one of {}",
                    waiting.reason,
                    WAITING_REASONS.join(", ")
                ));
            }
            match (waiting.until, self.end) {
                (Some(until), _) if until < self.start => {
                    return Err(format!(
                        "waiting.until {until} is before start {}",
                        self.start
                    ));
                }
                (Some(until), Some(end)) if until > end => {
                    return Err(format!("waiting.until {until} is after end {end}"));
                }
                (None, Some(_)) if self.outcome != "deleted" => {
                    return Err(
                        "waits for good, so it never runs and can only end with outcome \"deleted\""
                            .into(),
                    );
                }
                _ => {}
            }
        }
        if let Some(deleted) = self.deleted {
            let Some(end) = self.end else {
                return Err("deleted needs an end: only a finished pod is deleted later".into());
            };
            if deleted < end {
                return Err(format!("deleted {deleted} is before end {end}"));
            }
            if self.outcome == "deleted" {
                return Err(
                    "deleted is for a finished pod; outcome \"deleted\" already deletes it at end"
                        .into(),
                );
            }
        }
        Ok(())
    }

    fn check_resize(&self, resize: &ScenarioResize) -> Result<(), String> {
        let what = format!("resize at {} of {:?}", resize.at, resize.container);
        if resize_outcome(&resize.outcome).is_none() {
            return Err(format!(
                "{what}: outcome {:?} is not done, infeasible or deferred",
                resize.outcome
            ));
        }
        let limits = match self.containers.iter().find(|c| c.name == resize.container) {
            Some(c) => (c.cpu_limit, c.memory_limit),
            None => match self
                .init_containers
                .iter()
                .find(|i| i.name == resize.container)
            {
                Some(i) if i.sidecar => (i.cpu_limit, i.memory_limit),
                Some(_) => {
                    return Err(format!(
                        "{what}: a regular init container has finished; only containers and sidecars resize"
                    ));
                }
                None => return Err(format!("{what}: the pod has no such container")),
            },
        };
        if resize.cpu_request.is_none() && resize.memory_request.is_none() {
            return Err(format!(
                "{what}: changes nothing (no cpu_request or memory_request)"
            ));
        }
        if resize.at < self.start || self.end.is_some_and(|end| resize.at >= end) {
            return Err(format!("{what}: outside the pod's life"));
        }
        check_limit(
            &format!("{what}: cpu_request"),
            resize.cpu_request,
            limits.0,
        )?;
        check_limit(
            &format!("{what}: memory_request"),
            resize.memory_request,
            limits.1,
        )
    }
}

/// A request above its limit is refused by the API server.
fn check_limit(
    what: &str,
    request: Option<Quantity>,
    limit: Option<Quantity>,
) -> Result<(), String> {
    match (request, limit) {
        (Some(request), Some(limit)) if request > limit => {
            Err(format!("{what} {request} is above its limit {limit}"))
        }
        _ => Ok(()),
    }
}

fn resize_outcome(outcome: &str) -> Option<ResizeOutcome> {
    Some(match outcome {
        "done" => ResizeOutcome::Done,
        "infeasible" => ResizeOutcome::Infeasible,
        "deferred" => ResizeOutcome::Deferred,
        _ => return None,
    })
}

/// A container's requirements as the API server stores them: a missing
/// request defaults to its limit.
fn container_requirements(
    cpu_request: Option<Quantity>,
    memory_request: Option<Quantity>,
    cpu_limit: Option<Quantity>,
    memory_limit: Option<Quantity>,
) -> Requirements {
    let cores = |q: Quantity| q.as_cores();
    let bytes = |q: Quantity| q.as_bytes() as f64;
    Requirements {
        cpu_request_cores: cpu_request.or(cpu_limit).map(cores),
        memory_request_bytes: memory_request.or(memory_limit).map(bytes),
        cpu_limit_cores: cpu_limit.map(cores),
        memory_limit_bytes: memory_limit.map(bytes),
    }
}

/// The containers (native sidecars among them) and sizing of a scenario pod.
fn pod_shape(pod: &ScenarioPod) -> (Vec<ContainerModel>, Sizing) {
    let constant = |cpu: Option<Quantity>, memory: Option<Quantity>| UsageProfile::Constant {
        cpu_cores: cpu.map_or(0.0, |q| q.as_cores()),
        memory_bytes: memory.map_or(0.0, |q| q.as_bytes() as f64),
    };
    let mut containers: Vec<ContainerModel> = pod
        .containers
        .iter()
        .map(|c| ContainerModel {
            resources: container_requirements(
                c.cpu_request,
                c.memory_request,
                c.cpu_limit,
                c.memory_limit,
            ),
            ..ContainerModel::new(
                &c.name,
                0.0,
                0.0,
                constant(Some(c.cpu_usage), Some(c.memory_usage)),
            )
        })
        .collect();
    let mut sizing = Sizing::default();
    let mut sidecars = 0;
    for init in &pod.init_containers {
        let resources = container_requirements(
            init.cpu_request,
            init.memory_request,
            init.cpu_limit,
            init.memory_limit,
        );
        if init.sidecar {
            let mut sidecar = ContainerModel::new(
                &init.name,
                0.0,
                0.0,
                constant(init.cpu_usage, init.memory_usage),
            );
            sidecar.resources = resources;
            sidecar.native_sidecar = true;
            containers.push(sidecar);
            sidecars += 1;
        } else {
            sizing.init.push(InitContainer {
                name: init.name.clone(),
                resources,
                sidecars_before: sidecars,
            });
        }
    }
    if let Some(overhead) = &pod.overhead {
        sizing.overhead = Some((
            overhead.cpu.map(|q| q.as_cores()),
            overhead.memory.map(|q| q.as_bytes() as f64),
        ));
    }
    sizing.pod_level = pod
        .resources
        .as_ref()
        .map(|r| pod_requirements(r, &containers, &sizing));
    (containers, sizing)
}

/// Pod-level requirements with the API server's defaulting (KEP-2837):
/// when pod-level limits are set, a missing pod-level request becomes the
/// containers' aggregate request if any container requests that resource,
/// else the pod-level limit.
fn pod_requirements(
    r: &ScenarioPodResources,
    containers: &[ContainerModel],
    sizing: &Sizing,
) -> Requirements {
    let cpu_limit = r.cpu_limit.map(|q| q.as_cores());
    let memory_limit = r.memory_limit.map(|q| q.as_bytes() as f64);
    let mut pod = Requirements {
        cpu_request_cores: r.cpu_request.map(|q| q.as_cores()),
        memory_request_bytes: r.memory_request.map(|q| q.as_bytes() as f64),
        cpu_limit_cores: cpu_limit,
        memory_limit_bytes: memory_limit,
    };
    if cpu_limit.is_none() && memory_limit.is_none() {
        return pod;
    }
    let containers_only = Sizing {
        init: sizing.init.clone(),
        ..Sizing::default()
    };
    let aggregate = effective_request(containers, &containers_only);
    let declared = containers
        .iter()
        .map(|c| &c.resources)
        .chain(sizing.init.iter().map(|i| &i.resources));
    let (cpu_asked, memory_asked) = declared.fold((false, false), |asked, r| {
        (
            asked.0 || r.cpu_request_cores.is_some(),
            asked.1 || r.memory_request_bytes.is_some(),
        )
    });
    if pod.cpu_request_cores.is_none() {
        pod.cpu_request_cores = if cpu_asked {
            Some(aggregate.0)
        } else {
            cpu_limit
        };
    }
    if pod.memory_request_bytes.is_none() {
        pod.memory_request_bytes = if memory_asked {
            Some(aggregate.1)
        } else {
            memory_limit
        };
    }
    pod
}

/// serde_json appends " at line L column C"; the message puts it first.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

fn owner_resource(kind: &str) -> Option<Resource> {
    Some(match kind {
        "Deployment" => DEPLOYMENTS,
        "StatefulSet" => STATEFULSETS,
        "DaemonSet" => DAEMONSETS,
        "Job" => JOBS,
        "CronJob" => CRONJOBS,
        _ => return None,
    })
}

/// Writes the scenario's objects and queues its pods' lives.
///
/// # Errors
///
/// A [`EtcdError`] if the store refuses an object.
pub fn generate(scenario: &Scenario, store: &Etcd, seed: u64) -> Result<ClusterModel, EtcdError> {
    let now = epoch();
    let mut model = ClusterModel {
        life: Life::new(seed),
        ..ClusterModel::default()
    };
    for node in &scenario.nodes {
        let label = match node.capacity.as_str() {
            "spot" => Some(("cloud.google.com/gke-spot", "true")),
            "preemptible" => Some(("cloud.google.com/gke-preemptible", "true")),
            _ => None,
        };
        let label = match (node.provider.as_str(), label) {
            ("aws", Some(_)) => Some(("eks.amazonaws.com/capacityType", "SPOT")),
            ("aws", None) => Some(("eks.amazonaws.com/capacityType", "ON_DEMAND")),
            (_, label) => label,
        };
        let pool = Pool {
            name: node.pool.as_deref().unwrap_or("default-pool"),
            provider: &node.provider,
            machine_type: &node.machine_type,
            vcpus: node.vcpus,
            memory_gib: node.memory_gib,
            capacity_label: label,
            share: 0,
        };
        store.put(
            NODES,
            node_object(&node.name, &pool, node.zone % 3, now - Duration::days(30)),
        )?;
        let (cpu, memory) = allocatable(&pool);
        model
            .life
            .scheduler
            .add_node(&node.name, false, cpu, memory);
        model.nodes.push(node.name.clone());
    }
    let mut namespaces: BTreeMap<&str, Value> = BTreeMap::new();
    for pod in &scenario.pods {
        namespaces.insert(&pod.namespace, namespace_object(&pod.namespace, None, now));
    }
    for namespace in &scenario.namespaces {
        let mut object = namespace_object(&namespace.name, None, now);
        for (key, value) in &namespace.labels {
            object["metadata"]["labels"][key] = json!(value);
        }
        namespaces.insert(&namespace.name, object);
    }
    for object in namespaces.into_values() {
        store.put(NAMESPACES, object)?;
    }
    let mut owners: BTreeMap<(String, String, String), Value> = BTreeMap::new();
    for pod in &scenario.pods {
        let (containers, sizing) = pod_shape(pod);
        let labels: Value = pod
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        let mut template = PodTemplate::new(&pod.name, containers);
        template.sizing = sizing;
        template.runtime_class = pod.runtime_class.clone();
        if pod
            .owner
            .as_ref()
            .is_some_and(|o| matches!(o.kind.as_str(), "Job" | "CronJob"))
        {
            template.restart_policy = "Never";
        }
        // The controllers are made from their first pod's template, as a
        // real controller makes its pods from its own.
        let owner = match &pod.owner {
            Some(owner) => Some(owner_reference(
                store,
                &mut owners,
                pod,
                owner,
                &template,
                now,
            )?),
            None => None,
        };
        let identity = PodIdentity {
            uid: model.life.pod_uid(&pod.namespace, &pod.name),
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            labels,
            owner,
        };
        let at = |seconds: i64| now + Duration::seconds(seconds);
        let oom_kills = pod
            .containers
            .iter()
            .map(|c| (&c.name, &c.oom_kills))
            .chain(pod.init_containers.iter().map(|i| (&i.name, &i.oom_kills)))
            .flat_map(|(name, kills)| kills.iter().map(|&t| (name.clone(), at(t))))
            .collect();
        let resizes = pod
            .resizes
            .iter()
            .map(|r| {
                let resize = PlannedResize {
                    namespace: pod.namespace.clone(),
                    pod: pod.name.clone(),
                    container: r.container.clone(),
                    resources: Requirements {
                        cpu_request_cores: r.cpu_request.map(|q| q.as_cores()),
                        memory_request_bytes: r.memory_request.map(|q| q.as_bytes() as f64),
                        ..Requirements::default()
                    },
                    outcome: resize_outcome(&r.outcome),
                };
                (at(r.at), resize)
            })
            .collect();
        let waiting = pod.waiting.as_ref().map(|w| Waiting {
            reason: w.reason.clone(),
            until: w.until.map(at),
        });
        model.life.add_scenario_pod(LivePod {
            template,
            identity,
            node: pod.node.clone(),
            start: at(pod.start),
            end: pod.end.map(at),
            outcome: pod.outcome.clone(),
            oom_kills,
            waiting,
            resizes,
            deleted: pod.deleted.map(at),
        });
    }
    model.life.start_scenario(&mut model.pods, store, now)?;
    // What happened before the epoch (ends, resizes, waits) is served done.
    life::advance(&mut model, store, now)?;
    Ok(model)
}

/// The owner reference of a scenario pod, creating its controller objects
/// (a ReplicaSet under a Deployment, a Job under a CronJob) on first use.
fn owner_reference(
    store: &Etcd,
    owners: &mut BTreeMap<(String, String, String), Value>,
    pod: &ScenarioPod,
    owner: &ScenarioOwner,
    pod_template: &PodTemplate,
    now: DateTime<Utc>,
) -> Result<Value, EtcdError> {
    let key = (
        pod.namespace.clone(),
        owner.kind.clone(),
        owner.name.clone(),
    );
    if let Some(reference) = owners.get(&key) {
        return Ok(reference.clone());
    }
    let Some(resource) = owner_resource(&owner.kind) else {
        return Ok(Value::Null);
    };
    let created = now - Duration::days(1);
    let labels = json!({"app": owner.name});
    let top = Owner::new(resource, &pod.namespace, &owner.name);
    let template = pod_template.template_json(&labels);
    let spec = match owner.kind.as_str() {
        "CronJob" => {
            json!({"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}})
        }
        _ => json!({"replicas": 1, "selector": {"matchLabels": labels}, "template": template}),
    };
    store.put(
        resource,
        controller(&top, &labels, spec, replica_status(1, 1, 1), created),
    )?;
    let child = match owner.kind.as_str() {
        "Deployment" => Some((REPLICASETS, format!("{}-5d8f7c9b6", owner.name))),
        "CronJob" => Some((JOBS, format!("{}-29400000", owner.name))),
        _ => None,
    };
    let reference = match child {
        Some((child_resource, name)) => {
            let child = Owner::new(child_resource, &pod.namespace, &name);
            let spec =
                json!({"replicas": 1, "selector": {"matchLabels": labels}, "template": template});
            let mut object = controller(&child, &labels, spec, replica_status(1, 1, 1), created);
            object["metadata"]["ownerReferences"] = json!([top.reference()]);
            store.put(child_resource, object)?;
            child.reference()
        }
        None => top.reference(),
    };
    owners.insert(key, reference.clone());
    Ok(reference)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::units::MIB;
    use crate::sim::resources::PODS;

    const SCENARIO: &str = r#"{
      "nodes": [{"name": "n1", "machine_type": "e2-standard-4", "vcpus": 4, "memory_gib": 16}],
      "namespaces": [{"name": "shop", "labels": {"tenant": "acme"}}],
      "pods": [{"namespace": "shop", "name": "api-1", "node": "n1",
                "owner": {"kind": "Deployment", "name": "api"},
                "containers": [{"name": "api", "cpu_request": "500m", "memory_request": "1Gi",
                                "cpu_usage": "250m", "memory_usage": "512Mi"}]}]
    }"#;

    /// [`SCENARIO`] with more fields on its pod.
    fn with_pod_fields(fields: &str) -> String {
        SCENARIO.replace("\"512Mi\"}]}]", &format!("\"512Mi\"}}], {fields}}}]"))
    }

    /// A node, a pod resized three times (accepted, infeasible, deferred),
    /// a sandboxed pod under pod-level resources with a dominant init
    /// container, and a Job pod that waits for its image, runs, finishes
    /// and is deleted later.
    const SHAPES: &str = r#"{
      "nodes": [{"name": "n1", "machine_type": "e2-standard-8", "vcpus": 8, "memory_gib": 32}],
      "pods": [
        {"namespace": "shop", "name": "api-1", "node": "n1", "start": -3600,
         "containers": [{"name": "api", "cpu_request": "1", "memory_request": "1Gi", "memory_limit": "4Gi",
                         "cpu_usage": "500m", "memory_usage": "512Mi"}],
         "init_containers": [{"name": "proxy", "sidecar": true, "cpu_request": "100m", "memory_request": "128Mi",
                              "cpu_usage": "50m", "memory_usage": "64Mi"}],
         "resizes": [
           {"at": 100, "container": "api", "cpu_request": "2", "memory_request": "2Gi", "outcome": "done"},
           {"at": 200, "container": "api", "cpu_request": "64", "outcome": "infeasible"},
           {"at": 300, "container": "proxy", "cpu_request": "7", "outcome": "deferred"}
         ]},
        {"namespace": "shop", "name": "sandbox-1", "node": "n1", "start": -3600,
         "runtime_class": "gvisor", "overhead": {"cpu": "250m", "memory": "64Mi"},
         "resources": {"cpu_request": "1", "memory_request": "2Gi", "memory_limit": "2Gi"},
         "containers": [{"name": "app", "cpu_request": "500m", "memory_request": "1Gi",
                         "cpu_usage": "400m", "memory_usage": "900Mi"},
                        {"name": "istio-proxy", "cpu_usage": "50m", "memory_usage": "100Mi"}],
         "init_containers": [{"name": "migrate", "cpu_request": "3", "memory_request": "512Mi"}]},
        {"namespace": "shop", "name": "batch-1", "node": "n1", "start": 0, "end": 600, "deleted": 700,
         "owner": {"kind": "Job", "name": "batch"},
         "waiting": {"reason": "ImagePullBackOff", "until": 300},
         "containers": [{"name": "batch", "cpu_request": "1", "memory_request": "1Gi",
                         "cpu_usage": "1", "memory_usage": "1Gi"}]}
      ]
    }"#;

    fn shapes() -> Result<(Etcd, ClusterModel), ScenarioError> {
        let scenario = Scenario::parse(SHAPES, "shapes.json")?;
        let store = Etcd::new(10_000);
        let model = generate(&scenario, &store, 1)?;
        Ok((store, model))
    }

    fn pod(store: &Etcd, name: &str) -> Result<Value, EtcdError> {
        Ok(store.get(PODS, "shop", name)?.value())
    }

    fn advance_to(model: &mut ClusterModel, store: &Etcd, seconds: i64) -> Result<(), EtcdError> {
        life::advance(model, store, epoch() + Duration::seconds(seconds)).map(drop)
    }

    /// The pod's condition of `kind`, if it has one.
    fn condition(pod: &Value, kind: &str) -> Option<Value> {
        pod["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == kind)
            .cloned()
    }

    #[test]
    fn a_done_resize_allocates_at_once_and_is_actuated_ten_seconds_later()
    -> Result<(), ScenarioError> {
        let (store, mut model) = shapes()?;
        let before = pod(&store, "api-1")?;
        let api = &before["status"]["containerStatuses"][0];
        assert_eq!(
            api["allocatedResources"],
            json!({"cpu": "1", "memory": "1024Mi"})
        );
        assert_eq!(
            api["resources"],
            json!({"requests": {"cpu": "1", "memory": "1024Mi"}, "limits": {"memory": "4096Mi"}})
        );
        let proxy = &before["status"]["initContainerStatuses"][0];
        assert_eq!(
            proxy["allocatedResources"],
            json!({"cpu": "100m", "memory": "128Mi"})
        );
        assert!(proxy["state"]["running"].is_object(), "{proxy}");
        assert_eq!(before["metadata"]["generation"], 1);

        advance_to(&mut model, &store, 100)?;
        let accepted = pod(&store, "api-1")?;
        assert_eq!(accepted["metadata"]["generation"], 2);
        assert_eq!(accepted["status"]["observedGeneration"], 2);
        assert_eq!(
            accepted["spec"]["containers"][0]["resources"]["requests"],
            json!({"cpu": "2", "memory": "2048Mi"})
        );
        let api = &accepted["status"]["containerStatuses"][0];
        assert_eq!(
            api["allocatedResources"],
            json!({"cpu": "2", "memory": "2048Mi"})
        );
        assert_eq!(
            api["resources"]["requests"],
            json!({"cpu": "1", "memory": "1024Mi"})
        );
        let in_progress = condition(&accepted, "PodResizeInProgress");
        assert_eq!(
            in_progress.map(|c| c["status"].clone()),
            Some(json!("True"))
        );
        let running = &model.pods[&("shop".to_owned(), "api-1".to_owned())];
        assert_eq!(running.containers[0].resources.cpu_request_cores, Some(2.0));
        assert_eq!(running.reserved, (2.1, 2048.0 * MIB + 128.0 * MIB));

        advance_to(&mut model, &store, 109)?;
        assert!(condition(&pod(&store, "api-1")?, "PodResizeInProgress").is_some());
        advance_to(&mut model, &store, 110)?;
        let actuated = pod(&store, "api-1")?;
        assert_eq!(
            actuated["status"]["containerStatuses"][0]["resources"]["requests"],
            json!({"cpu": "2", "memory": "2048Mi"})
        );
        assert_eq!(condition(&actuated, "PodResizeInProgress"), None);
        Ok(())
    }

    #[test]
    fn infeasible_and_deferred_resizes_stay_pending_with_the_old_allocation()
    -> Result<(), ScenarioError> {
        let (store, mut model) = shapes()?;
        advance_to(&mut model, &store, 200)?;
        let infeasible = pod(&store, "api-1")?;
        assert_eq!(
            infeasible["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            "64"
        );
        assert_eq!(infeasible["metadata"]["generation"], 3);
        let api = &infeasible["status"]["containerStatuses"][0];
        assert_eq!(api["allocatedResources"]["cpu"], "2");
        let pending = condition(&infeasible, "PodResizePending").unwrap_or_default();
        assert_eq!(pending["reason"], "Infeasible");
        // 64 cores asked plus the 100m sidecar; an e2-standard-8 allocates 7830m.
        assert_eq!(
            pending["message"],
            "Node didn't have enough capacity: cpu, requested: 64100, capacity: 7830"
        );
        assert_eq!(pending["status"], "True");
        assert!(pending["lastTransitionTime"].is_string());
        let running = &model.pods[&("shop".to_owned(), "api-1".to_owned())];
        assert_eq!(running.containers[0].resources.cpu_request_cores, Some(2.0));

        advance_to(&mut model, &store, 300)?;
        let deferred = pod(&store, "api-1")?;
        let pending = condition(&deferred, "PodResizePending").unwrap_or_default();
        assert_eq!(pending["reason"], "Deferred");
        // 2 cores of api (its granted value) + 7 asked for the sidecar; the
        // node's other pods use 1.25 (sandbox) + 1 (batch) cores.
        assert_eq!(
            pending["message"],
            "Node didn't have enough resource: cpu, requested: 9000, used: 2250, capacity: 7830"
        );
        let proxy = &deferred["status"]["initContainerStatuses"][0];
        assert_eq!(proxy["allocatedResources"]["cpu"], "100m");
        assert_eq!(
            deferred["spec"]["initContainers"][0]["resources"]["requests"]["cpu"],
            "7"
        );
        Ok(())
    }

    #[test]
    fn overhead_pod_level_resources_and_init_containers_reach_the_spec_and_the_scheduler()
    -> Result<(), ScenarioError> {
        let (store, model) = shapes()?;
        let sandbox = pod(&store, "sandbox-1")?;
        let spec = &sandbox["spec"];
        assert_eq!(spec["runtimeClassName"], "gvisor");
        assert_eq!(spec["overhead"], json!({"cpu": "250m", "memory": "64Mi"}));
        assert_eq!(
            spec["resources"],
            json!({"requests": {"cpu": "1", "memory": "2048Mi"}, "limits": {"memory": "2048Mi"}})
        );
        // The sidecar without requests of its own carries none.
        assert_eq!(spec["containers"][1]["resources"], json!({}));
        assert_eq!(spec["initContainers"][0]["name"], "migrate");
        let proxy = &sandbox["status"]["containerStatuses"][1];
        assert!(proxy.get("allocatedResources").is_none(), "{proxy}");
        assert_eq!(sandbox["status"]["qosClass"], "Burstable");
        // Pod-level requests replace the containers' (even the 3-core
        // migrate's), then the overhead is added.
        let reserved = model.pods[&("shop".to_owned(), "sandbox-1".to_owned())].reserved;
        assert_eq!(reserved, (1.25, 2048.0 * MIB + 64.0 * MIB));
        Ok(())
    }

    #[test]
    fn a_waiting_pod_is_bound_and_pending_without_metrics_then_runs_finishes_and_is_deleted()
    -> Result<(), ScenarioError> {
        let (store, mut model) = shapes()?;
        let key = ("shop".to_owned(), "batch-1".to_owned());
        let waiting = pod(&store, "batch-1")?;
        assert_eq!(waiting["spec"]["nodeName"], "n1");
        assert_eq!(waiting["status"]["phase"], "Pending");
        assert_eq!(waiting["status"]["startTime"], "2026-11-02T00:00:00Z");
        let state = &waiting["status"]["containerStatuses"][0]["state"];
        assert_eq!(state["waiting"]["reason"], "ImagePullBackOff");
        assert!(!model.pods.contains_key(&key), "a waiting pod has usage");
        let clock = super::super::metrics::SimClock::new(epoch(), 0.0);
        let metrics = super::super::metrics::pod_metrics(&model, 1, &clock, None);
        assert!(metrics.iter().all(|(_, name, _)| name != "batch-1"));
        // Bound, so its request is reserved: api 1.1 + sandbox 1.25 + batch 1.
        let room = model.life.scheduler.room("n1");
        let free = room
            .map(|r| r.cpu_allocatable - r.cpu_free)
            .unwrap_or_default();
        assert!((free - 3.35).abs() < 1e-9, "{free} cores reserved");

        advance_to(&mut model, &store, 300)?;
        let running = pod(&store, "batch-1")?;
        assert_eq!(running["status"]["phase"], "Running");
        assert_eq!(running["status"]["startTime"], "2026-11-02T00:00:00Z");
        let state = &running["status"]["containerStatuses"][0]["state"];
        assert_eq!(state["running"]["startedAt"], "2026-11-02T00:05:00Z");
        assert!(model.pods.contains_key(&key));

        advance_to(&mut model, &store, 699)?;
        assert_eq!(pod(&store, "batch-1")?["status"]["phase"], "Succeeded");
        let version = store.resource_version();
        advance_to(&mut model, &store, 700)?;
        assert!(store.get(PODS, "shop", "batch-1").is_err());
        let (events, _) = store.watch_from(PODS, version)?;
        let kinds: Vec<(&str, bool)> = events
            .iter()
            .map(|e| {
                (
                    e.kind.as_str(),
                    e.object.value()["metadata"]["deletionTimestamp"].is_string(),
                )
            })
            .collect();
        assert_eq!(kinds, [("MODIFIED", true), ("DELETED", true)]);
        Ok(())
    }

    #[test]
    fn parses_and_serves_a_scenario() -> Result<(), ScenarioError> {
        let scenario = Scenario::parse(SCENARIO, "test.json")?;
        let store = Etcd::new(100);
        let model = generate(&scenario, &store, 1)?;
        assert_eq!(model.pods.len(), 1);
        let rs = store.get(REPLICASETS, "shop", "api-5d8f7c9b6")?;
        assert!(rs.json.contains("\"kind\":\"Deployment\""));
        Ok(())
    }

    #[test]
    fn bad_scenarios_name_what_and_where() {
        let cases = [
            ("{\"nodes\": []}", "line 1 column 13: missing field `pods`"),
            (
                &SCENARIO.replace("\"250m\"", "\"250x\""),
                "line 7 column 51: invalid quantity \"250x\"",
            ),
            (
                &SCENARIO.replace("\"node\": \"n1\"", "\"node\": \"n9\""),
                "pod shop/api-1: node \"n9\" is not defined",
            ),
            (
                &SCENARIO.replace("Deployment", "Rollout"),
                "owner kind \"Rollout\"",
            ),
            (
                &SCENARIO.replace("\"vcpus\"", "\"cpus\""),
                "unknown field `cpus`",
            ),
            (
                &with_pod_fields(r#""end": 600, "outcome": "vanished""#),
                "pod shop/api-1: outcome \"vanished\" is not succeeded, failed or deleted",
            ),
            (
                &with_pod_fields(
                    r#""resizes": [{"at": 10, "container": "web", "cpu_request": "1"}]"#,
                ),
                "pod shop/api-1: resize at 10 of \"web\": the pod has no such container",
            ),
            (
                &with_pod_fields(
                    r#""resizes": [{"at": 10, "container": "api", "cpu_request": "1", "outcome": "maybe"}]"#,
                ),
                "pod shop/api-1: resize at 10 of \"api\": outcome \"maybe\" is not done, infeasible or deferred",
            ),
            (
                &with_pod_fields(r#""resizes": [{"at": 10, "container": "api"}]"#),
                "pod shop/api-1: resize at 10 of \"api\": changes nothing",
            ),
            (
                &with_pod_fields(r#""end": 600, "deleted": 500"#),
                "pod shop/api-1: deleted 500 is before end 600",
            ),
            (
                &with_pod_fields(r#""deleted": 500"#),
                "pod shop/api-1: deleted needs an end",
            ),
            (
                &with_pod_fields(
                    r#""start": 100, "waiting": {"reason": "ImagePullBackOff", "until": 50}"#,
                ),
                "pod shop/api-1: waiting.until 50 is before start 100",
            ),
            (
                &with_pod_fields(r#""waiting": {"reason": "Sleeping"}"#),
                "pod shop/api-1: waiting reason \"Sleeping\" is not one of",
            ),
            (
                &with_pod_fields(r#""init_containers": [{"name": "proxy", "sidecar": true}]"#),
                "pod shop/api-1: sidecar init container \"proxy\" needs cpu_usage and memory_usage",
            ),
            (
                &with_pod_fields(r#""overhead": {"cpu": "250m"}"#),
                "pod shop/api-1: overhead needs a runtime_class",
            ),
        ];
        for (text, expected) in cases {
            match Scenario::parse(text, "s.json") {
                Ok(_) => panic!("accepted {text}"),
                Err(error) => {
                    let message = error.to_string();
                    assert!(message.starts_with("scenario s.json: "), "{message}");
                    assert!(message.contains(expected), "{message} lacks {expected}");
                    assert!(!message.contains('\n'), "{message}");
                }
            }
        }
    }
}
