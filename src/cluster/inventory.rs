//! The watch cache: slim projections of everything the collector watches,
//! owner resolution, and the pods and nodes that went away during the hour
//! still being allocated.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::intern::Interner;
use super::pod::{OwnerKind, OwnerRef, SlimPod};
use super::storage::{SlimBalancer, SlimClaim, SlimStorageClass, SlimVolume, Storage};
use super::workload::{SlimHpa, SlimPdb, SlimWorkload};
use crate::model::NodeFacts;

/// A node with what allocation needs beside its facts.
#[derive(Debug, Clone, PartialEq)]
pub struct SlimNode {
    pub facts: NodeFacts,
    pub allocatable_cpu_cores: f64,
    pub allocatable_memory_bytes: i64,
    pub created: Option<DateTime<Utc>>,
    /// When it was seen deleted (the newest sample time then).
    pub deleted: Option<DateTime<Utc>>,
}

impl SlimNode {
    /// Seconds the node existed within `[from, to)`.
    pub fn seconds_within(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        let begin = self.created.map_or(from, |c| c.max(from));
        let end = self.deleted.map_or(to, |d| d.min(to));
        if end <= begin {
            return 0.0;
        }
        (end - begin).num_milliseconds() as f64 / 1000.0
    }
}

/// The workload a user knows a pod by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadKey {
    pub namespace: Arc<str>,
    pub kind: OwnerKind,
    pub name: Arc<str>,
}

/// Which watched collections have completed their initial list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collection {
    Pods,
    Nodes,
    Namespaces,
    ReplicaSets,
    Deployments,
    StatefulSets,
    DaemonSets,
    Jobs,
    CronJobs,
    Hpas,
    Pdbs,
    StorageClasses,
    PersistentVolumes,
    PersistentVolumeClaims,
    Services,
}

impl Collection {
    pub const ALL: [Collection; 15] = [
        Collection::Pods,
        Collection::Nodes,
        Collection::Namespaces,
        Collection::ReplicaSets,
        Collection::Deployments,
        Collection::StatefulSets,
        Collection::DaemonSets,
        Collection::Jobs,
        Collection::CronJobs,
        Collection::Hpas,
        Collection::Pdbs,
        Collection::StorageClasses,
        Collection::PersistentVolumes,
        Collection::PersistentVolumeClaims,
        Collection::Services,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Pods => "pods",
            Collection::Nodes => "nodes",
            Collection::Namespaces => "namespaces",
            Collection::ReplicaSets => "replicasets",
            Collection::Deployments => "deployments",
            Collection::StatefulSets => "statefulsets",
            Collection::DaemonSets => "daemonsets",
            Collection::Jobs => "jobs",
            Collection::CronJobs => "cronjobs",
            Collection::Hpas => "horizontalpodautoscalers",
            Collection::Pdbs => "poddisruptionbudgets",
            Collection::StorageClasses => "storageclasses",
            Collection::PersistentVolumes => "persistentvolumes",
            Collection::PersistentVolumeClaims => "persistentvolumeclaims",
            Collection::Services => "services",
        }
    }
}

type Labels = Arc<[(Arc<str>, Arc<str>)]>;
type NameKey = (Arc<str>, Arc<str>);
type ParentKey = (Arc<str>, OwnerKind, Arc<str>);

/// The inventory as the watchers, the collector and `/metrics` share it.
pub type SharedInventory = Arc<Mutex<Inventory>>;

/// Locks the inventory; a panic elsewhere while holding it leaves it usable.
pub fn lock(inventory: &SharedInventory) -> MutexGuard<'_, Inventory> {
    match inventory.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Everything the collector knows of the cluster right now.
