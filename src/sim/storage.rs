//! Disks of the simulated cluster: the StorageClasses of each cloud, the
//! claims workloads make, the PersistentVolumes CSI drivers provision for
//! them, and what happens to them over simulated time (claims created,
//! expanded and deleted; volumes released and reclaimed).
//!
//! The decision that shapes it: a volume's cloud and zone follow the node
//! its consumer runs on, read from the node object as a CSI provisioner
//! reads the selected node's topology (`WaitForFirstConsumer`), so a
//! postgres pod on the EKS pool gets an EBS volume in its node's zone and one
//! on a GKE node a persistent disk. Every draw comes from this module's own
//! RNG stream, so adding storage leaves the rest of a seed's cluster (its
//! pods, usage and changes) exactly as it was.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::cluster::Rng;
use super::etcd::{Etcd, EtcdError, uid_for};
use super::objects::timestamp;
use super::resources::{
    NODES, PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES, PODS, STORAGE_CLASSES,
};
use super::selector::{FieldSelector, LabelSelector};

/// The cloud a node or a volume belongs to, from the node's `providerID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Gcp,
    Aws,
    Azure,
}

/// A StorageClass the cluster offers.
#[derive(Debug)]
pub struct Class {
    pub name: &'static str,
    /// The cloud whose CSI driver provisions it; `None` for static local volumes.
    pub cloud: Option<Cloud>,
    pub provisioner: &'static str,
    pub parameters: &'static [(&'static str, &'static str)],
    pub reclaim_policy: &'static str,
    /// `Immediate` binding: provisioned as soon as claimed, in a zone of the
    /// provisioner's choosing; otherwise `WaitForFirstConsumer`.
    pub immediate: bool,
    pub expandable: bool,
    pub default: bool,
}

const PD: &str = "pd.csi.storage.gke.io";
const EBS: &str = "ebs.csi.aws.com";
const AZURE_DISK: &str = "disk.csi.azure.com";

/// The classes GKE, EKS and AKS install (GKE's `standard-rwo` is the
/// default), plus a regional PD class and the usual static local class.
pub const CLASSES: [Class; 8] = [
    Class {
        name: "standard-rwo",
        cloud: Some(Cloud::Gcp),
        provisioner: PD,
        parameters: &[("type", "pd-balanced")],
        reclaim_policy: "Delete",
        immediate: false,
        expandable: true,
        default: true,
    },
    Class {
        name: "premium-rwo",
        cloud: Some(Cloud::Gcp),
        provisioner: PD,
        parameters: &[("type", "pd-ssd")],
        reclaim_policy: "Delete",
        immediate: false,
        expandable: true,
        default: false,
    },
    // GKE's older default: immediate binding, in a zone the driver picks.
    Class {
        name: "standard",
        cloud: Some(Cloud::Gcp),
        provisioner: PD,
        parameters: &[("type", "pd-standard")],
        reclaim_policy: "Delete",
        immediate: true,
        expandable: true,
        default: false,
    },
    Class {
        name: "regional-balanced",
        cloud: Some(Cloud::Gcp),
        provisioner: PD,
        parameters: &[("type", "pd-balanced"), ("replication-type", "regional-pd")],
        reclaim_policy: "Retain",
        immediate: false,
        expandable: true,
        default: false,
    },
    Class {
        name: "gp3",
        cloud: Some(Cloud::Aws),
        provisioner: EBS,
        parameters: &[("type", "gp3"), ("csi.storage.k8s.io/fstype", "ext4")],
        reclaim_policy: "Delete",
        immediate: false,
        expandable: true,
        default: false,
    },
    Class {
        name: "gp2",
        cloud: Some(Cloud::Aws),
        provisioner: EBS,
        parameters: &[("type", "gp2"), ("csi.storage.k8s.io/fstype", "ext4")],
        reclaim_policy: "Delete",
        immediate: false,
        expandable: false,
        default: false,
    },
    Class {
        name: "managed-csi",
        cloud: Some(Cloud::Azure),
        provisioner: AZURE_DISK,
        parameters: &[("skuName", "StandardSSD_LRS")],
        reclaim_policy: "Delete",
        immediate: false,
        expandable: true,
        default: false,
    },
    Class {
        name: "local-storage",
        cloud: None,
        provisioner: "kubernetes.io/no-provisioner",
        parameters: &[],
        reclaim_policy: "Delete",
        immediate: false,
        expandable: false,
        default: false,
    },
];

/// The class named `name` (one of [`CLASSES`]).
fn class(name: &str) -> &'static Class {
    CLASSES
        .iter()
        .find(|c| c.name == name)
        .unwrap_or(&CLASSES[0])
}

