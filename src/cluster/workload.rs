//! What kubetally keeps of the controllers users know (Deployments,
//! StatefulSets, DaemonSets, CronJobs, Jobs), their HPAs and PDBs: the spec
//! facts the recommenders read from the `workloads` table.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::pod::{ContainerResources, OwnerKind, OwnerRef};

/// A container of a workload's pod template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateContainer {
    pub name: String,
    pub resources: ContainerResources,
    pub has_liveness_probe: bool,
    pub has_readiness_probe: bool,
    pub has_startup_probe: bool,
    pub is_init: bool,
}

/// A controller a user knows (Deployment, StatefulSet, DaemonSet, CronJob,
/// or a Job without a CronJob).
#[derive(Debug, Clone, PartialEq)]
pub struct SlimWorkload {
    pub kind: OwnerKind,
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    /// Desired replicas (None for DaemonSets, CronJobs and Jobs).
    pub replicas: Option<i32>,
    pub selector: BTreeMap<String, String>,
    pub termination_grace_seconds: Option<i64>,
    pub volume_kinds: Vec<String>,
    pub annotations: Vec<(String, String)>,
    pub priority_class: Option<String>,
    pub containers: Vec<TemplateContainer>,
    /// Jobs: retries allowed; CronJobs: of the job template.
    pub backoff_limit: Option<i32>,
    /// Deployments: pods a rollout may take down at once, resolved against
    /// the replicas as the Deployment controller resolves it.
    pub max_unavailable: Option<i32>,
}

/// An HPA's target and bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct SlimHpa {
    pub namespace: Arc<str>,
    pub target: OwnerRef,
    pub min_replicas: i32,
    pub max_replicas: i32,
    /// `cpu`, `memory`, or the metric name of other metric types.
    pub metrics: Vec<String>,
}

/// A PodDisruptionBudget's selector and how many evictions it allows now.
#[derive(Debug, Clone, PartialEq)]
pub struct SlimPdb {
    pub namespace: Arc<str>,
    pub name: String,
    pub selector: BTreeMap<String, String>,
    pub disruptions_allowed: i32,
}