#[derive(Debug, Default)]
pub struct Inventory {
    pub interner: Interner,
    pods: FxHashMap<Arc<str>, Arc<SlimPod>>,
    /// Namespace → name → UID. Nested so a lookup by `&str` allocates
    /// nothing: it runs for every pod on every tick.
    pod_uids: FxHashMap<Arc<str>, FxHashMap<Arc<str>, Arc<str>>>,
    /// Pods deleted since the collector last looked (the ledger takes
    /// them, with when they ended, and bills them to the end of their hour).
    retired_pods: Vec<Arc<SlimPod>>,
    /// `namespace/name` of pods deleted lately (and not re-created), with
    /// when they ended: metrics-server still reports a pod a moment after
    /// its deletion, and no watch event is coming for that usage.
    deleted_names: FxHashMap<String, DateTime<Utc>>,
    nodes: HashMap<Arc<str>, Arc<SlimNode>>,
    retired_nodes: Vec<Arc<SlimNode>>,
    namespaces: HashMap<Arc<str>, Labels>,
    /// ReplicaSet → Deployment and Job → CronJob, or `None` for one that
    /// has no such parent: a pod owned by a ReplicaSet or Job missing here
    /// belongs to a workload the watch has not delivered yet.
    parents: HashMap<ParentKey, Option<OwnerRef>>,
    /// Parents deleted since the last hour was closed, with when: a CronJob's
    /// Job is usually deleted (ttlSecondsAfterFinished) before its pods'
    /// hour is allocated, and those pods still belong to the CronJob.
    retired_parents: HashMap<ParentKey, (OwnerRef, Option<DateTime<Utc>>)>,
    workloads: HashMap<WorkloadKey, Arc<SlimWorkload>>,
    hpas: HashMap<NameKey, SlimHpa>,
    pdbs: HashMap<NameKey, SlimPdb>,
    synced: HashSet<Collection>,
    /// Volumes, claims, classes and load balancers: what costs beside nodes.
    storage: Storage,
    /// Keys seen during a re-list, per collection; what is missing at its
    /// end was deleted while the watch was down.
    relisting: HashMap<Collection, HashSet<String>>,
    /// The newest sample time: "now" for deletions without a timestamp.
    pub clock: Option<DateTime<Utc>>,
}

impl Inventory {
    pub fn is_synced(&self) -> bool {
        Collection::ALL.iter().all(|c| self.synced.contains(c))
    }

    pub fn synced(&self, collection: Collection) -> bool {
        self.synced.contains(&collection)
    }

    /// A re-list of `collection` starts (first list, or after a 410 Gone).
    pub fn relist_begin(&mut self, collection: Collection) {
        self.relisting.insert(collection, HashSet::new());
    }

    fn relist_saw(&mut self, collection: Collection, key: &str) {
        if let Some(seen) = self.relisting.get_mut(&collection) {
            seen.insert(key.to_owned());
        }
    }

    /// The re-list is complete: drop what it did not contain.
    pub fn relist_done(&mut self, collection: Collection) {
        self.synced.insert(collection);
        let Some(seen) = self.relisting.remove(&collection) else {
            return;
        };
        match collection {
            Collection::Pods => {
                let gone: Vec<Arc<str>> = self
                    .pods
                    .keys()
                    .filter(|uid| !seen.contains(&***uid))
                    .cloned()
                    .collect();
                for uid in gone {
                    self.remove_pod(&uid);
                }
            }
            Collection::Nodes => {
                let gone: Vec<Arc<str>> = self
                    .nodes
                    .keys()
                    .filter(|name| !seen.contains(&***name))
                    .cloned()
                    .collect();
                for name in gone {
                    self.remove_node(&name);
                }
            }
            Collection::Namespaces => self.namespaces.retain(|k, _| seen.contains(&**k)),
            Collection::ReplicaSets | Collection::Jobs => {
                let kind = if collection == Collection::Jobs {
                    OwnerKind::Job
                } else {
                    OwnerKind::ReplicaSet
                };
                let gone: Vec<ParentKey> = self
                    .parents
                    .keys()
                    .filter(|(ns, k, name)| *k == kind && !seen.contains(&format!("{ns}/{name}")))
                    .cloned()
                    .collect();
                for key in gone {
                    self.retire_parent(key);
                }
                if kind == OwnerKind::Job {
                    self.workloads.retain(|k, _| {
                        k.kind != OwnerKind::Job
                            || seen.contains(&format!("{}/{}", k.namespace, k.name))
                    });
                }
            }
            Collection::Deployments
            | Collection::StatefulSets
            | Collection::DaemonSets
            | Collection::CronJobs => {
                let kind = match collection {
                    Collection::Deployments => OwnerKind::Deployment,
                    Collection::StatefulSets => OwnerKind::StatefulSet,
                    Collection::DaemonSets => OwnerKind::DaemonSet,
                    _ => OwnerKind::CronJob,
                };
                self.workloads.retain(|k, _| {
                    k.kind != kind || seen.contains(&format!("{}/{}", k.namespace, k.name))
                });
            }
            Collection::Hpas => self
                .hpas
                .retain(|(ns, name), _| seen.contains(&format!("{ns}/{name}"))),
            Collection::Pdbs => self
                .pdbs
                .retain(|(ns, name), _| seen.contains(&format!("{ns}/{name}"))),
            Collection::StorageClasses
            | Collection::PersistentVolumes
            | Collection::PersistentVolumeClaims
            | Collection::Services => self.storage.relist_done(collection, &seen),
        }
    }

