//! What a server's tools may see: everything, or one tenant's rows
//! (`kubetally mcp --tenant NAME`).
//!
//! Every rule of the restriction is here, so a tool cannot forget one:
//! the report's tools get the report's own tenant scope (`report --tenant`,
//! which spreads shared and idle cost over every tenant first and then
//! keeps only this tenant's figures); SQL gets a session whose tables
//! with a tenant column (`samples`, `allocation`, `resources`,
//! `workloads`) are filtered to the tenant and which has no other table; recommendations keep the tenant's own workloads; and
//! what is everyone's (the cloud bill's reconciliation, machine families
//! of shared node pools) is refused or left out.

use std::collections::BTreeSet;
use std::path::Path;

use crate::analyze::Session;
use crate::analyze::report::Options;
use crate::recommend::plan::Plan;

use super::ToolError;

/// What the tools may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scope {
    /// The whole dataset.
    #[default]
    Everything,
    /// One tenant's rows only.
    Tenant(String),
}

impl Scope {
    /// The tenant, when restricted.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Scope::Everything => None,
            Scope::Tenant(tenant) => Some(tenant),
        }
    }

    /// A session for an agent's SQL at the dollars `cost` asks for
    /// (`Session::open_priced`): the dataset, or only the tenant's rows of
    /// the tables that have a tenant.
    ///
    /// # Errors
    ///
    /// As [`Session::open_priced`] and [`Session::restrict_to_tenant`].
    pub fn sql_session(
        &self,
        root: &Path,
        cost: Option<crate::reconcile::CostBasis>,
    ) -> Result<Session, ToolError> {
        let mut session = Session::open_priced(root, cost)?;
        if let Scope::Tenant(tenant) = self {
            session.restrict_to_tenant(tenant)?;
        }
        Ok(session)
    }

    /// The report's options with the scope applied: a tenant's report.
    pub fn report(&self, mut options: Options) -> Options {
        options.tenant = self.tenant().map(str::to_owned);
        options
    }

    /// Refuses what has no tenant's share (the cloud bill's matching).
    ///
    /// # Errors
    ///
    /// [`ToolError::Forbidden`] naming `what`, when restricted.
    pub fn refuse_shared(&self, what: &str) -> Result<(), ToolError> {
        match self {
            Scope::Everything => Ok(()),
            Scope::Tenant(tenant) => Err(ToolError::Forbidden(format!(
                "{what} is the whole cluster's, not tenant {tenant:?}'s: this server is \
                 restricted to that tenant"
            ))),
        }
    }

    /// Keeps the tenant's own recommendations: right-sizing and spot of
    /// its workloads (by the `allocation` rows it is charged for, so a
    /// tenant set by a pod label in a shared namespace counts too), and no
    /// machine families (node pools are shared, as in the report).
    ///
    /// # Errors
    ///
    /// When the tenant's workloads cannot be read.
    pub fn recommendations(&self, root: &Path, mut plan: Plan) -> Result<Plan, ToolError> {
        if self.tenant().is_none() {
            return Ok(plan);
        }
        // Which rows are the tenant's: no dollars read.
        let mut session = self.sql_session(root, Some(crate::reconcile::CostBasis::List))?;
        let mut frame = session
            .query("SELECT DISTINCT namespace, workload_kind, workload_name FROM allocation")?;
        let own: BTreeSet<(String, String, String)> = super::tools::rows(&mut frame)?
            .iter()
            .map(|row| {
                let text = super::tools::text;
                (
                    text(row, "namespace"),
                    text(row, "workload_kind"),
                    text(row, "workload_name"),
                )
            })
            .collect();
        let owned = |ns: &str, kind: &str, name: &str| {
            own.contains(&(ns.to_owned(), kind.to_owned(), name.to_owned()))
        };
        plan.rightsizing
            .retain(|r| owned(&r.namespace, &r.workload_kind, &r.workload_name));
        plan.spot
            .retain(|s| owned(&s.namespace, &s.workload_kind, &s.workload_name));
        plan.machine_family.clear();
        Ok(plan)
    }

    /// Checks at start-up that the tenant has rows, so a typo fails the
    /// command rather than every call.
    ///
    /// # Errors
    ///
    /// [`ToolError::BadInput`] when the tenant has no `allocation` or
    /// `resources` row.
    pub fn check(&self, root: &Path) -> Result<(), ToolError> {
        let Some(tenant) = self.tenant() else {
            return Ok(());
        };
        if tenant == crate::allocate::SHARED {
            return Err(ToolError::BadInput(format!(
                "--tenant {tenant}: shared cost is spread over tenants, it is no tenant of its own"
            )));
        }
        // Which rows are the tenant's: no dollars read.
        let mut session = self.sql_session(root, Some(crate::reconcile::CostBasis::List))?;
        let mut rows = 0;
        for table in ["allocation", "resources"] {
            let frame = session.query(&format!("SELECT COUNT(*) AS n FROM {table}"))?;
            rows += frame
                .column("n")
                .ok()
                .and_then(|c| c.cast(&polars::prelude::DataType::Int64).ok())
                .and_then(|c| c.i64().ok().and_then(|v| v.get(0)))
                .unwrap_or(0);
        }
        if rows == 0 {
            return Err(ToolError::BadInput(format!(
                "--tenant {tenant:?}: no such tenant in the dataset"
            )));
        }
        Ok(())
    }
}