/// The StorageClass object.
pub fn class_object(class: &Class, created: DateTime<Utc>) -> Value {
    let parameters: serde_json::Map<String, Value> = class
        .parameters
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let mut object = json!({
        "metadata": {"name": class.name, "creationTimestamp": timestamp(created), "annotations": {}},
        "provisioner": class.provisioner,
        "parameters": parameters,
        "reclaimPolicy": class.reclaim_policy,
        "volumeBindingMode": if class.immediate { "Immediate" } else { "WaitForFirstConsumer" },
        "allowVolumeExpansion": class.expandable,
    });
    if class.default {
        object["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] =
            json!("true");
    }
    object
}

/// Where a volume lives: read from the node that consumes it (or drawn,
/// for a class that binds at once).
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    pub cloud: Cloud,
    /// GCP project, or Azure `subscriptions/<id>/resourceGroups/<group>`.
    pub account: String,
    pub region: String,
    pub zone: String,
    pub node: Option<String>,
}

impl Topology {
    /// The topology of a stored node object, as a CSI provisioner reads it.
    pub fn of_node(node: &Value) -> Option<Topology> {
        let labels = &node["metadata"]["labels"];
        let zone = labels["topology.kubernetes.io/zone"].as_str()?.to_owned();
        let region = labels["topology.kubernetes.io/region"].as_str()?.to_owned();
        let provider = node["spec"]["providerID"].as_str()?;
        let (cloud, account) = if let Some(rest) = provider.strip_prefix("gce://") {
            (Cloud::Gcp, rest.split('/').next()?.to_owned())
        } else if provider.starts_with("aws://") {
            (Cloud::Aws, String::new())
        } else if let Some(rest) = provider.strip_prefix("azure:///") {
            let parts: Vec<&str> = rest.split('/').take(4).collect();
            (Cloud::Azure, parts.join("/"))
        } else {
            return None;
        };
        Some(Topology {
            cloud,
            account,
            region,
            zone,
            node: node["metadata"]["name"].as_str().map(str::to_owned),
        })
    }
}

/// The CSI `volumeHandle` of a disk named `disk`, in each driver's format:
/// a PD's zonal or regional path, an EBS volume id, an Azure disk's ARM id.
pub fn volume_handle(topology: &Topology, regional: bool, disk: &str, rng: &mut Rng) -> String {
    match topology.cloud {
        Cloud::Gcp if regional => format!(
            "projects/{}/regions/{}/disks/{disk}",
            topology.account, topology.region
        ),
        Cloud::Gcp => format!(
            "projects/{}/zones/{}/disks/{disk}",
            topology.account, topology.zone
        ),
        Cloud::Aws => format!("vol-0{:016x}", rng.next_u64()),
        Cloud::Azure => format!(
            "/{}/providers/Microsoft.Compute/disks/{disk}",
            topology.account
        ),
    }
}

/// The node-affinity key each driver puts on the volumes it provisions.
fn zone_key(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Gcp => "topology.gke.io/zone",
        Cloud::Aws => "topology.ebs.csi.aws.com/zone",
        Cloud::Azure => "topology.disk.csi.azure.com/zone",
    }
}

/// The zones of a region the simulated clouds use (a regional PD spans two).
fn regional_zones(topology: &Topology) -> Vec<String> {
    let other = if topology.zone.ends_with('a') {
        format!("{}-b", topology.region)
    } else {
        format!("{}-a", topology.region)
    };
    let mut zones = vec![topology.zone.clone(), other];
    zones.sort();
    zones
}

/// A claim as the generator and the storage controller keep it.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub class: &'static str,
    pub gib: u64,
    pub labels: Value,
}

impl Claim {
    fn volume_name(&self) -> String {
        format!("pvc-{}", self.uid)
    }

    /// The claim before anything binds it: `Pending`.
    pub fn pending(&self, created: DateTime<Utc>) -> Value {
        let class = class(self.class);
        let mut annotations = json!({});
        if class.cloud.is_some() {
            annotations["volume.beta.kubernetes.io/storage-provisioner"] = json!(class.provisioner);
            annotations["volume.kubernetes.io/storage-provisioner"] = json!(class.provisioner);
        }
        json!({
            "metadata": {
                "name": self.name, "namespace": self.namespace, "uid": self.uid,
                "labels": self.labels, "annotations": annotations,
                "finalizers": ["kubernetes.io/pvc-protection"],
                "creationTimestamp": timestamp(created),
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": format!("{}Gi", self.gib)}},
                "storageClassName": self.class,
                "volumeMode": "Filesystem",
            },
            "status": {"phase": "Pending"},
        })
    }

    /// The claim bound to its volume, as the PV controller leaves it.
    pub fn bound(&self, created: DateTime<Utc>, node: Option<&str>) -> Value {
        let mut object = self.pending(created);
        let annotations = &mut object["metadata"]["annotations"];
        annotations["pv.kubernetes.io/bind-completed"] = json!("yes");
        annotations["pv.kubernetes.io/bound-by-controller"] = json!("yes");
        if let Some(node) = node {
            annotations["volume.kubernetes.io/selected-node"] = json!(node);
        }
        object["spec"]["volumeName"] = json!(self.volume_name());
        object["status"] = json!({
            "phase": "Bound", "accessModes": ["ReadWriteOnce"],
            "capacity": {"storage": format!("{}Gi", self.gib)},
        });
        object
    }

