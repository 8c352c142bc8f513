//! The API objects the simulated controllers write, shaped as the real
//! controllers and kubelet shape them (owner references, template hashes,
//! container statuses with `lastState`), so the collector is tested on what a
//! real cluster sends.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::cluster::{ContainerModel, UsageProfile};
use super::resources::Resource;
use super::store::uid_for;

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

/// An init container that ran to completion before the pod's containers.
#[derive(Debug, Clone, PartialEq)]
pub struct InitContainer {
    pub name: String,
    pub cpu_cores: f64,
    pub memory_bytes: f64,
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
    /// Containers, jitter and start time unset: each pod draws its own.
    pub containers: Vec<ContainerModel>,
    pub init: Vec<InitContainer>,
    pub volumes: Vec<Value>,
    pub priority: Option<(&'static str, i64)>,
    pub grace_seconds: i64,
    pub restart_policy: &'static str,
    pub placement: Placement,
    /// Seconds from start to Ready (a JVM's warm-up, a cache's load).
    pub startup_seconds: i64,
}

impl PodTemplate {
    pub fn new(app: &str, containers: Vec<ContainerModel>) -> PodTemplate {
        PodTemplate {
            app: app.to_owned(),
            annotations: json!({}),
            containers,
            init: Vec::new(),
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

    /// Scales every request (and limit) by the factors, rounded to whole
    /// millicores and MiB as people write them, never below 5m / 16Mi.
    pub fn scale(&mut self, cpu: f64, memory: f64) {
        let cores = |v: f64| ((v * cpu * 1000.0).round() / 1000.0).max(0.005);
        let bytes =
            |v: f64| ((v * memory / 1_048_576.0).round() * 1_048_576.0).max(16.0 * 1_048_576.0);
        for c in &mut self.containers {
            c.cpu_request_cores = cores(c.cpu_request_cores);
            c.cpu_limit_cores = c.cpu_limit_cores.map(cores);
            c.memory_request_bytes = bytes(c.memory_request_bytes);
            c.memory_limit_bytes = c.memory_limit_bytes.map(bytes);
        }
        for i in &mut self.init {
            i.cpu_cores = cores(i.cpu_cores);
            i.memory_bytes = bytes(i.memory_bytes);
        }
    }

    /// CPU cores and memory bytes the scheduler reserves for one pod: the
    /// larger of the running containers' sum and any init container, as
    /// the real scheduler computes a pod's effective request.
    pub fn request(&self) -> (f64, f64) {
        let running = self.containers.iter().fold((0.0, 0.0), |sum, c| {
            (sum.0 + c.cpu_request_cores, sum.1 + c.memory_request_bytes)
        });
        self.init.iter().fold(running, |max, i| {
            (max.0.max(i.cpu_cores), max.1.max(i.memory_bytes))
        })
    }

    /// `spec.template` of the workload object.
    pub fn template_json(&self, labels: &Value) -> Value {
        json!({"metadata": {"labels": labels, "annotations": self.annotations}, "spec": self.pod_spec(None)})
    }

    fn pod_spec(&self, node: Option<&str>) -> Value {
        let mut init: Vec<Value> = self
            .init
            .iter()
            .map(|i| resources_spec(&i.name, i.cpu_cores, i.memory_bytes, None, None))
            .collect();
        let mut containers = Vec::new();
        for c in &self.containers {
            let mut spec = resources_spec(
                &c.name,
                c.cpu_request_cores,
                c.memory_request_bytes,
                c.cpu_limit_cores,
                c.memory_limit_bytes,
            );
            if c.native_sidecar {
                spec["restartPolicy"] = json!("Always");
                init.push(spec);
            } else {
                spec["readinessProbe"] =
                    json!({"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 10});
                spec["livenessProbe"] =
                    json!({"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10});
                containers.push(spec);
            }
        }
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
        if let Some(node) = node {
            spec["nodeName"] = json!(node);
        }
        spec
    }

    /// A pod of this template. `node: None` is a pod the scheduler could not
    /// place: Pending and Unschedulable, as a full cluster leaves it.
    pub fn pod(&self, pod: &PodIdentity, node: Option<&str>, started: DateTime<Utc>) -> Value {
        let mut metadata = json!({
            "name": pod.name, "namespace": pod.namespace, "uid": pod.uid,
            "labels": pod.labels, "annotations": self.annotations,
            "creationTimestamp": timestamp(started),
        });
        if let Some(owner) = &pod.owner {
            metadata["ownerReferences"] = json!([owner]);
        }
        let status = match node {
            Some(_) => self.running_status(pod, started),
            None => json!({
                "phase": "Pending", "qosClass": self.qos_class(),
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/1 nodes are available: Insufficient cpu.", "lastTransitionTime": timestamp(started)}]
            }),
        };
        json!({"metadata": metadata, "spec": self.pod_spec(node), "status": status})
    }

    fn running_status(&self, pod: &PodIdentity, started: DateTime<Utc>) -> Value {
        let container_id = format!("containerd://{}", pod.uid.replace('-', ""));
        let init_statuses: Vec<Value> = self
            .init
            .iter()
            .map(|i| json!({
                "name": i.name, "ready": true, "restartCount": 0, "image": image(&i.name), "imageID": "", "containerID": container_id,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": timestamp(started), "finishedAt": timestamp(started)}}
            }))
            .chain(self.containers.iter().filter(|c| c.native_sidecar).map(|c| running_container(c, &container_id, started)))
            .collect();
        let statuses: Vec<Value> = self
            .containers
            .iter()
            .filter(|c| !c.native_sidecar)
            .map(|c| running_container(c, &container_id, started))
            .collect();
        // Ready from its transition time on; the status is written once at
        // start, so a client sees Ready with a transition time a few seconds
        // ahead (a real kubelet would first report not ready).
        let ready = started + chrono::Duration::seconds(self.startup_seconds);
        let mut status = json!({
            "phase": "Running", "qosClass": self.qos_class(), "startTime": timestamp(started),
            "hostIP": "10.128.0.2", "podIP": "10.4.0.2",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": timestamp(started)},
                {"type": "Initialized", "status": "True", "lastTransitionTime": timestamp(started)},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": timestamp(ready)},
                {"type": "Ready", "status": "True", "lastTransitionTime": timestamp(ready)}
            ],
            "containerStatuses": statuses,
        });
        if !init_statuses.is_empty() {
            status["initContainerStatuses"] = json!(init_statuses);
        }
        status
    }

    fn qos_class(&self) -> &'static str {
        let guaranteed = self.containers.iter().all(|c| {
            c.cpu_limit_cores == Some(c.cpu_request_cores)
                && c.memory_limit_bytes == Some(c.memory_request_bytes)
        });
        if guaranteed {
            "Guaranteed"
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

fn running_container(c: &ContainerModel, container_id: &str, started: DateTime<Utc>) -> Value {
    json!({
        "name": c.name, "ready": true, "started": true, "restartCount": 0,
        "image": image(&c.name), "imageID": "", "containerID": container_id,
        "state": {"running": {"startedAt": timestamp(started)}}
    })
}

fn cpu_text(cores: f64) -> String {
    format!("{}m", (cores * 1000.0).round() as u64)
}

fn memory_text(bytes: f64) -> String {
    format!("{}Mi", (bytes / 1_048_576.0).round() as u64)
}

fn resources_spec(
    name: &str,
    cpu: f64,
    memory: f64,
    cpu_limit: Option<f64>,
    memory_limit: Option<f64>,
) -> Value {
    let mut limits = json!({});
    if let Some(cpu) = cpu_limit {
        limits["cpu"] = json!(cpu_text(cpu));
    }
    if let Some(memory) = memory_limit {
        limits["memory"] = json!(memory_text(memory));
    }
    json!({
        "name": name,
        "image": image(name),
        "resources": {"requests": {"cpu": cpu_text(cpu), "memory": memory_text(memory)}, "limits": limits},
    })
}

/// Marks a pod's container as killed for exceeding its memory limit and
/// restarted at `at`, as kubelet reports it.
pub fn record_oom_kill(pod: &mut Value, container: &str, at: DateTime<Utc>) {
    let Some(statuses) = pod["status"]["containerStatuses"].as_array_mut() else {
        return;
    };
    for status in statuses.iter_mut().filter(|s| s["name"] == container) {
        let started = status["state"]["running"]["startedAt"].clone();
        let restarts = status["restartCount"].as_u64().unwrap_or(0) + 1;
        status["restartCount"] = json!(restarts);
        status["lastState"] = json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": started, "finishedAt": timestamp(at)}});
        status["state"] = json!({"running": {"startedAt": timestamp(at)}});
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
