#!/usr/bin/env bash
# Runs every cargo-fuzz target under fuzz/ for SECONDS each (default 5: the CI smoke pass),
# starting from its committed corpus in fuzz/corpus/TARGET. New inputs go to a scratch directory,
# so a smoke pass leaves the tree clean; pass --grow to add them to the committed corpus instead
# (then minimise it with `cargo +nightly fuzz cmin TARGET`).
# Needs nightly Rust and cargo-fuzz (libFuzzer builds with -Zsanitizer=address).
# Usage: scripts/fuzz/run.sh [--grow] [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../../fuzz"
grow=false
if [ "${1:-}" = "--grow" ]; then grow=true; shift; fi
seconds=${1:-5}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then mapfile -t targets < <(cargo +nightly fuzz list); fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo +nightly fuzz build
for target in "${targets[@]}"; do
  if $grow; then
    dirs=("corpus/$target")
  else
    mkdir -p "$scratch/$target"
    dirs=("$scratch/$target" "corpus/$target")
  fi
  echo "== $target: ${seconds}s"
  log=$scratch/$target.log
  # A crash stops the run with the input saved under fuzz/artifacts/TARGET/.
  if ! cargo +nightly fuzz run "$target" "${dirs[@]}" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz target $target FAILED (input under fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|new_units_added)' "$log"
done
