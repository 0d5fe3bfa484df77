#!/usr/bin/env bash
# Per-window cost against the number of windows (issue 18, part 2): the generator's tweets as
# JSON lines at one every 86 ms of event time (~1M a day), 1 day and 7 days of it, replayed in
# event time (10 s batches, 60 s windows, 10 s slide: 8,640 windows a day), 1 worker, with the
# results store on (the default, SQLite in a scratch file) and with --db none. Prints wall time,
# microseconds per window and peak RSS; the cost per window must stay flat from 1 day to 7.
# usage: bench/windows.sh [REPEAT]       writes bench/runs/<date>-<machine>-windows/
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${1:-5}
source bench/lib.sh
build_tagstream
work=target/bench/windows
mkdir -p "$work"
dir=$(run_dir windows)
mkdir -p "$dir"
csv=$dir/raw.csv
echo "days,store,run,records,windows,seconds,us_per_window,peak_rss_kb" > "$csv"
for days in 1 7; do
  n=$((days * 1004651))   # 86,400,000 ms / 86 ms a day
  file=$work/gen-$days-days.jsonl
  [ -s "$file" ] || "$bin" gen --count "$n" --format jsonl --seed 7 \
    --start 2026-01-01T00:00:00Z --time-step 86ms > "$file"
  for r in $(seq 1 "$repeat"); do
    for store in sqlite none; do
      db=$work/windows.db
      rm -f "$db" "$db-wal" "$db-shm"
      [ $store = none ] && db=none
      /usr/bin/time -f "%M" -o "$work/rss" "$bin" run --source "$file" --format jsonl \
        --time event --workers 1 --tui off --quiet --out /dev/null --db "$db" \
        --summary-json "$work/summary.json"
      python3 - "$work/summary.json" "$work/rss" "$days,$store,$r" >> "$csv" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
rss = open(sys.argv[2]).read().split()[-1]
print(",".join([sys.argv[3], str(s["records"]), str(s["windows"]), "%.3f" % s["seconds"],
                "%.1f" % (s["seconds"] * 1e6 / max(s["windows"], 1)), rss]))
PY
      tail -1 "$csv"
    done
  done
done
python3 - "$csv" "$dir/summary.md" <<'PY'
import csv, statistics, sys, subprocess
rows = list(csv.DictReader(open(sys.argv[1])))
out = ["# Per-window cost against the number of windows", "",
       "`bench/windows.sh`: `tagstream gen --format jsonl --seed 7 --start 2026-01-01T00:00:00Z "
       "--time-step 86ms` (1 day = 1,004,651 tweets), replayed with `run --format jsonl --time event "
       "--workers 1 --out /dev/null` (10 s / 60 s / 10 s), the store on (SQLite file) or `--db none`. "
       "Medians of the runs; peak RSS from `/usr/bin/time`.", "",
       "Machine: " + subprocess.run(["uname", "-srm"], capture_output=True, text=True).stdout.strip()
       + f", {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, load "
       + open('/proc/loadavg').read().split()[0] + " at the end.", "",
       "| days | store | records | windows | wall s | µs per window | peak RSS MB |", "|---|---|---|---|---|---|---|"]
for days in ("1", "7"):
    for store in ("sqlite", "none"):
        rs = [r for r in rows if r["days"] == days and r["store"] == store]
        if not rs:
            continue
        med = lambda k: statistics.median(float(r[k]) for r in rs)
        out.append(f"| {days} | {store} | {rs[0]['records']} | {rs[0]['windows']} | {med('seconds'):.2f} | "
                   f"{med('us_per_window'):.1f} | {med('peak_rss_kb') / 1024:.0f} |")
out += ["", "Store / none, per run (runs alternate store and none): "]
for days in ("1", "7"):
    pairs = [(float(a["seconds"]), float(b["seconds"])) for a in rows for b in rows
             if a["days"] == b["days"] == days and a["run"] == b["run"]
             and a["store"] == "sqlite" and b["store"] == "none"]
    if pairs:
        rs = [a / b for a, b in pairs]
        out[-1] += f"{days} day(s): median {statistics.median(rs):.2f}x ({', '.join(f'{r:.2f}' for r in rs)}). "
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
