//! Reconciliation with the cloud's own bill: which lines of a billing
//! export pay for which node, disk, load balancer and fee kubetally
//! metered, and what each really cost against its list price.
//!
//! The decision that shapes the module: matching is by the ids the cloud
//! and Kubernetes share ([`keys`]: a node's `providerID`, a volume handle,
//! a balancer's name), never by price or size, and always within one
//! period (the bill's hour, or its day) — names are reused when nodes are
//! re-created. Every line of the bill ends in one bucket ([`matching`]
//! lists them), so what is matched plus what is the cluster's but
//! unallocated adds up to the cluster's part of the bill to the cent.
//!
//! The output is the dataset's `reconciliation` table (written by `store`)
//! and a [`Summary`]; [`factors`] reads the table's factors (effective ÷
//! list) back to re-price reports, queries and exports at what was paid.

mod error;
pub mod factors;
pub mod keys;
mod matching;
pub mod metered;
mod period;
pub mod scope;
mod summary;

use chrono::NaiveDate;

pub use error::ReconcileError;
pub use factors::{CostBasis, Factors, FactorsError};
pub use matching::{Counts, Matched};
pub use period::Granularity;
pub use scope::{BillFilter, CLUSTER_LABELS, Scope};
pub use summary::{FileRead, Summary};

use crate::bill::Bill;
use crate::model::metered::Metered;
use crate::store::ReconciliationRow;

/// A reconciliation: its rows, and what it found.
#[derive(Debug)]
pub struct Reconciliation {
    pub rows: Vec<ReconciliationRow>,
    pub summary: Summary,
}

impl Reconciliation {
    /// The rows per UTC date of their period: the `reconciliation` table's
    /// partitions, each published (and replaced) whole.
    pub fn by_date(&self) -> Vec<(NaiveDate, Vec<ReconciliationRow>)> {
        let mut dates: Vec<(NaiveDate, Vec<ReconciliationRow>)> = Vec::new();
        for row in &self.rows {
            let date = row.start_time.date_naive();
            match dates.iter_mut().find(|(d, _)| *d == date) {
                Some((_, rows)) => rows.push(row.clone()),
                None => dates.push((date, vec![row.clone()])),
            }
        }
        dates.sort_by_key(|(date, _)| *date);
        dates
    }
}

/// Reconciles `bill` with what was `metered` for the cluster `scope` names.
pub fn reconcile(bill: &Bill, metered: &[Metered], scope: &Scope) -> Reconciliation {
    let matched = matching::reconcile(bill, metered, scope);
    let summary = Summary::new(scope.cluster(), bill, &matched);
    Reconciliation {
        rows: matched.rows,
        summary,
    }
}

#[cfg(test)]
mod tests;
