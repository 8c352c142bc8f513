-- name: cost_by_label
-- description: Cost per value of one pod label (`label`, e.g. app, team,
--   app.kubernetes.io/name), with pods that lack the label as one line
--   whose label_value is NULL.
-- params: label=app, from=1970-01-01, to=9999-12-31
-- spark: CROSS JOIN UNNEST(a.labels) AS l => LATERAL VIEW explode(a.labels) exploded AS l
--
-- allocation.labels holds the pod's labels as a list of key/value structs
-- (like GKE usage metering's `labels`); the UNNEST turns it into one row per
-- label. BigQuery, DuckDB and polars run it as written.
WITH labelled AS (
    SELECT
        l.value AS label_value,
        a.pod_uid,
        a.cpu_billed_core_hours,
        a.memory_billed_gib_hours,
        a.total_cost_usd
    FROM allocation AS a
    CROSS JOIN UNNEST(a.labels) AS l
    WHERE l.key = '{{label}}' AND a.date >= '{{from}}' AND a.date < '{{to}}'
),
by_value AS (
    SELECT
        label_value,
        COUNT(DISTINCT pod_uid) AS pods,
        SUM(cpu_billed_core_hours) AS cpu_core_hours,
        SUM(memory_billed_gib_hours) AS memory_gib_hours,
        SUM(total_cost_usd) AS cost_usd
    FROM labelled
    GROUP BY label_value
),
everything AS (
    SELECT
        COUNT(DISTINCT pod_uid) AS pods,
        SUM(cpu_billed_core_hours) AS cpu_core_hours,
        SUM(memory_billed_gib_hours) AS memory_gib_hours,
        SUM(total_cost_usd) AS cost_usd
    FROM allocation
    WHERE date >= '{{from}}' AND date < '{{to}}'
),
with_label AS (
    SELECT
        COUNT(DISTINCT pod_uid) AS pods,
        SUM(cpu_billed_core_hours) AS cpu_core_hours,
        SUM(memory_billed_gib_hours) AS memory_gib_hours,
        SUM(total_cost_usd) AS cost_usd
    FROM labelled
)
SELECT label_value, pods, cpu_core_hours, memory_gib_hours, cost_usd
FROM by_value
UNION ALL
SELECT
    CAST(NULL AS STRING) AS label_value,
    everything.pods - with_label.pods AS pods,
    everything.cpu_core_hours - COALESCE(with_label.cpu_core_hours, 0) AS cpu_core_hours,
    everything.memory_gib_hours - COALESCE(with_label.memory_gib_hours, 0) AS memory_gib_hours,
    everything.cost_usd - COALESCE(with_label.cost_usd, 0) AS cost_usd
FROM everything
CROSS JOIN with_label
ORDER BY cost_usd DESC, label_value
