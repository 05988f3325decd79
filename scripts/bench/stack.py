#!/usr/bin/env python3
"""Benchmark of `reaper up` (issue 5) with 10 services, side by side with supervisord and honcho.

Measured for each tool, with the same 10 `sleep 1000` services, each ready as soon as it runs:
  - peak RSS (VmHWM) of the supervising process, read after a second of steady state;
  - time from launching the supervisor to all 10 services up (reaper: its "all 10 services are
    ready" line; supervisord and honcho have no readiness, so: all 10 processes exist);
  - time from SIGINT (Ctrl-C) to the supervisor having exited with every service gone.
For reaper it also reports the keepers' memory: every reaper service has its own keeper (a
small subreaper that reaps the service's tree and records its exit), so 10 services mean 10
keepers; their RSS and PSS (shared pages counted once) are listed separately.

Usage: scripts/bench/stack.py [--runs N]   (builds the release binary; supervisord and honcho are
installed into a temporary virtualenv with pip when PyPI is reachable, else they are skipped)
Everything runs in temporary directories; every process carries a random token and anything
left is killed by pid after checking the token.
"""
import argparse, os, shutil, signal, statistics, subprocess, sys, tempfile, time

from benchlib import TOKEN, leftovers, reaper_bin

SERVICES = 10


def sleepers():
    out = []
    for pid in leftovers(live_only=True):
        try:
            if open(f"/proc/{pid}/cmdline", "rb").read() == b"sleep\x001000\x00":
                out.append(pid)
        except OSError:
            pass
    return out


