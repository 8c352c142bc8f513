//! kubetally's integration tests: one binary, one module per area.

mod collect;
mod pricing_cli;
mod quantity;
mod schema;
mod sim;
mod sim_faults;
mod support;
