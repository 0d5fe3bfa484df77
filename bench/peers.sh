#!/usr/bin/env bash
# tagstream beside its peers (issue 18, part 3): the tutorial's rule (--extract spark), top 10,
# over one file of 1M tweets, as whole processes, median of paired rounds:
#   tagstream's default command (results store on), the same with --db none,
#   Bytewax 0.21.1 and Pathway 0.33.0 (pinned, from PyPI, one venv each under ~/.cache),
#   PySpark's RDD job of ../shared/bench (optional), and a one-pass floor (tr | grep).
# Checks that every top 10 is the same, prints wall time, peak RSS and the ratios, and writes
# bench/runs/<date>-<machine>-peers/{raw.csv,summary.md}.
#
# usage: bench/peers.sh [--runs N] [--repeat N] [--lines N] [--no-spark] [--only bytewax,pathway,spark]
#                       [--spark-master local[2]] [--out DIR]          (--help: all)
# Input: ../shared/bench/gen.py's N lines (seed 42) when that file is there, else
# `tagstream gen --count N --seed 42`; cached under target/bench/data/.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in cargo python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "peers.sh: $tool is missing (needed to build and measure)" >&2; exit 2; }
done
python3 -c 'import venv, ensurepip' 2>/dev/null ||
  { echo "peers.sh: python3 cannot make venvs (Debian: apt-get install python3-venv)" >&2; exit 2; }
for a in "$@"; do
  if [ "$a" = -h ] || [ "$a" = --help ]; then exec python3 bench/peers.py --bin - --help; fi
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tagstream-target}"
echo "building tagstream (release) in $CARGO_TARGET_DIR"
cargo build --release -q
exec python3 bench/peers.py --bin "$CARGO_TARGET_DIR/release/tagstream" "$@"
