-- name: storage_waste
-- description: Disks no pod mounted in a period, with what they cost: one
--   line per volume and state, costliest first. `unmounted` disks are charged
--   to their claim's tenant (waste: delete the claim or mount it); `released`,
--   `available`, `failed` and `pending` disks no claim holds are cluster
--   overhead, in the shared cost (delete the volume, or give its StorageClass
--   reclaimPolicy Delete).
-- params: from=1970-01-01, to=9999-12-31
--
-- `from` is inclusive, `to` exclusive (UTC dates). hours is how long the disk
-- sat in that state in the period; monthly_usd what it costs a month at its
-- highest hourly price there (730 hours a month), i.e. what deleting it saves.
SELECT
    r.cluster,
    r.tenant,
    r.state,
    r.resource_name AS volume,
    r.claim,
    r.storage_class,
    r.sku,
    MAX(r.size_gib) AS size_gib,
    SUM(r.running_seconds) / 3600 AS hours,
    SUM(r.cost_usd) AS cost_usd,
    MAX(r.hourly_usd) * 730 AS monthly_usd
FROM resources AS r
WHERE r.kind = 'disk' AND r.state <> 'mounted'
    AND r.date >= '{{from}}' AND r.date < '{{to}}'
GROUP BY r.cluster, r.tenant, r.state, r.resource_name, r.claim, r.storage_class, r.sku
ORDER BY cost_usd DESC, r.cluster, volume, r.state
