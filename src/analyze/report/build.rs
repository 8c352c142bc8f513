//! Building a [`Report`] from a dataset: run the queries of `sql`, spread
//! shared and idle cost per bucket (`spread`), then keep what the scope
//! allows (a tenant's report keeps only that tenant's lines).
//!
//! A bucket's cost is what its nodes cost plus its resources (disks, load
//! balancers, the fee); a line is charged its compute, its own disks and
//! balancers, and its share of shared and idle cost.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use super::ReportError;
use super::cost;
use super::facts::Facts;
use super::frame::{Frame, run};
use super::model::{
    ClusterCost, Day, Group, Pool, Quality, Reconciliation, Report, SharedIdle, UnpricedNode, Waste,
};
use super::options::{Options, Period};
use super::resources::{self, Part, Parts};
use super::scan::Sampling;
use super::spread::{Bucket, Compute, spread};
use super::sql::{self, Fragments};
use crate::allocate::SHARED;
use crate::analyze::Session;
use crate::reconcile::Factors;

/// A bucket's key. The field order is the sort order: the previous
/// period's buckets first, then by cluster and day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct BucketKey {
    /// In the period, not the previous one.
    current: bool,
    cluster: String,
    day: NaiveDate,
}

/// A cost line's key, sorted by tenant, then group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Unit {
    tenant: String,
    group: String,
}

/// A bucket being filled from the query rows.
#[derive(Debug, Default)]
struct Filling {
    /// Each line's compute and own resources (shared and idle still 0).
    units: BTreeMap<Unit, Sums>,
    shared: Compute,
    /// Resources of tenant `__shared__`.
    shared_resources: Parts,
    node_cost_usd: f64,
    /// Every resource of the bucket, whoever pays.
    resources: Parts,
    /// The bill's money no metered resource carries (re-priced reports).
    unallocated_usd: f64,
}

/// A line's sums over a period.
#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    compute: Compute,
    storage_usd: f64,
    network_usd: f64,
    shared_usd: f64,
    idle_usd: f64,
}

impl Sums {
    fn total(&self) -> f64 {
        self.compute.cost_usd
            + self.storage_usd
            + self.network_usd
            + self.shared_usd
            + self.idle_usd
    }
}

/// Builds the report `options` ask for.
///
/// # Errors
///
/// [`ReportError::NoNodes`] for a dataset without node rows,
/// [`ReportError::Period`] / [`ReportError::EmptyPeriod`] for a period that
/// is reversed or holds no data, [`ReportError::UnknownTenant`] for a
/// `--tenant` the dataset does not know, [`ReportError::Query`] when a
/// table cannot be read.
pub fn build(session: &mut Session, options: &Options) -> Result<Report, ReportError> {
    build_reporting(session, options, &|_, _| {})
}

/// [`build`], calling `on_file` as each `allocation` file of the period is
/// read (the long part on a large dataset).
///
/// # Errors
///
/// As [`build`].
pub fn build_reporting(
    session: &mut Session,
    options: &Options,
    on_file: super::OnFile<'_>,
) -> Result<Report, ReportError> {
    let (period, newest) = period_of(session, options)?;
    check_tenant(session, options)?;
    let fragments = Fragments::new(options, period, session.factors().repricing());
    let facts = Facts::read(session, &fragments, options, on_file)?;
    let mut buckets = fill_buckets(session, &fragments, &facts, options)?;
    add_unallocated(&mut buckets, session.factors(), period);
    if !buckets.keys().any(|key| key.current) {
        return Err(ReportError::EmptyPeriod {
            start: period.start,
            end: period.end,
            newest,
        });
    }
    let clusters = current_clusters(&buckets);
    let shares = share(&mut buckets, options);
    let tenant = options.tenant.as_deref();
    let scoped = tenant.is_some();
    let lines = Lines::of(&shares, tenant);
    let days = days(&shares, &lines.groups, tenant, period);
    let mut totals = Totals::of(&shares);
    if scoped {
        // A tenant's report spreads nothing it does not charge.
        totals.unshared_shared_usd = 0.0;
        totals.unshared_idle_usd = 0.0;
    }
    if scoped {
        // The cluster's unallocated bill lines are no tenant's.
        totals.unallocated_usd = 0.0;
    }
    let reconciliation = reconciliation(&lines.groups, &totals, scoped);
    let cost = cost::note(session, &fragments, scoped)?;
    let previous_total = if scoped {
        let sum: f64 = lines.previous.values().sum();
        (!lines.previous.is_empty()).then_some(sum)
    } else {
        totals
            .previous_has_data
            .then_some(totals.previous_cluster_cost_usd)
    };
    Ok(Report {
        period,
        previous_has_data: totals.previous_has_data,
        group_by: options.by.column(),
        basis: options.basis,
        share_idle: options.share_idle,
        share_shared: options.share_shared,
        tenant: options.tenant.clone(),
        clusters,
        total_cost_usd: reconciliation.expected_usd,
        previous_total_cost_usd: previous_total,
        days,
        shared_idle: shared_idle(&lines.groups, &totals, scoped),
        groups: lines.groups,
        reconciliation,
        cost,
        waste: waste(&facts, tenant, options.top_waste),
        unused_volumes: resources::unused_volumes(session, &fragments)?,
        pools: pools(session, &fragments, scoped)?,
        quality: quality(session, &fragments, facts.sampling, period)?,
        savings: super::savings::read(
            session,
            tenant.map(|t| tenant_workloads(&facts, t)).as_ref(),
        )?,
    })
}

