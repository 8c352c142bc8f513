"""DuckDB's side of benches/reconcile.rs: the month's GCP bill joined to the
metered node-hours, grouped per node, hour and part, as `reconcile` matches
them. Prints the groups and matched lines, then `SECONDS <median>` of three
runs, each on a fresh connection. Exit 3 (SKIP) without duckdb."""

import statistics
import sys
import time

try:
    import duckdb
except ImportError as error:  # pragma: no cover - depends on the machine
    print(f"python3 -m pip install duckdb: {error}", file=sys.stderr)
    sys.exit(3)

SQL = """
WITH b AS (
    SELECT regexp_extract("resource.name", '[^/]+$') AS node,
           CAST("usage_start_time" AS TIMESTAMP) AS hour,
           CASE WHEN "sku.description" LIKE '%Core%' THEN 'cpu'
                WHEN "sku.description" LIKE '%Ram%' THEN 'memory' ELSE 'other' END AS part,
           "cost" AS billed,
           "cost" + COALESCE(list_sum(list_transform(
               from_json("credits", '[{"amount":"DOUBLE"}]'), lambda c: c.amount)), 0) AS effective
    FROM read_csv('{dir}/bill.csv', header = true, all_varchar = false)
),
m AS (
    SELECT node, CAST(hour AS TIMESTAMP) AS hour, cpu_usd, memory_usd
    FROM read_csv('{dir}/metered.csv', header = true)
)
SELECT COUNT(*) AS groups, SUM(lines) AS lines, SUM(effective) AS effective FROM (
    SELECT m.node, m.hour, b.part, COUNT(*) AS lines, SUM(b.billed) AS billed,
           SUM(b.effective) AS effective,
           ANY_VALUE(CASE b.part WHEN 'cpu' THEN m.cpu_usd ELSE m.memory_usd END) AS list
    FROM b JOIN m ON b.node = m.node AND b.hour = m.hour
    GROUP BY m.node, m.hour, b.part
)
"""


def main() -> None:
    directory, threads = sys.argv[1], int(sys.argv[2])
    sql = SQL.replace("{dir}", directory)
    times = []
    for _ in range(3):
        connection = duckdb.connect()
        connection.execute(f"SET threads = {threads}")
        started = time.perf_counter()
        groups, lines, effective = connection.execute(sql).fetchone()
        times.append(time.perf_counter() - started)
        connection.close()
    print(f"reconcile/month: DuckDB {duckdb.__version__}: {groups} groups, {lines} lines matched, effective {effective:.2f}")
    print(f"SECONDS {statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
