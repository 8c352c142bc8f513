//! kubetally's integration tests: one binary, one module per area.
//!
//! Every function here is test code, helpers included: an `unwrap()` is an
//! assertion (clippy.toml allows it in `#[test]`s, which helpers are not).
#![allow(clippy::unwrap_used)]

mod autopilot;
mod bill_exports;
mod billing;
mod cli;
mod collect;
mod collect_faults;
mod collect_leader;
mod demo;
mod duckdb;
mod focus_export;
mod full_disk;
mod fuzz;
mod hostile_api;
mod hostile_files;
mod krr_fidelity;
mod mcp;
mod object_store;
mod pricing_cli;
mod pushdown;
mod quantity;
mod query;
mod query_cli;
mod rbac;
mod recommend_cli;
mod recommend_read;
mod reconcile;
mod report;
mod report_resources;
mod report_scan;
mod repricing;
mod resources;
mod schema;
mod serve;
mod sim;
mod sim_faults;
mod sim_storage;
mod soak;
mod support;