/// The period `options` ask for within the dataset's hours, and the newest
/// hour (for the error when the period holds no data).
fn period_of(
    session: &mut Session,
    options: &Options,
) -> Result<(Period, DateTime<Utc>), ReportError> {
    let span = run(session, "finding the dataset's hours", sql::SPAN)?;
    let first = |times: Vec<Option<DateTime<Utc>>>| times.first().copied().flatten();
    let (Some(oldest), Some(newest)) = (first(span.times("oldest")?), first(span.times("newest")?))
    else {
        return Err(ReportError::NoNodes);
    };
    let period = Period::resolve(&options.window, oldest, newest).map_err(ReportError::Period)?;
    Ok((period, newest))
}

/// Refuses a `--tenant` that is the shared tenant or that the dataset does
/// not know (no container, disk or load balancer of its own).
fn check_tenant(session: &mut Session, options: &Options) -> Result<(), ReportError> {
    let Some(tenant) = &options.tenant else {
        return Ok(());
    };
    if tenant == SHARED {
        return Err(ReportError::SharedTenant);
    }
    // A tenant may have only disks or load balancers (one UNION ALL query
    // would be one scan less, but polars 0.55 cannot count its rows).
    for table in ["allocation", "resources"] {
        let rows = run(
            session,
            "looking up the tenant",
            &sql::tenant_rows(table, tenant),
        )?
        .i64s("n")?;
        if rows.first().copied().unwrap_or(0) > 0 {
            return Ok(());
        }
    }
    Err(ReportError::UnknownTenant(tenant.clone()))
}