    /// The PersistentVolume the class's driver provisioned for the claim at
    /// `topology`, bound to it.
    pub fn volume(
        &self,
        topology: &Topology,
        created: DateTime<Utc>,
        rng: &mut Rng,
        reclaim_policy: Option<&str>,
    ) -> Value {
        let class = class(self.class);
        let regional = class
            .parameters
            .contains(&("replication-type", "regional-pd"));
        let zones = if regional {
            regional_zones(topology)
        } else {
            vec![topology.zone.clone()]
        };
        let name = self.volume_name();
        let handle = volume_handle(topology, regional, &name, rng);
        json!({
            "metadata": {
                "name": name, "creationTimestamp": timestamp(created),
                "annotations": {"pv.kubernetes.io/provisioned-by": class.provisioner, "volume.kubernetes.io/provisioner-deletion-secret-name": "", "volume.kubernetes.io/provisioner-deletion-secret-namespace": ""},
                "finalizers": ["external-provisioner.volume.kubernetes.io/finalizer", "kubernetes.io/pv-protection"],
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "capacity": {"storage": format!("{}Gi", self.gib)},
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": self.namespace, "name": self.name, "uid": self.uid},
                "csi": {"driver": class.provisioner, "fsType": "ext4", "volumeHandle": handle,
                        "volumeAttributes": {"storage.kubernetes.io/csiProvisionerIdentity": format!("1793000000000-{}-{}", 1000 + (created.timestamp() % 9000), class.provisioner)}},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": zone_key(topology.cloud), "operator": "In", "values": zones}]}]}},
                "persistentVolumeReclaimPolicy": reclaim_policy.unwrap_or(class.reclaim_policy),
                "storageClassName": self.class,
                "volumeMode": "Filesystem",
            },
            "status": {"phase": "Bound", "lastPhaseTransitionTime": timestamp(created)},
        })
    }
}

/// A statically provisioned local SSD on `node` (`kubernetes.io/no-provisioner`),
/// not claimed yet: `Available`.
pub fn local_volume(node: &str, created: DateTime<Utc>) -> Value {
    json!({
        "metadata": {"name": format!("local-pv-{node}-ssd0"), "creationTimestamp": timestamp(created),
                     "labels": {"kubernetes.io/hostname": node}, "finalizers": ["kubernetes.io/pv-protection"]},
        "spec": {
            "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "375Gi"},
            "local": {"path": "/mnt/disks/ssd0"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}},
            "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "local-storage", "volumeMode": "Filesystem",
        },
        "status": {"phase": "Available", "lastPhaseTransitionTime": timestamp(created)},
    })
}

/// A volume whose claim is gone: `Released`, its `claimRef` kept (the uid of
/// a claim that no longer exists), until an admin reclaims it.
fn released(mut volume: Value, at: DateTime<Utc>) -> Value {
    volume["status"] = json!({"phase": "Released", "lastPhaseTransitionTime": timestamp(at)});
    volume
}

/// What the storage controllers do at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    /// Someone creates, expands or deletes a claim.
    Round,
    /// An immediately bound claim gets its volume.
    Bind { claim: usize },
    /// The file system of an expanded volume has grown: the claim's status follows.
    Expanded { claim: usize },
    /// A `Delete` volume whose claim is gone is deleted with its disk.
    Reclaim { volume: String },
}

/// How long the simulated provisioner, resizer and reclaimer take.
const BIND_AFTER: Duration = Duration::seconds(3);
const EXPAND_AFTER: Duration = Duration::seconds(30);
const RECLAIM_AFTER: Duration = Duration::seconds(10);
/// Claims change this often (uniform, minutes).
const ROUND_MINUTES: (i64, i64) = (180, 480);
/// The class of claims made over time: GKE's immediate one, so a watch sees
/// them bind without a pod.
const CHURN_CLASS: &str = "standard";

/// The storage controllers' state: the claims they track and what happens next.
#[derive(Debug, Default)]
pub struct Volumes {
    queue: BinaryHeap<Reverse<(DateTime<Utc>, u64, usize)>>,
    changes: Vec<Change>,
    seq: u64,
    rng: Rng,
    /// Bound claims the churn may expand or delete (index is stable; `None` once deleted).
    claims: Vec<Option<Claim>>,
    claims_made: u64,
}

/// The tenants claims are made in over time.
const CHURN_NAMESPACES: [&str; 4] = ["acme", "globex", "initech", "umbrella"];

impl Volumes {
    pub fn new(seed: u64) -> Volumes {
        Volumes {
            rng: Rng::new(seed ^ 0x766f_6c75_6d65),
            ..Volumes::default()
        }
    }

