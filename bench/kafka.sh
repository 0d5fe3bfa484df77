#!/usr/bin/env bash
# Kafka consume rate into the whole pipeline: COUNT generated tweets (JSON lines with event
# times, `gen --format jsonl --start`) produced to a 4-partition topic on a local tansu broker
# (.ci/tansu.sh), then replayed with `?end=latest` in event time with 1 and 2 workers, REPEAT
# runs each, beside the same stream replayed from a file. Checks every run's windows are
# byte-identical, prints a table and writes bench/runs/<date>-<machine>/kafka-{raw.csv,summary.md}.
# ALSO="NAME=BINARY …" replays the same topic with other builds of tagstream too (source
# kafka-NAME), interleaved with this one's runs: a before/after on the same broker and load.
# usage: [ALSO="before=/path/to/tagstream"] bench/kafka.sh [COUNT] [REPEAT]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-2000000}
repeat=${2:-3}
source bench/lib.sh
build_tagstream
declare -A bins=([file]=$bin [kafka]=$bin)
sources=(file kafka)
for nb in ${ALSO:-}; do
  [ -x "${nb#*=}" ] || { echo "ALSO: ${nb#*=} is not an executable" >&2; exit 1; }
  bins[kafka-${nb%%=*}]=${nb#*=}
  sources+=("kafka-${nb%%=*}")
done
# Anything else running on these cores shows in every figure: the load is written down.
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
. .ci/tansu.sh
tansu_start 39092
mkdir -p target/bench
work=$(mktemp -d target/bench/kafka.XXXXXX)
trap 'kill $TANSU_PID 2>/dev/null; rm -rf "$work" "$TANSU_LOG"' EXIT
broker=127.0.0.1:$KAFKA_PORT
stream=(--count "$count" --seed 42 --format jsonl --start 2024-01-01T00:00:00Z --time-step 1ms)
produced=$("$bin" gen --kafka "$broker/tweets" --partitions 4 "${stream[@]}" 2>&1 | tail -1)
echo "$produced"
"$bin" gen "${stream[@]}" > "$work/tweets.jsonl"

dir=$(run_dir)
mkdir -p "$dir"
csv=$dir/kafka-raw.csv
echo "source,workers,run,records,seconds,records_per_s,mb_per_s" > "$csv"
for w in 1 2; do
  for r in $(seq 1 "$repeat"); do
    for source in "${sources[@]}"; do
      uri="kafka://$broker/tweets?end=latest"
      [ $source = file ] && uri=$work/tweets.jsonl
      out=$work/$source-$w-$r.jsonl
      "${bins[$source]}" run --source "$uri" --format jsonl --time event --workers $w \
        --out "$out" --tui off --db none --quiet --summary-json "$work/summary.json"
      cmp -s "$out" "$work/file-1-1.jsonl" ||
        { echo "windows of $source, $w workers, run $r differ from the file's" >&2; exit 1; }
      python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(",".join([sys.argv[2], str(s["records"]), "%.2f" % s["seconds"], "%.0f" % s["records_per_s"], "%.1f" % s["mb_per_s"]]))' \
        "$work/summary.json" "$source,$w,$r" >> "$csv"
    done
  done
done
{
  echo "# Kafka consume rate, whole pipeline"
  echo
  echo "Machine: $(uname -n), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores" \
       "(the broker runs on the same cores); $(rustc --version); tagstream $(git rev-parse --short HEAD)."
  echo
  echo "Command: \`bench/kafka.sh $count $repeat\`: \`tagstream gen --kafka BROKER/tweets --partitions 4" \
       "${stream[*]}\` into tansu $("$TANSU" --version | awk '{print $2}') (memory storage, 127.0.0.1)," \
       "then per run \`tagstream run --source 'kafka://BROKER/tweets?end=latest' --format jsonl --time event" \
       "--workers W --out FILE --tui off --db none\` (10 s / 60 s / 10 s, top 10), and the same with the" \
       "stream as a file. Every run's windows are byte-identical. Figures from the run's --summary-json" \
       "(records ÷ wall time from the engine's start to the last window)."
  echo
  [ -n "${ALSO:-}" ] && echo "Other builds replayed from the same topic (source kafka-NAME), run for run" \
       "between this build's: \`ALSO=\"${ALSO}\"\`." && echo
  echo "Load average (1, 5, 15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "Produce: $produced"
  echo
  echo "| source | workers | best messages/s | median messages/s | best MB/s | runs |"
  echo "|---|---|---|---|---|---|"
  tail -n +2 "$csv" | sort -t, -k1,1 -k2,2n -k6,6n | awk -F, '
    { key = $1 "," $2; n[key]++; v[key, n[key]] = $6; if ($6 > best[key]) { best[key] = $6; mb[key] = $7 } }
    END { for (k in n) { split(k, p, ","); m = v[k, int((n[k] + 1) / 2)];
          printf "| %s | %s | %d | %d | %s | %d |\n", p[1], p[2], best[k], m, mb[k], n[k] } }' |
    LC_ALL=C.UTF-8 sort
} > "$dir/kafka-summary.md"
cat "$dir/kafka-summary.md"
