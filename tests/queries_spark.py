"""Runs every bundled query of `queries/` in Spark SQL (pyspark, local mode)
on a kubetally dataset and compares the rows with what `kubetally query`
(polars) returns on the same Parquet directory. `.ci/run` runs it in its
extended part; tests/query.rs does the same comparison with DuckDB.

Usage: python3 tests/queries_spark.py KUBETALLY_BINARY DATASET_DIR

Each query runs as `kubetally query --print-sql spark` prints it: parameters
filled and the file's `-- spark:` change applied, as a user would paste it.

Exit codes: 0 all queries agree, 1 a query differs or fails in Spark,
3 pyspark or Java is not available (the caller prints SKIP).
"""

import json
import math
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from queries_duckdb import TABLES, normalize  # noqa: E402

# Bundled queries run once more with these parameters (as in tests/query.rs).
VARIANTS = {
    "cost_by_label": [["label=team"]],
    "gke_usage_metering": [["measure=usage"]],
    "chargeback_by_tenant": [["from=2026-11-02", "to=2026-11-03"]],
    "top_waste_workloads": [["top=3"]],
}


def kubetally(binary, *args):
    result = subprocess.run([binary, "query", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"kubetally query {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def bundled_names(binary):
    listing = kubetally(binary, "--list")
    return [line.split()[0] for line in listing.splitlines() if line and not line[0].isspace()]


def spark_value(value):
    """A Spark value as polars' JSON writer writes it (Rows are structs)."""
    if hasattr(value, "asDict"):
        return {k: spark_value(v) for k, v in value.asDict().items()}
    if isinstance(value, (list, tuple)):
        return [spark_value(v) for v in value]
    return normalize(value)


def rounded(value):
    if isinstance(value, float):
        return f"{value:.6e}"
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in sorted(value.items())}
    return value


def sort_rows(rows):
    return sorted(rows, key=lambda row: json.dumps(rounded(row), sort_keys=True, default=str))


def same(a, b):
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def start_spark():
    # Python datetimes from Spark are in the process's local zone: make it UTC.
    os.environ["TZ"] = "UTC"
    time.tzset()
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .appName("kubetally-queries")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def register(spark, root):
    for table in TABLES:
        folder = os.path.join(root, table)
        if not os.path.isdir(folder):
            continue
        frame = (
            spark.read.option("basePath", folder)
            .parquet(os.path.join(folder, "cluster=*", "date=*", "*.parquet"))
        )
        frame.createOrReplaceTempView(table)
    # The FOCUS export written into the dataset (`kubetally export focus -o <root>/focus`).
    folder = os.path.join(root, "focus")
    if os.path.isdir(folder):
        frame = (
            spark.read.option("basePath", folder)
            .parquet(os.path.join(folder, "billing_period=*", "*.parquet"))
        )
        frame.createOrReplaceTempView("focus")


def main(binary, root):
    try:
        import pyspark  # noqa: F401
    except ImportError as error:
        print(f"cannot import pyspark: {error}", file=sys.stderr)
        sys.exit(3)
    try:
        spark = start_spark()
    except Exception as error:  # Java missing or too old: pyspark raises its own types
        print(f"cannot start Spark (is Java 17 installed?): {error}", file=sys.stderr)
        sys.exit(3)
    spark.sparkContext.setLogLevel("ERROR")
    register(spark, root)

    failures = 0
    for name in bundled_names(binary):
        for params in [[]] + VARIANTS.get(name, []):
            flags = [arg for p in params for arg in ("--param", p)]
            label = name + "".join(f" {p}" for p in params)
            ours = json.loads(kubetally(binary, "--data", root, "-n", name, *flags, "--format", "json"))
            sql = kubetally(binary, "-n", name, *flags, "--print-sql", "spark")
            try:
                frame = spark.sql(sql)
                columns = frame.columns
                theirs = [[spark_value(v) for v in row] for row in frame.collect()]
            except Exception as error:
                print(f"FAIL {label}: Spark: {str(error).splitlines()[0]}")
                failures += 1
                continue
            ours_rows = [[row.get(c) for c in columns] for row in ours]
            expected_columns = list(ours[0].keys()) if ours else columns
            problem = None
            if columns != expected_columns:
                problem = f"columns {columns} != {expected_columns}"
            elif len(theirs) != len(ours_rows):
                problem = f"{len(theirs)} rows in Spark, {len(ours_rows)} in polars"
            else:
                for a, b in zip(sort_rows(ours_rows), sort_rows(theirs)):
                    if not same(a, b):
                        problem = f"polars {a}\n  != Spark {b}"
                        break
            if problem:
                print(f"FAIL {label}: {problem}")
                failures += 1
            else:
                print(f"ok   {label}: {len(theirs)} rows")
    spark.stop()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
