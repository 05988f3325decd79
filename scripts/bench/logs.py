#!/usr/bin/env python3
"""Log throughput (issue 12): lines per second through the keeper (pipes read by the keeper, which
writes .logs/NAME.log and its index) against the same producer writing straight to a file.

Usage: scripts/bench/logs.py [--lines N] [--runs R]   (builds the release binary first)
Producers: `block` writes 64 KiB blocks of 40-byte lines (a program with buffered stdout);
`line` writes one line per write(2) (a program that flushes every line, the keeper's worst case:
one index entry per line). Through the keeper, the time is from `reaper start` until the keeper has
exited (the service's tree is gone and every line is on disk); the line count is checked.
Everything runs in a temporary state directory; every process carries a random token.
"""
import argparse, glob, json, os, statistics, subprocess, sys, tempfile, time

from benchlib import TOKEN, leftovers, reaper_bin, run

PRODUCERS = {
    "block": "import os\nline=b'%039d\\n'\nblock=b''.join(line % i for i in range(1638))\n"
             "n={n}\nwhile n>0:\n    k=min(n,1638)\n    os.write(1, block[:40*k])\n    n-=k\n",
    "line": "import os\nfor i in range({n}):\n    os.write(1, b'%039d\\n' % i)\n",
}


def count_lines(log):
    return sum(open(p, "rb").read().count(b"\n") for p in glob.glob(log + "*") if not p.endswith(".idx"))


def direct(code, state):
    path = os.path.join(state, "direct.log")
    t0 = time.perf_counter()
    with open(path, "wb") as out:
        subprocess.run([sys.executable, "-c", code], stdout=out, check=True, timeout=600)
    return time.perf_counter() - t0, count_lines(path)


def through_keeper(exe, env, state, name, code, extra):
    t0 = time.perf_counter()
    run([exe, "start", name, "--min-uptime", "0", *extra, "--", sys.executable, "-c", code], env)
    with open(os.path.join(state, ".run", name + ".json")) as f:
        keeper = json.load(f)["keeper"]["pid"]
    while os.path.exists(f"/proc/{keeper}") and open(f"/proc/{keeper}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.001)
    dt = time.perf_counter() - t0
    lines = count_lines(os.path.join(state, ".logs", name + ".log"))
    run([exe, "clean", name], env, check=False)
    for path in glob.glob(os.path.join(state, ".logs", name + ".log*")):
        os.remove(path)
    return dt, lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    opts = ap.parse_args()
    exe = reaper_bin()
    state = tempfile.mkdtemp(prefix="reaper-bench-")
    env = dict(os.environ, REAPER_STATE_DIR=state, REAPER_BENCH_TOKEN=TOKEN)
    modes = [
        ("keeper", []),
        ("keeper --log-timestamps", ["--log-timestamps"]),
        ("keeper, rotating every 1MB", ["--log-max-size", "1MB", "--log-keep", "1000"]),
    ]
    rows = []
    try:
        for producer, template in PRODUCERS.items():
            n = opts.lines if producer == "block" else opts.lines // 5
            code = template.format(n=n)
            cases = [("direct file write", lambda: direct(code, state))]
            for label, extra in modes:
                cases.append((label, lambda extra=extra, label=label: through_keeper(
                    exe, env, state, "bench" + str(len(rows)), code, extra)))
            for label, case in cases:
                times = []
                for _ in range(opts.runs):
                    dt, lines = case()
                    if lines != n:
                        sys.exit(f"{producer}/{label}: {lines} lines on disk, {n} written")
                    times.append(dt)
                rows.append((producer, label, n, statistics.median(times)))
    finally:
        left = leftovers()
        for pid in left:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        subprocess.run(["rm", "-rf", state], timeout=120)
    print(f"| producer | path | lines | median s | lines/s |")
    print("|---|---|---:|---:|---:|")
    for producer, label, n, dt in rows:
        print(f"| {producer} | {label} | {n} | {dt:.3f} | {n / dt:,.0f} |")
    if left:
        sys.exit(f"leftover processes: {left}")


if __name__ == "__main__":
    main()
