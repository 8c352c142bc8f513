//! Which dollars the export writes: list prices today, the bill's once a
//! reconciliation table (list → billed / effective factors) is in the
//! dataset.
//!
//! [`Costs::of`] is the one place a charge's four FOCUS cost columns are
//! made from its list cost; the reconciliation's factor lookup plugs in
//! there and nowhere else.

use std::path::{Path, PathBuf};

use crate::model::fixed::Fixed;
use crate::store::read::{self, Filter, ReadError};
use crate::store::schema::RECONCILIATION;

/// `--cost`: the figure the export's charges follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostBasis {
    /// Catalog list prices: all four cost columns carry the list cost.
    List,
    /// Amortized cost, from the reconciliation's effective factors.
    Effective,
    /// Invoiced cost, from the reconciliation's billed factors.
    Billed,
}

impl CostBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            CostBasis::List => "list",
            CostBasis::Effective => "effective",
            CostBasis::Billed => "billed",
        }
    }
}

/// Why the costs cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    #[error("no reconciliation in {}: run kubetally reconcile first", dir.display())]
    NoReconciliation { dir: PathBuf },
    #[error(
        "reconciliation in {} found, but the export does not apply its factors yet: use --cost list",
        dir.display()
    )]
    UnreadableReconciliation { dir: PathBuf },
    #[error("listing the reconciliation in {}", dir.display())]
    Read {
        dir: PathBuf,
        #[source]
        cause: ReadError,
    },
}

/// What a charge is, for the factor lookup: the reconciliation matches
/// the bill's lines by provider, service and resource.
#[derive(Debug, Clone, Copy)]
pub struct ChargeKey<'a> {
    pub provider: &'a str,
    pub service: &'a str,
    pub resource_id: &'a str,
}

/// The costs of a charge as the export writes them.
#[derive(Debug, Clone, Copy)]
pub struct Pricing {
    basis: CostBasis,
}

impl Pricing {
    /// The pricing of an export of the dataset at `root`.
    ///
    /// # Errors
    ///
    /// [`CostError::NoReconciliation`] for `effective` or `billed` when the
    /// dataset has no reconciliation table.
    pub fn open(root: &Path, basis: CostBasis) -> Result<Pricing, CostError> {
        if basis == CostBasis::List {
            return Ok(Pricing { basis });
        }
        let files =
            read::files(root, RECONCILIATION.name, &Filter::default()).map_err(|cause| {
                CostError::Read {
                    dir: root.to_owned(),
                    cause,
                }
            })?;
        if files.is_empty() {
            return Err(CostError::NoReconciliation {
                dir: root.to_owned(),
            });
        }
        // `kubetally reconcile` writes the table; reading its factors here
        // (one lookup shared with `report --cost`) is what remains.
        Err(CostError::UnreadableReconciliation {
            dir: root.to_owned(),
        })
    }

    pub fn basis(&self) -> CostBasis {
        self.basis
    }

    /// The four cost columns of a charge whose list cost is `list`.
    pub fn costs(&self, list: Fixed, _key: &ChargeKey<'_>) -> Costs {
        // Where the reconciliation's factors for `_key` will apply:
        // billed = list × billed factor, effective = list × effective factor.
        Costs {
            list,
            contracted: list,
            effective: list,
            billed: list,
        }
    }
}

/// ListCost, ContractedCost (= list: kubetally knows no negotiated rate),
/// EffectiveCost and BilledCost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Costs {
    pub list: Fixed,
    pub contracted: Fixed,
    pub effective: Fixed,
    pub billed: Fixed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_needs_no_reconciliation() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Pricing::open(dir.path(), CostBasis::List).is_ok());
    }

    #[test]
    fn effective_and_billed_need_the_reconciliation_table() {
        let dir = tempfile::tempdir().unwrap();
        for basis in [CostBasis::Effective, CostBasis::Billed] {
            let error = Pricing::open(dir.path(), basis).unwrap_err().to_string();
            assert_eq!(
                error,
                format!(
                    "no reconciliation in {}: run kubetally reconcile first",
                    dir.path().display()
                )
            );
        }
    }
}
