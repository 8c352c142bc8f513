-- name: chargeback_by_tenant
-- description: The bill for a period: one line per tenant (its containers'
--   compute, its own disks as storage, its Services' load balancers as
--   network), then shared cost (tenant __shared__: shared namespaces'
--   containers, disks no claim holds, shared load balancers, the cluster fee),
--   idle cost (what no container was charged) and the total, which equals what
--   the cluster cost: nodes + disks + load balancers + the fee.
-- params: from=1970-01-01, to=9999-12-31
-- bigquery: CAST(NULL AS DOUBLE) => CAST(NULL AS FLOAT64)
--
-- `from` is inclusive, `to` exclusive (UTC dates); both filter the `date`
-- partition, so only the period's files are read. Every money column adds up
-- over the lines to the total line's: compute is the nodes' cost (on GKE
-- Autopilot, what Google billed for pods), storage every disk's, network every
-- load balancer's, cluster_fee the fee's; cost_usd is a line's sum of them.
-- Tenant lines are ordered by cost; share_pct is each line's percent of the
-- total. A dataset without `resources` files (written before the table
-- existed) has no storage, network or fee: give engines an empty `resources`
-- view (docs/queries.md).
WITH compute AS (
    SELECT
        tenant,
        SUM(cpu_billed_core_hours) AS cpu_core_hours,
        SUM(memory_billed_gib_hours) AS memory_gib_hours,
        SUM(total_cost_usd) AS compute_usd,
        SUM(CASE WHEN price_source LIKE 'autopilot%' THEN total_cost_usd ELSE 0 END) AS pod_billed_usd
    FROM allocation
    WHERE date >= '{{from}}' AND date < '{{to}}'
    GROUP BY tenant
),
owned AS (
    SELECT
        tenant,
        SUM(CASE WHEN kind = 'disk' THEN cost_usd ELSE 0 END) AS storage_usd,
        SUM(CASE WHEN kind <> 'disk' AND kind <> 'cluster_fee' THEN cost_usd ELSE 0 END) AS network_usd,
        SUM(CASE WHEN kind = 'cluster_fee' THEN cost_usd ELSE 0 END) AS fee_usd
    FROM resources
    WHERE date >= '{{from}}' AND date < '{{to}}'
    GROUP BY tenant
),
-- Per tenant, one row from each table (a tenant may have only one of them).
parts AS (
    SELECT tenant, cpu_core_hours, memory_gib_hours, compute_usd, pod_billed_usd,
        0 AS storage_usd, 0 AS network_usd, 0 AS fee_usd
    FROM compute
    UNION ALL
    SELECT tenant, 0 AS cpu_core_hours, 0 AS memory_gib_hours, 0 AS compute_usd,
        0 AS pod_billed_usd, storage_usd, network_usd, fee_usd
    FROM owned
),
-- The cluster's cost: nodes (and on GKE Autopilot what pods were billed),
-- every resource; and the nodes' idle cost. (From `compute` and `owned`, not
-- `parts`: polars plans a CTE once per use, and a deeper plan overflows the
-- stack of a debug build's test thread.)
whole AS (
    SELECT SUM(idle_cost_usd) AS idle_usd, SUM(total_cost_usd) AS compute_usd,
        0 AS storage_usd, 0 AS network_usd, 0 AS fee_usd
    FROM nodes
    WHERE date >= '{{from}}' AND date < '{{to}}'
    UNION ALL
    SELECT 0 AS idle_usd, SUM(pod_billed_usd) AS compute_usd, 0 AS storage_usd,
        0 AS network_usd, 0 AS fee_usd
    FROM compute
    UNION ALL
    SELECT 0 AS idle_usd, 0 AS compute_usd, SUM(storage_usd) AS storage_usd,
        SUM(network_usd) AS network_usd, SUM(fee_usd) AS fee_usd
    FROM owned
),
cluster_cost AS (
    SELECT
        SUM(idle_usd) AS idle_usd,
        SUM(compute_usd) AS compute_usd,
        SUM(storage_usd) AS storage_usd,
        SUM(network_usd) AS network_usd,
        SUM(fee_usd) AS fee_usd,
        SUM(compute_usd) + SUM(storage_usd) + SUM(network_usd) + SUM(fee_usd) AS total_usd
    FROM whole
),
lines AS (
    SELECT
        CASE WHEN tenant = '__shared__' THEN 'shared' ELSE 'tenant' END AS line,
        tenant,
        SUM(cpu_core_hours) AS cpu_core_hours,
        SUM(memory_gib_hours) AS memory_gib_hours,
        SUM(compute_usd) AS compute_cost_usd,
        SUM(storage_usd) AS storage_cost_usd,
        SUM(network_usd) AS network_cost_usd,
        SUM(fee_usd) AS cluster_fee_usd,
        SUM(compute_usd) + SUM(storage_usd) + SUM(network_usd) + SUM(fee_usd) AS cost_usd
    FROM parts
    GROUP BY tenant
    UNION ALL
    SELECT 'idle' AS line, '__idle__' AS tenant, CAST(NULL AS DOUBLE) AS cpu_core_hours,
        CAST(NULL AS DOUBLE) AS memory_gib_hours, idle_usd AS compute_cost_usd,
        0 AS storage_cost_usd, 0 AS network_cost_usd, 0 AS cluster_fee_usd, idle_usd AS cost_usd
    FROM cluster_cost
    UNION ALL
    SELECT 'total' AS line, '__total__' AS tenant, CAST(NULL AS DOUBLE) AS cpu_core_hours,
        CAST(NULL AS DOUBLE) AS memory_gib_hours, compute_usd AS compute_cost_usd,
        storage_usd AS storage_cost_usd, network_usd AS network_cost_usd,
        fee_usd AS cluster_fee_usd, total_usd AS cost_usd
    FROM cluster_cost
)
SELECT
    lines.line,
    lines.tenant,
    lines.cpu_core_hours,
    lines.memory_gib_hours,
    lines.compute_cost_usd,
    lines.storage_cost_usd,
    lines.network_cost_usd,
    lines.cluster_fee_usd,
    lines.cost_usd,
    100 * lines.cost_usd / NULLIF(cluster_cost.total_usd, 0) AS share_pct
FROM lines
CROSS JOIN cluster_cost
ORDER BY
    CASE lines.line WHEN 'tenant' THEN 0 WHEN 'shared' THEN 1 WHEN 'idle' THEN 2 ELSE 3 END,
    lines.cost_usd DESC,
    lines.tenant