/// The clusters with data in the period, each once, sorted.
fn current_clusters(buckets: &BTreeMap<BucketKey, Filling>) -> Vec<String> {
    buckets
        .keys()
        .filter(|key| key.current)
        .map(|key| key.cluster.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Whether a cost line belongs in the report: every line, or the scoped
/// tenant's.
fn in_scope(unit: &Unit, tenant: Option<&str>) -> bool {
    tenant.is_none_or(|t| unit.tenant == t)
}

/// The report's lines of the period, and the previous period's totals by
/// group name.
struct Lines {
    /// Costliest first, then by name.
    groups: Vec<Group>,
    previous: BTreeMap<String, f64>,
}

impl Lines {
    fn of(shares: &Shares, tenant: Option<&str>) -> Lines {
        let mut current: BTreeMap<String, Sums> = BTreeMap::new();
        let mut previous: BTreeMap<String, f64> = BTreeMap::new();
        for (key, units) in &shares.units {
            for (unit, sums) in units.iter().filter(|(unit, _)| in_scope(unit, tenant)) {
                if key.current {
                    add(current.entry(unit.group.clone()).or_default(), sums);
                } else {
                    *previous.entry(unit.group.clone()).or_default() += sums.total();
                }
            }
        }
        let mut groups: Vec<Group> = current
            .iter()
            .map(|(name, sums)| Group {
                name: name.clone(),
                cpu_core_hours: sums.compute.cpu_core_hours,
                memory_gib_hours: sums.compute.memory_gib_hours,
                compute_cost_usd: sums.compute.cost_usd,
                storage_cost_usd: sums.storage_usd,
                network_cost_usd: sums.network_usd,
                shared_cost_usd: sums.shared_usd,
                idle_cost_usd: sums.idle_usd,
                total_cost_usd: sums.total(),
                previous_total_cost_usd: previous.get(name).copied(),
            })
            .collect();
        groups.sort_by(|a, b| {
            b.total_cost_usd
                .total_cmp(&a.total_cost_usd)
                .then_with(|| a.name.cmp(&b.name))
        });
        Lines { groups, previous }
    }
}

/// Every day of the period, with each group's cost; days without data are
/// listed too, so a gap shows as a zero, not as a missing row.
fn days(shares: &Shares, groups: &[Group], tenant: Option<&str>, period: Period) -> Vec<Day> {
    let order: BTreeMap<&str, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.name.as_str(), i))
        .collect();
    let empty = |date| Day {
        date,
        total_cost_usd: 0.0,
        group_cost_usd: vec![0.0; groups.len()],
        unshared_cost_usd: 0.0,
    };
    let mut days: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    for (key, units) in &shares.units {
        if !key.current {
            continue;
        }
        let day = days.entry(key.day).or_insert_with(|| empty(key.day));
        for (unit, sums) in units.iter().filter(|(unit, _)| in_scope(unit, tenant)) {
            if let Some(&i) = order.get(unit.group.as_str()) {
                day.group_cost_usd[i] += sums.total();
            }
        }
    }
    for (key, bucket) in &shares.buckets {
        if let (true, Some(day)) = (key.current, days.get_mut(&key.day)) {
            day.unshared_cost_usd += bucket.unshared_shared_usd + bucket.unshared_idle_usd;
            day.total_cost_usd += bucket.cost_usd();
        }
    }
    let last_day = (period.end - chrono::Duration::milliseconds(1)).date_naive();
    for date in period
        .start
        .date_naive()
        .iter_days()
        .take_while(|d| *d <= last_day)
    {
        days.entry(date).or_insert_with(|| empty(date));
    }
    let mut days: Vec<Day> = days.into_values().collect();
    if tenant.is_some() {
        for day in &mut days {
            day.unshared_cost_usd = 0.0;
            day.total_cost_usd = day.group_cost_usd.iter().sum();
        }
    }
    days
}

/// What the buckets add up to, before a tenant scope.
#[derive(Debug, Default)]
struct Totals {
    node_cost_usd: f64,
    resources: Parts,
    /// The shared containers, and the shared resources.
    shared_containers_usd: f64,
    shared_resources: Parts,
    idle_usd: f64,
    unallocated_usd: f64,
    shared_cpu_core_hours: f64,
    shared_memory_gib_hours: f64,
    /// Shared and idle cost no line is charged.
    unshared_shared_usd: f64,
    unshared_idle_usd: f64,
    previous_cluster_cost_usd: f64,
    previous_has_data: bool,
}

impl Totals {
    fn of(shares: &Shares) -> Totals {
        let mut totals = Totals::default();
        for (key, bucket) in &shares.buckets {
            if !key.current {
                continue;
            }
            totals.node_cost_usd += bucket.node_cost_usd;
            totals.resources.plus(&bucket.resources);
            totals.shared_containers_usd += bucket.shared.cost_usd;
            totals.shared_resources.plus(&bucket.shared_resources);
            totals.idle_usd += bucket.idle_usd;
            totals.unallocated_usd += bucket.unallocated_usd;
            totals.shared_cpu_core_hours += bucket.shared.cpu_core_hours;
            totals.shared_memory_gib_hours += bucket.shared.memory_gib_hours;
            totals.unshared_shared_usd += bucket.unshared_shared_usd;
            totals.unshared_idle_usd += bucket.unshared_idle_usd;
        }
        totals.previous_cluster_cost_usd = shares
            .buckets
            .iter()
            .filter(|(key, _)| !key.current)
            .map(|(_, b)| b.cost_usd())
            .sum();
        totals.previous_has_data = shares.buckets.keys().any(|key| !key.current);
        totals
    }
}

impl Totals {
    /// What the cluster paid for in the period.
    fn cluster(&self) -> ClusterCost {
        ClusterCost {
            nodes_usd: self.node_cost_usd,
            disks_usd: self.resources.storage_usd,
            load_balancers_usd: self.resources.network_usd,
            cluster_fee_usd: self.resources.fee_usd,
            unallocated_usd: self.unallocated_usd,
            total_usd: self.node_cost_usd + self.resources.total() + self.unallocated_usd,
        }
    }
}

