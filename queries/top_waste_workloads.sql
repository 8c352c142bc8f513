-- name: top_waste_workloads
-- description: The workloads whose containers were charged most for capacity
--   they did not use: billed (max of request and usage) minus used, in
--   core-hours, GiB-hours and USD.
-- params: from=1970-01-01, to=9999-12-31, top=20
--
-- waste_usd prices each hour's unused CPU and memory at that hour's node
-- prices (cost × (billed − used) / billed). These are the right-sizing
-- candidates with money attached.
WITH hourly AS (
    SELECT
        a.cluster,
        namespace,
        workload_kind,
        workload_name,
        cpu_billed_core_hours - cpu_usage_core_hours AS unused_cpu_core_hours,
        memory_billed_gib_hours - memory_usage_gib_hours AS unused_memory_gib_hours,
        total_cost_usd,
        COALESCE(cpu_cost_usd * (cpu_billed_core_hours - cpu_usage_core_hours)
            / NULLIF(cpu_billed_core_hours, 0), 0)
        + COALESCE(memory_cost_usd * (memory_billed_gib_hours - memory_usage_gib_hours)
            / NULLIF(memory_billed_gib_hours, 0), 0) AS waste_usd
    FROM allocation AS a
    WHERE date >= '{{from}}' AND date < '{{to}}'
)
SELECT
    h.cluster,
    namespace,
    workload_kind,
    workload_name,
    SUM(unused_cpu_core_hours) AS unused_cpu_core_hours,
    SUM(unused_memory_gib_hours) AS unused_memory_gib_hours,
    SUM(total_cost_usd) AS cost_usd,
    SUM(waste_usd) AS waste_usd,
    100 * SUM(waste_usd) / NULLIF(SUM(total_cost_usd), 0) AS waste_pct
FROM hourly AS h
GROUP BY h.cluster, namespace, workload_kind, workload_name
ORDER BY waste_usd DESC, h.cluster, namespace, workload_kind, workload_name
LIMIT {{top}}
