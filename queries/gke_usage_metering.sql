-- name: gke_usage_metering
-- description: allocation in the shape of GKE usage metering's BigQuery
--   export: gke_cluster_resource_usage (measure=request, the default) or
--   gke_cluster_resource_consumption (measure=usage). One row per container,
--   hour and resource (cpu, memory); usage_amount in seconds (CPU
--   core-seconds) or byte-seconds; labels as key/value records. Queries
--   written for GKE's export port over.
-- params: measure=request, from=1970-01-01, to=9999-12-31
--
-- Create one view per GKE table: `kubetally query -n gke_usage_metering
-- --print-sql bigquery --param measure=usage` prints the consumption one.
-- Differences from GKE's tables, and why:
-- * usage.amount / usage.unit and project.id are flat columns (usage_amount,
--   usage_unit, project_id): polars SQL cannot build a struct. To get GKE's
--   nested names, select over this query with
--     BigQuery: STRUCT(usage_amount AS amount, usage_unit AS unit) AS usage, STRUCT(project_id AS id) AS project
--     DuckDB:   {'amount': usage_amount, 'unit': usage_unit} AS usage, {'id': project_id} AS project
--     Spark:    named_struct('amount', usage_amount, 'unit', usage_unit) AS usage, named_struct('id', project_id) AS project
-- * sku_id and project_id are NULL: the collector does not see billing SKUs
--   or projects. Join on machine_family/region with your billing export instead.
-- * cluster_location is the nodes' region (a regional cluster's location).
-- * Rows are per container-hour, finer than GKE's per namespace and label
--   set; sums by namespace, label or resource are the same.
-- * fraction is the request (or usage) over the node's capacity (CPU
--   cores, memory bytes) for the hour; cloud_resource_size is 1 (one VM).
WITH containers AS (
    SELECT
        a.cluster,
        a.date,
        a.node,
        a.region,
        a.namespace,
        a.start_time,
        a.end_time,
        a.labels,
        a.cpu_{{measure}}_core_hours AS cpu_core_hours,
        a.memory_{{measure}}_gib_hours AS memory_gib_hours
    FROM allocation AS a
    WHERE a.date >= '{{from}}' AND a.date < '{{to}}'
),
capacity AS (
    SELECT n.cluster, n.date, n.node, n.start_time, n.vcpus, n.memory_bytes
    FROM nodes AS n
    WHERE n.date >= '{{from}}' AND n.date < '{{to}}'
),
priced AS (
    SELECT
        c.cluster,
        c.region,
        c.namespace,
        c.start_time,
        c.end_time,
        c.labels,
        c.cpu_core_hours,
        c.memory_gib_hours,
        k.vcpus,
        k.memory_bytes
    FROM containers AS c
    INNER JOIN capacity AS k
        ON k.cluster = c.cluster
        AND k.date = c.date
        AND k.node = c.node
        AND k.start_time = c.start_time
),
measured AS (
    SELECT
        p.cluster, region, namespace, start_time, end_time, labels,
        'cpu' AS resource_name,
        cpu_core_hours * 3600 AS usage_amount,
        'seconds' AS usage_unit,
        cpu_core_hours / NULLIF(vcpus, 0) AS fraction
    FROM priced AS p
    UNION ALL
    SELECT
        p.cluster, region, namespace, start_time, end_time, labels,
        'memory' AS resource_name,
        memory_gib_hours * 3600 * 1073741824 AS usage_amount,
        'byte-seconds' AS usage_unit,
        memory_gib_hours * 1073741824 / NULLIF(memory_bytes, 0) AS fraction
    FROM priced AS p
)
SELECT
    r.region AS cluster_location,
    r.cluster AS cluster_name,
    namespace,
    resource_name,
    CAST(NULL AS STRING) AS sku_id,
    start_time,
    end_time,
    fraction,
    1 AS cloud_resource_size,
    labels,
    CAST(NULL AS STRING) AS project_id,
    usage_amount,
    usage_unit
FROM measured AS r