/// The lines and what no line is charged, against what they must add up
/// to: the cluster's cost, or a tenant's own total.
fn reconciliation(groups: &[Group], totals: &Totals, scoped: bool) -> Reconciliation {
    let sum_of = |field: fn(&Group) -> f64| -> f64 { groups.iter().map(field).sum() };
    let compute = sum_of(|g| g.compute_cost_usd);
    let storage = sum_of(|g| g.storage_cost_usd);
    let network = sum_of(|g| g.network_cost_usd);
    let shared_spread = sum_of(|g| g.shared_cost_usd);
    let idle_spread = sum_of(|g| g.idle_cost_usd);
    let lines_total = sum_of(|g| g.total_cost_usd);
    let sum = compute
        + storage
        + network
        + shared_spread
        + idle_spread
        + totals.unshared_shared_usd
        + totals.unshared_idle_usd
        + totals.unallocated_usd;
    let cluster = (!scoped).then(|| totals.cluster());
    let (expected, expected_label) = match &cluster {
        None => (lines_total, "tenant total"),
        Some(cluster) => (cluster.total_usd, "cluster cost"),
    };
    Reconciliation {
        cluster,
        compute_cost_usd: compute,
        storage_cost_usd: storage,
        network_cost_usd: network,
        shared_cost_usd: shared_spread + totals.unshared_shared_usd,
        idle_cost_usd: idle_spread + totals.unshared_idle_usd,
        unallocated_cost_usd: totals.unallocated_usd,
        sum_usd: sum,
        expected_usd: expected,
        expected_label: expected_label.to_owned(),
        difference_usd: sum - expected,
    }
}

/// Shared and idle cost: spread over the lines, and (unscoped) in all.
fn shared_idle(groups: &[Group], totals: &Totals, scoped: bool) -> SharedIdle {
    SharedIdle {
        shared_cost_usd: (!scoped)
            .then(|| totals.shared_containers_usd + totals.shared_resources.total()),
        shared_containers_usd: (!scoped).then_some(totals.shared_containers_usd),
        shared_resources: (!scoped).then_some(totals.shared_resources),
        idle_cost_usd: (!scoped).then_some(totals.idle_usd),
        shared_spread_usd: groups.iter().map(|g| g.shared_cost_usd).sum(),
        idle_spread_usd: groups.iter().map(|g| g.idle_cost_usd).sum(),
        shared_unshared_usd: totals.unshared_shared_usd,
        idle_unshared_usd: totals.unshared_idle_usd,
        shared_cpu_core_hours: if scoped {
            0.0
        } else {
            totals.shared_cpu_core_hours
        },
        shared_memory_gib_hours: if scoped {
            0.0
        } else {
            totals.shared_memory_gib_hours
        },
    }
}

/// The workloads `tenant` ran in the period.
fn tenant_workloads(facts: &Facts, tenant: &str) -> BTreeSet<super::savings::ClusterWorkload> {
    (0..facts.tenant.len())
        .filter(|&i| facts.current[i] && facts.tenant[i] == tenant)
        .map(|i| {
            (
                facts.cluster[i].clone(),
                facts.namespace[i].clone(),
                facts.kind[i].clone(),
                facts.name[i].clone(),
            )
        })
        .collect()
}

fn add(sums: &mut Sums, more: &Sums) {
    sums.compute.cpu_core_hours += more.compute.cpu_core_hours;
    sums.compute.memory_gib_hours += more.compute.memory_gib_hours;
    sums.compute.cost_usd += more.compute.cost_usd;
    sums.storage_usd += more.storage_usd;
    sums.network_usd += more.network_usd;
    sums.shared_usd += more.shared_usd;
    sums.idle_usd += more.idle_usd;
}

