//! What the cluster pays for beside its nodes, as the watches deliver it:
//! StorageClasses, PersistentVolumes, PersistentVolumeClaims and Services of
//! type LoadBalancer, and their join into [`SlimResource`]s, one per thing
//! that costs money while it exists.
//!
//! The join lives here, not in allocation, because it is the inventory's
//! view at one instant (a claim's namespace and labels, its class'
//! parameters); allocation integrates the views over the hour and prices
//! them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::inventory::Collection;

type Labels = Arc<[(Arc<str>, Arc<str>)]>;

/// A StorageClass: the provisioner and parameters its volumes were made with.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlimStorageClass {
    pub name: Arc<str>,
    pub provisioner: Arc<str>,
    pub parameters: Arc<BTreeMap<String, String>>,
}

/// A PersistentVolume's phase (`status.phase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumePhase {
    #[default]
    Pending,
    Available,
    Bound,
    Released,
    Failed,
}

impl VolumePhase {
    pub fn parse(text: &str) -> VolumePhase {
        match text {
            "Available" => VolumePhase::Available,
            "Bound" => VolumePhase::Bound,
            "Released" => VolumePhase::Released,
            "Failed" => VolumePhase::Failed,
            _ => VolumePhase::Pending,
        }
    }
}

/// A PersistentVolume: the disk behind it and who claims it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlimVolume {
    pub name: Arc<str>,
    pub created: Option<DateTime<Utc>>,
    /// `spec.capacity.storage`: the size the disk is provisioned (and billed) at.
    pub capacity_bytes: i64,
    /// The CSI driver, the in-tree plugin's provisioner name
    /// (`kubernetes.io/gce-pd`, `kubernetes.io/aws-ebs`, `kubernetes.io/azure-disk`),
    /// or `local`/`hostPath` for space on a node.
    pub driver: Arc<str>,
    /// The CSI volume attributes (and an in-tree disk's `type`, when set).
    pub attributes: BTreeMap<String, String>,
    /// The cloud's id of the disk (`spec.csi.volumeHandle`, an in-tree
    /// `pdName`/`volumeID`/`diskURI`): what a billing export names it by.
    pub handle: Option<Arc<str>>,
    pub storage_class: Option<Arc<str>>,
    pub phase: VolumePhase,
    /// `spec.claimRef`: (namespace, name); kept after the claim is deleted
    /// (a Released volume still names it).
    pub claim: Option<(Arc<str>, Arc<str>)>,
    /// `topology.kubernetes.io/region` of the volume, or the zones of its
    /// node affinity (a regional disk has two).
    pub region: Option<Arc<str>>,
    pub zones: Vec<Arc<str>>,
}

/// A PersistentVolumeClaim: the namespace and labels that say whose a volume is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlimClaim {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    pub labels: Labels,
    /// `spec.volumeName` once bound.
    pub volume: Option<Arc<str>>,
}

/// A Service of type LoadBalancer that the cloud has provisioned (its
/// `status.loadBalancer.ingress` is set): other Services cost nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlimBalancer {
    pub uid: Arc<str>,
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    pub labels: Labels,
    pub created: Option<DateTime<Utc>>,
    /// The first ingress IP or hostname: what a billing export names the
    /// balancer's forwarding rule or load balancer by.
    pub ingress: Arc<str>,
    /// `spec.loadBalancerClass` (`service.k8s.aws/nlb`, …).
    pub class: Option<Arc<str>>,
    /// Annotations that choose the kind of balancer a cloud provisions.
    pub annotations: Arc<BTreeMap<String, String>>,
}

/// Service annotations that choose what kind of load balancer a cloud
/// provisions, and so its price.
pub const BALANCER_ANNOTATIONS: [&str; 3] = [
    "service.beta.kubernetes.io/aws-load-balancer-type",
    "networking.gke.io/load-balancer-type",
    "service.beta.kubernetes.io/azure-load-balancer-internal",
];

/// What kind of thing a [`SlimResource`] is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum BilledKind {
    #[default]
    Disk,
    LoadBalancer,
}

impl BilledKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BilledKind::Disk => "disk",
            BilledKind::LoadBalancer => "load_balancer",
        }
    }
}

