#!/usr/bin/env bash
# tagstream vs the tutorial's Spark pipeline, on the same input and the same machine, in one run:
#   - the highest socket rate each keeps up with (tagstream 1 and 2 workers; the tuned DStream job
#     of ../shared/bench), both fed by ONE line server, `tagstream gen --serve --file`, serving
#     gen.py's 5M-line file;
#   - the 5M-line file replayed (tagstream text and JSON lines, 1 and 2 workers; Spark's batch df
#     and rdd jobs);
#   - peak RSS at 10,000 lines/s, process start -> ready, window end -> row visible;
# then one table of figures and ratios, and bench/runs/<date>-<machine>-compare/{raw.csv,summary.md}.
#
# usage: bench/compare.sh [--quick] [--no-spark] [--only socket,latency,replay,spark-socket,spark-batch]
#                         [--tag-rates 1e6,2e6] [--spark-rates 10000] [--repeat N] ...   (--help: all)
# With no flags it is the full run (about 40 min on 2 cores; it prints its estimate first).
# The Spark side runs in a writable copy of ../shared/bench ($TAGSTREAM_SPARK_DIR, default
# ~/.cache/tagstream-spark), whose setup.sh installs PySpark from PyPI when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tagstream-target}"
for a in "$@"; do
    if [ "$a" = -h ] || [ "$a" = --help ]; then exec python3 bench/compare.py --bin - --help; fi
done
echo "building tagstream (release) in $CARGO_TARGET_DIR"
cargo build --release -q
exec python3 bench/compare.py --bin "$CARGO_TARGET_DIR/release/tagstream" "$@"
