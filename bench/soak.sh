#!/usr/bin/env bash
# Soak (issue 13): `tagstream run --source socket://… --http …` fed by a line server
# (`tagstream gen --serve --file`, gen.py's 1M tweets over and over) at --rate lines/s for
# --minutes, the server restarted every --restart-every; samples the engine's RSS (/proc) and
# /metrics, then reconciles lines sent = records in = the windows' records. Writes
# bench/runs/<date>-<machine>-soak[-trial-Mmin]/{summary.md,raw.csv,segments.csv,rss.svg}.
#
# usage: bench/soak.sh [--minutes 30] [--rate 1000000] [--restart-every 5m] [--sample 5s]
#                      [--workers 1] [--engine-args '...'] [--out DIR]       (--help: all)
# A run shorter than 30 minutes is labelled a trial. The run of record: bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in cargo python3; do
  command -v "$tool" >/dev/null || { echo "soak.sh: $tool is missing (needed to build and run)" >&2; exit 2; }
done
for a in "$@"; do
  if [ "$a" = -h ] || [ "$a" = --help ]; then exec python3 bench/soak.py --bin - --help; fi
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tagstream-target}"
echo "building tagstream (release) in $CARGO_TARGET_DIR"
cargo build --release -q
# soak.py starts every process in its own group and ends them on exit or on a signal.
exec python3 bench/soak.py --bin "$CARGO_TARGET_DIR/release/tagstream" "$@"
