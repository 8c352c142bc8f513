//! The dataset as FOCUS 1.3 cost-and-usage rows with split cost
//! allocation, for FinOps tools that already hold the clouds' own FOCUS
//! exports.
//!
//! The decision that shapes it: each metered resource-hour (a node's vCPU,
//! memory or GPU for an hour, a disk, a load balancer, the cluster fee) is
//! written as the origin charge the cloud bills, split into one allocated
//! row per container that consumed it plus the unallocated remainder (the
//! node's idle capacity) — never the origin row beside them, which would
//! count it twice. The split is exact: amounts become 12-decimal fixed
//! point once, and the remainder takes what the rounding left
//! ([`split`]), so the rows of an origin add up to it to the last digit.
//!
//! [`rules`] holds every mapping rule, [`charges`] applies them, [`input`]
//! reads the dataset, [`cost`] decides the dollars and [`export`] runs it;
//! the file itself is `store::focus`'s.

pub mod charges;
pub mod cost;
pub mod export;
pub mod input;
pub mod rules;
pub mod split;

pub use crate::reconcile::CostBasis;
pub use cost::Pricing;
pub use export::{ExportError, Request, Summary, export};
pub use input::Window;
