//! kubetally meters what every Kubernetes pod asks for and uses, prices it by
//! the node it runs on, and writes it as columnar Parquet that any SQL engine
//! reads. See `README.md` for the tour and `docs/` for the contracts.
//!
//! Modules are roles; dependencies point down toward [`model`]. Each line
//! names everything a module imports (tests also borrow `sim`'s clock):
//!
//! - `cli`: every module below, and nothing imports it.
//! - `serve` → `collect`, `allocate`, `cluster`, `pricing`, `model`.
//! - `collect` → `source`, `store`, `allocate`, `cluster`, `pricing`.
//! - `mcp` (the Model Context Protocol server) → `analyze`, `recommend`,
//!   `store`, `pricing`, `allocate`, `collect`'s error line; its HTTP
//!   transport is rmcp's service mounted on axum, like `serve`.
//! - `analyze` → `store`, `allocate`, `model`.
//! - `reconcile` (cloud bill lines ↔ metered nodes, disks, balancers, fee)
//!   → `bill`, `store`, `model`.
//! - `recommend` → `store`, `pricing`, `model`.
//! - `store` → `allocate`, `cluster`, `pricing`.
//! - `allocate` → `cluster`, `pricing`, `model`.
//! - `source` (watchers; k8s-openapi types → slim ones) → `cluster`, `model`.
//! - `cluster` (slim projections, the inventory) → `model`.
//! - `pricing` → `model`; `sim` → `model`.
//! - `bill` (cloud billing exports → normalised lines; reads CSV, JSON and
//!   Parquet itself, so it imports arrow/parquet like `store`) imports no
//!   other module.
//! - `model` imports none.

pub mod allocate;
#[cfg(feature = "analyze")]
pub mod analyze;
pub mod bill;
pub mod cli;
pub mod cluster;
pub mod collect;
pub mod focus;
#[cfg(feature = "analyze")]
pub mod mcp;
pub mod model;
pub mod pricing;
pub mod recommend;
pub mod reconcile;
pub mod serve;
pub mod sim;
pub mod source;
pub mod store;

/// The allocator the `kubetally` binary (and the benchmarks measuring it)
/// runs on: mimalloc. A 150,000-pod tick frees ~600,000 small strings and
/// vectors; glibc's malloc spent a quarter of the tick consolidating them.
pub use mimalloc::MiMalloc as Allocator;
