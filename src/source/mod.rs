//! The edge that talks to the API server: watchers that keep the
//! [`crate::cluster::Inventory`] in sync, the projections from k8s-openapi
//! types into the [`crate::cluster`] slim types (so the rest of the crate
//! never holds a full API object), and the metrics.k8s.io client.

pub mod bounds;
pub mod metrics;
mod node;
pub mod pod;
pub mod storage;
pub mod watch;
pub mod workload;

pub use node::{SourceError, node_facts, node_facts_checked};
