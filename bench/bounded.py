#!/usr/bin/env python3
"""Bounded memory (issue 15): peak RSS, accuracy and throughput of `--max-tags` against the
exact path. Called by bench/bounded.sh, which builds the binary; see there for the usage.

1. The issue's acceptance case: RECORDS records in one window, UNIQUE of them a tag no other
   record has and the rest one of HEAVY Zipf(1.1) tags; exact and `--max-tags 20000`: peak
   RSS (getrusage of the child: ru_maxrss), the top-10 set against the exact one, every
   reported interval [count - error, count] against the truth counted here, throughput.
2. RSS against distinct tags 10^4 .. 10^MAX_EXP, one record each plus a heavy tag in every
   fourth record, one window, with and without the bound.

Inputs are written under DATA (scratch, never committed); results go to OUT/raw.csv and
OUT/README.md.
"""

import argparse
import collections
import json
import os
import platform
import random
import subprocess
import sys
import time

T0 = 1_700_000_000  # every record's event time: one pane, one window


def zipf_weights(n, s=1.1):
    w = [1.0 / (k + 1) ** s for k in range(n)]
    t = sum(w)
    return [x / t for x in w]


def acceptance_input(path, records, unique, heavy, seed):
    """Writes the acceptance input; returns the true count of every heavy tag (each unique
    tag counts 1)."""
    rng = random.Random(seed)
    w = zipf_weights(heavy)
    n_heavy = records - unique
    tags = rng.choices(range(heavy), weights=w, k=n_heavy)
    truth = collections.Counter(tags)
    # Unique and heavy records interleaved at random (a flood mixed with real traffic).
    kinds = bytearray(b"\x01") * unique + bytearray(b"\x00") * n_heavy
    rng.shuffle(kinds)
    head = '{"created_at":%d,"text":"' % T0
    h = iter(tags)
    u = 0
    with open(path, "w") as f:
        buf = []
        for k in kinds:
            if k:
                buf.append(f"{head}flood #u{u:07d}x\"}}\n")
                u += 1
            else:
                buf.append(f"{head}real #h{next(h)}\"}}\n")
            if len(buf) >= 65536:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
    return {f"#h{t}": n for t, n in truth.items()}


def distinct_input(path, distinct):
    """`distinct` records, each with a tag of its own; every fourth one also names #h(i%40)."""
    head = '{"created_at":%d,"text":"' % T0
    with open(path, "w") as f:
        buf = []
        for i in range(distinct):
            extra = f" #h{i % 40}" if i % 4 == 0 else ""
            buf.append(f"{head}#d{i}{extra}\"}}\n")
            if len(buf) >= 65536:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))


def peak_rss(binary, source, out, max_tags, workers=1):
    """Peak RSS (bytes) via /usr/bin/time -v of one run, and its summary."""
    summary = out + ".summary.json"
    cmd = [binary, "run", "--source", source, "--format", "jsonl", "--time", "event",
           "--batch", "10s", "--window", "10s", "--workers", str(workers),
           "--tui", "off", "--quiet", "--db", "none", "--out", out, "--summary-json", summary]
    # Always given: the exact path is --max-tags 0 (the default is a bound).
    cmd += ["--max-tags", str(max_tags)]
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {p.stderr[-2000:]}")
    kb = next(int(l.split(":")[1]) for l in p.stderr.splitlines()
              if "Maximum resident set size" in l)
    with open(summary) as f:
        s = json.load(f)
    return kb * 1024, s, " ".join(cmd)


