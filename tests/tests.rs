//! kubetally's integration tests: one binary, one module per area.

mod pricing_cli;
mod quantity;
mod schema;
mod sim;
