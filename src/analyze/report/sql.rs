//! The report's SQL: each query aggregates the period's rows to a few
//! hundred lines; the sharing arithmetic then runs in Rust (`spread`).
//!
//! No query joins `allocation` row by row to `nodes`: a container-hour's
//! node unit prices are in the row already, as `cpu_cost_usd /
//! cpu_billed_core_hours` (billed ≥ request and ≥ usage, so wherever a
//! request or usage is charged the quotient exists). The join cost more than
//! half of the report's time at 34 M rows (benches/analysis). Only the pool
//! of each node comes from `nodes`, joined after aggregating per node.
//! Filters on the `date` partition come with every time filter so only the
//! period's files are read.
//!
//! polars' `SQLContext` keeps a subquery's alias as a table name after the
//! query ran (`… ) AS r` here), and a later `FROM resources AS r` then reads
//! that instead: each table alias here (`a`, `n`, `rc`) is never a
//! subquery's.

use chrono::{DateTime, Utc};

use super::options::{Basis, By, Options, Period};

/// A string literal for SQL: quotes doubled.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn stamp(time: DateTime<Utc>) -> String {
    // polars compares a UTC timestamp column with this literal form only.
    time.format("'%Y-%m-%d %H:%M:%S'").to_string()
}

/// The SQL fragments one report's options decide.
pub struct Fragments {
    /// Cost of a container-hour under the basis.
    cost: &'static str,
    cpu_hours: &'static str,
    memory_hours: &'static str,
    group: String,
    /// A `WITH` clause and `JOIN` the label grouping needs.
    with: String,
    join: String,
    /// `resources` columns (SQL) of the detail `--by` needs to name a
    /// resource's line: (namespace, claim, name), empty when not needed.
    resource_detail: [&'static str; 3],
    period: Period,
    tenant: Option<String>,
    basis: Basis,
    /// Whether the tables read the bill's prices (`Session::open_priced`).
    repriced: bool,
}

/// CPU and memory quantities (SQL expressions of core-hours and GiB-hours)
/// priced at the row's unit prices: cost × quantity / billed.
macro_rules! priced {
    ($cpu:literal, $memory:literal) => {
        concat!(
            "COALESCE(a.cpu_cost_usd * (",
            $cpu,
            ") / NULLIF(a.cpu_billed_core_hours, 0), 0) + ",
            "COALESCE(a.memory_cost_usd * (",
            $memory,
            ") / NULLIF(a.memory_billed_gib_hours, 0), 0)"
        )
    };
}

impl Fragments {
    pub fn new(options: &Options, period: Period, repriced: bool) -> Fragments {
        let (cost, cpu_hours, memory_hours) = match options.basis {
            Basis::Max => (
                "a.total_cost_usd",
                "a.cpu_billed_core_hours",
                "a.memory_billed_gib_hours",
            ),
            Basis::Request => (
                concat!(
                    priced!("a.cpu_request_core_hours", "a.memory_request_gib_hours"),
                    " + a.gpu_cost_usd"
                ),
                "a.cpu_request_core_hours",
                "a.memory_request_gib_hours",
            ),
            Basis::Usage => (
                concat!(
                    priced!("a.cpu_usage_core_hours", "a.memory_usage_gib_hours"),
                    " + a.gpu_cost_usd"
                ),
                "a.cpu_usage_core_hours",
                "a.memory_usage_gib_hours",
            ),
        };
        let (group, with, join) = match &options.by {
            // These groups are columns the facts carry anyway (see `build`).
            By::Tenant | By::Namespace | By::Workload => {
                ("''".to_owned(), String::new(), String::new())
            }
            By::Label(key) => (
                "COALESCE(lv.label_value, '(none)')".to_owned(),
                format!(
                    "WITH lv AS (SELECT a.pod_uid AS uid, MAX(l.value) AS label_value \
                     FROM allocation AS a CROSS JOIN UNNEST(a.labels) AS l \
                     WHERE l.key = {} AND {} GROUP BY a.pod_uid) ",
                    literal(key),
                    window("a", period.previous_start, period.end)
                ),
                "LEFT JOIN lv ON a.pod_uid = lv.uid".to_owned(),
            ),
        };
        let resource_detail = match &options.by {
            By::Namespace => ["rc.namespace", "''", "''"],
            By::Workload => ["rc.namespace", "rc.claim", "rc.resource_name"],
            By::Tenant | By::Label(_) => ["''", "''", "''"],
        };
        Fragments {
            cost,
            cpu_hours,
            memory_hours,
            group,
            with,
            join,
            resource_detail,
            period,
            tenant: options.tenant.clone(),
            basis: options.basis,
            repriced,
        }
    }

