"""Runs SQL over a kubetally dataset with DuckDB and prints the rows as JSON,
for tests/query.rs to compare with what `kubetally query` (polars) returns.

Usage: python3 tests/queries_duckdb.py DATASET_DIR < cases.json

stdin:  [{"name": "...", "sql": "..."}, ...]
stdout: {"<name>": {"columns": [...], "rows": [[...], ...]}, ...}

Values are written as polars' JSON writer writes them, so the two sides
compare as data: timestamps as RFC 3339 in UTC (`2026-11-02T00:00:00+00:00`),
dates as `YYYY-MM-DD`, lists and structs as JSON arrays and objects.

Exits 3 when duckdb cannot be imported, so the test can tell "skip" from
"DuckDB could not run a query" (any other non-zero exit).
"""

import datetime
import decimal
import glob
import json
import os
import sys

TABLES = ("samples", "allocation", "nodes", "resources", "workloads", "recommendations")


def normalize(value):
    """One value as polars' JSON writer writes it."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc).isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    return value


def utc_naive(relation):
    """The relation with TIMESTAMPTZ columns as plain UTC timestamps: DuckDB
    needs pytz to hand zoned timestamps to Python, and the session is UTC."""
    columns = []
    for name, kind in zip(relation.columns, relation.types):
        quoted = '"' + name.replace('"', '""') + '"'
        if str(kind) == "TIMESTAMP WITH TIME ZONE":
            columns.append(f"CAST({quoted} AS TIMESTAMP) AS {quoted}")
        else:
            columns.append(quoted)
    return relation.project(", ".join(columns))


def table_glob(root, table):
    """The table's published files, as the collector lays them out."""
    return os.path.join(root, table, "cluster=*", "date=*", "*.parquet")


def focus_glob(root):
    """The FOCUS export written into the dataset (`kubetally export focus
    -o <root>/focus`), partitioned by billing period."""
    return os.path.join(root, "focus", "billing_period=*", "*.parquet")


def register_focus(connection, root):
    """The view `focus` over the export, when the dataset holds one."""
    pattern = focus_glob(root)
    if not glob.glob(pattern):
        return
    quoted = pattern.replace("'", "''")
    connection.execute(
        f"CREATE VIEW focus AS SELECT * FROM read_parquet('{quoted}', "
        "hive_partitioning = true, hive_types = {'billing_period': VARCHAR})"
    )


def main(root):
    try:
        import duckdb
    except ImportError as error:
        print(f"cannot import duckdb: {error}", file=sys.stderr)
        sys.exit(3)
    cases = json.load(sys.stdin)
    connection = duckdb.connect()
    # Timestamps are UTC in the files; DuckDB shows TIMESTAMPTZ in the
    # session's zone, and strftime/date parts follow it.
    connection.execute("SET TimeZone = 'UTC'")
    for table in TABLES:
        pattern = table_glob(root, table)
        if not glob.glob(pattern):
            continue
        quoted = pattern.replace("'", "''")
        connection.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{quoted}', "
            "hive_partitioning = true, hive_types = {'cluster': VARCHAR, 'date': DATE})"
        )
    register_focus(connection, root)
    results = {}
    for case in cases:
        try:
            relation = connection.sql(case["sql"])
            columns = relation.columns
            rows = utc_naive(relation).fetchall()
        except duckdb.Error as error:
            results[case["name"]] = {"error": str(error)}
            continue
        rows = [[normalize(v) for v in row] for row in rows]
        results[case["name"]] = {"columns": columns, "rows": rows}
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
