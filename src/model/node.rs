//! What kubetally knows about a node before pricing it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::Quantity;

/// The cloud (or other source of prices) a node runs on.
///
/// `Other` keeps any provider a user prices with their own catalog rows
/// (an on-prem `providerID: "metal://…"` becomes `Other("metal")`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    Gcp,
    Aws,
    Azure,
    Other(String),
}

impl Provider {
    /// The provider's name in catalogs and in the dataset (`gcp`, `aws`, `azure`, …).
    pub fn as_str(&self) -> &str {
        match self {
            Provider::Gcp => "gcp",
            Provider::Aws => "aws",
            Provider::Azure => "azure",
            Provider::Other(name) => name,
        }
    }

    /// The provider named `name` (case-insensitive); unknown names are `Other`.
    pub fn from_name(name: &str) -> Provider {
        match name.to_ascii_lowercase().as_str() {
            "gcp" | "gce" | "gke" | "google" => Provider::Gcp,
            "aws" | "eks" => Provider::Aws,
            "azure" | "aks" => Provider::Azure,
            other => Provider::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a node is bought: the `capacity_type` column of every table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CapacityType {
    OnDemand,
    Spot,
    /// GCP's older spot offering: same price as spot, stopped after 24 h.
    Preemptible,
}

impl CapacityType {
    /// Every capacity type, in the order tables list them.
    pub const ALL: [CapacityType; 3] = [
        CapacityType::OnDemand,
        CapacityType::Spot,
        CapacityType::Preemptible,
    ];

    /// The name in the dataset and on the command line (`on_demand`, `spot`, `preemptible`).
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityType::OnDemand => "on_demand",
            CapacityType::Spot => "spot",
            CapacityType::Preemptible => "preemptible",
        }
    }
}

impl fmt::Display for CapacityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is none of the accepted values, with the accepted ones listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?} (expected one of: {expected})")]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub expected: &'static str,
}

impl FromStr for CapacityType {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<CapacityType, UnknownName> {
        match s {
            "on_demand" | "on-demand" | "ondemand" => Ok(CapacityType::OnDemand),
            "spot" => Ok(CapacityType::Spot),
            "preemptible" => Ok(CapacityType::Preemptible),
            _ => Err(UnknownName {
                what: "capacity type",
                given: s.to_owned(),
                expected: "on_demand, spot, preemptible",
            }),
        }
    }
}

/// The slice of a Kubernetes Node that pricing needs, and nothing more.
///
/// The collector keeps one per node for the life of the node; keeping the
/// whole `Node` object (images, conditions, managed fields) would cost tens of
/// kilobytes per node for nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeFacts {
    /// `metadata.name`.
    pub name: String,
    /// `spec.providerID` (`gce://project/zone/name`, `aws:///zone/id`, `azure:///…`).
    pub provider_id: Option<String>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `status.capacity.cpu`.
    pub cpu_capacity: Quantity,
    /// `status.capacity.memory`.
    pub memory_capacity: Quantity,
    /// Physical GPUs, from what the device plugin advertises in
    /// `status.capacity` and says in its labels ([`super::gpu::node_gpus`]):
    /// a time-sliced GPU advertised as four devices is one GPU here.
    pub gpu_capacity: u32,
    /// How those GPUs are shared out to containers.
    pub gpu_sharing: super::gpu::GpuSharing,
}
