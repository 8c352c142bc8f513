//! Slim projections of Kubernetes objects: what kubetally keeps of each
//! watched object, converted from k8s-openapi types at the edge so the rest of
//! the crate never holds a full API object.

mod node;

pub use node::{SourceError, node_facts};
