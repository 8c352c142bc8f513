//! Hand-written clusters: exact nodes, pods, usage and lifetimes, so a test
//! (or a user reproducing a bill) knows every number the collector must
//! produce. `kubetally sim serve --scenario FILE.json` serves one.
//!
//! Times are seconds from the simulated epoch (Monday 2026-11-02 00:00 UTC);
//! a negative start is a pod already running at the epoch.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::cluster::{
    ClusterModel, ContainerModel, Pool, UsageProfile, allocatable, epoch, namespace_object,
    node_object,
};
use super::life::{Life, ScenarioPod as LivePod};
use super::objects::{Owner, PodIdentity, PodTemplate, controller, replica_status};
use super::resources::{
    CRONJOBS, DAEMONSETS, DEPLOYMENTS, JOBS, NAMESPACES, NODES, REPLICASETS, Resource, STATEFULSETS,
};
use super::store::{Store, StoreError};
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
    pub cpu_request: Quantity,
    pub memory_request: Quantity,
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

/// Why a scenario cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario {origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("scenario: writing the objects")]
    Store(#[from] StoreError),
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
        }
        Ok(())
    }
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
/// A [`StoreError`] if the store refuses an object.
pub fn generate(scenario: &Scenario, store: &Store, seed: u64) -> Result<ClusterModel, StoreError> {
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
        let containers = pod
            .containers
            .iter()
            .map(|c| ContainerModel {
                cpu_limit_cores: c.cpu_limit.map(|q| q.as_cores()),
                memory_limit_bytes: c.memory_limit.map(|q| q.as_bytes() as f64),
                ..ContainerModel::new(
                    &c.name,
                    c.cpu_request.as_cores(),
                    c.memory_request.as_bytes() as f64 / 1_048_576.0,
                    UsageProfile::Constant {
                        cpu_cores: c.cpu_usage.as_cores(),
                        memory_bytes: c.memory_usage.as_bytes() as f64,
                    },
                )
            })
            .collect();
        let labels: Value = pod
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        let mut template = PodTemplate::new(&pod.name, containers);
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
            .flat_map(|c| c.oom_kills.iter().map(|&t| (c.name.clone(), at(t))))
            .collect();
        model.life.add_scenario_pod(LivePod {
            template,
            identity,
            node: pod.node.clone(),
            start: at(pod.start),
            end: pod.end.map(at),
            outcome: pod.outcome.clone(),
            oom_kills,
        });
    }
    model.life.start_scenario(&mut model.pods, store, now)?;
    Ok(model)
}

/// The owner reference of a scenario pod, creating its controller objects
/// (a ReplicaSet under a Deployment, a Job under a CronJob) on first use.
fn owner_reference(
    store: &Store,
    owners: &mut BTreeMap<(String, String, String), Value>,
    pod: &ScenarioPod,
    owner: &ScenarioOwner,
    pod_template: &PodTemplate,
    now: DateTime<Utc>,
) -> Result<Value, StoreError> {
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

    const SCENARIO: &str = r#"{
      "nodes": [{"name": "n1", "machine_type": "e2-standard-4", "vcpus": 4, "memory_gib": 16}],
      "namespaces": [{"name": "shop", "labels": {"tenant": "acme"}}],
      "pods": [{"namespace": "shop", "name": "api-1", "node": "n1",
                "owner": {"kind": "Deployment", "name": "api"},
                "containers": [{"name": "api", "cpu_request": "500m", "memory_request": "1Gi",
                                "cpu_usage": "250m", "memory_usage": "512Mi"}]}]
    }"#;

    #[test]
    fn parses_and_serves_a_scenario() -> Result<(), ScenarioError> {
        let scenario = Scenario::parse(SCENARIO, "test.json")?;
        let store = Store::new(100);
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
