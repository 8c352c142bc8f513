//! Controllers → [`SlimWorkload`], HPAs → [`SlimHpa`], PDBs → [`SlimPdb`]:
//! the spec facts the recommenders read from the `workloads` table.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{
    DaemonSet, Deployment, DeploymentStrategy, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::pod::{controller_of, resources_of};
use crate::cluster::intern::Interner;
use crate::cluster::pod::{OwnerKind, OwnerRef};
use crate::cluster::workload::{SlimHpa, SlimPdb, SlimWorkload, TemplateContainer};

/// Annotations on a pod template that change what may be done with its pods.
pub const MATTERING_ANNOTATIONS: [&str; 3] = [
    "cluster-autoscaler.kubernetes.io/safe-to-evict",
    "karpenter.sh/do-not-disrupt",
    "kubetally.io/checkpointing",
];

fn key(meta: &ObjectMeta, interner: &mut Interner) -> (Arc<str>, Arc<str>) {
    (
        interner.get(meta.namespace.as_deref().unwrap_or_default()),
        interner.get(meta.name.as_deref().unwrap_or_default()),
    )
}

fn match_labels(selector: Option<&LabelSelector>) -> BTreeMap<String, String> {
    selector
        .and_then(|s| s.match_labels.clone())
        .unwrap_or_default()
}

fn template_containers(spec: &PodSpec) -> Vec<TemplateContainer> {
    let one = |c: &k8s_openapi::api::core::v1::Container, is_init: bool| TemplateContainer {
        name: c.name.clone(),
        resources: resources_of(c),
        has_liveness_probe: c.liveness_probe.is_some(),
        has_readiness_probe: c.readiness_probe.is_some(),
        has_startup_probe: c.startup_probe.is_some(),
        is_init,
    };
    spec.init_containers
        .iter()
        .flatten()
        .map(|c| one(c, true))
        .chain(spec.containers.iter().map(|c| one(c, false)))
        .collect()
}