    /// The period the fragments filter on.
    pub fn period(&self) -> Period {
        self.period
    }

    fn current(&self, table: &str) -> String {
        window(table, self.period.start, self.period.end)
    }

    fn tenant_filter(&self) -> String {
        self.tenant_filter_of("a")
    }

    fn tenant_filter_of(&self, table: &str) -> String {
        match &self.tenant {
            Some(tenant) => format!(" AND {table}.tenant = {}", literal(tenant)),
            None => String::new(),
        }
    }

    /// The one scan of `allocation` for lines and waste: sums per (period,
    /// cluster, day, tenant, label group, workload). `cur` is 1 in the
    /// period, 0 in the previous one; `grp` is the label value with
    /// `--by label:KEY`, else empty. A few thousand rows even at 150,000
    /// pods: workloads, not pods or nodes, are the finest key.
    pub fn facts(&self) -> String {
        format!(
            "{with}SELECT cur, cl, d, tenant, grp, namespace, kind, name, \
             SUM(cpu_h) AS cpu_core_hours, SUM(mem_h) AS memory_gib_hours, \
             SUM(usd) AS cost_usd, SUM(cpu_req) AS cpu_request, SUM(cpu_use) AS cpu_usage, \
             SUM(mem_req) AS memory_request, SUM(mem_use) AS memory_usage, \
             SUM(waste) AS waste_usd FROM (\
             SELECT CASE WHEN a.start_time >= {start} THEN 1 ELSE 0 END AS cur, \
             a.cluster AS cl, a.date AS d, a.tenant AS tenant, {group} AS grp, \
             a.namespace AS namespace, a.workload_kind AS kind, a.workload_name AS name, \
             {cpu} AS cpu_h, {mem} AS mem_h, {cost} AS usd, \
             a.cpu_request_core_hours AS cpu_req, a.cpu_usage_core_hours AS cpu_use, \
             a.memory_request_gib_hours AS mem_req, a.memory_usage_gib_hours AS mem_use, \
             {waste} AS waste FROM allocation AS a {join} WHERE {window}) AS r \
             GROUP BY cur, cl, d, tenant, grp, namespace, kind, name",
            with = self.with,
            start = stamp(self.period.start),
            group = self.group,
            cpu = self.cpu_hours,
            mem = self.memory_hours,
            cost = self.cost,
            waste = priced!(
                "GREATEST(a.cpu_request_core_hours - a.cpu_usage_core_hours, 0)",
                "GREATEST(a.memory_request_gib_hours - a.memory_usage_gib_hours, 0)"
            ),
            join = self.join,
            window = window("a", self.period.previous_start, self.period.end),
        )
    }

    /// What compute cost per (period, cluster, day): the nodes, plus on GKE
    /// Autopilot what Google billed for pods (their nodes cost nothing;
    /// `docs/cost-model.md`).
    pub fn node_cost(&self) -> String {
        format!(
            "SELECT cur, cl, d, SUM(usd) AS cost_usd FROM (\
             SELECT CASE WHEN n.start_time >= {start} THEN 1 ELSE 0 END AS cur, \
             n.cluster AS cl, n.date AS d, n.total_cost_usd AS usd \
             FROM nodes AS n WHERE {window} \
             UNION ALL \
             SELECT CASE WHEN a.start_time >= {start} THEN 1 ELSE 0 END AS cur, \
             a.cluster AS cl, a.date AS d, a.total_cost_usd AS usd \
             FROM allocation AS a WHERE a.price_source LIKE '{autopilot}%' AND {pods}) \
             AS r GROUP BY cur, cl, d",
            start = stamp(self.period.start),
            window = window("n", self.period.previous_start, self.period.end),
            pods = window("a", self.period.previous_start, self.period.end),
            autopilot = crate::allocate::autopilot::PRICE_SOURCE,
        )
    }