    fn schedule(&mut self, at: DateTime<Utc>, change: Change) {
        self.seq += 1;
        self.changes.push(change);
        self.queue
            .push(Reverse((at, self.seq, self.changes.len() - 1)));
    }

    /// When the next change is due.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.queue.peek().map(|Reverse((at, ..))| *at)
    }

    fn claim(&mut self, namespace: &str, name: &str, class: &'static str, gib: u64) -> Claim {
        self.claims_made += 1;
        Claim {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: uid_for(PERSISTENT_VOLUME_CLAIMS, namespace, name, self.claims_made),
            class,
            gib,
            labels: json!({}),
        }
    }

    /// Writes the classes, the claims of every StatefulSet pod (bound in its
    /// node's cloud and zone; Pending while the pod is unscheduled), claims
    /// left behind by a scale-down, claims nothing consumes yet, volumes
    /// released by deleted claims, a local SSD, and `extra` more bound
    /// claims spread over the tenants; queues the churn.
    ///
    /// # Errors
    ///
    /// A [`EtcdError`] if the store refuses an object (a generator defect).
    pub fn generate(
        &mut self,
        store: &Etcd,
        nodes: &[String],
        now: DateTime<Utc>,
        extra: usize,
    ) -> Result<(), EtcdError> {
        let created = now - Duration::days(90);
        for class in &CLASSES {
            store.put(STORAGE_CLASSES, class_object(class, created))?;
        }
        let claimed = now - Duration::days(20);
        let selector =
            LabelSelector::parse("statefulset.kubernetes.io/pod-name").unwrap_or_default();
        let pods = store.list(PODS, None, &selector, &FieldSelector::default(), None, None);
        let mut first_of_set: Vec<(String, String, Option<Topology>)> = Vec::new();
        for pod in pods.items {
            let pod = pod.value();
            let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
            let app = pod["metadata"]["labels"]["app"]
                .as_str()
                .unwrap_or_default();
            let node = pod["spec"]["nodeName"].as_str();
            let topology = node
                .and_then(|n| store.get(NODES, "", n).ok())
                .and_then(|n| Topology::of_node(&n.value()));
            if !first_of_set
                .iter()
                .any(|(ns, a, _)| ns == namespace && a == app)
            {
                first_of_set.push((namespace.to_owned(), app.to_owned(), topology.clone()));
            }
            for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
                let Some(name) = volume["persistentVolumeClaim"]["claimName"].as_str() else {
                    continue;
                };
                let class = match topology.as_ref().map(|t| t.cloud) {
                    Some(Cloud::Aws) => "gp3",
                    _ => "standard-rwo",
                };
                let mut claim = self.claim(namespace, name, class, 20);
                claim.labels = json!({"app": app});
                self.bind_or_wait(store, claim, topology.as_ref(), claimed, None)?;
            }
        }
        // A StatefulSet scaled down keeps the claims of its removed
        // ordinals (persistentVolumeClaimRetentionPolicy whenScaled: Retain).
        for (namespace, app, topology) in first_of_set.iter().take(2) {
            let replicas = store
                .list(
                    PODS,
                    Some(namespace),
                    &LabelSelector::parse(&format!("app={app}")).unwrap_or_default(),
                    &FieldSelector::default(),
                    None,
                    None,
                )
                .items
                .len();
            let class = match topology.as_ref().map(|t| t.cloud) {
                Some(Cloud::Aws) => "gp3",
                _ => "standard-rwo",
            };
            let mut claim = self.claim(namespace, &format!("data-{app}-{replicas}"), class, 20);
            claim.labels = json!({"app": app});
            self.bind_or_wait(store, claim, topology.as_ref(), claimed, None)?;
        }
        let gcp_node = nodes
            .iter()
            .filter_map(|n| store.get(NODES, "", n).ok())
            .find_map(|n| Topology::of_node(&n.value()).filter(|t| t.cloud == Cloud::Gcp));
        let aws_node = nodes
            .iter()
            .filter_map(|n| store.get(NODES, "", n).ok())
            .find_map(|n| Topology::of_node(&n.value()).filter(|t| t.cloud == Cloud::Aws));
        // Claimed but never consumed: nothing binds a WaitForFirstConsumer
        // claim without a pod, and no driver in this cluster serves Azure disks.
        for (namespace, name, class, gib) in [
            ("hooli", "uploads", "standard-rwo", 50),
            ("wayne", "models", "managed-csi", 128),
        ] {
            let claim = self.claim(namespace, name, class, gib);
            store.put(
                PERSISTENT_VOLUME_CLAIMS,
                claim.pending(now - Duration::days(3)),
            )?;
        }
        if let Some(gcp) = &gcp_node {
            // Bound at once (an Immediate class), mounted by nothing.
            let mut topology = gcp.clone();
            topology.node = None;
            let archive = self.claim("initech", "reports-archive", "standard", 100);
            self.bind_or_wait(store, archive, Some(&topology), claimed, None)?;
            // The disk of a deleted database, kept by its Retain class.
            let old = self.claim("acme", "data-postgres-legacy-0", "regional-balanced", 50);
            let volume = old.volume(gcp, now - Duration::days(60), &mut self.rng, None);
            store.put(
                PERSISTENT_VOLUMES,
                released(volume, now - Duration::days(10)),
            )?;
            if let Some(node) = &gcp.node {
                store.put(PERSISTENT_VOLUMES, local_volume(node, created))?;
            }
        }
        if let Some(gcp) = &gcp_node {
            let mut topology = gcp.clone();
            topology.node = None;
            for n in 0..extra {
                let namespace = CHURN_NAMESPACES[n % CHURN_NAMESPACES.len()];
                let gib = [10, 20, 50, 100][n / CHURN_NAMESPACES.len() % 4];
                let claim = self.claim(namespace, &format!("scratch-{n:06}"), CHURN_CLASS, gib);
                self.bind_or_wait(store, claim, Some(&topology), claimed, None)?;
            }
        }
        if let Some(aws) = &aws_node {
            // A gp3 disk an admin patched to Retain before deleting its claim.
            let old = self.claim("stark", "backup-2026-10", "gp3", 200);
            let volume = old.volume(aws, now - Duration::days(40), &mut self.rng, Some("Retain"));
            store.put(
                PERSISTENT_VOLUMES,
                released(volume, now - Duration::days(5)),
            )?;
        }
        let (low, high) = ROUND_MINUTES;
        let first = low + self.rng.below((high - low) as usize + 1) as i64;
        self.schedule(now + Duration::minutes(first), Change::Round);
        Ok(())
    }

    /// Writes a claim bound to a new volume at `topology`, or Pending when it
    /// has none (its consumer is not scheduled), and tracks it.
    fn bind_or_wait(
        &mut self,
        store: &Etcd,
        claim: Claim,
        topology: Option<&Topology>,
        at: DateTime<Utc>,
        reclaim: Option<&str>,
    ) -> Result<(), EtcdError> {
        let Some(topology) = topology else {
            store.put(PERSISTENT_VOLUME_CLAIMS, claim.pending(at))?;
            return Ok(());
        };
        store.put(
            PERSISTENT_VOLUMES,
            claim.volume(topology, at, &mut self.rng, reclaim),
        )?;
        store.put(
            PERSISTENT_VOLUME_CLAIMS,
            claim.bound(at, topology.node.as_deref()),
        )?;
        self.claims.push(Some(claim));
        Ok(())
    }

    /// Applies the next change if it is due by `until`; returns whether one was.
    ///
    /// # Errors
    ///
    /// A [`EtcdError`] if the store refuses a write (a simulator defect).
    pub fn apply_next(&mut self, store: &Etcd, until: DateTime<Utc>) -> Result<bool, EtcdError> {
        if self.next_due().is_none_or(|at| at > until) {
            return Ok(false);
        }
        let Some(Reverse((at, _, index))) = self.queue.pop() else {
            return Ok(false);
        };
        match self.changes[index].clone() {
            Change::Round => self.round(store, at)?,
            Change::Bind { claim } => self.bind(store, claim, at)?,
            Change::Expanded { claim } => self.expanded(store, claim)?,
            Change::Reclaim { volume } => {
                store
                    .delete(PERSISTENT_VOLUMES, "", &volume)
                    .map(drop)
                    .or_else(gone)?;
            }
        }
        Ok(true)
    }

    /// One change to the tenants' claims: with fewer than two made so far
    /// a new one; otherwise a new one, an expansion or a deletion, alike.
    fn round(&mut self, store: &Etcd, at: DateTime<Utc>) -> Result<(), EtcdError> {
        let (low, high) = ROUND_MINUTES;
        let next = low + self.rng.below((high - low) as usize + 1) as i64;
        self.schedule(at + Duration::minutes(next), Change::Round);
        let churned: Vec<usize> = (0..self.claims.len())
            .filter(|&i| {
                self.claims[i]
                    .as_ref()
                    .is_some_and(|c| c.class == CHURN_CLASS && c.name.starts_with("export-"))
            })
            .collect();
        let draw = if churned.len() < 2 {
            0
        } else {
            self.rng.below(3)
        };
        match draw {
            0 => {
                let namespace = CHURN_NAMESPACES[self.rng.below(CHURN_NAMESPACES.len())];
                let name = format!("export-{}", self.claims_made + 1);
                let gib = [10, 20, 50][self.rng.below(3)];
                let claim = self.claim(namespace, &name, CHURN_CLASS, gib);
                store.put(PERSISTENT_VOLUME_CLAIMS, claim.pending(at))?;
                self.claims.push(Some(claim));
                let index = self.claims.len() - 1;
                self.schedule(at + BIND_AFTER, Change::Bind { claim: index });
            }
            1 => {
                // Any tracked claim whose class allows expansion: tenants'
                // exports and databases alike.
                let expandable: Vec<usize> = (0..self.claims.len())
                    .filter(|&i| {
                        self.claims[i]
                            .as_ref()
                            .is_some_and(|c| class(c.class).expandable)
                    })
                    .collect();
                if expandable.is_empty() {
                    return Ok(());
                }
                let index = expandable[self.rng.below(expandable.len())];
                self.expand(store, index, at)?;
            }
            _ => {
                let index = churned[self.rng.below(churned.len())];
                self.delete(store, index, at)?;
            }
        }
        Ok(())
    }

    /// The provisioner creates the claim's disk in a zone it picks and binds it.
    fn bind(&mut self, store: &Etcd, index: usize, at: DateTime<Utc>) -> Result<(), EtcdError> {
        let Some(claim) = self.claims.get(index).cloned().flatten() else {
            return Ok(());
        };
        let Ok(current) = store.get(PERSISTENT_VOLUME_CLAIMS, &claim.namespace, &claim.name) else {
            return Ok(());
        };
        let zone = ['a', 'b', 'c'][self.rng.below(3)];
        let topology = Topology {
            cloud: Cloud::Gcp,
            account: "kubetally-sim".into(),
            region: "us-central1".into(),
            zone: format!("us-central1-{zone}"),
            node: None,
        };
        store.put(
            PERSISTENT_VOLUMES,
            claim.volume(&topology, at, &mut self.rng, None),
        )?;
        let created = current.value()["metadata"]["creationTimestamp"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or(at, |t| t.with_timezone(&Utc));
        store
            .put(PERSISTENT_VOLUME_CLAIMS, claim.bound(created, None))
            .map(drop)
    }

    /// Online expansion by half again (whole GiB): the claim asks, the
    /// resizer grows the disk and the volume at once, and the claim waits
    /// for the kubelet to grow the file system (`FileSystemResizePending`).
    fn expand(&mut self, store: &Etcd, index: usize, at: DateTime<Utc>) -> Result<(), EtcdError> {
        let Some(Some(claim)) = self.claims.get_mut(index) else {
            return Ok(());
        };
        let Ok(current) = store.get(PERSISTENT_VOLUME_CLAIMS, &claim.namespace, &claim.name) else {
            return Ok(());
        };
        claim.gib += claim.gib.div_ceil(2);
        let size = json!(format!("{}Gi", claim.gib));
        let mut object = current.value();
        object["spec"]["resources"]["requests"]["storage"] = size.clone();
        object["status"]["allocatedResources"] = json!({"storage": size});
        object["status"]["conditions"] = json!([{"type": "FileSystemResizePending", "status": "True",
            "message": "Waiting for user to (re-)start a pod to finish file system resize of volume on node.",
            "lastTransitionTime": timestamp(at)}]);
        store.put(PERSISTENT_VOLUME_CLAIMS, object)?;
        if let Ok(volume) = store.get(PERSISTENT_VOLUMES, "", &claim.volume_name()) {
            let mut volume = volume.value();
            volume["spec"]["capacity"]["storage"] = size;
            store.put(PERSISTENT_VOLUMES, volume)?;
        }
        self.schedule(at + EXPAND_AFTER, Change::Expanded { claim: index });
        Ok(())
    }

    fn expanded(&mut self, store: &Etcd, index: usize) -> Result<(), EtcdError> {
        let Some(Some(claim)) = self.claims.get(index) else {
            return Ok(());
        };
        let Ok(current) = store.get(PERSISTENT_VOLUME_CLAIMS, &claim.namespace, &claim.name) else {
            return Ok(());
        };
        let mut object = current.value();
        let status = &mut object["status"];
        status["capacity"]["storage"] = json!(format!("{}Gi", claim.gib));
        if let Some(map) = status.as_object_mut() {
            map.remove("conditions");
            map.remove("allocatedResources");
        }
        store.put(PERSISTENT_VOLUME_CLAIMS, object).map(drop)
    }

    /// The tenant deletes a claim: its volume is Released, then deleted with
    /// its disk (the class's `Delete` policy).
    fn delete(&mut self, store: &Etcd, index: usize, at: DateTime<Utc>) -> Result<(), EtcdError> {
        let Some(claim) = self.claims.get_mut(index).and_then(Option::take) else {
            return Ok(());
        };
        store
            .delete(PERSISTENT_VOLUME_CLAIMS, &claim.namespace, &claim.name)
            .map(drop)
            .or_else(gone)?;
        let name = claim.volume_name();
        if let Ok(volume) = store.get(PERSISTENT_VOLUMES, "", &name) {
            store.put(PERSISTENT_VOLUMES, released(volume.value(), at))?;
            self.schedule(at + RECLAIM_AFTER, Change::Reclaim { volume: name });
        }
        Ok(())
    }
}