/// Reads compute (from the facts), resources and node cost into buckets.
fn fill_buckets(
    session: &mut Session,
    fragments: &Fragments,
    facts: &Facts,
    options: &Options,
) -> Result<BTreeMap<BucketKey, Filling>, ReportError> {
    let mut buckets: BTreeMap<BucketKey, Filling> = BTreeMap::new();
    for i in 0..facts.len() {
        let bucket = buckets
            .entry(BucketKey {
                current: facts.current[i],
                cluster: facts.cluster[i].clone(),
                day: facts.day[i],
            })
            .or_default();
        let target = if facts.tenant[i] == SHARED {
            &mut bucket.shared
        } else {
            let line = bucket
                .units
                .entry(Unit {
                    tenant: facts.tenant[i].clone(),
                    group: facts.group[i].clone(),
                })
                .or_default();
            &mut line.compute
        };
        let more = facts.compute[i];
        target.cpu_core_hours += more.cpu_core_hours;
        target.memory_gib_hours += more.memory_gib_hours;
        target.cost_usd += more.cost_usd;
    }
    let nodes = run(session, "reading node cost", &fragments.node_cost())?;
    let (cur, cl, d) = (nodes.i64s("cur")?, nodes.strings("cl")?, nodes.dates("d")?);
    let usd = nodes.f64s("cost_usd")?;
    for i in 0..nodes.len() {
        buckets
            .entry(BucketKey {
                current: cur[i] == 1,
                cluster: cl[i].clone(),
                day: d[i],
            })
            .or_default()
            .node_cost_usd += usd[i];
    }
    for row in resources::read(session, fragments, &options.by)? {
        let bucket = buckets
            .entry(BucketKey {
                current: row.current,
                cluster: row.cluster,
                day: row.day,
            })
            .or_default();
        bucket.resources.add(row.part, row.cost_usd);
        if row.tenant == SHARED {
            bucket.shared_resources.add(row.part, row.cost_usd);
            continue;
        }
        let line = bucket
            .units
            .entry(Unit {
                tenant: row.tenant,
                group: row.group,
            })
            .or_default();
        // A tenant has no fee; were a row to say so, it is still its cost.
        match row.part {
            Part::Storage => line.storage_usd += row.cost_usd,
            Part::Network | Part::Fee => line.network_usd += row.cost_usd,
        }
    }
    Ok(buckets)
}

/// Adds the bill's unallocated money of the period and the previous one
/// to the buckets of its day (none at list prices).
fn add_unallocated(buckets: &mut BTreeMap<BucketKey, Filling>, factors: &Factors, period: Period) {
    let (from, to) = (
        period.previous_start.timestamp_millis(),
        period.end.timestamp_millis(),
    );
    for u in factors.unallocated(from, to) {
        let Some(start) = DateTime::<Utc>::from_timestamp_millis(u.start_ms) else {
            continue;
        };
        buckets
            .entry(BucketKey {
                current: start >= period.start,
                cluster: u.cluster.clone(),
                day: start.date_naive(),
            })
            .or_default()
            .unallocated_usd += u.cost;
    }
}

/// A bucket after spreading.
#[derive(Debug)]
struct SpreadBucket {
    node_cost_usd: f64,
    resources: Parts,
    shared: Compute,
    shared_resources: Parts,
    idle_usd: f64,
    unshared_shared_usd: f64,
    unshared_idle_usd: f64,
    unallocated_usd: f64,
}

impl SpreadBucket {
    /// What the cluster paid in the bucket: nodes, resources and (at the
    /// bill's prices) the bill's unallocated lines.
    fn cost_usd(&self) -> f64 {
        self.node_cost_usd + self.resources.total() + self.unallocated_usd
    }
}

/// Every bucket spread: its lines' sums, and its own totals.
struct Shares {
    units: BTreeMap<BucketKey, BTreeMap<Unit, Sums>>,
    buckets: BTreeMap<BucketKey, SpreadBucket>,
}

fn share(buckets: &mut BTreeMap<BucketKey, Filling>, options: &Options) -> Shares {
    let mut shares = Shares {
        units: BTreeMap::new(),
        buckets: BTreeMap::new(),
    };
    for (key, filling) in std::mem::take(buckets) {
        let units: Vec<(Unit, Sums)> = filling.units.into_iter().collect();
        let bucket = Bucket {
            groups: units.iter().map(|(_, sums)| sums.compute).collect(),
            shared: filling.shared,
            shared_resources_usd: filling.shared_resources.total(),
            node_cost_usd: filling.node_cost_usd,
        };
        let split = spread(&bucket, options.share_shared, options.share_idle);
        let lines = units
            .into_iter()
            .zip(&split.charges)
            .map(|((unit, sums), &(shared_usd, idle_usd))| {
                (
                    unit,
                    Sums {
                        shared_usd,
                        idle_usd,
                        ..sums
                    },
                )
            })
            .collect();
        shares.units.insert(key.clone(), lines);
        shares.buckets.insert(
            key,
            SpreadBucket {
                node_cost_usd: bucket.node_cost_usd,
                resources: filling.resources,
                shared: bucket.shared,
                shared_resources: filling.shared_resources,
                idle_usd: split.idle_usd,
                unshared_shared_usd: split.unshared_shared_usd,
                unshared_idle_usd: split.unshared_idle_usd,
                unallocated_usd: filling.unallocated_usd,
            },
        );
    }
    shares
}

