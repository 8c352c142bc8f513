-- name: daily_cost_trend
-- description: What the nodes cost each UTC day, split into the part charged
--   to containers and the idle part, with the change against the day before.
-- params: from=1970-01-01, to=9999-12-31
--
-- "The day before" is the previous day with data.
WITH daily AS (
    SELECT
        date,
        SUM(running_seconds) / 3600 AS node_hours,
        SUM(total_cost_usd) AS cost_usd,
        SUM(allocated_cost_usd) AS allocated_cost_usd,
        SUM(idle_cost_usd) AS idle_cost_usd
    FROM nodes
    WHERE date >= '{{from}}' AND date < '{{to}}'
    GROUP BY date
)
SELECT
    date,
    node_hours,
    cost_usd,
    allocated_cost_usd,
    idle_cost_usd,
    100 * idle_cost_usd / NULLIF(cost_usd, 0) AS idle_pct,
    cost_usd - LAG(cost_usd) OVER (ORDER BY date) AS change_usd
FROM daily
ORDER BY date