/// One thing beside the nodes that costs money while it exists, with
/// everything its bill depends on, joined at one instant. Versions of it
/// are logged to the write-ahead log as JSON, so a field added later needs
/// a default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SlimResource {
    pub kind: BilledKind,
    /// The volume's name, or the Service's UID.
    pub id: Arc<str>,
    /// The volume's name, or the Service's name.
    pub name: Arc<str>,
    /// The claim's or the Service's namespace; none for a volume nobody
    /// claims.
    pub namespace: Option<Arc<str>>,
    pub claim: Option<Arc<str>>,
    /// Whether the claim a volume names still exists and is bound to it: a
    /// Released volume names a deleted claim.
    pub claimed: bool,
    /// The claim's or the Service's labels (tenant rules read them as a
    /// pod's).
    pub labels: Labels,
    pub phase: Option<VolumePhase>,
    pub created: Option<DateTime<Utc>>,
    pub size_bytes: i64,
    pub storage_class: Option<Arc<str>>,
    /// The volume's driver (or, when the volume does not name one, its
    /// class' provisioner).
    pub driver: Arc<str>,
    /// The class' parameters overlaid with the volume's attributes (only
    /// those that price a disk, [`crate::pricing::DISK_PARAMETERS`]), or a
    /// balancer's annotations that choose its kind. Shared with the class
    /// when the volume adds none: thousands of volumes hold one map.
    pub parameters: Arc<BTreeMap<String, String>>,
    /// The disk's id or the balancer's ingress address.
    pub handle: Option<Arc<str>>,
    pub region: Option<Arc<str>>,
    pub zones: Vec<Arc<str>>,
    pub balancer_class: Option<Arc<str>>,
}

/// The storage and load balancers of the cluster, as watched.
#[derive(Debug, Default)]
pub struct Storage {
    classes: HashMap<Arc<str>, Arc<SlimStorageClass>>,
    volumes: HashMap<Arc<str>, Arc<SlimVolume>>,
    claims: HashMap<(Arc<str>, Arc<str>), Arc<SlimClaim>>,
    balancers: HashMap<Arc<str>, Arc<SlimBalancer>>,
    /// Bumped on every change, so the joined view is rebuilt only then.
    generation: u64,
}

impl Storage {
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn apply_class(&mut self, class: SlimStorageClass) {
        self.generation += 1;
        self.classes.insert(class.name.clone(), Arc::new(class));
    }

    pub fn delete_class(&mut self, name: &str) {
        self.generation += 1;
        self.classes.remove(name);
    }

    pub fn apply_volume(&mut self, volume: SlimVolume) {
        self.generation += 1;
        self.volumes.insert(volume.name.clone(), Arc::new(volume));
    }

    pub fn delete_volume(&mut self, name: &str) {
        self.generation += 1;
        self.volumes.remove(name);
    }

    pub fn apply_claim(&mut self, claim: SlimClaim) {
        self.generation += 1;
        let key = (claim.namespace.clone(), claim.name.clone());
        self.claims.insert(key, Arc::new(claim));
    }

    pub fn delete_claim(&mut self, namespace: &str, name: &str) {
        self.generation += 1;
        self.claims
            .retain(|(ns, n), _| !(&**ns == namespace && &**n == name));
    }

    /// A Service changed: kept while it is a provisioned load balancer.
    pub fn apply_balancer(&mut self, uid: &str, balancer: Option<SlimBalancer>) {
        self.generation += 1;
        match balancer {
            Some(balancer) => {
                self.balancers
                    .insert(balancer.uid.clone(), Arc::new(balancer));
            }
            None => {
                self.balancers.remove(uid);
            }
        }
    }

    /// Drops what a completed re-list of `collection` did not contain
    /// (keys: class and volume names, `namespace/name` of claims, Service UIDs).
    pub fn relist_done(&mut self, collection: Collection, seen: &HashSet<String>) {
        self.generation += 1;
        match collection {
            Collection::StorageClasses => self.classes.retain(|k, _| seen.contains(&**k)),
            Collection::PersistentVolumes => self.volumes.retain(|k, _| seen.contains(&**k)),
            Collection::PersistentVolumeClaims => self
                .claims
                .retain(|(ns, name), _| seen.contains(&format!("{ns}/{name}"))),
            Collection::Services => self.balancers.retain(|k, _| seen.contains(&**k)),
            _ => {}
        }
    }

    pub fn volume_count(&self) -> usize {
        self.volumes.len()
    }

    pub fn claim_count(&self) -> usize {
        self.claims.len()
    }

    /// Every volume and provisioned load balancer, joined with its claim and
    /// class, sorted by id.
    pub fn resources(&self) -> Vec<SlimResource> {
        let mut out: Vec<SlimResource> = self
            .volumes
            .values()
            .map(|volume| self.join_volume(volume))
            .chain(
                self.balancers
                    .values()
                    .map(|balancer| balancer_resource(balancer)),
            )
            .collect();
        out.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
        out
    }

