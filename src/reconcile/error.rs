//! Why a reconciliation could not be made.

use std::path::PathBuf;

use crate::store::read::ReadError;

/// Why reading the dataset side of a reconciliation failed (the bill's
/// errors are [`crate::bill::BillError`]s, raised before this runs).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("reading the dataset")]
    Read(#[from] ReadError),
    #[error("{root}: no nodes were metered here (no nodes/cluster=… folder)")]
    NoData { root: PathBuf },
    #[error("the dataset holds several clusters ({found}): name one with --cluster")]
    SeveralClusters { found: String },
    #[error("the dataset holds no cluster {cluster} (it holds: {found})")]
    NoSuchCluster { cluster: String, found: String },
}
