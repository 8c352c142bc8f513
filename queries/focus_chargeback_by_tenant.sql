-- name: focus_chargeback_by_tenant
-- description: The per-tenant bill from kubetally's FOCUS 1.3 export instead
--   of its own tables: one line per tenant, shared (__shared__) and idle (the
--   unallocated remainder of every node-hour), with the same cost_usd as
--   chargeback_by_tenant's lines. Reads the table `focus`: the export written
--   into the dataset (`kubetally export focus --data DIR -o DIR/focus`).
-- params: from=1970-01-01, to=9999-12-31
--
-- `from` is inclusive, `to` exclusive (UTC dates of ChargePeriodStart).
-- The tenant is the `kubetally.io/tenant` key of AllocatedTags, which the
-- export also writes as the flat column x_Tenant: the same on every engine,
-- with no JSON function (polars SQL has none). Rows of a split carry
-- x_Tenant; the remainder rows (AllocatedResourceId null) carry none and are
-- the idle line; plain charges nothing in the cluster owns (the cluster fee,
-- disks no claim holds) are __shared__. Costs are summed as DOUBLE so every
-- engine returns the same type.
SELECT
    CASE
        WHEN x_Tenant IS NULL THEN 'idle'
        WHEN x_Tenant = '__shared__' THEN 'shared'
        ELSE 'tenant'
    END AS line,
    COALESCE(x_Tenant, '__idle__') AS tenant,
    SUM(CAST(BilledCost AS DOUBLE)) AS cost_usd,
    SUM(CAST(EffectiveCost AS DOUBLE)) AS effective_cost_usd,
    SUM(CAST(ListCost AS DOUBLE)) AS list_cost_usd,
    COUNT(*) AS focus_rows
FROM focus
WHERE CAST(ChargePeriodStart AS DATE) >= '{{from}}'
    AND CAST(ChargePeriodStart AS DATE) < '{{to}}'
GROUP BY 1, 2
ORDER BY
    CASE line WHEN 'tenant' THEN 0 WHEN 'shared' THEN 1 ELSE 2 END,
    cost_usd DESC,
    tenant
