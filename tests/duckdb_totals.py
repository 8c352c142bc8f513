"""Reads a kubetally dataset with DuckDB and prints, as one JSON object, what
tests/duckdb.rs compares with the values the Rust side read.

Usage: python3 tests/duckdb_totals.py DATASET_DIR

Exits 3 when duckdb cannot be imported, so the test can tell "skip" from
"DuckDB could not read the dataset" (any other non-zero exit).
"""

import json
import sys

try:
    import duckdb
except ImportError as error:
    print(f"cannot import duckdb: {error}", file=sys.stderr)
    sys.exit(3)


def main(root):
    connection = duckdb.connect()
    quoted = root.replace("'", "''")
    for table in ("allocation", "nodes", "samples"):
        connection.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet("
            f"'{quoted}/{table}/**/*.parquet', hive_partitioning = true)"
        )

    def rows(sql):
        cursor = connection.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    result = {
        "columns": {
            table: [r["column_name"] for r in rows(f"DESCRIBE {table}")]
            for table in ("allocation", "nodes", "samples")
        },
        "partitions": rows(
            "SELECT DISTINCT cluster, CAST(date AS VARCHAR) AS date FROM allocation"
        ),
        # Per pod and hour, summed over containers.
        "pods": rows(
            """SELECT pod, CAST(epoch(start_time) AS BIGINT) AS start,
                      sum(running_seconds) AS running_seconds,
                      sum(sample_count) AS sample_count,
                      sum(total_cost_usd) AS total_cost_usd
               FROM allocation GROUP BY ALL ORDER BY ALL"""
        ),
        # Per node-hour: what its pods were charged next to its idle and total cost.
        "bill": rows(
            """SELECT n.node, CAST(epoch(n.start_time) AS BIGINT) AS start,
                      coalesce(a.charged, 0) AS charged_usd,
                      n.idle_cost_usd, n.total_cost_usd
               FROM nodes AS n LEFT JOIN (
                   SELECT cluster, date, node, start_time, sum(total_cost_usd) AS charged
                   FROM allocation GROUP BY ALL
               ) AS a USING (cluster, date, node, start_time)
               ORDER BY ALL"""
        ),
        "rows": rows("SELECT count(*) AS n FROM allocation")[0]["n"],
        "rows_on_date": rows(
            "SELECT count(*) AS n FROM allocation WHERE date = '2026-11-02'"
        )[0]["n"],
        "rows_on_other_date": rows(
            "SELECT count(*) AS n FROM allocation WHERE date = '2026-11-03'"
        )[0]["n"],
    }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
