#!/usr/bin/env python3
"""Containment benchmark (issue 11): start and stop latency with a cgroup per service
(REAPER_CONTAINMENT=auto where cgroup v2 is writable) beside the session + marker fallback
(REAPER_CONTAINMENT=fallback), side by side in one run.

Rows: start (--min-uptime 0, whole command); stop of a prompt tree (a shell and 3 sleepers):
the whole command, and the engine's overhead beyond the last exit (elapsed_ms minus the last
process's after_ms, from `stop --json`); stop of a 100-process tree; stop of a TERM-ignoring
tree with --timeout 1s.

Usage: scripts/bench/containment.py [--runs N]   (builds the release binary first)
Every process carries a random token; anything left is killed by pid after checking it.
"""
import argparse, json, os, shutil, statistics, subprocess, tempfile, time

from benchlib import TOKEN, leftovers, reaper_bin, run

MODES = ["auto", "fallback"]


def stop_json(exe, env, name, *extra):
    dt, p = run([exe, "stop", name, "--json", *extra], env)
    report = json.loads(p.stdout)["stopped"][0]
    last_exit = max((proc["after_ms"] for proc in report["processes"]), default=0)
    return dt, report["elapsed_ms"] - last_exit, report


def measure(exe, env, runs):
    rows = {}
    times = []
    for _ in range(runs):
        dt, _ = run([exe, "start", "s", "--min-uptime", "0", "--", "sleep", "1000"], env)
        times.append(dt)
        run([exe, "stop", "s"], env)
    rows["start (--min-uptime 0), whole command"] = statistics.median(times) * 1000

    def stop_rows(label, script, count, extra=()):
        whole, overhead = [], []
        for _ in range(count):
            run([exe, "start", "t", "--min-uptime", "0", "--", "sh", "-c", script], env)
            # Let every member start before stopping.
            time.sleep(0.2)
            dt, beyond, _ = stop_json(exe, env, "t", *extra)
            whole.append(dt * 1000)
            overhead.append(beyond)
        rows[f"{label}, whole command"] = statistics.median(whole)
        rows[f"{label}, beyond the last exit"] = statistics.median(overhead)

    stop_rows("stop prompt tree (4 processes)", "for i in 1 2 3; do sleep 1000 & done; wait", runs)
    stop_rows("stop 100-process tree", "for i in $(seq 99); do sleep 1000 & done; wait",
              max(3, runs // 4))
    stop_rows("stop TERM-ignoring tree, --timeout 1s",
              "trap '' TERM; for i in 1 2 3; do sh -c \"trap '' TERM; sleep 1000\" & done; wait",
              max(3, runs // 8), ["--timeout", "1s"])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    opts = ap.parse_args()
    exe = reaper_bin()
    results, notes = {}, []
    for mode in MODES:
        state = tempfile.mkdtemp(prefix="reaper-bench-")
        env = dict(os.environ, REAPER_STATE_DIR=state, REAPER_BENCH_TOKEN=TOKEN,
                   REAPER_CONTAINMENT=mode)
        try:
            run([exe, "start", "probe", "--min-uptime", "0", "--", "sleep", "1000"], env)
            _, p = run([exe, "status", "probe", "--json"], env)
            kind = json.loads(p.stdout)["services"][0]["containment"]["kind"]
            run([exe, "stop", "probe"], env)
            notes.append(f"REAPER_CONTAINMENT={mode}: containment {kind}")
            results[kind] = measure(exe, env, opts.runs)
        finally:
            subprocess.run([exe, "stop", "--all", "--timeout", "1s"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
            for pid in leftovers():
                os.kill(pid, 9)
            shutil.rmtree(state, ignore_errors=True)
    kinds = list(results)
    print(f"reaper containment benchmark ({opts.runs} runs, release build, {os.cpu_count()} cores)")
    print("; ".join(notes) + "\n")
    print(f"| {'median ms':<52} | " + " | ".join(f"{k:>14}" for k in kinds) + " |")
    print(f"|{'-' * 54}|" + "|".join("-" * 16 for _ in kinds) + "|")
    for label in results[kinds[0]]:
        print(f"| {label:<52} | " + " | ".join(f"{results[k][label]:>14.1f}" for k in kinds) + " |")
    if "cgroup" in results and "session_marker" in results:
        key = "start (--min-uptime 0), whole command"
        print(f"\ncgroup set-up cost at start: {results['cgroup'][key] - results['session_marker'][key]:+.1f} ms "
              "(target < 5 ms)")
    print("targets: stop of a prompt tree <= its exit + 10 ms; no 50 ms polling in cgroup mode")


if __name__ == "__main__":
    main()
