//! The pricing catalog and node classification: what a node costs per hour.
//!
//! A node's price is read, not estimated, wherever a catalog row exists:
//! the embedded catalog holds dated list prices with their sources
//! (`src/pricing/data/`), and a user's `--pricing FILE` in the same CSV format
//! overrides or extends it row by row. Everything else is a flagged fallback
//! (see [`PriceSource`]).
//!
//! What a cluster pays besides nodes — disks, load balancers, the cluster
//! fee, GKE Autopilot pods — has its own rows (`data/resources.csv`, same
//! provenance columns) and lookups ([`PriceBook::resources`]); a resource
//! without a row is a [`MissingPrice`], never zero.
//!
//! The flow is `NodeFacts` → [`classify`] → [`NodeClass`] → [`PriceBook::price`] → [`NodePrice`].

mod autopilot;
mod balancer;
mod book;
mod catalog;
mod classify;
mod file;
mod options;
mod resource_book;
mod resources;
mod shapes;
mod table;
mod volume;

pub use balancer::{balancer_sku, default_cluster_tier, provider_of_ingress, region_of_ingress};
pub use book::{
    HOURS_PER_MONTH, NodePrice, PriceBook, PriceBookError, PriceSource, reference_region,
    sustained_use_percent,
};
pub use catalog::{
    COLUMNS, CatalogError, CatalogProblem, PriceRow, PriceTier, RowOrigin, RowPrice, parse_catalog,
};
pub use classify::{NodeClass, classify, labels, region_of_zone};
pub use options::{DefaultRates, PricingOptions, SustainedUse};
pub use shapes::{MachineShape, ShapeTable, family_from_name, gce_custom_shape};

pub use autopilot::{
    AUTOPILOT_NODE_PREFIX, BilledRequests, Billing, COMPUTE_CLASS_SELECTOR, GENERAL_PURPOSE,
    PodRequests, RoundingRule, SPOT_SELECTOR, billed_requests, is_autopilot_node,
    is_system_namespace, pod_class,
};
pub use file::{PricingFile, parse_pricing_file};
pub use resource_book::{
    AutopilotRates, MissingPrice, REGIONAL_PD_REPLICAS, ResourcePrice, ResourcePrices, VolumeCost,
};
pub use resources::{
    Measure, RESOURCE_COLUMNS, ResourceKey, ResourceKind, ResourceRow, ResourceUnit,
    is_resource_file, parse_resources,
};
pub use volume::{
    CloudDisk, DISK_PARAMETERS, DiskClass, TypeFrom, azure_disk_tier, classify_disk, drivers,
    is_disk_parameter,
};