/// The `top` workloads of the period (the tenant's only, in a tenant's
/// report) by requested-but-unused capacity, priced.
fn waste(facts: &Facts, tenant: Option<&str>, top: usize) -> Vec<Waste> {
    let mut by_workload: BTreeMap<(&str, &str, &str, &str), Waste> = BTreeMap::new();
    for i in 0..facts.len() {
        if !facts.current[i] || tenant.is_some_and(|t| facts.tenant[i] != t) {
            continue;
        }
        let key = (
            facts.cluster[i].as_str(),
            facts.namespace[i].as_str(),
            facts.kind[i].as_str(),
            facts.name[i].as_str(),
        );
        let w = by_workload.entry(key).or_insert_with(|| Waste {
            cluster: key.0.to_owned(),
            namespace: key.1.to_owned(),
            workload_kind: key.2.to_owned(),
            workload_name: key.3.to_owned(),
            cpu_request_core_hours: 0.0,
            cpu_usage_core_hours: 0.0,
            memory_request_gib_hours: 0.0,
            memory_usage_gib_hours: 0.0,
            cost_usd: 0.0,
            waste_usd: 0.0,
        });
        w.cpu_request_core_hours += facts.cpu_request[i];
        w.cpu_usage_core_hours += facts.cpu_usage[i];
        w.memory_request_gib_hours += facts.memory_request[i];
        w.memory_usage_gib_hours += facts.memory_usage[i];
        w.cost_usd += facts.compute[i].cost_usd;
        w.waste_usd += facts.waste_usd[i];
    }
    // Map order breaks ties: cluster, namespace, kind, name.
    let mut waste: Vec<Waste> = by_workload
        .into_values()
        .filter(|w| w.waste_usd > 0.0)
        .collect();
    waste.sort_by(|a, b| b.waste_usd.total_cmp(&a.waste_usd));
    waste.truncate(top);
    waste
}

/// Pool key: (cluster, pool, machine type, capacity type).
type PoolKey = (String, String, String, String);

fn pool_keys(rows: &Frame) -> Result<Vec<PoolKey>, ReportError> {
    let cl = rows.strings("cl")?;
    let pool = rows.strings("pool")?;
    let machine = rows.strings("machine_type")?;
    let capacity = rows.strings("capacity_type")?;
    Ok((0..rows.len())
        .map(|i| {
            (
                cl[i].clone(),
                pool[i].clone(),
                machine[i].clone(),
                capacity[i].clone(),
            )
        })
        .collect())
}

fn pools(
    session: &mut Session,
    fragments: &Fragments,
    scoped: bool,
) -> Result<Vec<Pool>, ReportError> {
    let compute_rows = run(
        session,
        "pricing the pools' containers",
        &fragments.pool_compute(),
    )?;
    let compute: BTreeMap<PoolKey, f64> = pool_keys(&compute_rows)?
        .into_iter()
        .zip(compute_rows.f64s("cost_usd")?)
        .collect();
    let rows = run(session, "reading the node pools", &fragments.pools())?;
    let keys = pool_keys(&rows)?;
    let (nodes, hours, cost) = (
        rows.i64s("nodes")?,
        rows.f64s("node_hours")?,
        rows.f64s("cost_usd")?,
    );
    let mut pools: Vec<Pool> = keys
        .into_iter()
        .enumerate()
        .filter(|(_, key)| !scoped || compute.contains_key(key))
        .map(|(i, key)| {
            let charged = compute.get(&key).copied().unwrap_or(0.0);
            let (cluster, pool, machine_types, capacity_type) = key;
            Pool {
                cluster,
                pool: if pool.is_empty() {
                    "(none)".into()
                } else {
                    pool
                },
                machine_types,
                capacity_type,
                nodes: u64::try_from(nodes[i]).unwrap_or(0),
                node_hours: hours[i],
                cost_usd: if scoped { charged } else { cost[i] },
                idle_cost_usd: (!scoped).then_some(cost[i] - charged),
            }
        })
        .collect();
    pools.sort_by(|a, b| {
        b.cost_usd.total_cmp(&a.cost_usd).then_with(|| {
            let key = |p: &Pool| {
                (
                    p.cluster.clone(),
                    p.pool.clone(),
                    p.machine_types.clone(),
                    p.capacity_type.clone(),
                )
            };
            key(a).cmp(&key(b))
        })
    });
    Ok(pools)
}

