#!/usr/bin/env bash
# Runs fuzz targets with cargo fuzz (nightly), each for SECONDS from its committed corpus and
# regressions, and prints one summary line per target: executions, executions per second,
# coverage, peak RSS. New inputs go to a scratch folder, never into fuzz/corpus. A crash
# leaves its input under $FUZZ_OUT/artifacts/NAME/ and makes the script exit 1, after the
# other targets ran.
#
#   fuzz/run.sh [SECONDS] [TARGET...]      (default: 30 s, every target in fuzz/fuzz_targets)
#
# Builds without a sanitizer (the engine has no unsafe code; AddressSanitizer would halve the
# executions and double the build) but with debug assertions and overflow checks on.
# The target bodies are crates/fuzz-targets; tests/corpus.rs there runs the same inputs on
# stable.
set -uo pipefail
cd "$(dirname "$0")"

secs=${1:-30}
shift || true
if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
out=${FUZZ_OUT:-$(mktemp -d /tmp/tagstream-fuzz.XXXXXX)}
mkdir -p "$out"
flags=(--fuzz-dir . --sanitizer none --debug-assertions)

# The engine's dependencies at the root's versions: the lock is the root's, to which cargo adds
# only libFuzzer's crates (fuzz/Cargo.lock is not committed, so it never goes stale when the
# root's dependencies change).
cp ../Cargo.lock Cargo.lock
# Every binary at once (the runs below then find them built).
cargo +nightly fuzz build "${flags[@]}" 2>"$out/build.log" || { tail -30 "$out/build.log"; exit 2; }

failed=()
printf '%-16s %12s %10s %8s %8s %8s\n' target execs execs/s cov ft rss_mb
for t in "${targets[@]}"; do
    work="$out/corpus/$t"
    mkdir -p "$work" "$out/artifacts/$t"
    dirs=("corpus/$t")
    [ -d "regressions/$t" ] && dirs+=("regressions/$t")
    log="$out/$t.log"
    cargo +nightly fuzz run "${flags[@]}" "$t" "$work" "${dirs[@]}" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$t/" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    printf '%-16s %12s %10s %8s %8s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${rss:-?}"
    if [ $rc -ne 0 ]; then
        failed+=("$t")
        grep -m1 -A12 -E "panicked|ERROR: libFuzzer|SUMMARY" "$log" | sed 's/^/    /'
        for a in "$out/artifacts/$t"/*; do
            # base64, whole up to 3 KB: the input can be rebuilt from a CI log alone.
            [ -f "$a" ] && echo "    input $a ($(wc -c <"$a") bytes, base64): $(head -c 3072 "$a" | base64 -w0)"
        done
    fi
done
echo "logs, artifacts and the grown corpora: $out"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
    exit 1
fi
