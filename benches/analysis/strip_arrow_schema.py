#!/usr/bin/env python3
"""Copies a kubetally dataset with every Parquet file rewritten without the
`ARROW:schema` footer entry, for the what-if in docs/performance.md
(Analysis): polars then reads the string columns as plain strings instead of
re-interning every row into a Categorical.

Usage: strip_arrow_schema.py DATASET_DIR COPY_DIR

Same codec (zstd 3), dictionary pages and 256 Ki-row row groups as the
collector's writer; only the Arrow schema entry is left out. Then:

    KUBETALLY_BENCH_DATA_DIR=PARENT_OF_COPY_DIR cargo bench --bench analysis

with COPY_DIR named like the original (`analysis-150000`) and its VERSION
file copied over.
"""

import os
import shutil
import sys
import time

import pyarrow.parquet as pq


def main(source, target):
    started = time.time()
    for folder, _, names in os.walk(source):
        for name in names:
            path = os.path.join(folder, name)
            out = os.path.join(target, os.path.relpath(path, source))
            os.makedirs(os.path.dirname(out), exist_ok=True)
            if not name.endswith(".parquet"):
                shutil.copyfile(path, out)
                continue
            table = pq.read_table(path, partitioning=None)
            pq.write_table(
                table,
                out,
                compression="zstd",
                compression_level=3,
                use_dictionary=True,
                store_schema=False,
                row_group_size=256 * 1024,
            )
    print(f"{time.time() - started:.1f} s")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
