#!/usr/bin/env python3
"""Doctor benchmark (issue 4): a full scan without the sampling window, on the machine as it is
and with 5,000 processes on it, against the psutil peer (zombie_detector_psutil.py, the same
checks) and `ps -eo pid,ppid,stat,comm` + a zombie filter. Also the peak RSS of `reaper doctor`.

Usage: scripts/bench/doctor.py [--runs N] [--procs N]
The extra processes are `sleep` children of this script carrying a random token; they are killed
by pid (and reaped) at the end, whatever happens.
"""
import argparse, os, secrets, shutil, signal, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))


def ensure_psutil():
    try:
        import psutil  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "psutil"], check=True, timeout=900)


def timed(args, env, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        # reaper: ignore[PY001] (timed: wait(timeout=) polls with sleeps in Python 3.11, which would add to the time measured)
        subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_rss_mb(args, env):
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *args], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    return int(p.stderr.strip().splitlines()[-1]) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--procs", type=int, default=5000)
    opts = ap.parse_args()
    ensure_psutil()
    if not shutil.which("/usr/bin/time"):
        subprocess.run(["apt-get", "install", "-y", "-q", "time"], check=True, stdout=subprocess.DEVNULL, timeout=900)
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True, timeout=1800)
    exe = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "reaper")
    state = tempfile.mkdtemp(prefix="reaper-doctor-bench-")
    token = "bench" + secrets.token_hex(8)
    env = dict(os.environ, REAPER_STATE_DIR=state)
    commands = {
        "reaper doctor --sample 0 --json": [exe, "doctor", "--sample", "0", "--json"],
        "psutil zombie-detector (same checks)": [sys.executable, os.path.join(HERE, "zombie_detector_psutil.py")],
        "ps -eo pid,ppid,stat,comm + filter": ["sh", "-c", "ps -eo pid,ppid,stat,comm | awk '$3 ~ /^Z/'"],
    }
    results = {}
    children = []
    try:
        for scenario in ("as it is", f"+{opts.procs} processes"):
            if scenario != "as it is":
                child_env = dict(os.environ, REAPER_BENCH_TOKEN=token)
                for _ in range(opts.procs):
                    children.append(subprocess.Popen(["sleep", "600"], env=child_env, stdin=subprocess.DEVNULL))
            count = len([p for p in os.listdir("/proc") if p.isdigit()])
            for label, args in commands.items():
                results[(scenario, label)] = (timed(args, env, opts.runs), count)
            results[(scenario, "rss")] = peak_rss_mb(commands["reaper doctor --sample 0 --json"], env)
    finally:
        for child in children:
            child.send_signal(signal.SIGKILL)
        for child in children:
            child.wait()
        shutil.rmtree(state, ignore_errors=True)

    print(f"doctor scan benchmark (median of {opts.runs} runs, release build, {os.cpu_count()} cores)\n")
    print("| scenario | processes | reaper doctor ms | psutil ms | ps+filter ms | psutil / reaper | reaper peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for scenario in ("as it is", f"+{opts.procs} processes"):
        r, count = results[(scenario, "reaper doctor --sample 0 --json")]
        p, _ = results[(scenario, "psutil zombie-detector (same checks)")]
        s, _ = results[(scenario, "ps -eo pid,ppid,stat,comm + filter")]
        print(f"| {scenario} | {count} | {r * 1000:.1f} | {p * 1000:.1f} | {s * 1000:.1f} | {p / r:.1f}x | {results[(scenario, 'rss')]:.1f} |")
    print("\ntargets: reaper under 60 ms with 5,000 processes; at least 10x faster than psutil; under 15 MB")


if __name__ == "__main__":
    main()
