#!/usr/bin/env python3
"""Bounded memory (issue 15): RSS over time while DISTINCT distinct tags stream through one
window, with and without `--max-tags`. The lines are written by this script into the
engine's stdin (no input file: 10^8 lines would be 5 GB), one tag of their own each and every
fourth also one of 40 heavy tags, all at one event time; the engine's VmRSS is sampled every
SAMPLE seconds from /proc. Writes OUT/stream-1e<E>.csv and OUT/stream-1e<E>.svg (RSS against
tags sent, both paths) and prints a summary line per path. With --authors every line also
names an author of its own and the engine counts distinct authors for trends
(`--author-field author`): files are then named stream-1e<E>-authors.*. With --churn C the
lines are spread over time instead, C new tags every 10 s pane, through the default windows
(60 s, sliding by 10 s), so that trends keep a baseline for every tag they score: files are
then named stream-1e<E>-churn.*.

usage: bounded_stream.py BIN OUT [--exp 8] [--max-tags 20000] [--paths bounded,exact] [--authors]
       [--churn C]
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

T0 = 1_700_000_000


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def one(binary, out, distinct, max_tags, sample, authors, churn):
    summary = os.path.join(out, "stream-summary.json")
    cmd = [binary, "run", "--source", "-", "--format", "jsonl", "--time", "event"]
    if not churn:
        cmd += ["--batch", "10s", "--window", "10s"]
    cmd += ["--tui", "off", "--quiet", "--db", "none", "--out", "/dev/null",
            "--summary-json", summary]
    # Always given: the exact path is --max-tags 0 (the default is a bound).
    cmd += ["--max-tags", str(max_tags)]
    if authors:
        cmd += ["--author-field", "author"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    sent = [0]

    def feed():
        # One window at T0, or C new tags a 10 s pane.
        head = (lambda i: '{"created_at":%d,"text":"' % (T0 + i // churn * 10)) if churn \
            else (lambda i, h='{"created_at":%d,"text":"' % T0: h)
        who = (lambda i: f',"author":"a{i}"') if authors else (lambda i: "")
        step = 100_000
        for start in range(0, distinct, step):
            chunk = "".join(
                f"{head(i)}#d{i}{' #h%d' % (i % 40) if i % 4 == 0 else ''}\"{who(i)}}}\n"
                for i in range(start, min(distinct, start + step)))
            p.stdin.write(chunk.encode())
            sent[0] = min(distinct, start + step)
        p.stdin.close()

    t = threading.Thread(target=feed)
    t0 = time.time()
    t.start()
    samples = []
    while p.poll() is None:
        r = rss_kb(p.pid)
        if r is not None:
            samples.append((round(time.time() - t0, 1), sent[0], r))
        time.sleep(sample)
    t.join()
    err = p.stderr.read().decode()
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {err[-2000:]}")
    with open(summary) as f:
        s = json.load(f)
    return samples, s, " ".join(cmd)


def svg(path, series, distinct):
    """RSS (MB) against tags sent, one polyline per path."""
    W, H, L, B = 640, 360, 70, 40
    top = max(r for ss in series.values() for _, _, r in ss) / 1e3 * 1.1 or 1
    colors = {"exact": "#d62728", "bounded": "#1f77b4"}
    x = lambda n: L + (W - L - 20) * n / distinct
    y = lambda mb: H - B - (H - B - 20) * mb / top
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<line x1="{L}" y1="{H - B}" x2="{W - 20}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="20" x2="{L}" y2="{H - B}" stroke="black"/>',
           f'<text x="{(W + L) / 2}" y="{H - 8}" text-anchor="middle">distinct tags sent '
           f'(of {distinct:,})</text>',
           f'<text x="14" y="{(H - B) / 2}" transform="rotate(-90 14 {(H - B) / 2})" '
           f'text-anchor="middle">RSS (MB)</text>']
    for k in range(5):
        mb = top * k / 4
        out.append(f'<text x="{L - 6}" y="{y(mb) + 4:.0f}" text-anchor="end">{mb:,.0f}</text>')
        n = distinct * k / 4
        out.append(f'<text x="{x(n):.0f}" y="{H - B + 16}" text-anchor="middle">{n:,.0f}</text>')
    for i, (name, ss) in enumerate(series.items()):
        pts = " ".join(f"{x(n):.1f},{y(r / 1e3):.1f}" for _, n, r in ss)
        c = colors.get(name, "black")
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{pts}"/>')
        out.append(f'<text x="{L + 12}" y="{34 + 16 * i}" fill="{c}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def readme_section(a, lines):
    """Appends the stream's section to the README bench/bounded.py wrote, if it is there."""
    distinct = 10 ** a.exp
    readme = os.path.join(a.out, "README.md")
    name = stem(a)
    flag, by = (" --authors", ", by an author of its own (trends count distinct authors)") \
        if a.authors else ("", "")
    where = "all in one window"
    if a.churn:
        flag += f" --churn {a.churn}"
        where = (f"{a.churn:,} new tags every 10 s pane of event time, through 60 s windows "
                 "sliding by 10 s (trends keep a baseline for every tag they score)")
    if os.path.exists(readme):
        L = ["", f"## RSS while 10^{a.exp} distinct tags stream through{by}", "",
             f"`python3 bench/bounded_stream.py BIN OUT --exp {a.exp} --max-tags {a.max_tags}"
             f"{flag}`: "
             f"{distinct:,} records written into the engine's stdin by the script (the seconds "
             "include the script's writing, about 1.2 M lines/s at most), each with a tag of its own and every fourth "
             f"also one of 40 heavy tags{by}, {where}; VmRSS sampled every "
             f"{a.sample:g} s from /proc. Plot: `{name}.svg`; samples: "
             f"`{name}.csv`.", "",
             "| path | records | seconds | RSS at 10 % sent | RSS at the last sample | peak RSS |",
             "|---|---|---|---|---|---|"]
        for r in lines:
            L.append(f"| {r['path']} | {r['records']:,} | {r['seconds']} | "
                     f"{r['rss_at_10pct_mb']} MB | {r['rss_last_sample_mb']} MB | "
                     f"{r['peak_rss_mb']} MB |")
        L.append("")
        with open(readme, "a") as f:
            f.write("\n".join(L))