/// A write to an object someone else already deleted is not an error.
fn gone(error: EtcdError) -> Result<(), EtcdError> {
    match error {
        EtcdError::NotFound { .. } => Ok(()),
        other => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::cluster::{ClusterSpec, advance, epoch, generate};
    use crate::sim::etcd::{EventType, Stored};
    use crate::sim::resources::SERVICES;
    use std::sync::Arc;

    fn all(store: &Etcd, resource: super::super::resources::Resource) -> Vec<Value> {
        let page = store.list(
            resource,
            None,
            &LabelSelector::default(),
            &FieldSelector::default(),
            None,
            None,
        );
        page.items.iter().map(|s: &Arc<Stored>| s.value()).collect()
    }

    fn topology(cloud: Cloud, account: &str) -> Topology {
        Topology {
            cloud,
            account: account.into(),
            region: "us-central1".into(),
            zone: "us-central1-b".into(),
            node: None,
        }
    }

    #[test]
    fn volume_handles_follow_each_drivers_format() {
        let mut rng = Rng::new(1);
        let gcp = topology(Cloud::Gcp, "proj");
        assert_eq!(
            volume_handle(&gcp, false, "pvc-1", &mut rng),
            "projects/proj/zones/us-central1-b/disks/pvc-1"
        );
        assert_eq!(
            volume_handle(&gcp, true, "pvc-1", &mut rng),
            "projects/proj/regions/us-central1/disks/pvc-1"
        );
        let ebs = volume_handle(&topology(Cloud::Aws, ""), false, "pvc-1", &mut rng);
        assert!(ebs.starts_with("vol-0") && ebs.len() == 21, "{ebs}");
        assert!(ebs[4..].chars().all(|c| c.is_ascii_hexdigit()), "{ebs}");
        let azure = topology(Cloud::Azure, "subscriptions/s-1/resourceGroups/MC_rg");
        assert_eq!(
            volume_handle(&azure, false, "pvc-1", &mut rng),
            "/subscriptions/s-1/resourceGroups/MC_rg/providers/Microsoft.Compute/disks/pvc-1"
        );
    }

    #[test]
    fn a_nodes_cloud_and_zone_come_from_its_provider_id_and_labels() {
        let node = |provider: &str| {
            json!({"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "eastus-1", "topology.kubernetes.io/region": "eastus"}},
                   "spec": {"providerID": provider}})
        };
        let azure = Topology::of_node(&node(
            "azure:///subscriptions/s-1/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachineScaleSets/vmss/virtualMachines/0",
        ));
        assert_eq!(
            azure.map(|t| (t.cloud, t.account, t.zone)),
            Some((
                Cloud::Azure,
                "subscriptions/s-1/resourceGroups/mc_rg".to_owned(),
                "eastus-1".to_owned()
            ))
        );
        let gcp = Topology::of_node(&node("gce://my-project/us-central1-a/n1"));
        assert_eq!(
            gcp.map(|t| (t.cloud, t.account)),
            Some((Cloud::Gcp, "my-project".to_owned()))
        );
        assert_eq!(Topology::of_node(&node("kind://docker/n1")), None);
    }

    fn cluster(seed: u64) -> Result<(Etcd, crate::sim::ClusterModel), EtcdError> {
        let store = Etcd::new(1_000_000);
        let spec = ClusterSpec {
            seed,
            ..ClusterSpec::default()
        };
        let model = generate(&spec, &store)?;
        Ok((store, model))
    }

    #[test]
    fn extra_claims_are_bound_each_to_its_own_volume_and_nothing_else_changes()
    -> Result<(), EtcdError> {
        let (plain, _) = cluster(3)?;
        let store = Etcd::new(1_000_000);
        let spec = ClusterSpec {
            seed: 3,
            claims: 9,
            ..ClusterSpec::default()
        };
        generate(&spec, &store)?;
        let count = |store: &Etcd, resource| all(store, resource).len();
        assert_eq!(
            count(&store, PERSISTENT_VOLUME_CLAIMS),
            count(&plain, PERSISTENT_VOLUME_CLAIMS) + 9
        );
        assert_eq!(
            count(&store, PERSISTENT_VOLUMES),
            count(&plain, PERSISTENT_VOLUMES) + 9
        );
        let scratch: Vec<Value> = all(&store, PERSISTENT_VOLUME_CLAIMS)
            .into_iter()
            .filter(|c| {
                c["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("scratch-"))
            })
            .collect();
        assert_eq!(scratch.len(), 9);
        assert!(scratch.iter().all(|c| c["status"]["phase"] == "Bound"));
        assert_eq!(count(&store, PODS), count(&plain, PODS));
        Ok(())
    }

    #[test]
    fn every_statefulset_claim_is_bound_to_a_volume_in_its_pods_zone() -> Result<(), EtcdError> {
        let (store, _) = cluster(3)?;
        let classes = all(&store, STORAGE_CLASSES);
        assert_eq!(classes.len(), CLASSES.len());
        let defaults = classes
            .iter()
            .filter(|c| {
                c["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"]
                    == "true"
            })
            .count();
        assert_eq!(defaults, 1);
        let claims = all(&store, PERSISTENT_VOLUME_CLAIMS);
        let volumes = all(&store, PERSISTENT_VOLUMES);
        let mut mounted = 0;
        for pod in all(&store, PODS) {
            let Some(node) = pod["spec"]["nodeName"].as_str() else {
                continue;
            };
            for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
                let Some(name) = volume["persistentVolumeClaim"]["claimName"].as_str() else {
                    continue;
                };
                mounted += 1;
                let namespace = &pod["metadata"]["namespace"];
                let claim = claims
                    .iter()
                    .find(|c| {
                        c["metadata"]["name"] == name && c["metadata"]["namespace"] == *namespace
                    })
                    .unwrap_or_else(|| panic!("no claim {name} for {pod}"));
                assert_eq!(claim["status"]["phase"], "Bound", "{claim}");
                let pv = volumes
                    .iter()
                    .find(|v| v["metadata"]["name"] == claim["spec"]["volumeName"])
                    .unwrap_or_else(|| panic!("no volume for {claim}"));
                assert_eq!(pv["spec"]["claimRef"]["uid"], claim["metadata"]["uid"]);
                assert_eq!(pv["status"]["phase"], "Bound");
                let node = store.get(NODES, "", node)?.value();
                let zone = &node["metadata"]["labels"]["topology.kubernetes.io/zone"];
                let affinity = &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"]
                    [0];
                assert_eq!(affinity["values"], json!([zone]), "{pv}");
                let driver = if node["spec"]["providerID"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("aws"))
                {
                    EBS
                } else {
                    PD
                };
                assert_eq!(pv["spec"]["csi"]["driver"], driver, "{pv}");
            }
        }
        assert!(mounted >= 7, "{mounted} claims mounted");
        let phase = |items: &[Value], phase: &str| {
            items
                .iter()
                .filter(|i| i["status"]["phase"] == phase)
                .count()
        };
        assert!(phase(&claims, "Pending") >= 2, "{claims:?}");
        assert!(
            phase(&claims, "Bound") > mounted,
            "no unmounted bound claim"
        );
        assert_eq!(phase(&volumes, "Released"), 2);
        assert_eq!(phase(&volumes, "Available"), 1);
        assert!(volumes.iter().any(|v| {
            v["spec"]["csi"]["volumeHandle"]
                .as_str()
                .is_some_and(|h| h.contains("/regions/us-central1/"))
        }));
        let services = all(&store, SERVICES);
        let balancers: Vec<&Value> = services
            .iter()
            .filter(|s| s["spec"]["type"] == "LoadBalancer")
            .collect();
        assert_eq!(balancers.len(), 5);
        assert_eq!(
            balancers
                .iter()
                .filter(|s| s["status"]["loadBalancer"]["ingress"].is_null())
                .count(),
            1
        );
        assert!(services.len() > 20, "{} services", services.len());
        Ok(())
    }

    #[test]
    fn over_four_days_claims_are_created_bound_expanded_and_deleted_the_same_way_twice()
    -> Result<(), EtcdError> {
        let run = || -> Result<Vec<String>, EtcdError> {
            let (store, mut model) = cluster(5)?;
            let version = store.resource_version();
            advance(&mut model, &store, epoch() + Duration::days(4))?;
            let mut events = Vec::new();
            for resource in [PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES] {
                let (log, _) = store.watch_from(resource, version)?;
                for event in log {
                    let value = event.object.value();
                    let mut line = format!(
                        "{} {} {}",
                        resource.kind,
                        event.kind.as_str(),
                        event.object.name
                    );
                    if event.kind != EventType::Deleted {
                        line += &format!(
                            " {} {}",
                            value["status"]["phase"],
                            value["spec"]["resources"]["requests"]["storage"]
                        );
                    }
                    events.push(line);
                }
            }
            Ok(events)
        };
        let events = run()?;
        let has = |needle: &str| events.iter().any(|e| e.contains(needle));
        assert!(has("PersistentVolumeClaim ADDED export-"), "{events:#?}");
        assert!(
            has("PersistentVolumeClaim MODIFIED export-") && has("\"Bound\""),
            "{events:#?}"
        );
        assert!(has("PersistentVolumeClaim DELETED export-"), "{events:#?}");
        assert!(has("PersistentVolume DELETED pvc-"), "{events:#?}");
        assert!(has("\"Released\""), "{events:#?}");
        // An expansion: a claim modified with a request it did not have before.
        let resized = events.iter().any(|e| {
            e.starts_with("PersistentVolumeClaim MODIFIED")
                && !e.ends_with("\"10Gi\"")
                && !e.ends_with("\"20Gi\"")
                && !e.ends_with("\"50Gi\"")
        });
        assert!(resized, "{events:#?}");
        assert_eq!(events, run()?);
        Ok(())
    }
}
