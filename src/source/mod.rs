//! Slim projections of Kubernetes objects: what kubetally keeps of each
//! watched object, converted from k8s-openapi types at the edge so the rest of
//! the crate never holds a full API object.

pub mod intern;
pub mod inventory;
pub mod metrics;
mod node;
pub mod pod;
pub mod watch;
pub mod workload;

pub use inventory::{Collection, Inventory, SlimNode, WorkloadKey};
pub use node::{SourceError, node_facts};
pub use pod::{OwnerKind, OwnerRef, SlimContainer, SlimPod};
