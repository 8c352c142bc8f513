"""Independent totals of the billing samples in ../shared/billing/, for the
table of tests/bill_exports.rs: DuckDB reads each file with its own CSV
reader and sums billed and effective cost by each export's rule, written
here in SQL (GCP's Python-literal credits are summed in Python).

Usage: python3 tests/bill_totals.py  (prints one line per sample)
"""

import ast
import csv
import gzip
import os

import duckdb

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "billing")


def focus(path):
    return duckdb.sql(
        f"""SELECT count(*), sum(BilledCost::DOUBLE), sum(EffectiveCost::DOUBLE)
        FROM read_csv('{path}', all_varchar = true, nullstr = ['NULL', 'null'])"""
    ).fetchall()[0]


def aws(path, legacy):
    c = (lambda snake, slash: f'"{slash}"') if legacy else (lambda snake, slash: snake)
    t = c("line_item_line_item_type", "lineItem/LineItemType")
    u = f'coalesce(try_cast({c("line_item_unblended_cost", "lineItem/UnblendedCost")} AS DOUBLE), 0)'
    ri = f'coalesce(try_cast({c("reservation_effective_cost", "reservation/EffectiveCost")} AS DOUBLE), 0)'
    sp = f'coalesce(try_cast({c("savings_plan_savings_plan_effective_cost", "savingsPlan/SavingsPlanEffectiveCost")} AS DOUBLE), 0)'
    return duckdb.sql(
        f"""SELECT count(*), sum({u}), sum(CASE {t}
              WHEN 'DiscountedUsage' THEN {ri}
              WHEN 'SavingsPlanCoveredUsage' THEN {sp}
              WHEN 'SavingsPlanNegation' THEN 0
              ELSE {u} END)
        FROM read_csv('{path}', all_varchar = true)"""
    ).fetchall()[0]


def azure(path, cost="CostInBillingCurrency"):
    committed = "PricingModel IN ('Reservation', 'SavingsPlan')"
    return duckdb.sql(
        f"""SELECT count(*),
          sum(CASE WHEN ChargeType = 'Usage' AND {committed} THEN 0
                   WHEN ChargeType LIKE 'Unused%' THEN 0
                   ELSE coalesce({cost}::DOUBLE, 0) END),
          sum(CASE WHEN ChargeType = 'Purchase' AND {committed} THEN 0
                   ELSE coalesce({cost}::DOUBLE, 0) END)
        FROM read_csv('{path}', all_varchar = true)"""
    ).fetchall()[0]


def azure_plain(path, cost="costinbillingcurrency"):
    """Azure exports without ChargeType/PricingModel: every cost is both."""
    return duckdb.sql(
        f"""SELECT count(*), sum(coalesce({cost}::DOUBLE, 0)), sum(coalesce({cost}::DOUBLE, 0))
        FROM read_csv('{path}', all_varchar = true, null_padding = true)"""
    ).fetchall()[0]


def gcp(path):
    rows = list(csv.DictReader(open(path)))
    billed = sum(float(r["cost"]) for r in rows)
    credits = sum(
        float(c["amount"]) for r in rows for c in ast.literal_eval(r["credits"] or "[]")
    )
    return len(rows), billed, billed + credits


SAMPLES = [
    ("focus-sample-data-1.0/focus_sample.csv.gz", focus),
    ("focus-data-toolkit-1.3-synthetic/aws_1_3_cost_and_usage_rows100_seed42.csv", focus),
    ("focus-data-toolkit-1.3-synthetic/azure_1_3_cost_and_usage_rows100_seed42.csv", focus),
    ("focus-data-toolkit-1.3-synthetic/gcp_1_3_cost_and_usage_rows100_seed42.csv", focus),
    ("koku-billing-fixtures/gcp/202011_30c31bca571d9b7f3b2c8459dd8bc34a_2020-11-08_2020-11-11.csv", gcp),
    ("koku-billing-fixtures/gcp/2022-08-01_5.csv", gcp),
    ("focus-converters/sample-anonymous-aws-export-dataset.csv.gz", lambda p: aws(p, True)),
    ("koku-billing-fixtures/aws/2023-06-01.csv", lambda p: aws(p, True)),
    ("koku-billing-fixtures/aws/2022-07-01-alt-columns.csv", lambda p: aws(p, False)),
    ("finops-toolkit-azure/EA_ActualCost_Small.csv", lambda p: azure(p, "Cost")),
    ("finops-toolkit-azure/EA_AmortizedCost_Small.csv", lambda p: azure(p, "Cost")),
    ("focus-converters/sample-anonymous-ea-export-dataset.csv", azure),
    ("koku-billing-fixtures/azure/azure_version_2.csv", azure),
    ("opencost-azure-billingexports/values/Template.csv", azure_plain),
]

for name, total in SAMPLES:
    rows, billed, effective = total(os.path.join(ROOT, name))
    print(f"{name}: rows={rows} billed={billed!r} effective={effective!r}")
