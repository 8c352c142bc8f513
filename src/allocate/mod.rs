//! The cost model: integrate requests and usage per container and clock
//! hour, price them at the node's unit prices, and leave what no container
//! is charged as the node's idle cost (see `docs/cost-model.md`).

pub mod autopilot;
pub mod fit;
pub mod hour;
pub mod resources;
pub mod runs;
pub mod tenant;
pub mod workloads;

pub use hour::{
    AllocationRow, Events, HourBook, HourRows, HourSamples, NodePoint, NodeRow, PodVersion, Sample,
    SampleContext, hour_of, sort_allocation, spans, tenant_of, window_hour,
};
pub use resources::{
    CLUSTER_FEE, ResourceCost, ResourceHour, ResourceVersion, Whereabouts, hourly_now,
    resource_costs,
};
pub use runs::{SampleKey, SampleRuns, SortedSamples, sample_key};
pub use tenant::{Pattern, SHARED, TenantMapError, TenantRules, parse_tenant_map};
pub use workloads::{WorkloadRow, sort_workloads, workload_rows};