    pub fn apply_storage_class(&mut self, class: SlimStorageClass) {
        self.relist_saw(Collection::StorageClasses, &class.name);
        self.storage.apply_class(class);
    }

    pub fn delete_storage_class(&mut self, name: &str) {
        self.storage.delete_class(name);
    }

    pub fn apply_volume(&mut self, volume: SlimVolume) {
        self.relist_saw(Collection::PersistentVolumes, &volume.name);
        self.storage.apply_volume(volume);
    }

    pub fn delete_volume(&mut self, name: &str) {
        self.storage.delete_volume(name);
    }

    pub fn apply_claim(&mut self, claim: SlimClaim) {
        self.relist_saw(
            Collection::PersistentVolumeClaims,
            &format!("{}/{}", claim.namespace, claim.name),
        );
        self.storage.apply_claim(claim);
    }

    pub fn delete_claim(&mut self, namespace: &str, name: &str) {
        self.storage.delete_claim(namespace, name);
    }

    /// A Service changed: `balancer` is its projection while it is a
    /// provisioned load balancer, else none.
    pub fn apply_service(&mut self, uid: &str, balancer: Option<SlimBalancer>) {
        self.relist_saw(Collection::Services, uid);
        self.storage.apply_balancer(uid, balancer);
    }

    pub fn delete_service(&mut self, uid: &str) {
        self.storage.apply_balancer(uid, None);
    }

