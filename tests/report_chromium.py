#!/usr/bin/env python3
"""Renders a `kubetally report --format html` page in headless Chromium.

Usage: report_chromium.py REPORT.html [SCREENSHOT.png]

Checks, with the standard library only:
- Chromium logs no console error, failed load or uncaught exception while
  loading the page (a `--dump-dom` run with logging on stderr);
- the page asked for nothing over the network (it is self-contained);
- the screenshot is not blank: enough non-white pixels, several colours,
  and the first chart colour (#0072B2) present, so the inline SVG drew.

Exit codes: 0 passed, 1 failed, 3 skipped (no Chromium; the reason is the
last line on stderr).
"""

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]

# What Chromium writes on stderr for a page problem (console.error, a failed
# resource, an uncaught exception); its own start-up noise (dbus, GPU) is not.
PAGE_PROBLEM = re.compile(
    r"CONSOLE|Uncaught|Failed to load resource|net::ERR_|Refused to", re.IGNORECASE
)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run(binary, profile, extra, url):
    command = [binary, *FLAGS, f"--user-data-dir={profile}", *extra, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            if depth != 8 or colour not in (2, 6):
                raise ValueError(f"PNG depth {depth} colour type {colour} not handled")
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        row = bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(channels, stride):
                row[i] = (row[i] + row[i - channels]) & 0xFF
        elif kind == 2:
            row = bytearray((a + b) & 0xFF for a, b in zip(row, previous))
        elif kind == 3:
            for i in range(stride):
                left = row[i - channels] if i >= channels else 0
                row[i] = (row[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = row[i - channels] if i >= channels else 0
                b = previous[i]
                c = previous[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                row[i] = (row[i] + pred) & 0xFF
        rows.append(bytes(row))
        previous = row
    return width, height, channels, rows


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 1
    page = os.path.abspath(sys.argv[1])
    binary = chromium()
    if binary is None:
        print("chromium is not installed", file=sys.stderr)
        return 3
    url = "file://" + page
    failures = []
    with tempfile.TemporaryDirectory() as work:
        screenshot = sys.argv[2] if len(sys.argv) > 2 else os.path.join(work, "report.png")
        dom = run(
            binary,
            os.path.join(work, "profile-dom"),
            ["--enable-logging=stderr", "--v=0", "--dump-dom"],
            url,
        )
        if dom.returncode != 0:
            failures.append(f"chromium --dump-dom exited {dom.returncode}: {dom.stderr[-2000:]}")
        problems = [line for line in dom.stderr.splitlines() if PAGE_PROBLEM.search(line)]
        if problems:
            failures.append("console errors:\n  " + "\n  ".join(problems))
        if "Reconciliation" not in dom.stdout or "<svg" not in dom.stdout:
            failures.append("the DOM lacks the report's sections or charts")
        shot = run(
            binary,
            os.path.join(work, "profile-shot"),
            [
                "--enable-logging=stderr",
                "--v=0",
                f"--screenshot={screenshot}",
                "--window-size=1280,2000",
            ],
            url,
        )
        problems = [line for line in shot.stderr.splitlines() if PAGE_PROBLEM.search(line)]
        if problems:
            failures.append("console errors while screenshotting:\n  " + "\n  ".join(problems))
        if not os.path.exists(screenshot):
            failures.append(f"no screenshot: {shot.stderr[-2000:]}")
        else:
            width, height, channels, rows = png_pixels(screenshot)
            colours, inked = set(), 0
            for row in rows[::4]:
                for x in range(0, width * channels, channels * 4):
                    pixel = row[x : x + 3]
                    colours.add(pixel)
                    if pixel != b"\xff\xff\xff":
                        inked += 1
            sampled = len(rows[::4]) * len(range(0, width * channels, channels * 4))
            share = inked / sampled
            chart_blue = bytes.fromhex("0072b2")
            print(
                f"screenshot {width}x{height}: {share:.1%} of sampled pixels inked, "
                f"{len(colours)} colours, chart blue {'present' if chart_blue in colours else 'absent'}"
            )
            if share < 0.02 or len(colours) < 5:
                failures.append(f"the screenshot looks blank ({share:.1%} inked, {len(colours)} colours)")
            if chart_blue not in colours:
                failures.append("no chart colour #0072B2 in the screenshot: the SVG did not draw")
    if failures:
        for failure in failures:
            print("FAIL " + failure, file=sys.stderr)
        return 1
    print("report HTML renders in Chromium without console errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
