#!/usr/bin/env python3
"""Builds the embedded pricing catalog from the project's researched price files.

Input: the shared price research (`shared/pricing/*.csv`, see its pricing_notes.md
for every source and method). Output, committed next to this script:

- catalog.csv        one row per price, in kubetally's catalog format (docs/pricing.md)
- machine_types.csv  machine shapes (vCPUs, GiB, billed vCPUs of shared-core types)

Run: python3 src/pricing/data/generate.py ../shared/pricing
Choices made here (also in docs/pricing.md):
- GCP families with an exact per-vCPU / per-GiB fit become family-wide rows.
- C2 and T2D, whose split is not identifiable, become per-machine-type rows
  (`instance_hour_usd`); kubetally splits them into CPU and memory at run time.
- AWS spot prices are per availability zone; the catalog keeps their mean.
- Preemptible rows are not written: preemptible is priced as spot at lookup.
- Where the research holds two spot prices for a GPU, the newer one is kept.
"""
import csv, os, re, sys
from collections import defaultdict
from statistics import mean

src = sys.argv[1] if len(sys.argv) > 1 else '../shared/pricing'
out = os.path.dirname(os.path.abspath(__file__))
HEADER = ['provider', 'region', 'machine_family', 'machine_type', 'capacity_type',
          'vcpu_hour_usd', 'memory_gib_hour_usd', 'gpu_type', 'gpu_hour_usd',
          'instance_hour_usd', 'as_of', 'source']

def rows(name):
    with open(os.path.join(src, name), newline='') as f:
        return list(csv.DictReader(f))

def num(text):
    # Shortest text that round-trips the source value; no float noise.
    return repr(float(text)).removesuffix('.0') if text else ''

def family_of(provider, machine_type):
    if provider == 'gcp':
        head = machine_type.split('-')[0]
        return 'n1' if head == 'custom' else head
    if provider == 'aws':
        return machine_type.split('.')[0]
    # azure: Standard_D4s_v5 -> ds_v5 (the size digits removed, the version kept)
    match = re.match(r'([A-Za-z]+)\d+([a-z]*)(_v\d+)?', machine_type.removeprefix('Standard_'))
    return ''.join(part or '' for part in match.groups()).lower() if match else ''

catalog = []
split_unknown = set()
for r in rows('gcp_pricing.csv'):
    if not r['vcpu_hour_usd']:
        split_unknown.add(r['machine_family'].lower())
        continue
    catalog.append({'provider': 'gcp', 'region': r['region'], 'machine_family': r['machine_family'].lower(),
                    'capacity_type': r['capacity_type'], 'vcpu_hour_usd': num(r['vcpu_hour_usd']),
                    'memory_gib_hour_usd': num(r['memory_gib_hour_usd']), 'as_of': r['as_of'], 'source': r['source']})

columns = {'on_demand': 'on_demand_hour_usd', 'spot': 'spot_hour_usd', 'cud_1y': 'cud_1y_hour_usd', 'cud_3y': 'cud_3y_hour_usd'}
for r in rows('gcp_instance_prices.csv'):
    family = family_of('gcp', r['machine_type'])
    if family not in split_unknown:
        continue
    for capacity, column in columns.items():
        if r[column]:
            catalog.append({'provider': 'gcp', 'region': r['region'], 'machine_family': family,
                            'machine_type': r['machine_type'], 'capacity_type': capacity,
                            'instance_hour_usd': num(r[column]), 'as_of': r['as_of'], 'source': r['source']})

newest = {}
for r in rows('gcp_gpu_pricing.csv'):
    key = (r['region'], r['gpu_type'], r['capacity_type'])
    dated = r['as_of'][:10] if r['as_of'][:4].isdigit() else r['as_of'].lstrip('~')[:10]
    if key not in newest or dated > newest[key][0]:
        newest[key] = (dated, r)
for (region, gpu_type, capacity), (dated, r) in sorted(newest.items()):
    catalog.append({'provider': 'gcp', 'region': region, 'capacity_type': capacity,
                    'gpu_type': gpu_type.split(' ')[0], 'gpu_hour_usd': num(r['gpu_hour_usd']),
                    'as_of': dated, 'source': r['source'] + ('' if r['as_of'] == dated else f" (snapshot date {r['as_of']})")})

shapes = []
for r in rows('gcp_machine_types.csv'):
    shapes.append({'provider': 'gcp', 'machine_type': r['machine_type'], 'machine_family': r['family'].lower(),
                   'vcpus': r['vcpus'], 'memory_gib': r['memory_gib'], 'billed_vcpus': r['billed_vcpus'] or r['vcpus'],
                   'source': r['source']})

other = defaultdict(list)
for r in rows('other_pricing.csv'):
    other[(r['provider'], r['region'], r['instance_type'], r['capacity_type'])].append(r)
seen_shapes = set()
for (provider, region, machine_type, capacity), group in sorted(other.items()):
    first = group[0]
    price = mean(float(g['hourly_usd']) for g in group)
    source = first['source'] + (f' (mean of {len(group)} availability-zone spot prices)' if len(group) > 1 else '')
    as_of = first['as_of'] if first['as_of'][:4].isdigit() else ''  # empty: the snapshot date is unknown
    catalog.append({'provider': provider, 'region': region, 'machine_family': family_of(provider, machine_type),
                    'machine_type': machine_type, 'capacity_type': capacity, 'instance_hour_usd': num(repr(round(price, 9))),
                    'as_of': as_of, 'source': source})
    if machine_type not in seen_shapes:
        seen_shapes.add(machine_type)
        shapes.append({'provider': provider, 'machine_type': machine_type, 'machine_family': family_of(provider, machine_type),
                       'vcpus': first['vcpus'], 'memory_gib': first['memory_gib'], 'billed_vcpus': first['vcpus'],
                       'source': first['source']})

with open(os.path.join(out, 'catalog.csv'), 'w', newline='') as f:
    w = csv.DictWriter(f, HEADER, restval='', lineterminator='\n')
    w.writeheader()
    w.writerows(catalog)
with open(os.path.join(out, 'machine_types.csv'), 'w', newline='') as f:
    w = csv.DictWriter(f, ['provider', 'machine_type', 'machine_family', 'vcpus', 'memory_gib', 'billed_vcpus', 'source'],
                       lineterminator='\n')
    w.writeheader()
    w.writerows(shapes)
print(f'{len(catalog)} catalog rows, {len(shapes)} machine types')
