#!/usr/bin/env python3
"""Times pyarrow's Parquet writer on the rows benches/collect.rs encodes.

Usage: pyarrow_write.py ROWS.arrow ROWS_PER_FILE REPEATS

Reads an Arrow IPC file (the hour of `samples` rows the Rust bench built),
cuts it into files of ROWS_PER_FILE rows as the collector does, and writes
each to memory with `pyarrow.parquet.write_table` using the collector's
settings (zstd level 3, dictionary encoding but on the columns written
DELTA_BINARY_PACKED, 256 Ki-row row groups). One
untimed warm-up, then REPEATS timed runs; prints one JSON object with the
median.

A slice of an Arrow dictionary column keeps the whole hour's dictionary, and
pyarrow writes a dictionary it is given as it is, in every row group; the
Rust writer re-encodes the values each row group uses. So each row group's
dictionary columns are first re-encoded with only the values it uses
(untimed), and the row groups of a file go through one `ParquetWriter`: the
files pyarrow writes then hold the same data as the Rust ones.
"""

import json
import statistics
import sys
import time

import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 256 * 1024
# store::dataset::delta_columns("samples"): no dictionary, DELTA_BINARY_PACKED.
DELTA_COLUMNS = ["ts", "cpu_usage_millicores", "memory_usage_bytes"]


def compact(table):
    """The table with each dictionary column holding only the values it uses."""
    columns = []
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_dictionary(field.type):
            column = column.cast(field.type.value_type).dictionary_encode()
            column = column.cast(field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema)


def write_hour(files):
    total = 0
    for row_groups in files:
        sink = pa.BufferOutputStream()
        with pq.ParquetWriter(
            sink,
            row_groups[0].schema,
            compression="zstd",
            compression_level=3,
            use_dictionary=[
                name for name in row_groups[0].schema.names if name not in DELTA_COLUMNS
            ],
            column_encoding={
                name: "DELTA_BINARY_PACKED"
                for name in DELTA_COLUMNS
                if name in row_groups[0].schema.names
            },
        ) as writer:
            for row_group in row_groups:
                writer.write_table(row_group, row_group_size=ROW_GROUP_ROWS)
        total += sink.getvalue().size
    return total


def row_groups(table):
    return [
        compact(table.slice(offset, ROW_GROUP_ROWS))
        for offset in range(0, max(table.num_rows, 1), ROW_GROUP_ROWS)
    ]


def main():
    path, rows_per_file, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with pa.memory_map(path) as source:
        table = pa.ipc.open_file(source).read_all()
        files = [
            row_groups(table.slice(offset, rows_per_file))
            for offset in range(0, max(table.num_rows, 1), rows_per_file)
        ]
        size = write_hour(files)
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            write_hour(files)
            seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    print(
        json.dumps(
            {
                "pyarrow": pa.__version__,
                "rows": table.num_rows,
                "bytes": size,
                "seconds_median": median,
                "rows_per_second": table.num_rows / median,
            }
        )
    )


if __name__ == "__main__":
    main()
