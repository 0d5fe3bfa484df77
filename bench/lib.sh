# Sourced by the bench scripts (from the repository's root).

# Builds tagstream (release, in the shared target cache) and sets `bin` to the binary.
build_tagstream() {
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tagstream-target}"
  cargo build --release -q
  bin="$CARGO_TARGET_DIR/release/tagstream"
}

# The folder of a run of record: bench/runs/<date>-<cores>cpu-<memory>G[-NAME].
run_dir() {
  local machine
  machine="$(nproc)cpu-$(awk '/MemTotal/ {printf "%dG", $2/1048576}' /proc/meminfo)"
  echo "bench/runs/$(date -u +%Y-%m-%d)-$machine${1:+-$1}"
}
