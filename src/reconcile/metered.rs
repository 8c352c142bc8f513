//! What the dataset metered, read back as [`Metered`] resources: the
//! `nodes` rows (with their `provider_id`) and the `resources` rows (disks
//! by volume handle, balancers by ingress, the cluster fee).

use std::path::Path;

use super::ReconcileError;
use crate::model::metered::{Metered, MeteredCost, MeteredKind};
use crate::store::read::{self, Columns, Filter, Select};
use crate::store::schema::col;

const NODES: Select<'static> = Select::columns(&[
    col::START_TIME,
    col::NODE,
    col::PROVIDER,
    col::REGION,
    col::ZONE,
    col::PROVIDER_ID,
    col::MACHINE_FAMILY,
    col::RUNNING_SECONDS,
    col::CPU_COST_USD,
    col::MEMORY_COST_USD,
    col::GPU_COST_USD,
]);

const RESOURCES: Select<'static> = Select::columns(&[
    col::START_TIME,
    col::KIND,
    col::RESOURCE_ID,
    col::RESOURCE_NAME,
    col::PROVIDER_RESOURCE_ID,
    col::PROVIDER,
    col::REGION,
    col::SKU,
    col::SIZE_GIB,
    col::RUNNING_SECONDS,
    col::COST_USD,
]);

/// The cluster to reconcile: `wanted`, else the dataset's only one.
///
/// # Errors
///
/// The dataset cannot be listed, holds no cluster, holds several and none
/// was named, or does not hold the one named.
pub fn cluster(root: &Path, wanted: Option<&str>) -> Result<String, ReconcileError> {
    let clusters = read::clusters(root, "nodes")?;
    match (wanted, clusters.as_slice()) {
        (Some(name), _) if clusters.iter().any(|c| c == name) => Ok(name.to_owned()),
        (Some(name), _) => Err(ReconcileError::NoSuchCluster {
            cluster: name.to_owned(),
            found: clusters.join(", "),
        }),
        (None, [only]) => Ok(only.clone()),
        (None, []) => Err(ReconcileError::NoData {
            root: root.to_owned(),
        }),
        (None, _) => Err(ReconcileError::SeveralClusters {
            found: clusters.join(", "),
        }),
    }
}

/// Every node-hour and resource-hour of `cluster` in the dataset at `root`.
///
/// # Errors
///
/// A file cannot be read or lacks a column ([`ReconcileError::Read`]).
pub fn read(root: &Path, cluster: &str) -> Result<Vec<Metered>, ReconcileError> {
    let filter = Filter {
        cluster: Some(cluster.to_owned()),
        ..Filter::default()
    };
    let mut out = Vec::new();
    for file in read::files(root, "nodes", &filter)? {
        for batch in read::open(&file.path, &NODES)? {
            nodes(batch?.columns(), &mut out)?;
        }
    }
    for file in read::files(root, "resources", &filter)? {
        for batch in read::open(&file.path, &RESOURCES)? {
            resources(batch?.columns(), &mut out)?;
        }
    }
    Ok(out)
}

fn nodes(batch: Columns<'_>, out: &mut Vec<Metered>) -> Result<(), ReconcileError> {
    let start = batch.millis(col::START_TIME)?;
    let node = batch.text(col::NODE)?;
    let provider = batch.text(col::PROVIDER)?;
    let region = batch.text(col::REGION)?;
    let zone = batch.text(col::ZONE)?;
    // Files written before the column existed: matched by node name (GKE).
    let provider_id = match batch.has(col::PROVIDER_ID) {
        true => Some(batch.text(col::PROVIDER_ID)?),
        false => None,
    };
    let family = batch.text(col::MACHINE_FAMILY)?;
    let running = batch.floats(col::RUNNING_SECONDS)?;
    let cpu = batch.floats(col::CPU_COST_USD)?;
    let memory = batch.floats(col::MEMORY_COST_USD)?;
    let gpu = batch.floats(col::GPU_COST_USD)?;
    for row in 0..batch.rows() {
        out.push(Metered {
            kind: MeteredKind::Node,
            hour_unix_s: start.get(row).unwrap_or_default().div_euclid(1000),
            resource_id: node.get(row).to_owned(),
            resource_name: node.get(row).to_owned(),
            provider_id: provider_id
                .map(|p| p.get(row).to_owned())
                .unwrap_or_default(),
            provider: provider.get(row).to_owned(),
            region: region.get(row).to_owned(),
            zone: zone.get(row).to_owned(),
            family: family.get(row).to_owned(),
            running_seconds: running.get(row).unwrap_or_default(),
            size_gib: None,
            cost: MeteredCost {
                cpu_usd: cpu.get(row).unwrap_or_default(),
                memory_usd: memory.get(row).unwrap_or_default(),
                gpu_usd: gpu.get(row).unwrap_or_default(),
                other_usd: 0.0,
            },
        });
    }
    Ok(())
}

fn resources(batch: Columns<'_>, out: &mut Vec<Metered>) -> Result<(), ReconcileError> {
    let start = batch.millis(col::START_TIME)?;
    let kind = batch.text(col::KIND)?;
    let id = batch.text(col::RESOURCE_ID)?;
    let name = batch.text(col::RESOURCE_NAME)?;
    let provider_id = batch.text(col::PROVIDER_RESOURCE_ID)?;
    let provider = batch.text(col::PROVIDER)?;
    let region = batch.text(col::REGION)?;
    let sku = batch.text(col::SKU)?;
    let size = batch.floats(col::SIZE_GIB)?;
    let running = batch.floats(col::RUNNING_SECONDS)?;
    let cost = batch.floats(col::COST_USD)?;
    for row in 0..batch.rows() {
        let Some(kind) = MeteredKind::from_resource_kind(kind.get(row)) else {
            continue;
        };
        out.push(Metered {
            kind,
            hour_unix_s: start.get(row).unwrap_or_default().div_euclid(1000),
            resource_id: id.get(row).to_owned(),
            resource_name: name.get(row).to_owned(),
            provider_id: provider_id.get(row).to_owned(),
            provider: provider.get(row).to_owned(),
            region: region.get(row).to_owned(),
            zone: String::new(),
            family: sku.get(row).to_owned(),
            running_seconds: running.get(row).unwrap_or_default(),
            size_gib: size.get(row),
            cost: MeteredCost {
                other_usd: cost.get(row).unwrap_or_default(),
                ..MeteredCost::default()
            },
        });
    }
    Ok(())
}