def stem(a):
    """The name of this run's files: stream-1e<E>, with -authors when lines name authors and
    -churn when they are spread over panes."""
    return f"stream-1e{a.exp}" + ("-authors" if a.authors else "") + ("-churn" if a.churn else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("out")
    ap.add_argument("--exp", type=int, default=8)
    ap.add_argument("--max-tags", type=int, default=20_000)
    ap.add_argument("--paths", default="bounded,exact")
    ap.add_argument("--sample", type=float, default=1.0)
    ap.add_argument("--authors", action="store_true",
                    help="every line names an author of its own, counted for trends")
    ap.add_argument("--churn", type=int, default=0,
                    help="C new tags every 10 s pane through 60 s windows (0: one window)")
    ap.add_argument("--readme-only", action="store_true",
                    help="only append the README section from OUT/stream-1e<E>.json")
    a = ap.parse_args()
    if a.readme_only:
        with open(os.path.join(a.out, f"{stem(a)}.json")) as f:
            return readme_section(a, json.load(f))
    os.makedirs(a.out, exist_ok=True)
    distinct = 10 ** a.exp
    series = {}
    lines = []
    for name in a.paths.split(","):
        n = a.max_tags if name == "bounded" else 0
        samples, s, cmd = one(a.binary, a.out, distinct, n, a.sample, a.authors, a.churn)
        series[name] = samples
        peak = max(r for _, _, r in samples)
        # RSS once a tenth of the stream was sent, and at the end: flat if the bound holds.
        tenth = next((r for _, sent, r in samples if sent >= distinct // 10), None)
        last = samples[-1][2]
        lines.append(dict(path=name, max_tags=n, distinct=distinct, records=s["records"],
                          seconds=round(s["seconds"], 1), peak_rss_mb=round(peak / 1e3, 1),
                          rss_at_10pct_mb=tenth and round(tenth / 1e3, 1),
                          rss_last_sample_mb=round(last / 1e3, 1), cmd=cmd))
        print(json.dumps(lines[-1]), flush=True)
        os.remove(os.path.join(a.out, "stream-summary.json"))
    with open(os.path.join(a.out, f"{stem(a)}.csv"), "w") as f:
        f.write("path,seconds,tags_sent,rss_kb\n")
        for name, ss in series.items():
            for t, n, r in ss:
                f.write(f"{name},{t},{n},{r}\n")
    with open(os.path.join(a.out, f"{stem(a)}.json"), "w") as f:
        json.dump(lines, f, indent=1)
        f.write("\n")
    svg(os.path.join(a.out, f"{stem(a)}.svg"), series, distinct)
    readme_section(a, lines)


if __name__ == "__main__":
    main()