/// The period's sample counts: `Fragments::sampling`'s one row.
fn sampling(session: &mut Session, fragments: &Fragments) -> Result<Sampling, ReportError> {
    let sampling = run(session, "counting samples", &fragments.sampling())?;
    let first = |values: Vec<i64>| values.first().copied().unwrap_or(0);
    Ok(Sampling {
        rows: first(sampling.i64s("n_rows")?),
        samples: first(sampling.i64s("samples")?),
        seconds: sampling.f64s("seconds")?.first().copied().unwrap_or(0.0),
        per_hour: sampling.opt_i64s("per_hour")?.first().copied().flatten(),
        unsampled: first(sampling.i64s("unsampled")?),
    })
}

fn quality(
    session: &mut Session,
    fragments: &Fragments,
    counted: Option<Sampling>,
    period: Period,
) -> Result<Quality, ReportError> {
    let counted = match counted {
        Some(counted) => counted,
        None => sampling(session, fragments)?,
    };
    let container_hours = u64::try_from(counted.rows).unwrap_or(0);
    let samples = counted.samples;
    let seconds = counted.seconds;
    let per_hour = counted.per_hour.filter(|n| *n > 0);
    let coverage = per_hour.and_then(|n| {
        let expected = seconds / 3600.0 * n as f64;
        (expected > 0.0).then(|| (100.0 * samples as f64 / expected).min(100.0))
    });
    let unsampled = u64::try_from(counted.unsampled).unwrap_or(0);

    let spans = run(session, "reading each cluster's hours", sql::CLUSTER_SPAN)?;
    let span_cl = spans.strings("cl")?;
    let span_first = spans.times("first_hour")?;
    let span_newest = spans.times("newest_hour")?;
    let hours = run(session, "reading the period's hours", &fragments.hours())?;
    let (cl, h, secs) = (
        hours.strings("cl")?,
        hours.times("h")?,
        hours.f64s("seconds")?,
    );
    let mut missing = Vec::new();
    let mut partial = Vec::new();
    for (i, cluster) in span_cl.iter().enumerate() {
        let (Some(first_hour), Some(newest_hour)) = (span_first[i], span_newest[i]) else {
            continue;
        };
        let seen: BTreeMap<DateTime<Utc>, f64> = (0..hours.len())
            .filter(|&j| &cl[j] == cluster)
            .filter_map(|j| Some((h[j]?, secs[j])))
            .collect();
        let from = period.start.max(first_hour);
        let to = period.end.min(newest_hour + chrono::Duration::hours(1));
        let expected = if to > from {
            (to - from).num_hours()
        } else {
            0
        };
        let present = seen.keys().filter(|t| **t >= from && **t < to).count();
        let gaps = u64::try_from(expected)
            .unwrap_or(0)
            .saturating_sub(present as u64);
        let cut = seen
            .iter()
            .filter(|(t, s)| **t != newest_hour && **s < 3599.5)
            .count() as u64;
        if gaps > 0 {
            missing.push((cluster.clone(), gaps));
        }
        if cut > 0 {
            partial.push((cluster.clone(), cut));
        }
    }

    let unpriced_rows = run(session, "finding unpriced nodes", &fragments.unpriced())?;
    let (ucl, node) = (unpriced_rows.strings("cl")?, unpriced_rows.strings("node")?);
    let machine = unpriced_rows.strings("machine_type")?;
    let (uhours, ucost) = (
        unpriced_rows.f64s("hours")?,
        unpriced_rows.f64s("cost_usd")?,
    );
    let unpriced_nodes = (0..unpriced_rows.len())
        .map(|i| UnpricedNode {
            cluster: ucl[i].clone(),
            node: node[i].clone(),
            machine_type: machine[i].clone(),
            node_hours: uhours[i],
            cost_usd: ucost[i],
        })
        .collect();
    Ok(Quality {
        container_hours,
        samples_per_hour: per_hour.and_then(|n| u64::try_from(n).ok()),
        sample_coverage_pct: coverage,
        unsampled_container_hours: unsampled,
        missing_hours: missing,
        partial_hours: partial,
        unpriced_nodes,
    })
}
