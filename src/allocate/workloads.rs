//! `workloads` rows: per workload and hour, the spec facts the recommenders
//! need (replicas, HPA, PDB, grace period, volumes, annotations, priority,
//! containers) beside how many of its pods ran at once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::hour::AllocationRow;
use super::tenant::TenantRules;
use crate::cluster::{Inventory, OwnerKind, SlimPod, SlimWorkload, TemplateContainer, WorkloadKey};

/// One `workloads` row.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadRow {
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub namespace: Arc<str>,
    pub tenant: Arc<str>,
    pub kind: &'static str,
    pub name: Arc<str>,
    pub replicas: Option<i32>,
    pub pod_count: i32,
    pub hpa_min_replicas: Option<i32>,
    pub hpa_max_replicas: Option<i32>,
    pub hpa_metrics: Vec<String>,
    pub has_pdb: bool,
    pub pdb_disruptions_allowed: Option<i32>,
    pub termination_grace_seconds: i64,
    pub volume_kinds: Vec<String>,
    pub annotations: Arc<[(Arc<str>, Arc<str>)]>,
    pub priority_class: String,
    pub containers: Vec<TemplateContainer>,
    pub max_unavailable: Option<i32>,
    pub backoff_limit: Option<i32>,
    pub pod_run_max_seconds: Option<f64>,
    pub startup_max_seconds: Option<f64>,
}

/// Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE_SECONDS: i64 = 30;

/// Puts `workloads` rows in the order the files keep them: by namespace and
/// workload, like the `allocation` rows (`hour::sort_allocation`), so a
/// reader comparing an hour with the next finds the same workloads in the
/// same places.
pub fn sort_workloads(rows: &mut [WorkloadRow]) {
    rows.sort_unstable_by(|a, b| {
        (&*a.namespace, a.kind, &*a.name).cmp(&(&*b.namespace, b.kind, &*b.name))
    });
}

/// The rows of the hour starting at `start`: every workload in the cache,
/// and every workload that ran a container in the hour (a naked pod, a
/// controller deleted since).
pub fn workload_rows(
    start: DateTime<Utc>,
    inventory: &Inventory,
    pods: &[&Arc<SlimPod>],
    rules: &TenantRules,
    allocation: &[AllocationRow],
) -> Vec<WorkloadRow> {
    let end = start + Duration::hours(1);
    let most = most_at_once(start, end, inventory, pods);
    let pod_count: HashMap<(&str, &str, &str), usize> = most
        .iter()
        .map(|(k, n)| ((&*k.namespace, k.kind.as_str(), &*k.name), *n))
        .collect();
    let times = pod_times(start, end, inventory, pods);
    let times: HashMap<(&str, &str, &str), PodTimes> = times
        .iter()
        .map(|(k, t)| ((&*k.namespace, k.kind.as_str(), &*k.name), *t))
        .collect();
    let mut tenants: HashMap<(&str, &str, &str), Arc<str>> = HashMap::new();
    let mut ran: BTreeMap<(&str, &str, &str), &AllocationRow> = BTreeMap::new();
    for row in allocation {
        let key = (&*row.namespace, &*row.workload_kind, &*row.workload_name);
        tenants.entry(key).or_insert_with(|| row.tenant.clone());
        ran.entry(key).or_insert(row);
    }
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for workload in inventory.workloads() {
        let key = (
            &*workload.namespace,
            workload.kind.as_str(),
            &*workload.name,
        );
        seen.insert(key);
        let tenant = tenants
            .get(&key)
            .cloned()
            .unwrap_or_else(|| namespace_tenant(rules, inventory, &workload.namespace));
        let mut row = from_workload(
            start,
            end,
            workload,
            tenant,
            pod_count.get(&key).copied().unwrap_or(0),
            inventory,
        );
        let times = times.get(&key).copied().unwrap_or_default();
        row.pod_run_max_seconds = times.run_max_seconds;
        row.startup_max_seconds = times.startup_max_seconds;
        rows.push(row);
    }
    // Workloads known only from their pods: naked pods, controllers gone.
    for (key, row) in ran {
        if seen.contains(&key) {
            continue;
        }
        let containers = naked_containers(pods, row);
        let times = times.get(&key).copied().unwrap_or_default();
        rows.push(WorkloadRow {
            start_time: start,
            end_time: end,
            namespace: row.namespace.clone(),
            tenant: row.tenant.clone(),
            kind: OwnerKind::from_kind(&row.workload_kind).as_str(),
            name: row.workload_name.clone(),
            replicas: None,
            pod_count: i32::try_from(pod_count.get(&key).copied().unwrap_or(1)).unwrap_or(i32::MAX),
            hpa_min_replicas: None,
            hpa_max_replicas: None,
            hpa_metrics: Vec::new(),
            has_pdb: false,
            pdb_disruptions_allowed: None,
            termination_grace_seconds: DEFAULT_GRACE_SECONDS,
            volume_kinds: Vec::new(),
            annotations: Arc::from(Vec::new()),
            priority_class: String::new(),
            containers,
            max_unavailable: None,
            backoff_limit: None,
            pod_run_max_seconds: times.run_max_seconds,
            startup_max_seconds: times.startup_max_seconds,
        });
    }
    rows.sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
    rows
}

