//! What kubetally keeps of a pod: its owner, lifetime, and each billed
//! container's granted requests and limits. The projection from the API's
//! `Pod` is `crate::source::pod`'s; this is the shape everything above the
//! watchers reads (allocation, the write-ahead log, `/metrics`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::reserve::Amount;

/// What kind of controller a pod's owner reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OwnerKind {
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    /// A naked pod: it is its own workload.
    Pod,
    /// A controller kubetally does not resolve further (an operator's CRD).
    Other,
}

impl OwnerKind {
    pub fn from_kind(kind: &str) -> OwnerKind {
        match kind {
            "Deployment" => OwnerKind::Deployment,
            "ReplicaSet" => OwnerKind::ReplicaSet,
            "StatefulSet" => OwnerKind::StatefulSet,
            "DaemonSet" => OwnerKind::DaemonSet,
            "Job" => OwnerKind::Job,
            "CronJob" => OwnerKind::CronJob,
            "Pod" => OwnerKind::Pod,
            _ => OwnerKind::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::Deployment => "Deployment",
            OwnerKind::ReplicaSet => "ReplicaSet",
            OwnerKind::StatefulSet => "StatefulSet",
            OwnerKind::DaemonSet => "DaemonSet",
            OwnerKind::Job => "Job",
            OwnerKind::CronJob => "CronJob",
            OwnerKind::Pod => "Pod",
            OwnerKind::Other => "Other",
        }
    }
}

/// A controller: its kind and name (the namespace is the pod's).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OwnerRef {
    pub kind: OwnerKind,
    pub name: Arc<str>,
}

/// A container's requests and limits. A limit without a request makes the
/// request equal to the limit (API defaulting); malformed quantities count
/// as unset (the API server validated them; a mangled one must not stop the
/// collector).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerResources {
    pub cpu_request_cores: Option<f64>,
    pub cpu_limit_cores: Option<f64>,
    pub memory_request_bytes: Option<i64>,
    pub memory_limit_bytes: Option<i64>,
    /// Whole or time-sliced GPU devices requested
    /// ([`crate::model::gpu::GPU_DEVICES`]); what fraction of a physical
    /// GPU each holds depends on the node.
    pub gpus: u32,
    /// MIG compute slices requested: g × count over `nvidia.com/mig-<g>g.…`
    /// ([`crate::model::gpu::mig_slices`]).
    pub mig_slices: u32,
}

/// A container that runs for the pod's life (regular containers and native
/// sidecars; init containers that ran to completion are billed only through
/// the pod's reserve, when one is larger than the containers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlimContainer {
    pub name: Arc<str>,
    pub resources: ContainerResources,
    pub restarts: u32,
    /// When the container last ended with reason OOMKilled, if it did.
    pub last_oom_kill: Option<DateTime<Utc>>,
}

/// The pod's lifecycle phase, as far as billing cares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    #[default]
    Pending,
    Running,
    Finished,
}

/// The slim projection of a pod. It is also what the write-ahead log keeps
/// of a pod (as JSON), so a field added later needs a default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlimPod {
    pub uid: Arc<str>,
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    pub node: Option<Arc<str>>,
    pub labels: Arc<[(Arc<str>, Arc<str>)]>,
    /// `spec.nodeSelector`: on GKE Autopilot it picks the compute class and
    /// Spot capacity the pod is billed at.
    pub node_selector: Arc<[(Arc<str>, Arc<str>)]>,
    /// The controller owner reference, if any.
    pub owner: Option<OwnerRef>,
    pub phase: Phase,
    /// `status.startTime`: from when the pod holds its node's resources.
    pub started: Option<DateTime<Utc>>,
    /// When it stopped holding them: the latest container finish of a
    /// finished pod, else the deletion timestamp.
    pub ended: Option<DateTime<Utc>>,
    /// When its Ready condition turned true (the inventory keeps the first
    /// time it did, through later flaps and the end of the pod).
    pub ready_at: Option<DateTime<Utc>>,
    /// The billed containers, each with its granted request (see
    /// [`crate::model::reserve`]): regular containers, then native sidecars.
    pub containers: Vec<SlimContainer>,
    /// What the scheduler holds for the pod beyond its containers' requests
    /// and its overhead: a larger init container, or a pod-level request
    /// no container claims.
    pub reserved: Amount,
    /// `spec.overhead` (from the pod's RuntimeClass).
    pub overhead: Amount,
    /// The PersistentVolumeClaims it mounts (in its namespace): a claim no
    /// pod mounted during an hour is named as waste.
    pub claims: Arc<[Arc<str>]>,
}

impl SlimPod {
    /// Whether `other` is billed exactly as `self`: everything but the
    /// restart counts and OOM kills, which are counted as events instead.
    pub fn bills_like(&self, other: &SlimPod) -> bool {
        let containers = |pod: &SlimPod| {
            pod.containers
                .iter()
                .map(|c| (c.name.clone(), c.resources))
                .collect::<Vec<_>>()
        };
        (
            &self.uid,
            &self.namespace,
            &self.name,
            &self.node,
            &self.labels,
            &self.owner,
            self.phase,
            self.started,
            self.ended,
            self.ready_at,
            self.reserved,
            self.overhead,
        ) == (
            &other.uid,
            &other.namespace,
            &other.name,
            &other.node,
            &other.labels,
            &other.owner,
            other.phase,
            other.started,
            other.ended,
            other.ready_at,
            other.reserved,
            other.overhead,
        ) && self.node_selector == other.node_selector
            && containers(self) == containers(other)
    }

    /// The interval the pod ran within `[from, to)`: from its start to its
    /// end, on a node; none when it did not run then or never started on one.
    pub fn running_within(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let (Some(_), Some(started)) = (&self.node, self.started) else {
            return None;
        };
        let begin = started.max(from);
        let end = self.ended.map_or(to, |ended| ended.min(to));
        (end > begin).then_some((begin, end))
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| &**v)
    }
}
