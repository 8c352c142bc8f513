//! Watchers (kube-runtime, with backoff) that keep the [`Inventory`] in sync.
//!
//! Each watched collection has its own task. Objects are projected as they
//! arrive and dropped at once, so the cache holds slim projections only. A
//! failing API server (errors, cut streams, 410 Gone) never ends a task: the
//! watcher backs off, re-lists and the inventory drops what vanished meanwhile.

use std::fmt::Debug;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, Service,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use super::SourceError;
use super::pod::{slim_pod, timestamp};
use super::{storage, workload};
use crate::cluster::{Collection, Inventory, OwnerKind, SharedInventory, SlimNode, lock};
use crate::model::Quantity;
use crate::model::gpu::GpuLabelError;

/// What goes wrong while watching: the watch goes on, the collector counts
/// and logs it.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// A list or watch request failed; the watcher backs off and re-lists.
    #[error("watching {}", collection.as_str())]
    Failed {
        collection: Collection,
        #[source]
        cause: watcher::Error,
    },
    /// A node's capacity does not parse: it is kept, priced from its
    /// machine type alone.
    #[error("node {node}'s capacity")]
    NodeCapacityUnparsed {
        node: String,
        #[source]
        cause: SourceError,
    },
    /// A pod or node the collector cannot use (no uid, no namespace, a
    /// request beyond any machine): skipped, never billed.
    #[error("{} {object}: {reason}", collection.as_str())]
    Unusable {
        collection: Collection,
        /// `namespace/name`, or what of it there is.
        object: String,
        reason: String,
    },
    /// A GPU label of a node does not parse: its GPUs are read from the
    /// other labels and its capacity.
    #[error("node {node}'s GPU labels")]
    NodeGpuLabel {
        node: String,
        #[source]
        cause: GpuLabelError,
    },
}

/// Called with every [`WatchError`], for the error counters and logs.
pub type OnError = Arc<dyn Fn(WatchError) + Send + Sync>;

type Apply<K> = fn(&mut Inventory, &K);

async fn run<K>(
    api: Api<K>,
    collection: Collection,
    inventory: SharedInventory,
    on_error: OnError,
    apply: impl Fn(&mut Inventory, &K) + Send + 'static,
    delete: Apply<K>,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let config = watcher::Config::default().page_size(500);
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    while let Some(item) = stream.next().await {
        match item {
            Ok(Event::Init) => lock(&inventory).relist_begin(collection),
            Ok(Event::InitApply(object) | Event::Apply(object)) => {
                apply(&mut lock(&inventory), &object)
            }
            Ok(Event::InitDone) => lock(&inventory).relist_done(collection),
            Ok(Event::Delete(object)) => delete(&mut lock(&inventory), &object),
            Err(cause) => on_error(WatchError::Failed { collection, cause }),
        }
    }
}

/// Why a pod cannot be billed, if it cannot: every pod needs a uid (what
/// its rows and samples are keyed by), a namespace and a name, and
/// requests a machine could grant.
pub fn pod_problem(pod: &Pod) -> Option<String> {
    let meta = &pod.metadata;
    let missing = [
        ("uid", &meta.uid),
        ("namespace", &meta.namespace),
        ("name", &meta.name),
    ]
    .into_iter()
    .find(|(_, value)| value.as_deref().is_none_or(str::is_empty));
    if let Some((field, _)) = missing {
        return Some(format!("no {field}"));
    }
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find_map(|container| {
            let r = super::pod::resources_of(container);
            let what = format!("container {}'s", container.name);
            [r.cpu_request_cores, r.cpu_limit_cores]
                .into_iter()
                .flatten()
                .find_map(|cores| super::bounds::cpu_problem(&what, cores))
                .or_else(|| {
                    [r.memory_request_bytes, r.memory_limit_bytes]
                        .into_iter()
                        .flatten()
                        .find_map(|bytes| super::bounds::memory_problem(&what, bytes))
                })
        })
}

/// Why a node cannot be priced, if it cannot: it needs a name (what pods
/// and usage point at) and a uid.
pub fn node_problem(node: &Node) -> Option<String> {
    let meta = &node.metadata;
    [("uid", &meta.uid), ("name", &meta.name)]
        .into_iter()
        .find(|(_, value)| value.as_deref().is_none_or(str::is_empty))
        .map(|(field, _)| format!("no {field}"))
}

/// `namespace/name` of an object, with what is missing left empty.
fn object_name<K: Resource>(object: &K) -> String {
    let (namespace, name) = name_of(object);
    if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    }
}

