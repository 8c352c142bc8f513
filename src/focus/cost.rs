//! Which dollars the export writes: list prices, or the reconciled bill's
//! (`--cost effective|billed`), by the factors `reconcile::factors` reads —
//! the same re-pricing the report and the queries apply.
//!
//! [`Pricing::costs`] is the one place a charge's four FOCUS cost columns
//! are made from its list cost. Reconciled, BilledCost and EffectiveCost
//! are both the bill's (list × its billed and its effective factor); where
//! the bill does not cover a charge's hour, all four stay at list.

use std::path::Path;

use crate::model::fixed::Fixed;
use crate::reconcile::{CostBasis, Factors, FactorsError};

/// What a charge is, for the factor lookup: kubetally's resource (as the
/// reconciliation names it), the part of a node, and the hour.
#[derive(Debug, Clone, Copy)]
pub struct ChargeKey<'a> {
    pub cluster: &'a str,
    /// `node`, `disk`, `load_balancer`, `cluster_fee`.
    pub kind: &'a str,
    /// The node's name, the PersistentVolume's name, the Service's UID,
    /// `cluster_fee`.
    pub resource_id: &'a str,
    pub part: Part,
    /// Start of the charge's hour, unix milliseconds.
    pub hour_ms: i64,
}

/// Which factor of a resource applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Cpu,
    Memory,
    Gpu,
    Whole,
}

/// The costs of a charge as the export writes them.
#[derive(Debug)]
pub struct Pricing {
    basis: CostBasis,
    billed: Factors,
    effective: Factors,
}

impl Pricing {
    /// The pricing of an export of the dataset at `root` at `wanted`
    /// (`None`: effective where a reconciliation exists, else list).
    ///
    /// # Errors
    ///
    /// As [`Factors::open`]: an explicit `effective` or `billed` without a
    /// reconciliation, a bill in another currency, an unreadable table.
    pub fn open(root: &Path, wanted: Option<CostBasis>) -> Result<Pricing, FactorsError> {
        let chosen = Factors::open(root, wanted)?;
        let basis = chosen.basis();
        let (billed, effective) = match basis {
            CostBasis::List => (Factors::default(), Factors::default()),
            CostBasis::Billed => (chosen, Factors::open(root, Some(CostBasis::Effective))?),
            CostBasis::Effective => (Factors::open(root, Some(CostBasis::Billed))?, chosen),
        };
        Ok(Pricing {
            basis,
            billed,
            effective,
        })
    }

    /// The basis the export follows (its `x_CostBasis` and summary).
    pub fn basis(&self) -> CostBasis {
        self.basis
    }

    /// The four cost columns of a charge whose list cost is `list`.
    pub fn costs(&self, list: Fixed, key: &ChargeKey<'_>) -> Costs {
        self.rates(key).costs(list)
    }

    /// What turns a charge's list cost, or a share of it, into its costs:
    /// looked up once per charge, applied to each of its rows.
    pub fn rates(&self, key: &ChargeKey<'_>) -> Rates {
        let at = |factors: &Factors| {
            factors
                .of(key.cluster, key.kind, key.resource_id, key.hour_ms)
                .map(|f| match key.part {
                    Part::Cpu => f.cpu,
                    Part::Memory => f.memory,
                    Part::Gpu => f.gpu,
                    Part::Whole => f.whole,
                })
                .and_then(Fixed::from_f64)
        };
        Rates {
            effective: at(&self.effective),
            billed: at(&self.billed),
        }
    }

    /// The figure of `costs` the export's basis follows.
    pub fn chosen(&self, costs: &Costs) -> Fixed {
        match self.basis {
            CostBasis::List => costs.list,
            CostBasis::Effective => costs.effective,
            CostBasis::Billed => costs.billed,
        }
    }
}

/// A charge's bill factors: `None` where the bill does not cover it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    effective: Option<Fixed>,
    billed: Option<Fixed>,
}

impl Rates {
    /// The costs of a list cost at these rates: list where there is no
    /// factor.
    pub fn costs(&self, list: Fixed) -> Costs {
        let at = |factor: Option<Fixed>| {
            factor
                .and_then(|factor| list.mul_div(factor, Fixed::ONE))
                .unwrap_or(list)
        };
        Costs {
            list,
            contracted: list,
            effective: at(self.effective),
            billed: at(self.billed),
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

    fn key() -> ChargeKey<'static> {
        ChargeKey {
            cluster: "prod",
            kind: "node",
            resource_id: "n1",
            part: Part::Cpu,
            hour_ms: 0,
        }
    }

    #[test]
    fn list_needs_no_reconciliation_and_writes_list_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        for wanted in [None, Some(CostBasis::List)] {
            let pricing = Pricing::open(dir.path(), wanted).unwrap();
            assert_eq!(pricing.basis(), CostBasis::List);
            let list = Fixed::from_f64(1.25).unwrap();
            let costs = pricing.costs(list, &key());
            assert_eq!([costs.contracted, costs.effective, costs.billed], [list; 3]);
        }
    }

    #[test]
    fn effective_and_billed_need_the_reconciliation_table() {
        let dir = tempfile::tempdir().unwrap();
        for basis in [CostBasis::Effective, CostBasis::Billed] {
            let error = Pricing::open(dir.path(), Some(basis))
                .unwrap_err()
                .to_string();
            assert!(error.contains("run kubetally reconcile first"), "{error}");
        }
    }
}
