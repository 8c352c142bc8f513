-- name: idle_cost_by_node_pool
-- description: Node cost and idle cost (what no container was charged) per
--   node pool and machine type, with how much of the allocatable CPU and
--   memory the containers used.
-- params: from=1970-01-01, to=9999-12-31
--
-- node_pool is empty for nodes outside any pool. Usage percentages are of
-- allocatable capacity over the time the nodes ran.
SELECT
    n.cluster,
    node_pool,
    machine_type,
    capacity_type,
    COUNT(DISTINCT node) AS nodes,
    SUM(running_seconds) / 3600 AS node_hours,
    SUM(total_cost_usd) AS cost_usd,
    SUM(idle_cost_usd) AS idle_cost_usd,
    100 * SUM(idle_cost_usd) / NULLIF(SUM(total_cost_usd), 0) AS idle_pct,
    100 * SUM(cpu_usage_core_hours)
        / NULLIF(SUM(allocatable_cpu_cores * running_seconds / 3600), 0) AS cpu_used_pct,
    100 * SUM(memory_usage_gib_hours)
        / NULLIF(SUM(allocatable_memory_bytes * running_seconds / 3600 / 1073741824), 0)
        AS memory_used_pct
FROM nodes AS n
WHERE date >= '{{from}}' AND date < '{{to}}'
GROUP BY n.cluster, node_pool, machine_type, capacity_type
ORDER BY idle_cost_usd DESC, n.cluster, node_pool, machine_type, capacity_type