    /// Volumes, claims, classes and load balancers.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn apply_pod(&mut self, mut pod: SlimPod) {
        self.relist_saw(Collection::Pods, &pod.uid);
        // Startup is to the first Ready: a later flap or the pod finishing
        // (Ready turns false) does not move or erase it.
        if let Some(first) = self.pods.get(&pod.uid).and_then(|p| p.ready_at) {
            pod.ready_at = Some(first);
        }
        if !self.deleted_names.is_empty() {
            // A new pod of a deleted one's name (a StatefulSet's).
            self.deleted_names
                .remove(&format!("{}/{}", pod.namespace, pod.name));
        }
        self.pod_uids
            .entry(pod.namespace.clone())
            .or_default()
            .insert(pod.name.clone(), pod.uid.clone());
        self.pods.insert(pod.uid.clone(), Arc::new(pod));
    }

    /// A pod was deleted: it stays billable for the open hour until `ended`.
    pub fn delete_pod(&mut self, mut pod: SlimPod) {
        if let Some(first) = self.pods.get(&pod.uid).and_then(|p| p.ready_at) {
            pod.ready_at = Some(first);
        }
        self.pods.insert(pod.uid.clone(), Arc::new(pod.clone()));
        self.remove_pod(&pod.uid);
    }

    fn remove_pod(&mut self, uid: &Arc<str>) {
        let Some(pod) = self.pods.remove(uid) else {
            return;
        };
        if let Some(names) = self.pod_uids.get_mut(&*pod.namespace)
            && names.get(&*pod.name) == Some(uid)
        {
            names.remove(&*pod.name);
            if names.is_empty() {
                self.pod_uids.remove(&*pod.namespace);
            }
        }
        let mut pod = Arc::unwrap_or_clone(pod);
        if pod.ended.is_none() {
            pod.ended = self.clock;
        }
        if let Some(ended) = pod.ended {
            self.deleted_names
                .insert(format!("{}/{}", pod.namespace, pod.name), ended);
        }
        self.retired_pods.push(Arc::new(pod));
    }

    pub fn apply_node(&mut self, node: SlimNode) {
        self.relist_saw(Collection::Nodes, &node.facts.name);
        let name = self.interner.get(&node.facts.name);
        self.nodes.insert(name, Arc::new(node));
    }

    pub fn delete_node(&mut self, name: &str) {
        let name = self.interner.get(name);
        self.remove_node(&name);
    }

    fn remove_node(&mut self, name: &Arc<str>) {
        if let Some(node) = self.nodes.remove(name) {
            let mut node = Arc::unwrap_or_clone(node);
            node.deleted = node.deleted.or(self.clock);
            self.retired_nodes.push(Arc::new(node));
        }
    }

    pub fn apply_namespace(&mut self, name: &str, labels: &BTreeMap<String, String>) {
        self.relist_saw(Collection::Namespaces, name);
        let name = self.interner.get(name);
        let labels: Vec<(Arc<str>, Arc<str>)> = labels
            .iter()
            .map(|(k, v)| (self.interner.get(k), self.interner.get(v)))
            .collect();
        self.namespaces.insert(name, labels.into());
    }

    pub fn delete_namespace(&mut self, name: &str) {
        self.namespaces.remove(name);
    }

    /// Records that `kind/name` in `namespace` belongs to `parent` (or to nobody).
    pub fn apply_parent(
        &mut self,
        namespace: &str,
        kind: OwnerKind,
        name: &str,
        parent: Option<OwnerRef>,
    ) {
        let collection = if kind == OwnerKind::Job {
            Collection::Jobs
        } else {
            Collection::ReplicaSets
        };
        self.relist_saw(collection, &format!("{namespace}/{name}"));
        let key = (self.interner.get(namespace), kind, self.interner.get(name));
        if parent.is_none() {
            // Orphaned: its pods keep the parent they had.
            self.retire_parent(key.clone());
        }
        self.parents.insert(key, parent);
    }

    pub fn delete_parent(&mut self, namespace: &str, kind: OwnerKind, name: &str) {
        let key = (self.interner.get(namespace), kind, self.interner.get(name));
        self.retire_parent(key);
    }

    fn retire_parent(&mut self, key: ParentKey) {
        if let Some(Some(parent)) = self.parents.remove(&key) {
            self.retired_parents.insert(key, (parent, self.clock));
        }
    }

    pub fn apply_workload(&mut self, collection: Collection, workload: SlimWorkload) {
        self.relist_saw(
            collection,
            &format!("{}/{}", workload.namespace, workload.name),
        );
        let key = WorkloadKey {
            namespace: workload.namespace.clone(),
            kind: workload.kind,
            name: workload.name.clone(),
        };
        self.workloads.insert(key, Arc::new(workload));
    }

    pub fn delete_workload(&mut self, kind: OwnerKind, namespace: &str, name: &str) {
        let key = WorkloadKey {
            namespace: self.interner.get(namespace),
            kind,
            name: self.interner.get(name),
        };
        self.workloads.remove(&key);
    }

    pub fn apply_hpa(&mut self, name: &str, hpa: SlimHpa) {
        self.relist_saw(Collection::Hpas, &format!("{}/{name}", hpa.namespace));
        let name = self.interner.get(name);
        self.hpas.insert((hpa.namespace.clone(), name), hpa);
    }

    pub fn delete_hpa(&mut self, namespace: &str, name: &str) {
        let key = (self.interner.get(namespace), self.interner.get(name));
        self.hpas.remove(&key);
    }

    pub fn apply_pdb(&mut self, pdb: SlimPdb) {
        self.relist_saw(Collection::Pdbs, &format!("{}/{}", pdb.namespace, pdb.name));
        let name = self.interner.get(&pdb.name);
        self.pdbs.insert((pdb.namespace.clone(), name), pdb);
    }

    pub fn delete_pdb(&mut self, namespace: &str, name: &str) {
        let key = (self.interner.get(namespace), self.interner.get(name));
        self.pdbs.remove(&key);
    }

    /// The workload a user knows `pod` by: Pod → ReplicaSet → Deployment,
    /// Pod → Job → CronJob, StatefulSet, DaemonSet; a naked pod is its own.
    pub fn workload_of(&self, pod: &SlimPod) -> WorkloadKey {
        let Some(owner) = &pod.owner else {
            return WorkloadKey {
                namespace: pod.namespace.clone(),
                kind: OwnerKind::Pod,
                name: pod.name.clone(),
            };
        };
        let mut current = owner.clone();
        let key = (pod.namespace.clone(), current.kind, current.name.clone());
        if matches!(current.kind, OwnerKind::ReplicaSet | OwnerKind::Job)
            && let Some(parent) = self
                .parents
                .get(&key)
                .and_then(Option::as_ref)
                .or_else(|| self.retired_parents.get(&key).map(|(parent, _)| parent))
            && matches!(parent.kind, OwnerKind::Deployment | OwnerKind::CronJob)
        {
            current = parent.clone();
        }
        WorkloadKey {
            namespace: pod.namespace.clone(),
            kind: current.kind,
            name: current.name,
        }
    }

    /// Whether [`Self::workload_of`] can name `pod`'s workload for sure: a
    /// pod of a ReplicaSet or Job waits for that object's watch event, which
    /// comes on another stream and may arrive after the pod's.
    pub fn owner_known(&self, pod: &SlimPod) -> bool {
        let Some(owner) = &pod.owner else {
            return true;
        };
        if !matches!(owner.kind, OwnerKind::ReplicaSet | OwnerKind::Job) {
            return true;
        }
        let key = (pod.namespace.clone(), owner.kind, owner.name.clone());
        self.parents.contains_key(&key) || self.retired_parents.contains_key(&key)
    }

    /// Whether the last pod named `namespace/name` was deleted lately.
    pub fn deleted_lately(&self, namespace: &str, name: &str) -> bool {
        !self.deleted_names.is_empty()
            && self
                .deleted_names
                .contains_key(&format!("{namespace}/{name}"))
    }

    pub fn pod_by_name(&self, namespace: &str, name: &str) -> Option<&Arc<SlimPod>> {
        let uid = self.pod_uids.get(namespace)?.get(name)?;
        self.pods.get(uid)
    }

    pub fn pods(&self) -> impl Iterator<Item = &Arc<SlimPod>> {
        self.pods.values()
    }

    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// The pods deleted since the last call, each ended (at its deletion
    /// timestamp, or the newest sample time when it vanished without one).
    pub fn take_retired_pods(&mut self) -> Vec<Arc<SlimPod>> {
        std::mem::take(&mut self.retired_pods)
    }

    pub fn node(&self, name: &str) -> Option<&Arc<SlimNode>> {
        self.nodes.get(name).or_else(|| {
            self.retired_nodes
                .iter()
                .rev()
                .find(|n| n.facts.name == name)
        })
    }

    /// Live and retired nodes.
    pub fn billable_nodes(&self) -> impl Iterator<Item = &Arc<SlimNode>> {
        self.nodes.values().chain(self.retired_nodes.iter())
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn namespace_labels(&self, namespace: &str) -> Option<&Labels> {
        self.namespaces.get(namespace)
    }

    pub fn workloads(&self) -> impl Iterator<Item = &Arc<SlimWorkload>> {
        self.workloads.values()
    }

    /// The HPA scaling `workload`, if any.
    pub fn hpa_for(&self, workload: &SlimWorkload) -> Option<&SlimHpa> {
        self.hpas.values().find(|h| {
            h.namespace == workload.namespace
                && h.target.kind == workload.kind
                && h.target.name == workload.name
        })
    }

    /// PDBs whose selector matches the workload's pod selector.
    pub fn pdbs_for(&self, workload: &SlimWorkload) -> Vec<&SlimPdb> {
        self.pdbs
            .values()
            .filter(|p| {
                p.namespace == workload.namespace
                    && !p.selector.is_empty()
                    && p.selector
                        .iter()
                        .all(|(k, v)| workload.selector.get(k) == Some(v))
            })
            .collect()
    }

    /// Forgets nodes that were deleted before `before` (their last hour
    /// is allocated), parents gone long enough, and strings nobody uses any
    /// more. Deleted pods are the ledger's to keep ([`Self::take_retired_pods`]).
    pub fn forget_retired(&mut self, before: DateTime<Utc>) {
        self.retired_nodes
            .retain(|n| n.deleted.is_some_and(|deleted| deleted >= before));
        // A deleted parent's pods go within seconds (garbage collection);
        // an hour of slack covers a slow collector or API server.
        let keep_from = before - chrono::Duration::hours(1);
        self.retired_parents
            .retain(|_, (_, deleted)| deleted.is_none_or(|d| d >= keep_from));
        self.deleted_names.retain(|_, ended| *ended >= before);
        self.interner.sweep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::pod::Phase;

    fn job_pod() -> SlimPod {
        SlimPod {
            uid: "uid-1".into(),
            namespace: "acme".into(),
            name: "sync-1-abc".into(),
            node: Some("n1".into()),
            labels: Arc::new([]),
            owner: Some(OwnerRef {
                kind: OwnerKind::Job,
                name: "sync-1".into(),
            }),
            phase: Phase::Finished,
            started: None,
            ended: None,
            ready_at: None,
            ..SlimPod::default()
        }
    }

    #[test]
    fn a_pod_of_a_deleted_job_still_belongs_to_its_cronjob() {
        let mut inventory = Inventory::default();
        let t0 = crate::sim::epoch();
        inventory.clock = Some(t0);
        inventory.apply_parent(
            "acme",
            OwnerKind::Job,
            "sync-1",
            Some(OwnerRef {
                kind: OwnerKind::CronJob,
                name: "sync".into(),
            }),
        );
        let pod = job_pod();
        inventory.apply_pod(pod.clone());
        // ttlSecondsAfterFinished: the Job goes first, then its pod.
        inventory.delete_parent("acme", OwnerKind::Job, "sync-1");
        inventory.delete_pod(pod.clone());
        let workload = inventory.workload_of(&pod);
        assert_eq!(
            (workload.kind, &*workload.name),
            (OwnerKind::CronJob, "sync")
        );
        // Gone an hour after the hour it was deleted in closed.
        inventory.forget_retired(t0 + chrono::Duration::hours(2));
        assert_eq!(inventory.workload_of(&pod).kind, OwnerKind::Job);
    }
}
