#!/usr/bin/env python3
"""Soak (issue 12): N `start`/`stop` cycles of a 20-process tree — 16 plain children, a setsid
daemon, and a child shell ignoring SIGTERM with its own child (which inherits the ignored TERM) —
then checks that nothing is left: no process carrying the run's token, no cgroup of the state
directory under reaper's base, no record. Each stop must report the whole tree (20 processes).

Usage: scripts/soak/cycles.py [--cycles 1000] [--timeout 300ms]
Exits 1 on any leftover or failed cycle.  REAPER_BIN=path skips the release build.
"""
import argparse, json, statistics, sys, time

import soaklib
from soaklib import run

TREE = ("for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do sleep 1000 & done; "
        "setsid sleep 1000 & "
        "sh -c 'trap \"\" TERM; sleep 1000; :' & "
        "wait")
TREE_SIZE = 20


def count_tree(state, name):
    """Processes in the service's cgroup (or None without one)."""
    try:
        with open(f"{state}/.run/{name}.json") as f:
            cgroup = json.load(f).get("cgroup")
        if not cgroup:
            return None
        with open(f"{cgroup}/cgroup.procs") as f:
            return len(f.read().split())
    except (OSError, ValueError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--timeout", default="300ms", help="stop timeout before SIGKILL (the TERM-ignoring pair needs it)")
    opts = ap.parse_args()
    exe = soaklib.binary()
    state, env = soaklib.sandbox("cycles")
    failures, start_times, stop_times, sizes = [], [], [], []
    killed = 0
    t0 = time.time()
    try:
        for i in range(opts.cycles):
            dt, rc, err = run([exe, "start", "tree", "--min-uptime", "300ms", "--", "sh", "-c", TREE, soaklib.token_argv0()], env)
            start_times.append(dt)
            if rc != 0:
                failures.append(f"cycle {i}: start exit {rc}: {err.strip()[:200]}")
                continue
            # Under load the shell may still be forking when start returns: wait for the tree.
            deadline = time.time() + 10
            n = count_tree(state, "tree")
            while n is not None and n < TREE_SIZE and time.time() < deadline:
                time.sleep(0.02)
                n = count_tree(state, "tree")
            if n is not None:
                sizes.append(n)
            dt, rc, err = run([exe, "stop", "tree", "--timeout", opts.timeout, "--json"], env)
            stop_times.append(dt)
            if rc != 0:
                failures.append(f"cycle {i}: stop exit {rc}: {err.strip()[:200]}")
            left = soaklib.token_processes()
            if left:
                # Give the kernel a moment to finish reaping, then count again.
                time.sleep(0.2)
                left = soaklib.token_processes()
            if left:
                failures.append(f"cycle {i}: {len(left)} processes left after stop")
                killed += soaklib.kill_token_processes()
            if (i + 1) % 100 == 0:
                print(f"{i + 1} cycles, {time.time() - t0:.0f}s, failures {len(failures)}", file=sys.stderr, flush=True)
        rows = [("cycles", opts.cycles), ("processes per tree (cgroup count, min-max)",
                                           f"{min(sizes)}-{max(sizes)}" if sizes else "n/a (no cgroup)"),
                ("start, median s", f"{statistics.median(start_times):.3f}"),
                ("stop, median s", f"{statistics.median(stop_times):.3f}" if stop_times else "-"),
                ("failed cycles", len(failures)), ("processes left after a stop", killed),
                ("wall time s", f"{time.time() - t0:.0f}")]
        problems = soaklib.final_check(state, env, exe, rows)
        if sizes and min(sizes) != TREE_SIZE:
            failures.append(f"tree size {min(sizes)}-{max(sizes)}, expected {TREE_SIZE}")
        soaklib.table("start/stop cycles of a 20-process tree", rows)
        for f in failures[:20]:
            print(f, file=sys.stderr)
        return 1 if failures or problems or killed else 0
    finally:
        soaklib.teardown(state)


if __name__ == "__main__":
    sys.exit(main())
