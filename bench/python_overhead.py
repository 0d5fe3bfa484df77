#!/usr/bin/env python3
"""The Python package's overhead: the same file replay driven from Python
(`tagstream.run(...).wait()`) and by the binary (`tagstream run`), interleaved in one run.

usage: bench/python_overhead.py [--bin BIN] [--lines N] [--file PATH] [--repeat R]
                                [--workers W] [--check FRACTION]

Run it with a Python that has the package installed (e.g. the virtualenv of `.ci/run`, or
`pip install ./python`). The input is `tagstream gen --count N` (text lines; made once under
$CARGO_TARGET_DIR/bench-data unless --file is given). Both sides get the same flags:
`--source FILE --db none --out /dev/null --quiet` (processing time, 10 s / 60 s / 10 s, top
10), the binary also `--tui off`. Per run it reports the engine's own lines/s (its summary:
lines read ÷ time from the engine's start to the last window written) and the wall time of
the whole call (process start or `run()` to the end). With --check F it exits 1 if Python's
best engine lines/s is more than F below the binary's.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import tagstream


def main() -> int:
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/tagstream-target"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(target, "release", "tagstream"))
    ap.add_argument("--lines", type=int, default=5_000_000)
    ap.add_argument("--file")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--check", type=float)
    a = ap.parse_args()

    path = a.file or os.path.join(target, "bench-data", f"gen-{a.lines}.txt")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        print(f"making {path}: tagstream gen --count {a.lines}", file=sys.stderr)
        with open(path + ".part", "wb") as f:
            subprocess.run([a.bin, "gen", "--count", str(a.lines)], stdout=f, check=True)
        os.replace(path + ".part", path)
    size = os.path.getsize(path)

    flags = dict(source=path, db="none", out="/dev/null", quiet=True, workers=a.workers)
    argv = [a.bin, "run", "--source", path, "--db", "none", "--out", "/dev/null", "--quiet",
            "--workers", str(a.workers), "--tui", "off"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        summary_path = os.path.join(tmp, "summary.json")
        for r in range(1, a.repeat + 1):
            t = time.perf_counter()
            subprocess.run(argv + ["--summary-json", summary_path], check=True)
            wall = time.perf_counter() - t
            with open(summary_path) as f:
                s = json.load(f)
            rows.append(("cli", r, s["records"], s["records_per_s"], wall))

            t = time.perf_counter()
            s = tagstream.run(**flags).wait()
            wall = time.perf_counter() - t
            rows.append(("python", r, s["records"], s["records_per_s"], wall))

    print(f"input: {path} ({a.lines:,} lines, {size / 1e6:.0f} MB); workers {a.workers}; "
          f"tagstream {tagstream.__version__}; Python {sys.version.split()[0]}")
    print()
    print("| driver | run | lines | engine lines/s | wall s | wall lines/s |")
    print("|---|---|---|---|---|---|")
    for d, r, n, rate, wall in rows:
        print(f"| {d} | {r} | {n:,} | {rate:,.0f} | {wall:.2f} | {n / wall:,.0f} |")
    best = {d: max(x[3] for x in rows if x[0] == d) for d in ("cli", "python")}
    med = {d: statistics.median(x[3] for x in rows if x[0] == d) for d in ("cli", "python")}
    wall = {d: max(x[2] / x[4] for x in rows if x[0] == d) for d in ("cli", "python")}
    print()
    print(f"best engine lines/s: cli {best['cli']:,.0f}, python {best['python']:,.0f} "
          f"(python/cli {best['python'] / best['cli']:.3f}); median: python/cli "
          f"{med['python'] / med['cli']:.3f}; best wall lines/s: python/cli "
          f"{wall['python'] / wall['cli']:.3f}")
    if a.check is not None and best["python"] < (1 - a.check) * best["cli"]:
        print(f"FAIL: Python more than {a.check:.0%} below the binary", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