    /// What the cluster paid beside its nodes (disks, load balancers, the
    /// fee) per (period, cluster, day, tenant, kind), with the detail the
    /// grouping needs (`ns`, `claim`, `name`; empty otherwise). One row per
    /// resource and day at most.
    pub fn resources(&self) -> String {
        let [ns, claim, name] = self.resource_detail;
        format!(
            "SELECT cur, cl, d, tenant, kind, ns, claim, name, SUM(usd) AS cost_usd FROM (\
             SELECT CASE WHEN rc.start_time >= {start} THEN 1 ELSE 0 END AS cur, \
             rc.cluster AS cl, rc.date AS d, rc.tenant AS tenant, rc.kind AS kind, \
             {ns} AS ns, {claim} AS claim, {name} AS name, rc.cost_usd AS usd \
             FROM resources AS rc WHERE {window}) AS x \
             GROUP BY cur, cl, d, tenant, kind, ns, claim, name",
            start = stamp(self.period.start),
            window = window("rc", self.period.previous_start, self.period.end),
        )
    }

    /// The period's disks no pod mounted (a tenant's only, in a tenant's
    /// report), per volume and state: size, hours and cost.
    pub fn unused_volumes(&self) -> String {
        format!(
            "SELECT rc.cluster AS cl, rc.resource_name AS volume, rc.state AS state, \
             rc.tenant AS tenant, rc.claim AS claim, rc.storage_class AS storage_class, \
             MAX(rc.size_gib) AS size_gib, SUM(rc.running_seconds) / 3600 AS hours, \
             SUM(rc.cost_usd) AS cost_usd FROM resources AS rc \
             WHERE rc.kind = {disk} AND rc.state <> {mounted} AND {window}{tenant} \
             GROUP BY rc.cluster, rc.resource_name, rc.state, rc.tenant, rc.claim, rc.storage_class",
            disk = literal(crate::cluster::BilledKind::Disk.as_str()),
            mounted = literal(crate::allocate::resources::MOUNTED),
            window = self.current("rc"),
            tenant = self.tenant_filter_of("rc"),
        )
    }

    /// Node pools of the period: nodes, node-hours and cost.
    pub fn pools(&self) -> String {
        format!(
            "SELECT n.cluster AS cl, n.node_pool AS pool, n.machine_type AS machine_type, \
             n.capacity_type AS capacity_type, COUNT(DISTINCT n.node) AS nodes, \
             SUM(n.running_seconds) / 3600 AS node_hours, SUM(n.total_cost_usd) AS cost_usd \
             FROM nodes AS n WHERE {window} \
             GROUP BY n.cluster, n.node_pool, n.machine_type, n.capacity_type",
            window = self.current("n"),
        )
    }

    /// Container cost under the basis per node pool (a tenant's only, in a
    /// tenant's report): summed per node first, then joined to each node's
    /// pool. Under `max` for everyone it is `nodes.allocated_cost_usd`
    /// (Σ allocation.total_cost_usd of the node-hour, by the dataset's
    /// invariant), which spares a scan of `allocation` — at list prices:
    /// re-priced, that column is a blend (`analyze::reprice`).
    pub fn pool_compute(&self) -> String {
        if self.basis == Basis::Max && self.tenant.is_none() && !self.repriced {
            return format!(
                "SELECT n.cluster AS cl, n.node_pool AS pool, n.machine_type AS machine_type, \
                 n.capacity_type AS capacity_type, SUM(n.allocated_cost_usd) AS cost_usd \
                 FROM nodes AS n WHERE {window} \
                 GROUP BY n.cluster, n.node_pool, n.machine_type, n.capacity_type",
                window = self.current("n"),
            );
        }
        format!(
            "WITH c AS (SELECT a.cluster AS cl, a.node AS node, SUM({cost}) AS usd \
             FROM allocation AS a WHERE {window}{tenant} GROUP BY a.cluster, a.node), \
             p AS (SELECT DISTINCT n.cluster AS cl, n.node AS node, n.node_pool AS pool, \
             n.machine_type AS machine_type, n.capacity_type AS capacity_type \
             FROM nodes AS n WHERE {nodes}) \
             SELECT cl, pool, machine_type, capacity_type, SUM(usd) AS cost_usd FROM (\
             SELECT p.cl AS cl, p.pool AS pool, p.machine_type AS machine_type, \
             p.capacity_type AS capacity_type, c.usd AS usd \
             FROM c JOIN p ON c.cl = p.cl AND c.node = p.node) AS r \
             GROUP BY cl, pool, machine_type, capacity_type",
            cost = self.cost,
            window = self.current("a"),
            nodes = self.current("n"),
            tenant = self.tenant_filter(),
        )
    }

