//! The pricing catalog and node classification: what a node costs per hour.
//!
//! A node's price is read, not estimated, wherever a catalog row exists:
//! the embedded catalog holds dated list prices with their sources
//! (`src/pricing/data/`), and a user's `--pricing FILE` in the same CSV format
//! overrides or extends it row by row. Everything else is a flagged fallback
//! (see [`PriceSource`]).
//!
//! The flow is `NodeFacts` → [`classify`] → [`NodeClass`] → [`PriceBook::price`] → [`NodePrice`].

mod book;
mod catalog;
mod classify;
mod options;
mod shapes;

pub use book::{
    HOURS_PER_MONTH, NodePrice, PriceBook, PriceBookError, PriceSource, reference_region,
    sustained_use_percent,
};
pub use catalog::{
    COLUMNS, CatalogError, CatalogProblem, PriceRow, PriceTier, RowOrigin, RowPrice, parse_catalog,
};
pub use classify::{NodeClass, classify, labels};
pub use options::{DefaultRates, PricingOptions, SustainedUse};
pub use shapes::{MachineShape, ShapeTable, family_from_name, gce_custom_shape};
