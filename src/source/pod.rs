//! Pod → [`SlimPod`]: what allocation needs of a pod, and nothing else.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::cluster::intern::Interner;
use crate::cluster::pod::{ContainerResources, OwnerKind, OwnerRef, Phase, SlimContainer, SlimPod};
use crate::model::Quantity;
use crate::model::gpu::{GPU_DEVICES, mig_slices};
use crate::model::reserve::{Amount, Demand, InitDemand, PodDemand, Requests, reserve};

/// A container's requests and limits as its spec states them (see
/// [`ContainerResources`] for the defaulting).
pub fn resources_of(container: &Container) -> ContainerResources {
    let resources = container.resources.as_ref();
    let requests = resources.and_then(|r| r.requests.as_ref());
    let limits = resources.and_then(|r| r.limits.as_ref());
    let cpu_limit = quantity(limits, "cpu");
    let memory_limit = quantity(limits, "memory");
    ContainerResources {
        cpu_request_cores: quantity(requests, "cpu")
            .or(cpu_limit)
            .map(|q| q.as_cores()),
        cpu_limit_cores: cpu_limit.map(|q| q.as_cores()),
        memory_request_bytes: quantity(requests, "memory")
            .or(memory_limit)
            .map(|q| q.as_bytes()),
        memory_limit_bytes: memory_limit.map(|q| q.as_bytes()),
        gpus: GPU_DEVICES
            .iter()
            .filter_map(|key| quantity(limits, key).or_else(|| quantity(requests, key)))
            .map(|q| u32::try_from(q.as_bytes().max(0)).unwrap_or(u32::MAX))
            .sum(),
        mig_slices: mig_slices_of(limits).max(mig_slices_of(requests)),
    }
}

/// The MIG compute slices a resource map asks for (extended resources are
/// requested as limited, so either map tells; a profile name kubetally
/// cannot read asks for nothing, and its slice stays the node's idle).
fn mig_slices_of(map: Option<&ResourceMap>) -> u32 {
    map.into_iter()
        .flatten()
        .filter_map(|(key, value)| {
            let slices = mig_slices(key)?;
            let count = Quantity::parse(&value.0).ok()?.as_bytes().max(0);
            Some(slices.saturating_mul(u32::try_from(count).unwrap_or(u32::MAX)))
        })
        .fold(0, u32::saturating_add)
}
type ResourceMap = std::collections::BTreeMap<String, ApiQuantity>;

fn quantity(map: Option<&ResourceMap>, key: &str) -> Option<Quantity> {
    map.and_then(|m| m.get(key))
        .and_then(|q| Quantity::parse(&q.0).ok())
}

/// A container's requests as the scheduler rule reads them.
fn requests_of(map: Option<&ResourceMap>) -> Requests {
    Requests {
        cpu_cores: quantity(map, "cpu").map(|q| q.as_cores()),
        memory_bytes: quantity(map, "memory").map(|q| q.as_bytes()),
    }
}

/// The status of the container called `name`.
fn find<'a>(statuses: Option<&'a Vec<ContainerStatus>>, name: &str) -> Option<&'a ContainerStatus> {
    statuses.and_then(|all| all.iter().find(|s| s.name == name))
}

/// What the spec asks and the kubelet reports of one container.
fn demand(container: &Container, status: Option<&ContainerStatus>) -> Demand {
    let spec = resources_of(container);
    Demand {
        spec: Requests {
            cpu_cores: spec.cpu_request_cores,
            memory_bytes: spec.memory_request_bytes,
        },
        allocated: status
            .and_then(|s| s.allocated_resources.as_ref())
            .map(|map| requests_of(Some(map))),
        actuated: status
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .map(|map| requests_of(Some(map))),
    }
}

