#!/usr/bin/env python3
"""Concurrency (issue 12): 200 reaper commands at once on one state directory — start, stop,
status, restart and doctor mixed at random over 20 service names — repeated for --rounds rounds.
Every command must finish within --timeout (no deadlock), exit with a documented code for what it
met (start 0/4, stop 0/3, restart 0/3, status 0/3, doctor 0/1), and never panic. After each round no
record may be lost: every live process carrying a run's marker belongs to the run a record names,
and every record is readable. At the end `stop --all` must leave nothing.

Usage: scripts/soak/concurrent.py [--commands 200] [--names 20] [--rounds 5] [--seed N]
Exits 1 on any problem.  REAPER_BIN=path skips the release build.
"""
import argparse, collections, json, os, random, subprocess, sys, time

import soaklib

EXPECTED = {"start": {0, 4}, "stop": {0, 3}, "restart": {0, 3}, "status": {0, 3}, "doctor": {0, 1}}


def command(exe, rng, names):
    kind = rng.choice(list(EXPECTED))
    name = rng.choice(names)
    args = {"start": ["start", name, "--min-uptime", "100ms", "--", "sh", "-c", "sleep 1000", soaklib.token_argv0()],
            "stop": ["stop", name, "--timeout", "1s"],
            "restart": ["restart", name],
            "status": rng.choice([["status", "--json"], ["status", name]]),
            "doctor": ["doctor", "--scope", "project", "--json"]}[kind]
    return kind, [exe, *args]


def marked_runs():
    """run id -> service name, for every live process carrying the token and a reaper marker."""
    runs = {}
    for pid in soaklib.token_processes():
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                for var in f.read().split(b"\0"):
                    if var.startswith(b"REAPER_MARKER=v1:"):
                        _, run_id, name = var.decode().split(":", 3)[:3]
                        runs[run_id] = name
        except (OSError, ValueError):
            pass
    return runs


def recorded_runs(state):
    runs, bad = {}, []
    run_dir = os.path.join(state, ".run")
    for entry in os.listdir(run_dir):
        if entry.endswith(".json") and not entry.endswith(".exit.json") and not entry.startswith("."):
            try:
                with open(os.path.join(run_dir, entry)) as f:
                    rec = json.load(f)
                runs[rec["run_id"]] = rec["name"]
            except (OSError, ValueError, KeyError):
                bad.append(entry)
    return runs, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--commands", type=int, default=200)
    ap.add_argument("--names", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=300, help="seconds one command may take (a deadlock guard)")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    opts = ap.parse_args()
    exe = soaklib.binary()
    rng = random.Random(opts.seed)
    state, env = soaklib.sandbox("concurrent")
    names = [f"svc{i}" for i in range(opts.names)]
    outcomes = collections.Counter()
    problems, slowest = [], 0.0
    t0 = time.time()
    try:
        for rnd in range(opts.rounds):
            procs = []
            for _ in range(opts.commands):
                kind, args = command(exe, rng, names)
                procs.append((kind, args, time.time(), subprocess.Popen(
                    args, env=env, cwd=state, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE, text=True)))
            for kind, args, started, p in procs:
                try:
                    _, err = p.communicate(timeout=max(1, opts.timeout - (time.time() - started)))
                except subprocess.TimeoutExpired:
                    p.kill()  # our own child, not yet reaped
                    p.communicate()
                    problems.append(f"round {rnd}: did not finish in {opts.timeout}s: {args[1:]}")
                    outcomes[(kind, "timeout")] += 1
                    continue
                slowest = max(slowest, time.time() - started)
                outcomes[(kind, p.returncode)] += 1
                if p.returncode not in EXPECTED[kind] or "panicked" in err:
                    problems.append(f"round {rnd}: {' '.join(args[1:4])} exit {p.returncode}: {err.strip()[:200]}")
            time.sleep(0.3)  # let keepers of stopped runs finish exiting
            marked = marked_runs()
            recorded, bad = recorded_runs(state)
            lost = {r: n for r, n in marked.items() if r not in recorded}
            if lost or bad:
                problems.append(f"round {rnd}: runs without a record {lost}, unreadable records {bad}")
            print(f"round {rnd + 1}: {len(recorded)} running, {time.time() - t0:.0f}s, problems {len(problems)}",
                  file=sys.stderr, flush=True)
        rows = [("seed", opts.seed), ("rounds x concurrent commands", f"{opts.rounds} x {opts.commands}"),
                ("service names", opts.names), ("slowest command s", f"{slowest:.1f}")]
        rows += [(f"{kind} exit {rc}", n) for (kind, rc), n in sorted(outcomes.items(), key=str)]
        rows.append(("problems (timeouts, bad exits, lost records)", len(problems)))
        leftovers = soaklib.final_check(state, env, exe, rows)
        soaklib.table("concurrent commands on one state directory", rows)
        for p in problems[:30]:
            print(p, file=sys.stderr)
        return 1 if problems or leftovers else 0
    finally:
        soaklib.teardown(state)


if __name__ == "__main__":
    sys.exit(main())