def children_running(parent, argument):
    """Children of `parent` whose first argument is `argument` (keepers start with a clean
    environment, so they carry no token)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as s:
                ppid = int(s.read().rsplit(")", 1)[1].split()[1])
            if ppid == parent and open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[1:2] == [argument]:
                out.append(int(pid))
        except (OSError, ValueError):
            pass
    return out


def status_kb(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rollup_kb(pid, field):
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def kill_leftovers():
    for pid in leftovers(live_only=True):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def wait_until(predicate, limit=30.0):
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return False


def stop_and_time(proc, sig=signal.SIGINT):
    t0 = time.perf_counter()
    proc.send_signal(sig)
    proc.wait(timeout=60)
    wait_until(lambda: not leftovers(live_only=True))
    return time.perf_counter() - t0


def bench_reaper(exe, runs):
    results = []
    for _ in range(runs):
        d = tempfile.mkdtemp(prefix="reaper-bench-stack-")
        with open(os.path.join(d, "reaper.toml"), "w") as f:
            for i in range(SERVICES):
                f.write(f'[services.s{i}]\ncommand = ["sleep", "1000"]\n\n')
        env = dict(os.environ, REAPER_STATE_DIR=d, REAPER_BENCH_TOKEN=TOKEN, NO_COLOR="1")
        try:
            t0 = time.perf_counter()
            proc = subprocess.Popen([exe, "up"], cwd=d, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            seen = []
            for line in proc.stdout:
                seen.append(line)
                if f"all {SERVICES} services are ready" in line:
                    break
            else:
                sys.exit("reaper up did not get ready:\n" + "".join(seen))
            ready = time.perf_counter() - t0
            time.sleep(1.0)
            hwm = status_kb(proc.pid, "VmHWM")
            keepers = children_running(proc.pid, b"__keeper")
            keeper_rss = [rollup_kb(p, "Rss") for p in keepers]
            keeper_pss = [rollup_kb(p, "Pss") for p in keepers]
            gone = stop_and_time(proc)
            proc.stdout.read()
            results.append(dict(ready=ready, hwm=hwm, gone=gone, keepers=len(keepers),
                                keeper_rss=sum(keeper_rss), keeper_pss=sum(keeper_pss)))
        finally:
            kill_leftovers()
            shutil.rmtree(d, ignore_errors=True)
    return results


def install_peers():
    venv = tempfile.mkdtemp(prefix="reaper-bench-venv-")
    try:
        subprocess.run([sys.executable, "-m", "venv", venv], check=True, stdout=subprocess.DEVNULL, timeout=900)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "supervisor", "honcho"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        return venv
    except (subprocess.SubprocessError, OSError) as e:
        print(f"(supervisord and honcho not available: pip install failed: {e})", file=sys.stderr)
        shutil.rmtree(venv, ignore_errors=True)
        return None


def bench_supervisord(venv, runs):
    results = []
    for _ in range(runs):
        d = tempfile.mkdtemp(prefix="reaper-bench-supervisord-")
        conf = os.path.join(d, "supervisord.conf")
        with open(conf, "w") as f:
            f.write(f"[supervisord]\nnodaemon=true\nlogfile={d}/supervisord.log\npidfile={d}/supervisord.pid\n"
                    f"childlogdir={d}\n\n")
            for i in range(SERVICES):
                f.write(f"[program:s{i}]\ncommand=sleep 1000\nstartsecs=0\nautorestart=false\n"
                        f"stdout_logfile={d}/s{i}.log\nredirect_stderr=true\n\n")
        env = dict(os.environ, REAPER_BENCH_TOKEN=TOKEN)
        try:
            t0 = time.perf_counter()
            proc = subprocess.Popen([os.path.join(venv, "bin", "supervisord"), "-c", conf], cwd=d, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_until(lambda: len(sleepers()) == SERVICES)
            ready = time.perf_counter() - t0
            time.sleep(1.0)
            hwm = status_kb(proc.pid, "VmHWM")
            gone = stop_and_time(proc, signal.SIGINT)
            results.append(dict(ready=ready, hwm=hwm, gone=gone))
        finally:
            kill_leftovers()
            shutil.rmtree(d, ignore_errors=True)
    return results


def bench_honcho(venv, runs):
    results = []
    for _ in range(runs):
        d = tempfile.mkdtemp(prefix="reaper-bench-honcho-")
        with open(os.path.join(d, "Procfile"), "w") as f:
            for i in range(SERVICES):
                f.write(f"s{i}: exec sleep 1000\n")
        env = dict(os.environ, REAPER_BENCH_TOKEN=TOKEN)
        try:
            t0 = time.perf_counter()
            proc = subprocess.Popen([os.path.join(venv, "bin", "honcho"), "start"], cwd=d, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_until(lambda: len(sleepers()) == SERVICES)
            ready = time.perf_counter() - t0
            time.sleep(1.0)
            hwm = status_kb(proc.pid, "VmHWM")
            gone = stop_and_time(proc, signal.SIGINT)
            results.append(dict(ready=ready, hwm=hwm, gone=gone))
        finally:
            kill_leftovers()
            shutil.rmtree(d, ignore_errors=True)
    return results


def med(results, key):
    return statistics.median(r[key] for r in results)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-peers", action="store_true", help="skip supervisord and honcho")
    opts = ap.parse_args()
    exe = reaper_bin()
    rows = [("reaper up", bench_reaper(exe, opts.runs))]
    venv = None if opts.no_peers else install_peers()
    try:
        if venv:
            rows.append(("supervisord 4 (startsecs=0)", bench_supervisord(venv, opts.runs)))
            rows.append(("honcho start", bench_honcho(venv, opts.runs)))
    finally:
        kill_leftovers()
        if venv:
            shutil.rmtree(venv, ignore_errors=True)

    print(f"stack benchmark: {SERVICES} services (`sleep 1000`, ready at once), median of {opts.runs} runs, "
          f"release build, {os.cpu_count()} cores\n")
    print(f"| {'supervisor':<28} | {'peak RSS MB':>11} | {'start → all up ms':>17} | {'Ctrl-C → all gone ms':>20} |")
    print(f"|{'-' * 30}|{'-' * 13}|{'-' * 19}|{'-' * 22}|")
    for label, results in rows:
        print(f"| {label:<28} | {med(results, 'hwm') / 1024:>11.1f} | {med(results, 'ready') * 1000:>17.1f} | "
              f"{med(results, 'gone') * 1000:>20.1f} |")
    reaper = rows[0][1]
    print(f"\nreaper runs one keeper per service ({reaper[0]['keepers']} here): together "
          f"{med(reaper, 'keeper_rss') / 1024:.1f} MB RSS, {med(reaper, 'keeper_pss') / 1024:.1f} MB PSS "
          f"(shared pages counted once), i.e. {med(reaper, 'keeper_pss') / 1024 / max(1, reaper[0]['keepers']):.2f} MB "
          f"PSS per service.")
    print("targets: supervisor peak RSS < 8 MB; up → all ready < 200 ms; Ctrl-C → all gone < 100 ms")
    print("(supervisord and honcho have no readiness: their 'all up' is 'all 10 processes exist')")


if __name__ == "__main__":
    main()
