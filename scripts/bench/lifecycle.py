#!/usr/bin/env python3
"""Benchmarks for managed processes (issue 2): start latency, stop latency (prompt and
TERM-ignoring), `status --json` with 100 services, and the peak RSS of the reaper process.

Usage: scripts/bench/lifecycle.py [--runs N]   (builds the release binary first)
Everything runs in a temporary state directory; every process started carries a random token
and is stopped through reaper (and, should anything be left, killed by pid after checking it).
"""
import argparse, json, os, shutil, statistics, subprocess, tempfile

from benchlib import TOKEN, leftovers, reaper_bin, run


def peak_rss_kb(args, env):
    """Peak RSS of one run, from GNU time (its own pre-exec footprint is about 1 MB, unlike a
    Python parent whose forked copy would count as the child's peak)."""
    if not shutil.which("/usr/bin/time"):
        subprocess.run(["apt-get", "install", "-y", "-q", "time"], check=True, stdout=subprocess.DEVNULL, timeout=900)
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *args], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    return int(p.stderr.strip().splitlines()[-1])


def ms(x):
    return f"{x * 1000:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    opts = ap.parse_args()
    exe = reaper_bin()
    state = tempfile.mkdtemp(prefix="reaper-bench-")
    env = dict(os.environ, REAPER_STATE_DIR=state, REAPER_BENCH_TOKEN=TOKEN)
    rows = []
    try:
        # start latency, without and with the default 200 ms minimum uptime
        for label, extra in [("start (--min-uptime 0)", ["--min-uptime", "0"]), ("start (default --min-uptime 200ms)", [])]:
            times = []
            for i in range(opts.runs):
                dt, _ = run([exe, "start", "s", *extra, "--", "sleep", "1000"], env)
                times.append(dt)
                run([exe, "stop", "s"], env)
            rows.append((label, statistics.median(times), min(times), "-"))

        # stop latency, prompt exit: the whole `reaper stop` command vs the service's own exit
        times = []
        for i in range(opts.runs):
            run([exe, "start", "p", "--min-uptime", "0", "--", "sleep", "1000"], env)
            dt, p = run([exe, "stop", "p", "--json"], env)
            times.append(dt)
        rows.append(("stop, prompt TERM exit (whole command)", statistics.median(times), min(times), "< 20 ms beyond exit"))

        # stop latency, TERM-ignoring, --timeout 1s
        times = []
        for i in range(max(3, opts.runs // 4)):
            run([exe, "start", "t", "--min-uptime", "0", "--", "sh", "-c", "trap '' TERM; exec sleep 1000"], env)
            dt, _ = run([exe, "stop", "t", "--timeout", "1s"], env)
            times.append(dt)
        rows.append(("stop, TERM ignored, --timeout 1s", statistics.median(times), min(times), "1 s + < 50 ms"))

        # status --json with 100 managed processes
        for i in range(100):
            run([exe, "start", f"svc{i}", "--min-uptime", "0", "--", "sleep", "1000"], env)
        times = []
        for i in range(opts.runs):
            dt, p = run([exe, "status", "--json"], env)
            times.append(dt)
        assert len(json.loads(p.stdout)["services"]) == 100
        rows.append(("status --json, 100 services", statistics.median(times), min(times), "< 50 ms"))
        rss = {
            "status --json (100 services)": peak_rss_kb([exe, "status", "--json"], env),
            "stop --all (100 services)": peak_rss_kb([exe, "stop", "--all"], env),
            "start (min-uptime 0)": peak_rss_kb([exe, "start", "r", "--min-uptime", "0", "--", "sleep", "1000"], env),
        }
        keeper_rss = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if open(f"/proc/{pid}/cmdline", "rb").read().startswith(exe.encode() + b"\0__keeper"):
                    for line in open(f"/proc/{pid}/status"):
                        if line.startswith("VmRSS:"):
                            keeper_rss.append(int(line.split()[1]))
            except OSError:
                pass
        run([exe, "stop", "--all"], env)
    finally:
        subprocess.run([exe, "stop", "--all", "--timeout", "1s"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        for pid in leftovers():
            os.kill(pid, 9)
        shutil.rmtree(state, ignore_errors=True)

    print(f"reaper lifecycle benchmark ({opts.runs} runs, release build, {os.cpu_count()} cores)\n")
    print(f"| {'measurement':<40} | {'median ms':>9} | {'min ms':>7} | target |")
    print(f"|{'-' * 42}|{'-' * 11}|{'-' * 9}|--------|")
    for label, med, lo, target in rows:
        print(f"| {label:<40} | {ms(med):>9} | {ms(lo):>7} | {target} |")
    print()
    print(f"| {'peak RSS of the reaper process':<40} | {'MB':>9} |")
    print(f"|{'-' * 42}|{'-' * 11}|")
    for label, kb in rss.items():
        print(f"| {label:<40} | {kb / 1024:>9.1f} |")
    if keeper_rss:
        print(f"| {'keeper (per service, steady state)':<40} | {statistics.median(keeper_rss) / 1024:>9.1f} |")
    print("\ntarget: every reaper command under 10 MB peak RSS")


if __name__ == "__main__":
    main()
