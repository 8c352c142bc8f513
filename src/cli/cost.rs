//! `--cost list|effective|billed`, as `report`, `query` and `export focus`
//! take it: checked here rather than by clap so that a bad value is one
//! error line (exit 2), as everywhere else in kubetally.

use anyhow::anyhow;
use clap::Args;

use crate::reconcile::CostBasis;

#[derive(Debug, Clone, Args)]
pub struct CostFlag {
    /// The dollars shown: list (catalog prices), or the reconciled bill's
    /// effective (discounts and commitments applied) or billed cost
    /// (`kubetally reconcile` first) [default: effective where the dataset
    /// holds a reconciliation, else list].
    #[arg(long = "cost", value_name = "list|effective|billed")]
    pub cost: Option<String>,
}

impl CostFlag {
    /// The basis asked for; `None` is the default.
    ///
    /// # Errors
    ///
    /// A value that is none of the three.
    pub fn basis(&self) -> anyhow::Result<Option<CostBasis>> {
        self.cost
            .as_deref()
            .map(|text| CostBasis::parse(text).map_err(|e| anyhow!("--cost: {e}")))
            .transpose()
    }
}
