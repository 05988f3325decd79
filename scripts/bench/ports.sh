#!/usr/bin/env bash
# Port benchmarks (issue 3): `reaper port P` against lsof, ss and fuser, and `reaper port P
# --kill` against `fuser -k` and `lsof -ti | xargs kill`, on the machine as it is and with
# 2,000 extra processes and 1,000 extra listening sockets. Prints one table per benchmark,
# peers side by side.
#
# Usage: scripts/bench/ports.sh [--runs N]
# Installs lsof, psmisc (fuser), iproute2 (ss) and hyperfine with apt-get when missing, and
# builds the release binary. Every process the benchmark starts is its own child, carries a
# random token, listens only on 127.0.0.1 ephemeral ports, and is ended by pid at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need lsof || missing+=(lsof)
need fuser || missing+=(psmisc)
need ss || missing+=(iproute2)
need hyperfine || missing+=(hyperfine)  # for --hyperfine
need python3 || missing+=(python3)
if ((${#missing[@]})); then
  install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
  install 2>/dev/null || { apt-get update -q >/dev/null && install; }
fi

cargo build --release -q
exec python3 scripts/bench/ports.py --reaper "${CARGO_TARGET_DIR:-target}/release/reaper" "$@"
