#!/usr/bin/env python3
"""Times DuckDB on the SQL benches/analysis/main.rs times in polars, on the
same files.

Usage: duckdb_run.py DATASET_DIR THREADS REPEATS < case.json
       duckdb_run.py --install

stdin:  {"name": "...", "statements": ["SELECT ...", ...]}
stdout: one JSON object: DuckDB's version, the threads, the peak resident
        memory of this process after the first run (KiB, VmHWM), the highest
        anonymous memory sampled during it (KiB, RssAnon) and its
        resident memory before any (VmRSS), every run's seconds and
        their median, rows per statement, each statement's median seconds.

One run is what `kubetally query` does for one invocation: open the dataset
(a fresh in-memory connection, `threads` set, a view per table over
`read_parquet(..., hive_partitioning = true)` as tests/queries_duckdb.py
declares them), run every statement and fetch its rows. The first run is the
one whose peak memory is reported (this process is fresh, as the polars
child is); it is not timed. Then REPEATS timed runs.

--install makes sure the packages this needs (duckdb, and pyarrow for the
columnar results) import, running `python3 -m pip install --quiet duckdb
pyarrow` (then with --user, as .ci/run does) when they do not; the bench
runs it once before its cases. It prints what is installed, or exits 3 with
one line naming the packages and the pip command.

Exits 3 when duckdb or pyarrow cannot be imported, so the bench can print SKIP.
"""

import glob
import json
import re
import os
import statistics
import subprocess
import sys
import threading
import time

TABLES = ("samples", "allocation", "nodes", "resources", "workloads", "recommendations")
PACKAGES = ("duckdb", "pyarrow")
PIP = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]


def missing_packages():
    """The PACKAGES a fresh interpreter cannot import (a fresh one, so a
    --user install made by this process is seen)."""
    return [
        package
        for package in PACKAGES
        if subprocess.run(
            [sys.executable, "-c", f"import {package}"], capture_output=True
        ).returncode
        != 0
    ]


def install():
    """Installs the missing PACKAGES with pip, then with pip --user; exits 3
    with one line when they still do not import."""
    missing = missing_packages()
    failures = []
    for extra in ([], ["--user"]):
        if not missing:
            break
        done = subprocess.run(PIP + extra + list(PACKAGES), capture_output=True, text=True)
        lines = (done.stderr or done.stdout).strip().splitlines()
        failures.append(lines[-1] if lines else f"exit status {done.returncode}")
        missing = missing_packages()
    if missing:
        command = f"{sys.executable} -m pip install {' '.join(PACKAGES)}"
        print(
            f"{' and '.join(PACKAGES)} are needed, {', '.join(missing)} would not import, "
            f"and `{command}` failed: {'; with --user: '.join(failures)}",
            file=sys.stderr,
        )
        sys.exit(3)
    versions = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, pyarrow; print(f'duckdb {duckdb.__version__}, pyarrow {pyarrow.__version__}')",
        ],
        capture_output=True,
        text=True,
    )
    print(versions.stdout.strip())


def status_kib(field):
    """A kB field of /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def peak_kib():
    """Peak resident memory of this process (VmHWM). Not getrusage's
    ru_maxrss: Linux carries the parent's peak into it across fork + exec,
    so it reported the bench process's own peak."""
    return status_kib("VmHWM")


class AnonPeak:
    """The highest RssAnon of this process, read every 2 ms on a thread of
    its own while a run goes (DuckDB releases the GIL while it works): the
    heap alone, as the polars child's is measured."""

    def __init__(self):
        self.most = status_kib("RssAnon")
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self):
        while not self.done.is_set():
            self.most = max(self.most, status_kib("RssAnon"))
            time.sleep(0.002)

    def finish(self):
        self.done.set()
        self.thread.join()
        return max(self.most, status_kib("RssAnon"))


def rss_kib():
    """Resident memory now (VmRSS)."""
    return status_kib("VmRSS")


def open_dataset(duckdb, root, threads, statements):
    connection = duckdb.connect()
    connection.execute(f"SET threads = {int(threads)}")
    connection.execute("SET TimeZone = 'UTC'")
    for table in TABLES:
        pattern = os.path.join(root, table, "cluster=*", "date=*", "*.parquet")
        if not glob.glob(pattern):
            continue
        quoted = pattern.replace("'", "''")
        connection.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{quoted}', "
            "hive_partitioning = true, hive_types = {'cluster': VARCHAR, 'date': DATE})"
        )
    # The FOCUS export written into the dataset, by billing period; only
    # for statements that read it: the view reads the footer of its 86 M
    # rows on every fresh connection, which would count in every case.
    pattern = os.path.join(root, "focus", "billing_period=*", "*.parquet")
    reads_focus = any(re.search(r"\b(from|join)\s+focus\b", s, re.IGNORECASE) for s in statements)
    if reads_focus and glob.glob(pattern):
        quoted = pattern.replace("'", "''")
        connection.execute(
            f"CREATE VIEW focus AS SELECT * FROM read_parquet('{quoted}', "
            "hive_partitioning = true, hive_types = {'billing_period': VARCHAR})"
        )
    return connection


def run(duckdb, root, threads, statements, each=None):
    """One run; appends each statement's seconds to `each` when given."""
    connection = open_dataset(duckdb, root, threads, statements)
    rows = []
    for index, sql in enumerate(statements):
        started = time.perf_counter()
        # Columnar, as polars collects a DataFrame (and no pytz needed for
        # TIMESTAMPTZ results).
        rows.append(connection.sql(sql).to_arrow_table().num_rows)
        if each is not None:
            each[index].append(time.perf_counter() - started)
    connection.close()
    return rows


def main(root, threads, repeats):
    try:
        import duckdb
        import pyarrow  # noqa: F401  (to_arrow_table needs it)
    except ImportError as error:
        print(f"cannot import {error.name}: {error}", file=sys.stderr)
        sys.exit(3)
    case = json.load(sys.stdin)
    statements = case["statements"]
    baseline = rss_kib()
    anon = AnonPeak()
    rows = run(duckdb, root, threads, statements)
    anon_peak = anon.finish()
    peak = peak_kib()
    seconds = []
    each = [[] for _ in statements]
    for _ in range(repeats):
        started = time.perf_counter()
        run(duckdb, root, threads, statements, each)
        seconds.append(time.perf_counter() - started)
    json.dump(
        {
            "name": case["name"],
            "duckdb": duckdb.__version__,
            "threads": threads,
            "baseline_kib": baseline,
            "peak_kib": peak,
            "anon_peak_kib": anon_peak,
            "seconds": seconds,
            "median_seconds": statistics.median(seconds) if seconds else None,
            "rows": rows,
            "statement_median_seconds": [
                statistics.median(times) if times else None for times in each
            ],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--install"]:
        install()
    elif len(sys.argv) != 4:
        sys.exit(__doc__)
    else:
        main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