fn name_of<K: Resource>(object: &K) -> (&str, &str) {
    let meta = object.meta();
    (
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// A node's slim projection; a node whose capacity does not parse is
/// priced from its machine type alone, a GPU label that does not parse is
/// read around, and either error goes to `on_error`.
fn slim_node(node: &Node, on_error: &OnError) -> SlimNode {
    let name = || node.metadata.name.clone().unwrap_or_default();
    let checked = super::node_facts_checked(node).map(|(facts, problems)| {
        for cause in problems {
            on_error(WatchError::NodeGpuLabel {
                node: name(),
                cause,
            });
        }
        facts
    });
    let facts = checked.unwrap_or_else(|cause| {
        on_error(WatchError::NodeCapacityUnparsed {
            node: name(),
            cause,
        });
        crate::model::NodeFacts {
            name: name(),
            provider_id: node.spec.as_ref().and_then(|s| s.provider_id.clone()),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            cpu_capacity: Quantity::ZERO,
            memory_capacity: Quantity::ZERO,
            gpu_capacity: 0,
            gpu_sharing: Default::default(),
        }
    });
    let allocatable = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
    let parse = |key: &str| {
        allocatable
            .and_then(|a| a.get(key))
            .and_then(|q| Quantity::parse(&q.0).ok())
    };
    SlimNode {
        allocatable_cpu_cores: parse("cpu").map_or(facts.cpu_capacity.as_cores(), |q| q.as_cores()),
        allocatable_memory_bytes: parse("memory")
            .map_or(facts.memory_capacity.as_bytes(), |q| q.as_bytes()),
        created: node.metadata.creation_timestamp.as_ref().map(timestamp),
        deleted: None,
        facts,
    }
}

/// Starts one watcher task per collection the collector uses.
pub fn spawn_all(
    client: &Client,
    inventory: &SharedInventory,
    on_error: &OnError,
) -> Vec<JoinHandle<()>> {
    let (i, e) = (inventory, on_error);
    vec![
        tokio::spawn(run::<Pod>(
            Api::all(client.clone()),
            Collection::Pods,
            i.clone(),
            e.clone(),
            {
                let e = e.clone();
                move |inv: &mut Inventory, pod: &Pod| {
                    if let Some(reason) = pod_problem(pod) {
                        e(WatchError::Unusable {
                            collection: Collection::Pods,
                            object: object_name(pod),
                            reason,
                        });
                        return;
                    }
                    let slim = slim_pod(pod, &mut inv.interner);
                    inv.apply_pod(slim);
                }
            },
            |inv, pod| {
                // Never applied, so nothing to delete (and counted once).
                if pod_problem(pod).is_some() {
                    return;
                }
                let slim = slim_pod(pod, &mut inv.interner);
                inv.delete_pod(slim);
            },
        )),
        tokio::spawn(run::<Node>(
            Api::all(client.clone()),
            Collection::Nodes,
            i.clone(),
            e.clone(),
            {
                let e = e.clone();
                move |inv: &mut Inventory, node: &Node| match node_problem(node) {
                    Some(reason) => e(WatchError::Unusable {
                        collection: Collection::Nodes,
                        object: object_name(node),
                        reason,
                    }),
                    None => inv.apply_node(slim_node(node, &e)),
                }
            },
            |inv, node| inv.delete_node(name_of(node).1),
        )),
        tokio::spawn(run::<Namespace>(
            Api::all(client.clone()),
            Collection::Namespaces,
            i.clone(),
            e.clone(),
            |inv, ns| {
                let labels = ns.metadata.labels.clone().unwrap_or_default();
                inv.apply_namespace(name_of(ns).1, &labels);
            },
            |inv, ns| inv.delete_namespace(name_of(ns).1),
        )),
        tokio::spawn(run::<ReplicaSet>(
            Api::all(client.clone()),
            Collection::ReplicaSets,
            i.clone(),
            e.clone(),
            |inv, rs| {
                let parent = workload::replicaset_parent(rs, &mut inv.interner);
                let (ns, name) = name_of(rs);
                inv.apply_parent(ns, OwnerKind::ReplicaSet, name, parent);
            },
            |inv, rs| {
                let (ns, name) = name_of(rs);
                inv.delete_parent(ns, OwnerKind::ReplicaSet, name);
            },
        )),
        tokio::spawn(run::<Job>(
            Api::all(client.clone()),
            Collection::Jobs,
            i.clone(),
            e.clone(),
            |inv, job| {
                let parent = workload::parent_of(&job.metadata, &mut inv.interner);
                let (ns, name) = name_of(job);
                if parent.is_none() {
                    let slim = workload::from_job(job, &mut inv.interner);
                    inv.apply_workload(Collection::Jobs, slim);
                }
                inv.apply_parent(ns, OwnerKind::Job, name, parent);
            },
            |inv, job| {
                let (ns, name) = name_of(job);
                inv.delete_parent(ns, OwnerKind::Job, name);
                inv.delete_workload(OwnerKind::Job, ns, name);
            },
        )),
        tokio::spawn(run::<Deployment>(
            Api::all(client.clone()),
            Collection::Deployments,
            i.clone(),
            e.clone(),
            |inv, d| {
                let slim = workload::from_deployment(d, &mut inv.interner);
                inv.apply_workload(Collection::Deployments, slim);
            },
            |inv, d| {
                let (ns, name) = name_of(d);
                inv.delete_workload(OwnerKind::Deployment, ns, name);
            },
        )),
        tokio::spawn(run::<StatefulSet>(
            Api::all(client.clone()),
            Collection::StatefulSets,
            i.clone(),
            e.clone(),
            |inv, s| {
                let slim = workload::from_statefulset(s, &mut inv.interner);
                inv.apply_workload(Collection::StatefulSets, slim);
            },
            |inv, s| {
                let (ns, name) = name_of(s);
                inv.delete_workload(OwnerKind::StatefulSet, ns, name);
            },
        )),
        tokio::spawn(run::<DaemonSet>(
            Api::all(client.clone()),
            Collection::DaemonSets,
            i.clone(),
            e.clone(),
            |inv, d| {
                let slim = workload::from_daemonset(d, &mut inv.interner);
                inv.apply_workload(Collection::DaemonSets, slim);
            },
            |inv, d| {
                let (ns, name) = name_of(d);
                inv.delete_workload(OwnerKind::DaemonSet, ns, name);
            },
        )),
        tokio::spawn(run::<CronJob>(
            Api::all(client.clone()),
            Collection::CronJobs,
            i.clone(),
            e.clone(),
            |inv, c| {
                let slim = workload::from_cronjob(c, &mut inv.interner);
                inv.apply_workload(Collection::CronJobs, slim);
            },
            |inv, c| {
                let (ns, name) = name_of(c);
                inv.delete_workload(OwnerKind::CronJob, ns, name);
            },
        )),
        tokio::spawn(run::<HorizontalPodAutoscaler>(
            Api::all(client.clone()),
            Collection::Hpas,
            i.clone(),
            e.clone(),
            |inv, h| {
                if let Some(slim) = workload::from_hpa(h, &mut inv.interner) {
                    inv.apply_hpa(name_of(h).1, slim);
                }
            },
            |inv, h| {
                let (ns, name) = name_of(h);
                inv.delete_hpa(ns, name);
            },
        )),
        tokio::spawn(run::<PodDisruptionBudget>(
            Api::all(client.clone()),
            Collection::Pdbs,
            i.clone(),
            e.clone(),
            |inv, p| {
                let slim = workload::from_pdb(p, &mut inv.interner);
                inv.apply_pdb(slim);
            },
            |inv, p| {
                let (ns, name) = name_of(p);
                inv.delete_pdb(ns, name);
            },
        )),
        tokio::spawn(run::<StorageClass>(
            Api::all(client.clone()),
            Collection::StorageClasses,
            i.clone(),
            e.clone(),
            |inv, c| {
                let slim = storage::slim_class(c, &mut inv.interner);
                inv.apply_storage_class(slim);
            },
            |inv, c| inv.delete_storage_class(name_of(c).1),
        )),
        tokio::spawn(run::<PersistentVolume>(
            Api::all(client.clone()),
            Collection::PersistentVolumes,
            i.clone(),
            e.clone(),
            |inv, v| {
                let slim = storage::slim_volume(v, &mut inv.interner);
                inv.apply_volume(slim);
            },
            |inv, v| inv.delete_volume(name_of(v).1),
        )),
        tokio::spawn(run::<PersistentVolumeClaim>(
            Api::all(client.clone()),
            Collection::PersistentVolumeClaims,
            i.clone(),
            e.clone(),
            |inv, c| {
                let slim = storage::slim_claim(c, &mut inv.interner);
                inv.apply_claim(slim);
            },
            |inv, c| {
                let (ns, name) = name_of(c);
                inv.delete_claim(ns, name);
            },
        )),
        tokio::spawn(run::<Service>(
            Api::all(client.clone()),
            Collection::Services,
            i.clone(),
            e.clone(),
            |inv, s| {
                let slim = storage::slim_balancer(s, &mut inv.interner);
                inv.apply_service(s.metadata.uid.as_deref().unwrap_or_default(), slim);
            },
            |inv, s| inv.delete_service(s.metadata.uid.as_deref().unwrap_or_default()),
        )),
    ]
}