    /// Sample counts of the period's container-hours.
    pub fn sampling(&self) -> String {
        format!(
            "SELECT COUNT(*) AS n_rows, SUM(a.sample_count) AS samples, \
             SUM(a.running_seconds) AS seconds, \
             MAX(CASE WHEN a.running_seconds >= 3599.5 THEN a.sample_count END) AS per_hour, \
             SUM(CASE WHEN a.sample_count = 0 AND a.running_seconds >= 120 THEN 1 ELSE 0 END) \
             AS unsampled FROM allocation AS a WHERE {window}{tenant} \
             AND a.container NOT IN ('{reserved}', '{overhead}')",
            window = self.current("a"),
            tenant = self.tenant_filter(),
            reserved = crate::model::reserve::RESERVED,
            overhead = crate::model::reserve::OVERHEAD,
        )
    }

    /// The clock hours each cluster has node rows for in the period, and
    /// how long the longest-written node of each ran.
    pub fn hours(&self) -> String {
        format!(
            "SELECT n.cluster AS cl, n.start_time AS h, MAX(n.running_seconds) AS seconds \
             FROM nodes AS n WHERE {window} GROUP BY n.cluster, n.start_time",
            window = self.current("n"),
        )
    }

    /// Nodes priced at the default rate (in a tenant's report: those the
    /// tenant ran on, with its cost there).
    pub fn unpriced(&self) -> String {
        match &self.tenant {
            None => format!(
                "SELECT n.cluster AS cl, n.node AS node, n.machine_type AS machine_type, \
                 SUM(n.running_seconds) / 3600 AS hours, SUM(n.total_cost_usd) AS cost_usd \
                 FROM nodes AS n WHERE n.price_source = 'default' AND {window} \
                 GROUP BY n.cluster, n.node, n.machine_type ORDER BY cl, node",
                window = self.current("n"),
            ),
            Some(_) => format!(
                "SELECT cl, node, machine_type, SUM(secs) / 3600 AS hours, SUM(usd) AS cost_usd \
                 FROM (SELECT a.cluster AS cl, a.node AS node, a.machine_type AS machine_type, \
                 a.running_seconds AS secs, {cost} AS usd \
                 FROM allocation AS a WHERE a.price_source = 'default' AND {window}{tenant}) AS r \
                 GROUP BY cl, node, machine_type ORDER BY cl, node",
                cost = self.cost,
                window = self.current("a"),
                tenant = self.tenant_filter(),
            ),
        }
    }
}

/// Rows of `table` whose hour starts in [from, to), with the matching
/// `date` partitions so other days' files are skipped.
pub(crate) fn window(table: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let last = to - chrono::Duration::milliseconds(1);
    format!(
        "{table}.start_time >= {} AND {table}.start_time < {} \
         AND {table}.date >= '{}' AND {table}.date <= '{}'",
        stamp(from),
        stamp(to),
        from.date_naive(),
        last.date_naive()
    )
}

/// The start of the oldest and the end of the newest hour in the dataset
/// (every cluster).
pub const SPAN: &str = "SELECT MIN(start_time) AS oldest, MAX(end_time) AS newest FROM nodes";

/// The first and newest hour of each cluster.
pub const CLUSTER_SPAN: &str = "SELECT n.cluster AS cl, MIN(n.start_time) AS first_hour, MAX(n.start_time) AS newest_hour \
     FROM nodes AS n GROUP BY n.cluster ORDER BY cl";

/// How many rows of `table` (`allocation`, `resources`) are `tenant`'s.
pub fn tenant_rows(table: &str, tenant: &str) -> String {
    format!(
        "SELECT COUNT(*) AS n FROM {table} WHERE tenant = {}",
        literal(tenant)
    )
}
