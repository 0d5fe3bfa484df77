#!/usr/bin/env bash
# Trends against known truth, and what they cost.
#
# Quality: generated streams with a known schedule of rising tags, a spammer and evergreen
# tags (`tagstream gen --truth`), replayed in event time with distinct authors
# (`--author-field author`), scored by bench/trends_eval.py: precision@1 of `trending` on the
# bursts' windows against ranking by count (`top`), the spammer never in trending's top 5,
# evergreen tags never in its top 3. Two configurations: the defaults (10 s batches, 60 s
# windows; 2 hours at 100 tweets/s, three seeds) and the demo's (1 s batches, 10 s windows;
# 20 minutes at 1,000 tweets/s).
#
# Cost: the 1M-tweet text file of bench/replay.sh, hashtags mode, 1 worker, REPEAT runs each,
# interleaved: trends on (the default, posts: no authors in plain text) against --trends off;
# and the same stream as JSON lines with --author-field (distinct authors). BEFORE=BINARY adds
# runs of another build (e.g. the last commit before trends) for a before/after in one run.
#
# usage: bench/trends.sh [REPEAT]      writes bench/runs/<date>-<machine>-trends/
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${1:-5}
source bench/lib.sh
build_tagstream
work=target/bench/trends
mkdir -p "$work"
dir=$(run_dir trends)
mkdir -p "$dir"
summary=$dir/summary.md
load() { awk '{print $1", "$2", "$3}' /proc/loadavg; }

{
  echo "# Trends against known truth, and their cost"
  echo
  echo "Machine: $(uname -n), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores;" \
       "$(rustc --version); tagstream $(git rev-parse --short HEAD). Load average at start: $(load)."
  echo
  echo "## Quality"
  echo
  echo "Streams from \`tagstream gen --format jsonl --start … --time-step … --seed S --truth FILE\`," \
       "replayed with \`tagstream run --format jsonl --time event --author-field author\`, scored by" \
       "\`bench/trends_eval.py OUT TRUTH\` (its header says what counts as a burst's window and as warm-up)."
  echo
  echo "| stream | windows scored | bursts scored | burst windows | trending: burst first | top by count: burst first | count: in top 10 | spammer in trending top 5 | evergreen in trending top 3 | spammer's best rank by count |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
} > "$summary"

quality() { # name count step seed run-flags...
  local name=$1 count=$2 step=$3 seed=$4; shift 4
  "$bin" gen --count "$count" --format jsonl --start 2026-01-01T00:00:00Z --time-step "$step" \
    --seed "$seed" --truth "$work/$name.truth" > "$work/$name.jsonl"
  "$bin" run --source "$work/$name.jsonl" --format jsonl --time event --author-field author \
    --tui off --quiet --out "$work/$name.out" "$@"
  python3 bench/trends_eval.py "$work/$name.out" "$work/$name.truth" --json > "$work/$name.eval" || true
  python3 - "$work/$name.eval" "$name" "$count" "$step" "$*" >> "$summary" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n = r["burst_windows"]
pct = lambda x: f"{x}/{n} ({100.0 * x / n:.1f}%)" if n else "-"
print(f"| {sys.argv[2]}: {sys.argv[3]} tweets, step {sys.argv[4]} {sys.argv[5]} | {r['windows']} "
      f"(+{r['warmup_windows']} warm-up) | {r['bursts_scored']} of {r['bursts']} | {n} | "
      f"{pct(r['trending_first'])} | {pct(r['count_first'])} | {pct(r['count_in_top10'])} | "
      f"{r['spammer_in_trending_top5']} | {r['evergreen_in_trending_top3']} | {r['spammer_best_count_rank']} |")
PY
  echo "quality $name: $(tail -1 "$summary")"
}
for seed in 1 2 3; do
  quality "default-seed$seed" 720000 10ms $seed
done
quality demo-seed4 1200000 1ms 4 --batch 1s --window 10s

# Cost.
data=$CARGO_TARGET_DIR/bench-data
mkdir -p "$data"
txt=$data/gen_tweets-1000000-42.txt
[ -s "$txt" ] || python3 crates/hashtag/tests/data/twitter-text/gen_tweets.py 1000000 42 > "$txt"
jsonl=$work/authors-1m.jsonl
[ -s "$jsonl" ] || "$bin" gen --count 1000000 --format jsonl --seed 42 > "$jsonl"
csv=$dir/cost-raw.csv
echo "variant,run,records,seconds,records_per_s,mb_per_s" > "$csv"
variants=("trends-on" "trends-off" "authors")
[ -n "${BEFORE:-}" ] && variants+=("before")
for r in $(seq 1 "$repeat"); do
  for v in "${variants[@]}"; do
    case $v in
      trends-on)  cmd=("$bin" run --source "$txt") ;;
      trends-off) cmd=("$bin" run --source "$txt" --trends off) ;;
      authors)    cmd=("$bin" run --source "$jsonl" --format jsonl --author-field author) ;;
      before)     cmd=("$BEFORE" run --source "$txt") ;;
    esac
    if [ "$v" = before ]; then
      # An older build may not write --summary-json: its closing line has the figures.
      line=$("${cmd[@]}" --workers 1 --out /dev/null --tui off --db none 2>&1 | grep 'done: windows')
      rec=$(sed -E 's/.*records ([0-9]+) .*/\1/' <<<"$line")
      secs=$(sed -E 's/.* in ([0-9.]+)s = .*/\1/' <<<"$line")
      rps=$(sed -E 's/.*= ([0-9]+) records\/s.*/\1/' <<<"$line")
      mbs=$(sed -E 's/.*records\/s, ([0-9.]+) MB\/s.*/\1/' <<<"$line")
      echo "$v,$r,$rec,$secs,$rps,$mbs" >> "$csv"
    else
      "${cmd[@]}" --workers 1 --out /dev/null --tui off --db none --quiet --summary-json "$work/summary.json"
      python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(",".join([sys.argv[2], str(s["records"]), "%.3f" % s["seconds"], "%.0f" % s["records_per_s"], "%.1f" % s["mb_per_s"]]))' \
        "$work/summary.json" "$v,$r" >> "$csv"
    fi
  done
done
python3 - "$csv" >> "$summary" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {}
for r in rows:
    by.setdefault(r["variant"], []).append(float(r["records_per_s"]))
print()
print("## Cost")
print()
print("1 worker, `--out /dev/null --db none`, runs interleaved: `trends-on` is the default command on")
print("`gen_tweets.py 1000000 42` (plain text, so trends count posts); `trends-off` the same with")
print("`--trends off`; `authors` is `tagstream gen --count 1000000 --format jsonl --seed 42` with")
print("`--format jsonl --author-field author` (distinct authors per tag); `before` (if present) is the")
print("build named by BEFORE on the text file. Records/s from each run's `--summary-json`.")
print()
print("| variant | runs | median records/s | best | vs trends-off (median) |")
print("|---|---|---|---|---|")
base = statistics.median(by.get("trends-off", [1]))
for v, xs in by.items():
    m = statistics.median(xs)
    print(f"| {v} | {len(xs)} | {m:,.0f} | {max(xs):,.0f} | {m / base:.3f} |")
PY
echo "Load average at the end: $(load)." >> "$summary"
cat "$summary"
