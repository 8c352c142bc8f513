//! Plain domain types shared by every other module: quantities, nodes and the
//! words of the cost model. Nothing here does I/O, so everything above it can
//! be tested in microseconds.

pub mod fixed;
pub mod gpu;
pub mod histogram;
pub mod metered;
mod node;
pub mod provider_id;
mod quantity;
pub mod reserve;
pub mod sketch;
pub mod units;
pub mod usage;

pub use node::{CapacityType, NodeFacts, Provider, UnknownName};
pub use quantity::{ParseQuantityError, Quantity, QuantityErrorKind, QuantityFormat};
