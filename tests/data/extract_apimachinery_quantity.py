"""Extracts apimachinery's Quantity test tables into tests/data/apimachinery_quantity.json.

Run from the repository root with a checkout of kubernetes/apimachinery:
  python3 tests/data/extract_apimachinery_quantity.py APIMACHINERY_DIR COMMIT
"""
import json, re, sys
from fractions import Fraction
src = open(sys.argv[1] + '/pkg/api/resource/quantity_test.go').read()
COMMIT = sys.argv[2]

def body(fn):
    i = src.index('func %s(' % fn)
    j = src.index('\n}\n', i)
    return src[i:j]

def exact(mant, exp):
    v = Fraction(mant) * Fraction(10) ** exp
    return dec_str(v)

def dec_str(v):
    # exact decimal string of a Fraction with a power-of-10 denominator
    neg = v < 0; v = abs(v)
    scale = 0
    while v.denominator != 1:
        v *= 10; scale += 1
    s = str(v.numerator)
    if scale:
        s = s.rjust(scale + 1, '0'); s = s[:-scale] + '.' + s[-scale:]
    return ('-' if neg else '') + s

def ev(expr):
    expr = expr.strip()
    if not re.fullmatch(r'[0-9.*+\- ]+', expr): raise ValueError(expr)
    val = Fraction(1)
    for f in expr.split('*'): val *= Fraction(f.strip())
    return val

MAX = '9223372036854775807'
parse_cases = []
b = body('TestQuantityParse')
for m in re.finditer(r'\{"([^"]*)",\s*(decQuantity\(([^,]+),\s*(-?\d+),\s*(\w+)\)|Quantity\{d: maxAllowed, Format: (\w+)\})\}', b):
    inp = m.group(1)
    if m.group(3):
        val = exact(ev(m.group(3)), int(m.group(4))); fmt = m.group(5)
    else:
        val = MAX; fmt = m.group(6)
    parse_cases.append({'input': inp, 'value': val, 'format': fmt})
inv = re.search(r'invalid := \[\]string\{(.*?)\n\t\}', b, re.S).group(1)
invalid = re.findall(r'"((?:[^"\\]|\\.)*)"', inv)

big = []
for m in re.finditer(r'\{input: "([^"]+)", wantAsInt64: [^,]+, wantAsDec: ptrDec\("([^"]+)"\)(?:, canonical: "([^"]+)")?\}', body('TestParseQuantity')):
    big.append({'input': m.group(1), 'value': m.group(2), 'canonical': m.group(3) or m.group(1)})

emit = [{'input': a, 'canonical': c} for a, c in re.findall(r'\{"([^"]+)", "([^"]+)"\}', body('TestQuantityParseEmit'))]

strings = []
for m in re.finditer(r'\{decQuantity\(([^,]+),\s*(-?\d+),\s*(\w+)\),\s*"([^"]*)",\s*"([^"]*)"\}', body('TestQuantityString')):
    strings.append({'value': exact(ev(m.group(1)), int(m.group(2))), 'format': m.group(3), 'canonical': m.group(4), 'alternate': m.group(5) or None})

out = {
  'source': 'kubernetes/apimachinery pkg/api/resource/quantity_test.go @ ' + COMMIT,
  'extracted_by': 'tests/data/extract_apimachinery_quantity.py',
  'note': 'value is the exact decimal the Go test expects; format the Quantity.Format it expects.',
  'parse': parse_cases, 'parse_invalid': invalid, 'parse_large': big,
  'parse_emit': emit, 'string': strings,
}
json.dump(out, open('tests/data/apimachinery_quantity.json', 'w'), indent=1)
print(len(parse_cases), len(invalid), len(big), len(emit), len(strings))