/// A billed container: its granted requests, the limits it runs with
/// (the status's once the kubelet reports them), GPUs from the spec.
fn slim_container(
    container: &Container,
    status: Option<&ContainerStatus>,
    billed: Requests,
    interner: &mut Interner,
) -> SlimContainer {
    let last_oom_kill = status
        .and_then(|s| s.last_state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .filter(|t| t.reason.as_deref() == Some("OOMKilled"))
        .and_then(|t| t.finished_at.as_ref())
        .map(timestamp);
    let spec = resources_of(container);
    let limits = status
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.limits.as_ref());
    let limit = |key: &str| quantity(limits, key);
    SlimContainer {
        name: interner.get(&container.name),
        resources: ContainerResources {
            cpu_request_cores: billed.cpu_cores,
            memory_request_bytes: billed.memory_bytes,
            cpu_limit_cores: limit("cpu").map(|q| q.as_cores()).or(spec.cpu_limit_cores),
            memory_limit_bytes: limit("memory")
                .map(|q| q.as_bytes())
                .or(spec.memory_limit_bytes),
            gpus: spec.gpus,
            mig_slices: spec.mig_slices,
        },
        restarts: status
            .map(|s| u32::try_from(s.restart_count.max(0)).unwrap_or(0))
            .unwrap_or(0),
        last_oom_kill,
    }
}

/// The billed containers (regular ones, then native sidecars) and what the
/// pod holds beyond them, by the scheduler's rule ([`reserve`]).
fn billed_containers(
    spec: &PodSpec,
    status: Option<&PodStatus>,
    interner: &mut Interner,
) -> (Vec<SlimContainer>, Amount, Amount) {
    let statuses = status.and_then(|s| s.container_statuses.as_ref());
    let init_statuses = status.and_then(|s| s.init_container_statuses.as_ref());
    let init = spec.init_containers.as_deref().unwrap_or_default();
    let is_sidecar = |c: &Container| c.restart_policy.as_deref() == Some("Always");
    let pod_status_requests = |map: Option<&ResourceMap>| map.map(|m| requests_of(Some(m)));
    let overhead = spec.overhead.as_ref();
    let demand_of_pod = PodDemand {
        containers: spec
            .containers
            .iter()
            .map(|c| demand(c, find(statuses, &c.name)))
            .collect(),
        init: init
            .iter()
            .map(|c| InitDemand {
                demand: demand(c, find(init_statuses, &c.name)),
                sidecar: is_sidecar(c),
            })
            .collect(),
        pod: requests_of(spec.resources.as_ref().and_then(|r| r.requests.as_ref())),
        pod_allocated: pod_status_requests(status.and_then(|s| s.allocated_resources.as_ref())),
        pod_actuated: pod_status_requests(
            status
                .and_then(|s| s.resources.as_ref())
                .and_then(|r| r.requests.as_ref()),
        ),
        overhead: Amount {
            cpu_cores: quantity(overhead, "cpu").map_or(0.0, |q| q.as_cores()),
            memory_bytes: quantity(overhead, "memory").map_or(0, |q| q.as_bytes()),
        },
    };
    let reservation = reserve(&demand_of_pod);
    let billed = spec
        .containers
        .iter()
        .map(|c| (c, find(statuses, &c.name)))
        .chain(
            init.iter()
                .filter(|c| is_sidecar(c))
                .map(|c| (c, find(init_statuses, &c.name))),
        );
    let containers = billed
        .zip(&reservation.containers)
        .map(|((container, status), requests)| {
            slim_container(container, status, *requests, interner)
        })
        .collect();
    (containers, reservation.reserved, reservation.overhead)
}

/// The controller owner reference of an object (a pod's ReplicaSet, a
/// ReplicaSet's Deployment, a Job's CronJob).
pub fn controller_of(meta: &ObjectMeta, interner: &mut Interner) -> Option<OwnerRef> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| OwnerRef {
            kind: OwnerKind::from_kind(&o.kind),
            name: interner.get(&o.name),
        })
}

/// An API timestamp as chrono's, which the rest of kubetally uses.
pub fn timestamp(time: &Time) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(time.0.as_millisecond()).unwrap_or_default()
}