/// What a workload's pods showed of their run and startup times in an hour.
#[derive(Debug, Clone, Copy, Default)]
struct PodTimes {
    /// Longest start-to-end of the pods that ended in the hour.
    run_max_seconds: Option<f64>,
    /// Slowest start-to-Ready of the pods that became Ready in the hour.
    startup_max_seconds: Option<f64>,
}

fn pod_times(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    inventory: &Inventory,
    pods: &[&Arc<SlimPod>],
) -> HashMap<WorkloadKey, PodTimes> {
    let within = |t: DateTime<Utc>| t >= start && t < end;
    let seconds = |from: DateTime<Utc>, to: DateTime<Utc>| {
        ((to - from).num_milliseconds() as f64 / 1000.0).max(0.0)
    };
    let most = |slot: &mut Option<f64>, value: f64| {
        *slot = Some(slot.map_or(value, |s| s.max(value)));
    };
    let mut times: HashMap<WorkloadKey, PodTimes> = HashMap::new();
    for pod in pods {
        let Some(started) = pod.started else { continue };
        let ended = pod.ended.filter(|&t| within(t));
        let ready = pod.ready_at.filter(|&t| within(t));
        if ended.is_none() && ready.is_none() {
            continue;
        }
        let entry = times.entry(inventory.workload_of(pod)).or_default();
        if let Some(ended) = ended {
            most(&mut entry.run_max_seconds, seconds(started, ended));
        }
        if let Some(ready) = ready {
            most(&mut entry.startup_max_seconds, seconds(started, ready));
        }
    }
    times
}

/// Most pods of each workload running at the same moment of `[start, end)`,
/// from the pods' lifetimes: exact, and independent of metrics-server's
/// per-node sample times (which differ by seconds between nodes, so counting
/// pods per sample time would count one node's pods).
fn most_at_once(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    inventory: &Inventory,
    pods: &[&Arc<SlimPod>],
) -> HashMap<WorkloadKey, usize> {
    let mut changes: HashMap<WorkloadKey, Vec<(DateTime<Utc>, i32)>> = HashMap::new();
    for pod in pods {
        let Some((begin, finish)) = pod.running_within(start, end) else {
            continue;
        };
        let entry = changes.entry(inventory.workload_of(pod)).or_default();
        entry.push((begin, 1));
        entry.push((finish, -1));
    }
    changes
        .into_iter()
        .map(|(key, mut list)| {
            // An end and a start at one instant are a replacement, not two at once.
            list.sort_unstable();
            let (mut running, mut most) = (0_i32, 0_i32);
            for (_, change) in list {
                running += change;
                most = most.max(running);
            }
            (key, usize::try_from(most).unwrap_or(0))
        })
        .collect()
}

fn namespace_tenant(rules: &TenantRules, inventory: &Inventory, namespace: &str) -> Arc<str> {
    let labels = inventory.namespace_labels(namespace);
    Arc::from(rules.tenant(
        namespace,
        |_| None,
        |key| labels.and_then(|labels| labels.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)),
    ))
}

/// A naked pod's containers from the pod itself (no template to read).
fn naked_containers(pods: &[&Arc<SlimPod>], row: &AllocationRow) -> Vec<TemplateContainer> {
    let pod = pods.iter().find(|p| p.uid == row.pod_uid);
    pod.map(|pod| {
        pod.containers
            .iter()
            .map(|c| TemplateContainer {
                name: c.name.to_string(),
                resources: c.resources,
                has_liveness_probe: false,
                has_readiness_probe: false,
                has_startup_probe: false,
                is_init: false,
            })
            .collect()
    })
    .unwrap_or_default()
}

fn from_workload(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    workload: &SlimWorkload,
    tenant: Arc<str>,
    pod_count: usize,
    inventory: &Inventory,
) -> WorkloadRow {
    let hpa = inventory.hpa_for(workload);
    let pdbs = inventory.pdbs_for(workload);
    let annotations: Vec<(Arc<str>, Arc<str>)> = workload
        .annotations
        .iter()
        .map(|(k, v)| (Arc::from(k.as_str()), Arc::from(v.as_str())))
        .collect();
    WorkloadRow {
        start_time: start,
        end_time: end,
        namespace: workload.namespace.clone(),
        tenant,
        kind: workload.kind.as_str(),
        name: workload.name.clone(),
        replicas: workload.replicas,
        pod_count: i32::try_from(pod_count).unwrap_or(i32::MAX),
        hpa_min_replicas: hpa.map(|h| h.min_replicas),
        hpa_max_replicas: hpa.map(|h| h.max_replicas),
        hpa_metrics: hpa.map(|h| h.metrics.clone()).unwrap_or_default(),
        has_pdb: !pdbs.is_empty(),
        // The tightest budget decides whether a pod may be evicted.
        pdb_disruptions_allowed: pdbs.iter().map(|p| p.disruptions_allowed).min(),
        termination_grace_seconds: workload
            .termination_grace_seconds
            .unwrap_or(DEFAULT_GRACE_SECONDS),
        volume_kinds: workload.volume_kinds.clone(),
        annotations: annotations.into(),
        priority_class: workload.priority_class.clone().unwrap_or_default(),
        containers: workload.containers.clone(),
        max_unavailable: workload.max_unavailable,
        backoff_limit: workload.backoff_limit,
        pod_run_max_seconds: None,
        startup_max_seconds: None,
    }
}