def windows(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--records", type=int, default=8_000_000)
    ap.add_argument("--unique", type=int, default=6_000_000)
    ap.add_argument("--heavy", type=int, default=2_000)
    ap.add_argument("--max-tags", type=int, default=20_000)
    ap.add_argument("--max-exp", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--baseline", help="another build (e.g. of main) whose exact path to "
                    "compare with this one's: `tagstream gen --count 2000000` replayed, "
                    "alternating, 5 runs each")
    a = ap.parse_args()
    os.makedirs(a.data, exist_ok=True)
    os.makedirs(a.out, exist_ok=True)
    rows = []

    # 1. Acceptance.
    src = os.path.join(a.data, f"accept-{a.records}-{a.unique}-{a.heavy}.jsonl")
    truth_path = src + ".truth.json"
    if not (os.path.exists(src) and os.path.exists(truth_path)):
        t = time.time()
        heavy = acceptance_input(src, a.records, a.unique, a.heavy, 15)
        with open(truth_path, "w") as f:
            json.dump(heavy, f)
        print(f"wrote {src} in {time.time() - t:.0f} s", file=sys.stderr)
    with open(truth_path) as f:
        heavy = json.load(f)

    def true_count(tag):
        return heavy.get(tag, 1 if tag.startswith("#u") else 0)

    acc = {}
    for label, n in [("exact", 0), ("bounded", a.max_tags)]:
        best = None
        for r in range(a.repeat):
            out = os.path.join(a.data, f"accept-{label}.jsonl")
            rss, s, cmd = peak_rss(a.binary, src, out, n)
            rows.append(dict(case="acceptance", path=label, max_tags=n, distinct=a.unique + len(heavy),
                             records=s["records"], run=r + 1, peak_rss_mb=round(rss / 1e6, 1),
                             seconds=round(s["seconds"], 2), records_per_s=round(s["records_per_s"])))
            print(rows[-1], file=sys.stderr)
            if best is None or s["records_per_s"] > best[1]["records_per_s"]:
                best = (rss, s, cmd, windows(out))
            best = (max(best[0], rss),) + best[1:]
        acc[label] = best
    ex_w, bd_w = acc["exact"][3], acc["bounded"][3]
    assert len(ex_w) == 1 and len(bd_w) == 1, (len(ex_w), len(bd_w))
    ex, bd = ex_w[0], bd_w[0]
    ex_top = {r["hashtag"] for r in ex["top"]}
    bd_top = {r["hashtag"] for r in bd["top"]}
    truth_top = {t for t, _ in sorted(heavy.items(), key=lambda kv: (-kv[1], kv[0]))[:10]}
    holds = all(r["count"] - r.get("error", 0) <= true_count(r["hashtag"]) <= r["count"]
                for r in bd["top"])
    exact_is_truth = all(r["count"] == true_count(r["hashtag"]) for r in ex["top"])
    max_err = max((r.get("error", 0) for r in bd["top"]), default=0)
    max_off = max((r["count"] - true_count(r["hashtag"]) for r in bd["top"]), default=0)
    accept = dict(
        exact_rss_mb=round(acc["exact"][0] / 1e6, 1),
        bounded_rss_mb=round(acc["bounded"][0] / 1e6, 1),
        exact_records_per_s=round(acc["exact"][1]["records_per_s"]),
        bounded_records_per_s=round(acc["bounded"][1]["records_per_s"]),
        top10_equal=ex_top == bd_top,
        top10_is_truth=ex_top == truth_top,
        exact_is_truth=exact_is_truth,
        intervals_hold=holds,
        approx=bd.get("approx", False),
        bound=bd.get("bound"),
        tags=bd["tags"],
        max_error=max_err,
        max_overstatement=max_off,
        recall=len(bd_top & truth_top) / 10,
        exact_cmd=acc["exact"][2],
        bounded_cmd=acc["bounded"][2],
        bounded_top=bd["top"],
    )
    print(json.dumps(accept, indent=1), file=sys.stderr)

    # 2. RSS against distinct tags.
    for e in range(4, a.max_exp + 1):
        d = 10 ** e
        src = os.path.join(a.data, f"distinct-1e{e}.jsonl")
        if not os.path.exists(src):
            distinct_input(src, d)
        for label, n in [("exact", 0), ("bounded", a.max_tags)]:
            out = os.path.join(a.data, f"distinct-{label}.jsonl")
            rss, s, _ = peak_rss(a.binary, src, out, n)
            rows.append(dict(case=f"distinct-1e{e}", path=label, max_tags=n, distinct=d + 40,
                             records=s["records"], run=1, peak_rss_mb=round(rss / 1e6, 1),
                             seconds=round(s["seconds"], 2), records_per_s=round(s["records_per_s"])))
            print(rows[-1], file=sys.stderr)
        os.remove(src)  # scratch: the largest is GBs

    # 3. The exact path against a baseline build, on the generator's tweets (no bound).
    base = None
    if a.baseline:
        src = os.path.join(a.data, "gen-2000000.txt")
        if not os.path.exists(src):
            with open(src, "w") as f:
                subprocess.run([a.binary, "gen", "--count", "2000000"], stdout=f, check=True)
        best = {}
        for r in range(5):
            for label, b in [("baseline", a.baseline), ("this", a.binary)]:
                summary = os.path.join(a.data, "gen.summary.json")
                cmd = [b, "run", "--source", src, "--tui", "off", "--quiet", "--db", "none",
                       "--out", "/dev/null", "--summary-json", summary]
                subprocess.run(cmd, check=True, capture_output=True)
                with open(summary) as f:
                    rate = json.load(f)["records_per_s"]
                rows.append(dict(case="exact-path-gen-2e6", path=label, max_tags=0,
                                 distinct=0, records=2_000_000, run=r + 1, peak_rss_mb=0,
                                 seconds=0, records_per_s=round(rate)))
                print(rows[-1], file=sys.stderr)
                best[label] = max(best.get(label, 0), rate)
        base = best

    with open(os.path.join(a.out, "raw.csv"), "w") as f:
        keys = list(rows[0].keys())
        f.write(",".join(keys) + "\n")
        for r in rows:
            f.write(",".join(str(r[k]) for k in keys) + "\n")
    with open(os.path.join(a.out, "acceptance.json"), "w") as f:
        json.dump(accept, f, indent=1)
        f.write("\n")

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    ok = lambda b: "yes" if b else "**no**"
    L = ["# Bounded memory (issue 15): `--max-tags` against the exact path", "",
         f"Machine: {platform.node()}, {cpu}, {os.cpu_count()} cores, "
         f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB; "
         f"tagstream {commit}{' (+ uncommitted changes)' if dirty else ''}.", "",
         f"Command: `bench/bounded.sh` (= `python3 bench/bounded.py BIN DATA OUT --max-exp {a.max_exp} "
         f"--repeat {a.repeat}`). Peak RSS is `/usr/bin/time -v`'s maximum resident set size of "
         "the whole `tagstream run` process; throughput is the run's own `--summary-json` "
         "(records ÷ wall time from start to the last window written). Every run: JSON lines "
         "in event time, all records in one pane, `--batch 10s --window 10s`, 1 worker, "
         "trends on (as `run` defaults; counted in posts: the input names no authors).", "",
         "## Acceptance case", "",
         f"{a.records:,} records in one window: {a.unique:,} name a tag no other record has, "
         f"the other {a.records - a.unique:,} one of {a.heavy:,} tags drawn Zipf(1.1) "
         f"(seed 15); `--max-tags {a.max_tags}`.", "",
         "| | exact | bounded |", "|---|---|---|",
         f"| peak RSS | {accept['exact_rss_mb']} MB | {accept['bounded_rss_mb']} MB |",
         f"| records/s (best of {a.repeat}) | {accept['exact_records_per_s']:,} | "
         f"{accept['bounded_records_per_s']:,} |", "",
         f"- peak RSS < 200 MB: {ok(accept['bounded_rss_mb'] < 200)}",
         f"- top-10 set equal to the exact one: {ok(accept['top10_equal'])} "
         f"(recall of the true top 10: {accept['recall']:.0%}; the exact top 10 is the truth "
         f"counted by the script: {ok(accept['top10_is_truth'] and accept['exact_is_truth'])})",
         f"- every reported interval [count − error, count] holds the true count: "
         f"{ok(accept['intervals_hold'])}",
         f"- the window says `\"approx\":true` with `\"bound\":{accept['bound']}` for "
         f"`\"tags\":{accept['tags']:,}` (bound ≤ tags/(N+1) = "
         f"{accept['tags'] // (a.max_tags + 1):,}); largest error reported in the top 10: "
         f"{accept['max_error']}, largest actual overstatement: {accept['max_overstatement']}", "",
         "## Peak RSS against distinct tags", "",
         "One record per distinct tag (`#d<i>`), every fourth also names one of 40 `#h` tags; one window.", "",
         f"| distinct tags | exact RSS | `--max-tags {a.max_tags}` RSS | exact records/s | bounded records/s |",
         "|---|---|---|---|---|"]
    by = {(r["case"], r["path"]): r for r in rows if r["case"].startswith("distinct")}
    for e in range(4, a.max_exp + 1):
        ex_r, bd_r = by[(f"distinct-1e{e}", "exact")], by[(f"distinct-1e{e}", "bounded")]
        L.append(f"| 10^{e} | {ex_r['peak_rss_mb']} MB | {bd_r['peak_rss_mb']} MB | "
                 f"{ex_r['records_per_s']:,} | {bd_r['records_per_s']:,} |")
    if base:
        L += ["", "## The exact path against the baseline build", "",
              "`tagstream gen --count 2000000` (text, the generator's Zipf tags) replayed "
              "with the default flags and no bound, the baseline build (`--baseline`) and "
              "this one alternating, 5 runs each:", "",
              "| build | best records/s |", "|---|---|",
              f"| baseline | {base['baseline']:,.0f} |", f"| this | {base['this']:,.0f} |", "",
              f"This build's exact path: {100 * (base['this'] / base['baseline'] - 1):+.1f} % "
              "against the baseline's best."]
    L += ["", "Raw figures: `raw.csv`; the acceptance run's details and bounded top 10: "
          "`acceptance.json`.", ""]
    with open(os.path.join(a.out, "README.md"), "w") as f:
        f.write("\n".join(L))
    print("\n".join(L))


if __name__ == "__main__":
    main()
