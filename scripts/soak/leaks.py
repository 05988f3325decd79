#!/usr/bin/env python3
"""Soak (issue 12): does anything grow? Samples the open-fd count and RSS of two long-lived reaper
processes while they work hard:
  - the keeper of a service that, every 10 ms, forks an orphan that exits at once (the keeper, a
    subreaper, reaps each) and writes a log line (rotated at --log-max-size 1KB);
  - the `reaper up` supervisor of a stack whose one service crashes at once and always restarts
    (restart = "always", backoff 10 ms, max_backoff 10 ms).
Prints the figures at the start (after a warm-up) and at the end — each the floor of 20 samples
over 2 s, what the process holds between restarts —, the peak of the samples taken every
--interval, and the number of restarts; exits 1 if fds grew, RSS grew by more than --rss-slack-kb, or anything is left after
`down`/`stop`.

Usage: nice -n 19 scripts/soak/leaks.py [--duration 3600] [--interval 10]
REAPER_BIN=path skips the release build.
"""
import argparse, json, os, subprocess, sys, time

import soaklib
from soaklib import run

KEEPER_SERVICE = "i=0; while :; do (sh -c 'exit 1' &); i=$((i+1)); echo line $i; sleep 0.01; done"
STACK = """[services.crash]
command = ["sh", "-c", "echo crashing; exit 1", "{argv0}"]
restart = "always"
max_restarts = 4294967295
backoff = "10ms"
max_backoff = "10ms"
"""


def sample(pid):
    """(open fds, RSS in KB) of a live process."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return fds, rss


def at_rest(pid, count=20, pause=0.1):
    """(fewest fds, least RSS) over `count` samples: `up` holds 6 to 14 fds depending on where
    the restart it is doing stands (pipes, pidfds), so one sample says little; the floor is what
    it keeps between restarts, and that is what must not grow."""
    samples = []
    for _ in range(count):
        samples.append(sample(pid))
        time.sleep(pause)
    return min(s[0] for s in samples), min(s[1] for s in samples)


def restarts(exe, env, cwd):
    """How many times `up` has restarted the crashing service so far."""
    ps = subprocess.run([exe, "ps", "--json"], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    try:
        return json.loads(ps.stdout)["services"][0]["restarts"]
    except (ValueError, KeyError, IndexError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=3600, help="seconds of sampling (the issue asks one hour)")
    ap.add_argument("--interval", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=10, help="seconds before the first sample")
    ap.add_argument("--rss-slack-kb", type=int, default=512, help="allowed RSS growth (allocator noise)")
    opts = ap.parse_args()
    exe = soaklib.binary()
    state, env = soaklib.sandbox("leaks")
    up = None
    try:
        with open(os.path.join(state, "reaper.toml"), "w") as f:
            f.write(STACK.format(argv0=soaklib.token_argv0()))
        _, rc, err = run([exe, "start", "busy", "--log-max-size", "1KB", "--log-keep", "2", "--",
                          "sh", "-c", KEEPER_SERVICE, soaklib.token_argv0()], env, cwd=state)
        if rc != 0:
            sys.exit(f"start failed: {err}")
        with open(os.path.join(state, ".run", "busy.json")) as f:
            keeper = json.load(f)["keeper"]["pid"]
        up = subprocess.Popen([exe, "up"], env=env, cwd=state, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(opts.warmup)
        first = {"keeper": at_rest(keeper), "up": at_rest(up.pid)}
        restarts_first = restarts(exe, env, state)
        peak = dict(first)
        t0 = time.time()
        samples = 0
        while time.time() - t0 < opts.duration:
            time.sleep(min(opts.interval, max(0.0, opts.duration - (time.time() - t0))))
            if up.poll() is not None:
                sys.exit(f"`reaper up` exited early ({up.returncode})")
            now = {"keeper": sample(keeper), "up": sample(up.pid)}
            peak = {k: (max(peak[k][0], now[k][0]), max(peak[k][1], now[k][1])) for k in now}
            samples += 1
            if samples % 30 == 0:
                print(f"{time.time() - t0:.0f}s {now}", file=sys.stderr, flush=True)
        last = {"keeper": at_rest(keeper), "up": at_rest(up.pid)}
        peak = {k: (max(peak[k][0], last[k][0]), max(peak[k][1], last[k][1])) for k in last}
        restarts_last = restarts(exe, env, state)
        elapsed = time.time() - t0
        rows = [("sampled for s", f"{elapsed:.0f}"), ("samples", samples),
                ("service restarts by `up` during sampling",
                 restarts_last - restarts_first if None not in (restarts_first, restarts_last) else "?")]
        grew = []
        for who, label in (("keeper", "keeper (orphan every 10 ms, log rotation)"), ("up", "`up` supervisor (crash loop, backoff 10 ms)")):
            rows += [(f"{label}: fds start / end / peak", f"{first[who][0]} / {last[who][0]} / {peak[who][0]}"),
                     (f"{label}: RSS KB start / end / peak", f"{first[who][1]} / {last[who][1]} / {peak[who][1]}")]
            if last[who][0] > first[who][0]:
                grew.append(f"{who} fds {first[who][0]} -> {last[who][0]}")
            if last[who][1] > first[who][1] + opts.rss_slack_kb:
                grew.append(f"{who} RSS {first[who][1]} -> {last[who][1]} KB")
        _, rc, err = run([exe, "down"], env, cwd=state)
        rows.append(("`down` exit", rc))
        up.wait(timeout=30)
        problems = soaklib.final_check(state, env, exe, rows)
        soaklib.table("fd and RSS of long-lived reaper processes", rows)
        for g in grew:
            print(f"grew: {g}", file=sys.stderr)
        return 1 if grew or problems or rc != 0 else 0
    finally:
        if up and up.poll() is None:
            up.kill()
            up.wait()
        soaklib.teardown(state)


if __name__ == "__main__":
    sys.exit(main())