/// The slim projection of `pod`. Malformed quantities count as unset (the
/// API server validated them; a mangled one must not stop the collector).
pub fn slim_pod(pod: &Pod, interner: &mut Interner) -> SlimPod {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let statuses = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let (containers, reserved, overhead) = match spec {
        Some(spec) => billed_containers(spec, status, interner),
        None => Default::default(),
    };
    let phase = match status.and_then(|s| s.phase.as_deref()) {
        Some("Running") => Phase::Running,
        Some("Succeeded" | "Failed") => Phase::Finished,
        _ => Phase::Pending,
    };
    let finished = if phase == Phase::Finished {
        statuses
            .iter()
            .filter_map(|s| s.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
            .map(timestamp)
            .max()
    } else {
        None
    };
    let deleted = meta.deletion_timestamp.as_ref().map(timestamp);
    let ended = match (finished, deleted) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let owner = controller_of(meta, interner);
    let labels: Vec<(Arc<str>, Arc<str>)> = meta
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| (interner.get(k), interner.get(v)))
        .collect();
    let node_selector: Vec<(Arc<str>, Arc<str>)> = spec
        .and_then(|s| s.node_selector.as_ref())
        .into_iter()
        .flatten()
        .map(|(k, v)| (interner.get(k), interner.get(v)))
        .collect();
    let claims: Vec<Arc<str>> = spec
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| interner.get(&c.claim_name))
        .collect();
    let claims = interner.names(claims);
    SlimPod {
        uid: Arc::from(meta.uid.as_deref().unwrap_or_default()),
        node_selector: interner.pairs(node_selector),
        namespace: interner.get(meta.namespace.as_deref().unwrap_or_default()),
        name: Arc::from(meta.name.as_deref().unwrap_or_default()),
        node: spec
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
            .map(|n| interner.get(n)),
        labels: interner.pairs(labels),
        owner,
        phase,
        started: status.and_then(|s| s.start_time.as_ref()).map(timestamp),
        ended,
        reserved,
        overhead,
        ready_at: status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready" && c.status == "True"))
            .and_then(|c| c.last_transition_time.as_ref())
            .map(timestamp),
        containers,
        claims,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use serde_json::json;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn projects_requests_owner_and_lifetime() {
        let mut interner = Interner::default();
        let slim = slim_pod(
            &pod(json!({
                "metadata": {"name": "sync-1", "namespace": "acme", "uid": "u1", "labels": {"app": "sync"},
                    "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "sync-29", "uid": "j", "controller": true}]},
                "spec": {"nodeName": "n1",
                    "initContainers": [{"name": "migrate", "resources": {"requests": {"cpu": "2"}}},
                                       {"name": "shipper", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}],
                    "containers": [{"name": "sync", "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}]},
                "status": {"phase": "Succeeded", "startTime": "2026-11-02T00:15:00Z",
                    "containerStatuses": [{"name": "sync", "ready": false, "restartCount": 1, "image": "", "imageID": "",
                        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-11-02T00:15:05Z"}},
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": "2026-11-02T00:15:20Z"}}}]}
            })),
            &mut interner,
        );
        assert_eq!(slim.owner.as_ref().map(|o| o.kind), Some(OwnerKind::Job));
        assert_eq!(
            slim.containers.len(),
            2,
            "the native sidecar is billed, migrate is not"
        );
        let sync = &slim.containers[0];
        assert_eq!(
            sync.resources.cpu_request_cores,
            Some(0.5),
            "request defaults to the limit"
        );
        assert_eq!(sync.resources.memory_request_bytes, Some(1 << 30));
        assert_eq!(sync.restarts, 1);
        assert!(sync.last_oom_kill.is_some());
        let start = slim.started.unwrap_or_default();
        assert_eq!(
            slim.running_within(start - Duration::hours(1), start + Duration::hours(1)),
            Some((start, start + Duration::seconds(20)))
        );
        assert_eq!(slim.label("app"), Some("sync"));
    }

    #[test]
    fn a_pending_pod_never_ran() {
        let mut interner = Interner::default();
        let slim = slim_pod(
            &pod(
                json!({"metadata": {"name": "p", "namespace": "a", "uid": "u"}, "spec": {"containers": []}, "status": {"phase": "Pending"}}),
            ),
            &mut interner,
        );
        let now = Utc::now();
        assert_eq!(slim.running_within(now - Duration::hours(1), now), None);
    }
}