fn volume_kinds(spec: &PodSpec) -> Vec<String> {
    let mut kinds: Vec<String> = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| {
            let value = serde_json::to_value(v).ok()?;
            value
                .as_object()?
                .keys()
                .find(|k| k.as_str() != "name")
                .cloned()
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

fn workload(
    kind: OwnerKind,
    meta: &ObjectMeta,
    replicas: Option<i32>,
    selector: Option<&LabelSelector>,
    template: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>,
    backoff_limit: Option<i32>,
    interner: &mut Interner,
) -> SlimWorkload {
    let (namespace, name) = key(meta, interner);
    let spec = template.and_then(|t| t.spec.as_ref());
    let annotations = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .map(|a| {
            a.iter()
                .filter(|(k, _)| MATTERING_ANNOTATIONS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    SlimWorkload {
        kind,
        namespace,
        name,
        replicas,
        selector: match_labels(selector),
        termination_grace_seconds: spec.and_then(|s| s.termination_grace_period_seconds),
        volume_kinds: spec.map(volume_kinds).unwrap_or_default(),
        annotations,
        priority_class: spec.and_then(|s| s.priority_class_name.clone()),
        containers: spec.map(template_containers).unwrap_or_default(),
        backoff_limit,
        max_unavailable: None,
    }
}

/// A rollout's `maxUnavailable` in pods: a percentage rounds down, a
/// percentage surge up (the Deployment controller's `ResolveFenceposts`),
/// and when both come to 0 one pod may be unavailable; Recreate takes all
/// of them down. Defaults 25 % / 25 %.
fn max_unavailable(strategy: Option<&DeploymentStrategy>, replicas: i32) -> i32 {
    if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") {
        return replicas;
    }
    let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
    let resolve = |value: Option<&IntOrString>, round_up: bool| match value {
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(text)) => {
            let percent = text
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<f64>().ok())
                .unwrap_or(25.0);
            let exact = f64::from(replicas) * percent / 100.0;
            (if round_up {
                exact.ceil()
            } else {
                exact.floor()
            }) as i32
        }
        None => {
            let exact = f64::from(replicas) * 0.25;
            (if round_up {
                exact.ceil()
            } else {
                exact.floor()
            }) as i32
        }
    };
    let surge = resolve(rolling.and_then(|r| r.max_surge.as_ref()), true);
    let unavailable = resolve(rolling.and_then(|r| r.max_unavailable.as_ref()), false);
    if surge == 0 && unavailable == 0 {
        1
    } else {
        unavailable
    }
}

pub fn from_deployment(d: &Deployment, interner: &mut Interner) -> SlimWorkload {
    let spec = d.spec.as_ref();
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
    let mut slim = workload(
        OwnerKind::Deployment,
        &d.metadata,
        Some(replicas),
        spec.map(|s| &s.selector),
        spec.map(|s| &s.template),
        None,
        interner,
    );
    slim.max_unavailable = Some(max_unavailable(
        spec.and_then(|s| s.strategy.as_ref()),
        replicas,
    ));
    slim
}

pub fn from_statefulset(s: &StatefulSet, interner: &mut Interner) -> SlimWorkload {
    let spec = s.spec.as_ref();
    let mut slim = workload(
        OwnerKind::StatefulSet,
        &s.metadata,
        Some(spec.and_then(|s| s.replicas).unwrap_or(1)),
        spec.map(|s| &s.selector),
        spec.map(|s| &s.template),
        None,
        interner,
    );
    if spec.is_some_and(|s| {
        s.volume_claim_templates
            .as_ref()
            .is_some_and(|v| !v.is_empty())
    }) {
        slim.volume_kinds.push("persistentVolumeClaim".into());
        slim.volume_kinds.sort();
        slim.volume_kinds.dedup();
    }
    slim
}

pub fn from_daemonset(d: &DaemonSet, interner: &mut Interner) -> SlimWorkload {
    let spec = d.spec.as_ref();
    workload(
        OwnerKind::DaemonSet,
        &d.metadata,
        None,
        spec.map(|s| &s.selector),
        spec.map(|s| &s.template),
        None,
        interner,
    )
}

pub fn from_cronjob(c: &CronJob, interner: &mut Interner) -> SlimWorkload {
    let job = c.spec.as_ref().and_then(|s| s.job_template.spec.as_ref());
    workload(
        OwnerKind::CronJob,
        &c.metadata,
        None,
        None,
        job.map(|j| &j.template),
        job.and_then(|j| j.backoff_limit),
        interner,
    )
}

pub fn from_job(j: &Job, interner: &mut Interner) -> SlimWorkload {
    let spec = j.spec.as_ref();
    workload(
        OwnerKind::Job,
        &j.metadata,
        None,
        spec.and_then(|s| s.selector.as_ref()),
        spec.map(|s| &s.template),
        spec.and_then(|s| s.backoff_limit),
        interner,
    )
}

/// The controller owner of a ReplicaSet or Job: the Deployment or CronJob
/// a user knows it by.
pub fn parent_of(meta: &ObjectMeta, interner: &mut Interner) -> Option<OwnerRef> {
    controller_of(meta, interner)
}

pub fn replicaset_parent(rs: &ReplicaSet, interner: &mut Interner) -> Option<OwnerRef> {
    parent_of(&rs.metadata, interner)
}

pub fn from_hpa(h: &HorizontalPodAutoscaler, interner: &mut Interner) -> Option<SlimHpa> {
    let spec = h.spec.as_ref()?;
    // Resource metrics by resource name; others by their type, as the
    // `workloads.hpa_metrics` column documents.
    let metrics = spec
        .metrics
        .iter()
        .flatten()
        .map(|m| match m.type_.as_str() {
            "Resource" => m
                .resource
                .as_ref()
                .map_or("resource".into(), |r| r.name.clone()),
            "ContainerResource" => m
                .container_resource
                .as_ref()
                .map_or("resource".into(), |r| r.name.clone()),
            other => other.to_lowercase(),
        })
        .collect();
    Some(SlimHpa {
        namespace: interner.get(h.metadata.namespace.as_deref().unwrap_or_default()),
        target: OwnerRef {
            kind: OwnerKind::from_kind(&spec.scale_target_ref.kind),
            name: interner.get(&spec.scale_target_ref.name),
        },
        min_replicas: spec.min_replicas.unwrap_or(1),
        max_replicas: spec.max_replicas,
        metrics,
    })
}

pub fn from_pdb(p: &PodDisruptionBudget, interner: &mut Interner) -> SlimPdb {
    SlimPdb {
        namespace: interner.get(p.metadata.namespace.as_deref().unwrap_or_default()),
        name: p.metadata.name.clone().unwrap_or_default(),
        selector: match_labels(p.spec.as_ref().and_then(|s| s.selector.as_ref())),
        disruptions_allowed: p.status.as_ref().map_or(0, |s| s.disruptions_allowed),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::RollingUpdateDeployment;

    use super::*;

    fn rolling(surge: Option<IntOrString>, unavailable: Option<IntOrString>) -> DeploymentStrategy {
        DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: surge,
                max_unavailable: unavailable,
            }),
        }
    }

    #[test]
    fn max_unavailable_resolves_as_the_deployment_controller_does() {
        let percent = |p: &str| Some(IntOrString::String(p.into()));
        // Defaults 25 % / 25 %: 10 replicas → 2 (rounded down).
        assert_eq!(max_unavailable(None, 10), 2);
        // One replica: 25 % is 0 unavailable, but surge 1 lets a rollout go.
        assert_eq!(max_unavailable(None, 1), 0);
        // Both zero after rounding: one pod may be unavailable.
        assert_eq!(
            max_unavailable(Some(&rolling(percent("0%"), percent("10%"))), 3),
            1
        );
        // Surge rounds up: 10 % of 3 surges 1, so none may be unavailable.
        assert_eq!(
            max_unavailable(Some(&rolling(percent("10%"), percent("10%"))), 3),
            0
        );
        assert_eq!(
            max_unavailable(Some(&rolling(None, Some(IntOrString::Int(3)))), 10),
            3
        );
        assert_eq!(
            max_unavailable(Some(&rolling(percent("0%"), percent("50%"))), 5),
            2
        );
        let recreate = DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        };
        assert_eq!(max_unavailable(Some(&recreate), 4), 4);
    }
}
