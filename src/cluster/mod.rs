//! What kubetally knows of the cluster: slim projections of the watched
//! objects ([`SlimPod`], [`SlimNode`], [`SlimWorkload`], …) and the
//! [`Inventory`] that caches them, with owner resolution and the pods and
//! nodes that went away during the hour still being allocated.
//!
//! It sits between [`crate::model`] and everything that reads the cluster
//! (`allocate`, `store`, `serve`, `collect`), and below [`crate::source`],
//! which fills it from the API server. The split is the dependency rule:
//! only `source` speaks kube and k8s-openapi, so allocation, the
//! write-ahead log and `/metrics` build and test without an API server or
//! its types. It is not part of `model` because the inventory is state
//! with rules of its own (re-lists, retirement, interning), not a plain
//! domain value.

pub mod intern;
mod inventory;
pub mod pod;
pub mod storage;
pub mod workload;

pub use intern::Interner;
pub use inventory::{Collection, Inventory, SharedInventory, SlimNode, WorkloadKey, lock};
pub use pod::{ContainerResources, OwnerKind, OwnerRef, Phase, SlimContainer, SlimPod};
pub use storage::{
    BilledKind, SlimBalancer, SlimClaim, SlimResource, SlimStorageClass, SlimVolume, Storage,
    VolumePhase,
};
pub use workload::{SlimHpa, SlimPdb, SlimWorkload, TemplateContainer};
