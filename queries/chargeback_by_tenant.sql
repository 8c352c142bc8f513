-- name: chargeback_by_tenant
-- description: The bill for a period: one line per tenant (cost charged to its
--   containers), then shared cost (tenant __shared__), idle cost (what no
--   container was charged) and the total, which equals what the nodes cost.
-- params: from=1970-01-01, to=9999-12-31
-- bigquery: CAST(NULL AS DOUBLE) => CAST(NULL AS FLOAT64)
--
-- `from` is inclusive, `to` exclusive (UTC dates); both filter the `date`
-- partition, so only the period's files are read. Tenant lines are ordered by
-- cost; share_pct is each line's percent of the total.
WITH tenants AS (
    SELECT
        CASE WHEN tenant = '__shared__' THEN 'shared' ELSE 'tenant' END AS line,
        tenant,
        SUM(cpu_billed_core_hours) AS cpu_core_hours,
        SUM(memory_billed_gib_hours) AS memory_gib_hours,
        SUM(total_cost_usd) AS cost_usd
    FROM allocation
    WHERE date >= '{{from}}' AND date < '{{to}}'
    GROUP BY tenant
),
node_cost AS (
    SELECT
        SUM(idle_cost_usd) AS idle_usd,
        SUM(total_cost_usd) AS total_usd
    FROM nodes
    WHERE date >= '{{from}}' AND date < '{{to}}'
),
lines AS (
    SELECT line, tenant, cpu_core_hours, memory_gib_hours, cost_usd
    FROM tenants
    UNION ALL
    SELECT 'idle' AS line, '__idle__' AS tenant, CAST(NULL AS DOUBLE) AS cpu_core_hours,
        CAST(NULL AS DOUBLE) AS memory_gib_hours, idle_usd AS cost_usd
    FROM node_cost
    UNION ALL
    SELECT 'total' AS line, '__total__' AS tenant, CAST(NULL AS DOUBLE) AS cpu_core_hours,
        CAST(NULL AS DOUBLE) AS memory_gib_hours, total_usd AS cost_usd
    FROM node_cost
)
SELECT
    lines.line,
    lines.tenant,
    lines.cpu_core_hours,
    lines.memory_gib_hours,
    lines.cost_usd,
    100 * lines.cost_usd / NULLIF(node_cost.total_usd, 0) AS share_pct
FROM lines
CROSS JOIN node_cost
ORDER BY
    CASE lines.line WHEN 'tenant' THEN 0 WHEN 'shared' THEN 1 WHEN 'idle' THEN 2 ELSE 3 END,
    lines.cost_usd DESC,
    lines.tenant