    fn join_volume(&self, volume: &SlimVolume) -> SlimResource {
        let claim = volume.claim.as_ref().and_then(|(ns, name)| {
            self.claims
                .get(&(ns.clone(), name.clone()))
                .filter(|c| c.volume.as_deref().is_none_or(|v| v == &*volume.name))
        });
        let class = volume
            .storage_class
            .as_ref()
            .and_then(|name| self.classes.get(name));
        let parameters = match class {
            Some(class) if volume.attributes.is_empty() => class.parameters.clone(),
            _ => {
                let mut merged = class.map(|c| (*c.parameters).clone()).unwrap_or_default();
                merged.extend(
                    volume
                        .attributes
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
                Arc::new(merged)
            }
        };
        let driver = if volume.driver.is_empty() {
            class.map(|c| c.provisioner.clone()).unwrap_or_default()
        } else {
            volume.driver.clone()
        };
        SlimResource {
            kind: BilledKind::Disk,
            id: volume.name.clone(),
            name: volume.name.clone(),
            namespace: volume.claim.as_ref().map(|(ns, _)| ns.clone()),
            claim: volume.claim.as_ref().map(|(_, name)| name.clone()),
            claimed: claim.is_some(),
            labels: claim.map(|c| c.labels.clone()).unwrap_or_default(),
            phase: Some(volume.phase),
            created: volume.created,
            size_bytes: volume.capacity_bytes,
            storage_class: volume.storage_class.clone(),
            driver,
            parameters,
            handle: volume.handle.clone(),
            region: volume.region.clone(),
            zones: volume.zones.clone(),
            balancer_class: None,
        }
    }
}

fn balancer_resource(balancer: &SlimBalancer) -> SlimResource {
    SlimResource {
        kind: BilledKind::LoadBalancer,
        id: balancer.uid.clone(),
        name: balancer.name.clone(),
        namespace: Some(balancer.namespace.clone()),
        claim: None,
        claimed: true,
        labels: balancer.labels.clone(),
        phase: None,
        created: balancer.created,
        size_bytes: 0,
        storage_class: None,
        driver: Arc::from(""),
        parameters: balancer.annotations.clone(),
        handle: Some(balancer.ingress.clone()),
        region: None,
        zones: Vec::new(),
        balancer_class: balancer.class.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: &str, claim: Option<(&str, &str)>, phase: VolumePhase) -> SlimVolume {
        SlimVolume {
            name: name.into(),
            capacity_bytes: 10 << 30,
            driver: "pd.csi.storage.gke.io".into(),
            attributes: BTreeMap::from([("type".to_owned(), "pd-ssd".to_owned())]),
            storage_class: Some("fast".into()),
            phase,
            claim: claim.map(|(ns, n)| (ns.into(), n.into())),
            ..SlimVolume::default()
        }
    }

    #[test]
    fn a_volume_takes_its_claims_namespace_and_labels_and_its_class_parameters() {
        let mut storage = Storage::default();
        storage.apply_class(SlimStorageClass {
            name: "fast".into(),
            provisioner: "pd.csi.storage.gke.io".into(),
            parameters: Arc::new(BTreeMap::from([
                ("type".to_owned(), "pd-balanced".to_owned()),
                ("replication-type".to_owned(), "regional-pd".to_owned()),
            ])),
        });
        storage.apply_claim(SlimClaim {
            namespace: "shop".into(),
            name: "data-db-0".into(),
            labels: Arc::new([("team".into(), "acme".into())]),
            volume: Some("pv-1".into()),
        });
        storage.apply_volume(volume(
            "pv-1",
            Some(("shop", "data-db-0")),
            VolumePhase::Bound,
        ));
        storage.apply_volume(volume(
            "pv-2",
            Some(("shop", "gone")),
            VolumePhase::Released,
        ));
        let resources = storage.resources();
        assert_eq!(resources.len(), 2);
        let bound = &resources[0];
        assert_eq!(bound.namespace.as_deref(), Some("shop"));
        assert!(bound.claimed);
        assert_eq!(bound.labels.to_vec(), vec![("team".into(), "acme".into())]);
        // The volume's own attribute wins over the class' parameter.
        assert_eq!(bound.parameters["type"], "pd-ssd");
        assert_eq!(bound.parameters["replication-type"], "regional-pd");
        let released = &resources[1];
        assert!(!released.claimed);
        assert_eq!(released.phase, Some(VolumePhase::Released));
    }

    #[test]
    fn a_relist_drops_what_it_did_not_see_and_every_change_moves_the_generation() {
        let mut storage = Storage::default();
        storage.apply_volume(volume("pv-1", None, VolumePhase::Available));
        storage.apply_volume(volume("pv-2", None, VolumePhase::Available));
        let before = storage.generation();
        storage.relist_done(
            Collection::PersistentVolumes,
            &HashSet::from(["pv-2".to_owned()]),
        );
        assert!(storage.generation() > before);
        let ids: Vec<String> = storage
            .resources()
            .iter()
            .map(|r| r.id.to_string())
            .collect();
        assert_eq!(ids, ["pv-2"]);
    }
}
