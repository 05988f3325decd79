#!/usr/bin/env python3
"""Benchmark of restart on file change (`watch`, issue 14).

1. File change -> service ready again: a stack of one Python HTTP server (`python3 -m
   http.server`, port probe) with watch = ["src/**/*.py"]. Each round writes src/app.py and
   times until `reaper up` prints the server ready again. The server's own start time (spawn to
   port open, as reaper reports it: "ready after X") is subtracted: what is left is reaper's part
   (debounce, stopping the old tree, waiting for the port, starting). Target: within 300 ms
   (the 200 ms default debounce included) plus the server's start time.
2. Idle CPU of the supervisor with 50,000 files under the watched tree: 2,000 watched .py files
   in src/ and 48,000 files in node_modules/ (ignored by .gitignore, but below the recursively
   watched root, so inotify watches every directory). CPU time of `reaper up` over an idle
   window, with watching on and with --no-watch (the supervisor's own loop), and the time it
   took to set the watches up.

Usage: scripts/bench/watch.py [--rounds N] [--idle SECONDS]   (builds the release binary, or
uses $REAPER_BIN)
Everything runs in temporary directories; every process carries a random token and anything
left is killed by pid after checking the token.
"""
import argparse, os, re, signal, socket, statistics, subprocess, sys, tempfile, threading, time

from benchlib import TOKEN, leftovers, reaper_bin

READY = re.compile(r"api is ready after (\d+(?:\.\d+)?)(ms|s)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Up:
    """A foreground `reaper up`, its output lines with their arrival times."""

    def __init__(self, exe, root, args=()):
        env = dict(os.environ, REAPER_BENCH_TOKEN=TOKEN, NO_COLOR="1")
        self.proc = subprocess.Popen([exe, "up", *args], cwd=root, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append((time.perf_counter(), line.rstrip("\n")))

    def wait_for(self, pattern, after=0, limit=120):
        """(time, match) of the first line at index >= after matching pattern; index returned too."""
        deadline = time.perf_counter() + limit
        while time.perf_counter() < deadline:
            with self.lock:
                for index in range(after, len(self.lines)):
                    at, line = self.lines[index]
                    m = re.search(pattern, line)
                    if m:
                        return index, at, m
            if self.proc.poll() is not None:
                break
            time.sleep(0.002)
        sys.exit(f"no line matching {pattern!r}:\n" + "\n".join(l for _, l in self.lines))

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)

    def cpu_seconds(self):
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def restart_latency(exe, rounds):
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(f"{root}/src")
        open(f"{root}/src/app.py", "w").write("v = 0\n")
        port = free_port()
        open(f"{root}/reaper.toml", "w").write(
            f'[services.api]\ncommand = ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]\n'
            f'port = {port}\nwatch = ["src/**/*.py"]\n')
        up = Up(exe, root)
        index, _, _ = up.wait_for("all 1 service is ready")
        totals, starts = [], []
        for n in range(rounds):
            time.sleep(0.5)
            changed = time.perf_counter()
            open(f"{root}/src/app.py", "w").write(f"v = {n + 1}\n")
            index, ready, m = up.wait_for(READY.pattern, after=index + 1)
            value = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
            totals.append(ready - changed)
            starts.append(value)
        up.stop()
        return totals, starts


def make_tree(root):
    os.makedirs(f"{root}/src")
    for d in range(100):
        os.makedirs(f"{root}/src/pkg{d}")
        for f in range(20):
            open(f"{root}/src/pkg{d}/m{f}.py", "w").write("x = 1\n")
    for d in range(2400):
        path = f"{root}/node_modules/lib{d // 100}/mod{d}"
        os.makedirs(path)
        for f in range(20):
            open(f"{path}/f{f}.js", "w").write("module.exports = 1\n")
    open(f"{root}/.gitignore", "w").write("node_modules/\n")
    open(f"{root}/reaper.toml", "w").write(
        '[services.app]\ncommand = "echo app: up; exec sleep 1000"\nready = { log = "app: up" }\n'
        'watch = ["**/*.py"]\n')


def idle_cpu(exe, idle):
    rows = []
    with tempfile.TemporaryDirectory() as root:
        make_tree(root)
        files = sum(len(f) for _, _, f in os.walk(root))
        for label, args in (("watching 50,000 files", []), ("--no-watch (the loop alone)", ["--no-watch"])):
            up = Up(exe, root, args)
            _, began, _ = up.wait_for(r"\| up: ")
            setup = None
            if not args:
                _, watching, _ = up.wait_for("watching files of app")
                setup = watching - began
            up.wait_for("all 1 service is ready")
            time.sleep(1)
            before, t0 = up.cpu_seconds(), time.perf_counter()
            time.sleep(idle)
            used, elapsed = up.cpu_seconds() - before, time.perf_counter() - t0
            up.stop()
            rows.append((label, files, used / elapsed * 100, setup))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--idle", type=float, default=10.0)
    args = parser.parse_args()
    # REAPER_BIN: an already built binary (e.g. a debug build) instead of building the release one.
    exe = os.environ.get("REAPER_BIN") or reaper_bin()
    try:
        totals, starts = restart_latency(exe, args.rounds)
        overhead = [t - s for t, s in zip(totals, starts)]
        ms = lambda xs: f"{statistics.median(xs) * 1000:7.0f} ms (min {min(xs) * 1000:.0f}, max {max(xs) * 1000:.0f})"
        print(f"file change -> Python HTTP server ready again, {args.rounds} rounds (median):")
        print(f"  change -> ready             {ms(totals)}")
        print(f"  server's own start time     {ms(starts)}")
        print(f"  reaper's part (incl. 200 ms debounce) {ms(overhead)}   target <= 300 ms")
        print()
        print(f"idle CPU of `reaper up` over {args.idle:.0f} s:")
        print(f"  {'':32} {'files':>7} {'CPU':>7} {'watch setup':>12}")
        for label, files, cpu, setup in idle_cpu(exe, args.idle):
            setup = f"{setup * 1000:.0f} ms" if setup is not None else "-"
            print(f"  {label:32} {files:7} {cpu:6.2f}% {setup:>12}")
    finally:
        for pid in leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


if __name__ == "__main__":
    main()
