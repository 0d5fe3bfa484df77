#!/usr/bin/env python3
"""Scores tagstream's `trending` (and, for comparison, its `top` by count) against the known
truth of a generated stream (`tagstream gen --truth FILE`).

usage: trends_eval.py OUT.jsonl TRUTH.jsonl [--json]

A burst's windows are those that end from the start of its peak to its end (the window then
holds at least a full third of the burst at its peak strength). For each, the bursting tag
should be first in `trending`. In every window, the spammer should never be in `trending`'s
top 5 and the evergreen tags never in its top 3.

Warm-up: windows that end within two window lengths of the first are not scored, nor are
bursts that began before then (they were there from the start, as far as the engine knows). The first
window length has no trends at all (those windows start before the first record and hold
part of a window, so the engine lists none); in the second, baselines are still learning
from those partial windows. Prints a table (or JSON with --json) and exits 1 if a criterion
fails.
"""
import json
import sys
from datetime import datetime


def ms(t):
    return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    as_json = "--json" in sys.argv
    out_path, truth_path = args
    windows = [json.loads(l) for l in open(out_path, encoding="utf-8") if l.strip()]
    bursts, spam, evergreen = [], None, set()
    for l in open(truth_path, encoding="utf-8"):
        t = json.loads(l)
        if "burst" in t:
            bursts.append((t["burst"], ms(t["start"]), ms(t["peak_start"]), ms(t["end"])))
        elif "spammer" in t:
            spam = t["tag"]
        elif "evergreen" in t:
            evergreen = set(t["evergreen"])

    first_end = ms(windows[0]["window_end"]) if windows else 0
    length = ms(windows[0]["window_end"]) - ms(windows[0]["window_start"]) if windows else 0
    warm = [w for w in windows if ms(w["window_end"]) < first_end + 2 * length]
    windows = windows[len(warm):]

    def trend_tags(w):
        return [r["hashtag"] for r in w.get("trending", [])]

    def top_tags(w):
        return [r["hashtag"] for r in w["top"]]

    burst_windows = []  # (window, bursting tag)
    # A burst that began before the warm-up ended was there from the start, as far as the
    # engine can know: not scored.
    warm_end = first_end + 2 * length
    scored = [(tag, ps, e) for tag, start, ps, e in bursts if start >= warm_end]
    for w in windows:
        end = ms(w["window_end"])
        active = [tag for tag, ps, e in scored if ps <= end <= e]
        if active:
            burst_windows.append((w, active[0]))

    def hits(rank_fn, k):
        return sum(1 for w, tag in burst_windows if tag in rank_fn(w)[:k])

    n = len(burst_windows)
    spam_in_top5 = [w["window_end"] for w in windows if spam in trend_tags(w)[:5]]
    ever_in_top3 = [
        (w["window_end"], t) for w in windows for t in trend_tags(w)[:3] if t in evergreen
    ]
    spam_count_rank = [top_tags(w).index(spam) + 1 for w in windows if spam in top_tags(w)]
    result = {
        "warmup_windows": len(warm),
        "windows": len(windows),
        "bursts": len(bursts),
        "bursts_scored": len(scored),
        "burst_windows": n,
        "trending_first": hits(trend_tags, 1),
        "trending_in_top3": hits(trend_tags, 3),
        "count_first": hits(top_tags, 1),
        "count_in_top3": hits(top_tags, 3),
        "count_in_top10": hits(top_tags, 10),
        "spammer_in_trending_top5": len(spam_in_top5),
        "spammer_best_count_rank": min(spam_count_rank) if spam_count_rank else None,
        "evergreen_in_trending_top3": len(ever_in_top3),
        "first_misses": [
            (w["window_end"], tag, trend_tags(w)[:3])
            for w, tag in burst_windows
            if trend_tags(w)[:1] != [tag]
        ][:5],
        "evergreen_examples": ever_in_top3[:5],
    }
    ok = (
        n > 0
        and result["trending_first"] == n
        and not spam_in_top5
        and not ever_in_top3
    )
    result["ok"] = ok
    if as_json:
        print(json.dumps(result))
    else:
        p = lambda x: f"{x}/{n} ({100.0 * x / n:.1f}%)" if n else "-"
        print(f"windows scored {len(windows)} (after {len(warm)} of warm-up), bursts scored "
              f"{len(scored)} of {len(bursts)}, burst windows {n}")
        print("| ranking | bursting tag first (precision@1) | in top 3 | in top 10 |")
        print("|---|---|---|---|")
        print(f"| trending (score) | {p(result['trending_first'])} | {p(result['trending_in_top3'])} | |")
        print(f"| top (count) | {p(result['count_first'])} | {p(result['count_in_top3'])} | {p(result['count_in_top10'])} |")
        print(f"spammer in trending top 5: {len(spam_in_top5)} windows; its best rank by count: "
              f"{result['spammer_best_count_rank']}")
        print(f"evergreen in trending top 3: {len(ever_in_top3)} windows")
        if result["first_misses"]:
            print("first misses:", result["first_misses"])
        if ever_in_top3:
            print("evergreen examples:", result["evergreen_examples"])
        print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
