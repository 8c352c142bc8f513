//! What the report reads of `resources`: the disks, load balancers and
//! fee the cluster paid beside its nodes, per bucket and line, and the
//! disks nobody used.
//!
//! A row's tenant says who pays (`allocate::resources` decides it): a
//! tenant's disks and balancers are charged to its line directly, beside
//! its compute, as `storage` and `network`; rows of `__shared__` (disks no
//! claim holds, shared namespaces' disks and balancers, the cluster fee)
//! join the shared namespaces' cost and are spread by the same rule
//! (`spread`). A dataset written before the table existed reads it as empty
//! (`Session::open`), so its report is what it was.

use chrono::NaiveDate;

use super::ReportError;
use super::frame::run;
use super::model::UnusedVolume;
use super::options::By;
use super::sql::Fragments;
pub use crate::allocate::resources::{Part, Parts};
use crate::analyze::Session;
use crate::cluster::BilledKind;

/// One resource's (or one tenant's) cost in a bucket.
#[derive(Debug, Clone)]
pub(super) struct ResourceRow {
    pub current: bool,
    pub cluster: String,
    pub day: NaiveDate,
    pub tenant: String,
    /// Its line under `--by` (meaningless for `__shared__` rows).
    pub group: String,
    pub part: Part,
    pub cost_usd: f64,
}

/// The line a resource is charged to under `by`: its tenant, its
/// namespace, `namespace/PersistentVolumeClaim/claim` or
/// `namespace/Service/name` as a workload, and `(none)` under a pod label
/// (a disk or a Service has none of the pods' labels).
fn group(by: &By, tenant: &str, kind: &str, ns: &str, claim: &str, name: &str) -> String {
    match by {
        By::Tenant => tenant.to_owned(),
        By::Namespace => ns.to_owned(),
        By::Workload if kind == BilledKind::Disk.as_str() => {
            let claim = claim.rsplit_once('/').map_or(claim, |(_, name)| name);
            format!("{ns}/PersistentVolumeClaim/{claim}")
        }
        By::Workload if kind == BilledKind::LoadBalancer.as_str() => format!("{ns}/Service/{name}"),
        By::Workload => format!("{ns}/{kind}/{name}"),
        By::Label(_) => "(none)".to_owned(),
    }
}

/// The resources of the period and the previous one, per bucket.
pub(super) fn read(
    session: &mut Session,
    fragments: &Fragments,
    by: &By,
) -> Result<Vec<ResourceRow>, ReportError> {
    let rows = run(
        session,
        "reading disks, load balancers and fees",
        &fragments.resources(),
    )?;
    let (cur, cl, d) = (rows.i64s("cur")?, rows.strings("cl")?, rows.dates("d")?);
    let (tenant, kind) = (rows.strings("tenant")?, rows.strings("kind")?);
    let (ns, claim, name) = (
        rows.strings("ns")?,
        rows.strings("claim")?,
        rows.strings("name")?,
    );
    let usd = rows.f64s("cost_usd")?;
    Ok((0..rows.len())
        .map(|i| ResourceRow {
            current: cur[i] == 1,
            cluster: cl[i].clone(),
            day: d[i],
            group: group(by, &tenant[i], &kind[i], &ns[i], &claim[i], &name[i]),
            tenant: tenant[i].clone(),
            part: Part::of(&kind[i]),
            cost_usd: usd[i],
        })
        .collect())
}

/// The period's disks no pod mounted, costliest first (then by cluster,
/// volume and state).
pub(super) fn unused_volumes(
    session: &mut Session,
    fragments: &Fragments,
) -> Result<Vec<UnusedVolume>, ReportError> {
    let rows = run(session, "finding unused disks", &fragments.unused_volumes())?;
    let (cl, volume, state) = (
        rows.strings("cl")?,
        rows.strings("volume")?,
        rows.strings("state")?,
    );
    let (tenant, claim, class) = (
        rows.strings("tenant")?,
        rows.strings("claim")?,
        rows.strings("storage_class")?,
    );
    let (size, hours, usd) = (
        rows.f64s("size_gib")?,
        rows.f64s("hours")?,
        rows.f64s("cost_usd")?,
    );
    let mut volumes: Vec<UnusedVolume> = (0..rows.len())
        .map(|i| UnusedVolume {
            cluster: cl[i].clone(),
            volume: volume[i].clone(),
            state: state[i].clone(),
            tenant: tenant[i].clone(),
            claim: claim[i].clone(),
            storage_class: class[i].clone(),
            size_gib: size[i],
            hours: hours[i],
            cost_usd: usd[i],
        })
        .collect();
    volumes.sort_by(|a, b| {
        b.cost_usd.total_cmp(&a.cost_usd).then_with(|| {
            (&a.cluster, &a.volume, &a.state, &a.claim)
                .cmp(&(&b.cluster, &b.volume, &b.state, &b.claim))
        })
    });
    Ok(volumes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_is_named_as_its_line_under_each_grouping() {
        let disk = |by: &By| group(by, "acme", "disk", "shop", "shop/data-db-0", "pvc-1");
        assert_eq!(disk(&By::Tenant), "acme");
        assert_eq!(disk(&By::Namespace), "shop");
        assert_eq!(disk(&By::Workload), "shop/PersistentVolumeClaim/data-db-0");
        assert_eq!(disk(&By::Label("team".into())), "(none)");
        let balancer = group(&By::Workload, "acme", "load_balancer", "shop", "", "front");
        assert_eq!(balancer, "shop/Service/front");
    }
}
