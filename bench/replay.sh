#!/usr/bin/env bash
# File replay through the whole pipeline: gen_tweets.py 1000000 42 (81 MB of tweet text, and
# the same tweets as ~130-byte JSON lines), 1 and 2 workers, both extraction modes, REPEAT
# runs each. Prints a table and writes bench/runs/<date>-<machine>/{raw.csv,summary.md}.
# usage: bench/replay.sh [REPEAT]
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${1:-3}
source bench/lib.sh
build_tagstream
data=$CARGO_TARGET_DIR/bench-data
mkdir -p "$data"
txt=$data/gen_tweets-1000000-42.txt
jsonl=$data/gen_tweets-1000000-42.jsonl
[ -s "$txt" ] || python3 crates/hashtag/tests/data/twitter-text/gen_tweets.py 1000000 42 > "$txt"
[ -s "$jsonl" ] || python3 - "$txt" "$jsonl" <<'PY'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f, open(sys.argv[2], "w", encoding="utf-8") as out:
    for i, line in enumerate(f):
        t = 1700000000 + i // 1000
        out.write(json.dumps({"id": str(i), "created_at": t, "text": line.rstrip("\n")}, ensure_ascii=False) + "\n")
PY
dir=$(run_dir)
mkdir -p "$dir"
csv=$dir/raw.csv
echo "input,format,mode,workers,run,records,seconds,records_per_s,mb_per_s" > "$csv"
for input in txt jsonl; do
  file=$txt; fmt=text
  [ $input = jsonl ] && file=$jsonl && fmt=jsonl
  for mode in hashtags spark; do
    for w in 1 2; do
      for r in $(seq 1 "$repeat"); do
        "$bin" run --source "$file" --format $fmt --extract $mode --workers $w \
          --out /dev/null --tui off --quiet --summary-json "$data/summary.json"
        python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(",".join([sys.argv[2], str(s["records"]), "%.2f" % s["seconds"], "%.0f" % s["records_per_s"], "%.1f" % s["mb_per_s"]]))' \
          "$data/summary.json" "$input,$fmt,$mode,$w,$r" >> "$csv"
      done
    done
  done
done
python3 - "$csv" "$dir/summary.md" "$bin" <<'PY'
import csv, statistics, subprocess, sys, platform
rows = list(csv.DictReader(open(sys.argv[1])))
groups = {}
for r in rows:
    groups.setdefault((r["input"], r["mode"], r["workers"]), []).append(r)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
lines = ["# File replay, whole pipeline", "",
         f"Machine: {platform.node()}, {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores; {rustc}; tagstream {commit}.", "",
         "Command: `bench/replay.sh` — per run `tagstream run --source FILE --format F --extract MODE --workers W --out /dev/null --tui off`",
         "(processing time, 10 s / 60 s / 10 s, top 10); the figure is the best of the runs, from the run's own `--summary-json`",
         "(records and bytes read ÷ wall time from the engine's start, sources opened, to the last window written).", "",
         "Inputs: `gen_tweets.py 1000000 42` (1,000,000 tweets, 81.4 MB); the same tweets as JSON lines `{\"id\",\"created_at\",\"text\"}` (`--format jsonl`).", "",
         "| input | mode | workers | best tweets/s | best MB/s | runs |", "|---|---|---|---|---|---|"]
for (inp, mode, w), rs in sorted(groups.items()):
    best = max(rs, key=lambda r: int(r["records_per_s"]))
    lines.append(f"| {inp} | {mode} | {w} | {int(best['records_per_s']):,} | {best['mb_per_s']} | {len(rs)} |")
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
