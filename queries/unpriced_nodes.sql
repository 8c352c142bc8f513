-- name: unpriced_nodes
-- description: Nodes the pricing catalog did not price for their own region:
--   priced at the default rate (price_source default) or at another region's
--   price (region_fallback). Add catalog rows (`--pricing FILE`) for them.
-- params: from=1970-01-01, to=9999-12-31
SELECT
    n.cluster,
    node,
    provider,
    region,
    machine_type,
    capacity_type,
    price_source,
    MIN(start_time) AS first_seen,
    MAX(end_time) AS last_seen,
    SUM(running_seconds) / 3600 AS node_hours,
    SUM(total_cost_usd) AS cost_usd
FROM nodes AS n
WHERE price_source IN ('default', 'region_fallback')
    AND date >= '{{from}}' AND date < '{{to}}'
GROUP BY n.cluster, node, provider, region, machine_type, capacity_type, price_source
ORDER BY cost_usd DESC, n.cluster, node
