#!/usr/bin/env bash
# Bounded memory (issue 15): peak RSS, accuracy and throughput of --max-tags against the exact
# path. bench/bounded.py: the issue's acceptance case (8 M records in one window, 6 M of them
# unique tags, the rest Zipf heavy tags, --max-tags 20000) and peak RSS against distinct tags
# 10^4 .. 10^MAX_EXP; bench/bounded_stream.py: RSS over time while 10^STREAM_EXP distinct
# tags stream through stdin, with and without the bound. Inputs go under
# $CARGO_TARGET_DIR/bench-data/bounded (scratch); results to DIR (default
# bench/runs/<date>-<machine>-bounded): README.md, raw.csv, acceptance.json, stream-1e*.{csv,json,svg}.
# BASELINE=BIN also compares the exact path (no bound) with that build's (e.g. of main).
# AUTHORS_EXP (default 7; 0: none) streams 10^AUTHORS_EXP lines each by an author of its own
# too, counted for trends (stream-1e*-authors.*: the exact path holds every pair).
# CHURN_EXP (default 7; 0: none) streams 10^CHURN_EXP lines over time, 19,000 new tags every
# 10 s pane through 60 s windows, just within the bound (stream-1e*-churn.*: trends keep a
# baseline for every tag they score, held to N x 16 past the bound).
# usage: [BASELINE=BIN] [AUTHORS_EXP=7] [CHURN_EXP=7] bench/bounded.sh [MAX_EXP (7)] [REPEAT (2)] [STREAM_EXP (8; 0: none)] [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
max_exp=${1:-7}
repeat=${2:-2}
stream_exp=${3:-8}
source bench/lib.sh
build_tagstream
data=$CARGO_TARGET_DIR/bench-data/bounded
dir=${4:-$(run_dir bounded)}
python3 bench/bounded.py "$bin" "$data" "$dir" --max-exp "$max_exp" --repeat "$repeat" \
  ${BASELINE:+--baseline "$BASELINE"}
if [ "$stream_exp" -gt 0 ]; then
  python3 bench/bounded_stream.py "$bin" "$dir" --exp "$stream_exp"
fi
authors_exp=${AUTHORS_EXP:-7}
if [ "$authors_exp" -gt 0 ]; then
  python3 bench/bounded_stream.py "$bin" "$dir" --exp "$authors_exp" --authors
fi
churn_exp=${CHURN_EXP:-7}
if [ "$churn_exp" -gt 0 ]; then
  python3 bench/bounded_stream.py "$bin" "$dir" --exp "$churn_exp" --churn 19000
fi
