//! What kubetally metered that a cloud bill also charges for: a node's
//! hour, a disk's, a load balancer's, the cluster fee's — each with the id
//! its cloud bills it by and its cost at list prices.
//!
//! The type sits here, below both its users, because two modules that may
//! not know each other need it: `reconcile` reads it from the dataset and
//! matches bill lines to it, and `sim` writes the bill a simulated cluster
//! would get from it.

/// What kind of metered resource a [`Metered`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MeteredKind {
    Node,
    Disk,
    LoadBalancer,
    ClusterFee,
}

impl MeteredKind {
    /// The name the dataset writes (`nodes` rows are `node`; the others
    /// are `resources.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            MeteredKind::Node => "node",
            MeteredKind::Disk => "disk",
            MeteredKind::LoadBalancer => "load_balancer",
            MeteredKind::ClusterFee => "cluster_fee",
        }
    }

    /// The kind `resources.kind` names.
    pub fn from_resource_kind(kind: &str) -> Option<MeteredKind> {
        Some(match kind {
            "disk" => MeteredKind::Disk,
            "load_balancer" => MeteredKind::LoadBalancer,
            "cluster_fee" => MeteredKind::ClusterFee,
            _ => return None,
        })
    }
}

/// A list cost in the parts GCP bills a VM in (separate core, RAM and GPU
/// lines); a disk, balancer or fee holds its whole cost in
/// [`MeteredCost::other_usd`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MeteredCost {
    pub cpu_usd: f64,
    pub memory_usd: f64,
    pub gpu_usd: f64,
    /// Everything not in the three parts: a disk's, balancer's or fee's
    /// whole cost.
    pub other_usd: f64,
}

impl MeteredCost {
    pub fn total_usd(&self) -> f64 {
        self.cpu_usd + self.memory_usd + self.gpu_usd + self.other_usd
    }
}

/// One metered resource over one clock hour (the dataset's grain).
#[derive(Debug, Clone, PartialEq)]
pub struct Metered {
    pub kind: MeteredKind,
    /// Start of the clock hour, seconds since the Unix epoch (UTC).
    pub hour_unix_s: i64,
    /// kubetally's id: the node's name, the PersistentVolume's name, the
    /// Service's UID, `cluster_fee`.
    pub resource_id: String,
    /// The node's or volume's name, the Service's name, the fee tier.
    pub resource_name: String,
    /// What the cloud names it by: the node's `spec.providerID`, the
    /// disk's volume handle, the balancer's ingress IP or hostname; empty
    /// for the fee and for nodes the dataset holds no providerID of.
    pub provider_id: String,
    /// gcp, aws, azure, or another provider name.
    pub provider: String,
    pub region: String,
    pub zone: String,
    /// The machine family of a node (`e2`, `m5`), the price sku of a
    /// resource (`pd-balanced`, `forwarding_rule`, `standard`).
    pub family: String,
    /// Seconds it existed within the hour.
    pub running_seconds: f64,
    /// A disk's size; `None` for other kinds.
    pub size_gib: Option<f64>,
    pub cost: MeteredCost,
}
