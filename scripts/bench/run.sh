#!/usr/bin/env bash
# `reaper run` benchmarks (issue 6), peers side by side in one run:
#   1. overhead: `true` vs `timeout 10 true` vs `reaper run -- true` (and `reaper --version`,
#      the cost of starting the reaper binary at all), with hyperfine; target: reaper run adds
#      under 2 ms to `true` at the median;
#   2. timeout to exit: a TERM-obeying tree of 50 processes under `--timeout 1s`, time from the
#      expiry to reaper's exit, vs coreutils `timeout 1s` on the same tree; target: under 50 ms.
#
# Usage: scripts/bench/run.sh [--runs N]   (default 300 runs for 1, 20 for 2)
# Installs hyperfine with apt-get when missing and builds the release binary. Every process the
# benchmark starts carries a random token; anything left carrying it after a run is reported and
# killed by pid after re-checking the token.
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=300
if [[ "${1:-}" == "--runs" ]]; then runs="$2"; fi

need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need hyperfine || missing+=(hyperfine)
need python3 || missing+=(python3)
need timeout || missing+=(coreutils)
if ((${#missing[@]})); then
  install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
  install 2>/dev/null || { apt-get update -q >/dev/null && install; }
fi

cargo build --release -q
reaper="$(pwd)/${CARGO_TARGET_DIR:-target}/release/reaper"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "## 1. Overhead of reaper run ($runs runs each, hyperfine -N, stdin /dev/null)"
echo
hyperfine -N --warmup 30 --runs "$runs" --style none \
  --export-json "$work/overhead.json" \
  'true' 'timeout 10 true' "$reaper --version" "$reaper run -- true" >/dev/null 2>"$work/hyperfine.err" \
  || { cat "$work/hyperfine.err" >&2; exit 1; }
python3 - "$work/overhead.json" "$reaper" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
reaper = sys.argv[2]
base = next(r for r in results if r["command"] == "true")["median"]
print(f"| {'command':<24} | {'median':>9} | {'mean ± σ':>16} | {'added to true (median)':>22} |")
print(f"|{'-' * 26}|{'-' * 11}|{'-' * 18}|{'-' * 24}|")
for r in results:
    name = r["command"].replace(reaper, "reaper")
    ms = lambda x: f"{x * 1000:.2f} ms"
    spread = "%.2f ± %.2f ms" % (r["mean"] * 1000, r["stddev"] * 1000)
    print(f"| {name:<24} | {ms(r['median']):>9} | {spread:>16} | {ms(r['median'] - base):>22} |")
EOF
echo

timeout_runs=20
if [[ "$runs" -lt 20 ]]; then timeout_runs="$runs"; fi
echo "## 2. Timeout expiry to exit, TERM-obeying tree of 50 processes ($timeout_runs runs each)"
echo
python3 - "$reaper" "$timeout_runs" <<'EOF'
import os, secrets, statistics, subprocess, sys, time
reaper, runs = sys.argv[1], int(sys.argv[2])
token = "bench" + secrets.token_hex(8)
env = dict(os.environ, REAPER_BENCH_TOKEN=token)
timeout_s = 1.0
# sh plus 49 sleeps: 50 processes, all of which exit on SIGTERM.
tree = ["sh", "-c", "for i in $(seq 49); do sleep 1000 & done; wait"]

def carriers():
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"REAPER_BENCH_TOKEN={token}".encode() in f.read().split(b"\0"):
                    found.append(int(pid))
        except OSError:
            pass
    return found

def measure(argv, expect):
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - t0 - timeout_s)
        if p.returncode != expect:
            sys.exit(f"{argv[:3]} exited {p.returncode}, expected {expect}")
        left = carriers()
        if left:
            print(f"  {os.path.basename(argv[0])}: {len(left)} processes of the tree still alive "
                  "when it exited (killed now)")
            for pid in left:
                try:
                    with open(f"/proc/{pid}/environ", "rb") as f:
                        if f"REAPER_BENCH_TOKEN={token}".encode() in f.read().split(b"\0"):
                            os.kill(pid, 9)
                except OSError:
                    pass
    return samples

rows = [
    ("reaper run --timeout 1s", measure([reaper, "run", "--timeout", "1s", "--", *tree], 124)),
    ("timeout 1s (coreutils)", measure(["timeout", "1s", *tree], 124)),
]
print(f"| {'command':<24} | {'median':>9} | {'min':>9} | {'max':>9} |")
print(f"|{'-' * 26}|{'-' * 11}|{'-' * 11}|{'-' * 11}|")
for name, s in rows:
    ms = lambda x: f"{x * 1000:.1f} ms"
    print(f"| {name:<24} | {ms(statistics.median(s)):>9} | {ms(min(s)):>9} | {ms(max(s)):>9} |")
print()
print("Times are wall-clock from the start minus the 1 s timeout, so they include starting the")
print("binary and the tree (an upper bound on expiry-to-exit). coreutils timeout signals only its")
print("own process group; reaper signals every member of the tree, waits for all 50 to be gone,")
print("and reaps them.")
EOF
