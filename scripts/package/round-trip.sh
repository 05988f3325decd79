#!/usr/bin/env bash
# Checks an installed reaper: `--version` names the crate's version, and a service started in a
# temporary state directory runs and is stopped with nothing left.
#
#   scripts/package/round-trip.sh LABEL REAPER_COMMAND…      e.g. … pip ./venv/bin/reaper
#
# The service is a sleeper whose command line carries a random token; only processes carrying
# that token are ever ended (if the check fails half-way).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 LABEL REAPER_COMMAND…" >&2; exit 2; }
label=$1
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
marker=reaper-round-trip-$label-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
state=$(mktemp -d)

cleanup() {
  local pid
  for pid in $(pgrep -f "$marker" || true); do
    # reaper: ignore[SH003] (leftovers of a failed round trip, after reaper itself gave up)
    grep -qa "$marker" "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  done
  rm -rf "$state"
}
trap cleanup EXIT

fail() {
  echo "$label: FAILED: $*" >&2
  exit 1
}

reported=$("$@" --version)
[ "$reported" = "reaper $version" ] || fail "--version printed '$reported', not 'reaper $version'"
"$@" --state-dir "$state" start sleeper -- python3 -c 'import time; time.sleep(600)' "$marker" ||
  fail "start failed"
"$@" --state-dir "$state" status sleeper || fail "status of a running service failed"
pgrep -f "$marker" >/dev/null || fail "the started process is not running"
"$@" --state-dir "$state" stop sleeper || fail "stop failed"
if pgrep -af "$marker"; then fail "the processes above were left running after stop"; fi
[ ! -e "$state/.run/sleeper.pid" ] || fail "stop left $state/.run/sleeper.pid"
echo "$label: reaper $version started and stopped a service, nothing left"
