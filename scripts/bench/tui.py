#!/usr/bin/env python3
"""The terminal UI's cost (issue 13): `reaper ui` on a pseudo-terminal (120x30), attached to 20
services started with `reaper start`.

Usage: scripts/bench/tui.py [--idle SECONDS] [--flood SECONDS] [--rate LINES_PER_SECOND]
(builds the release binary first)

1. Idle: after a warm-up, the UI's CPU time over --idle seconds (all its threads: the collection
   thread looks at the services every second, probes them every 5 s and reads the logs every
   100 ms), as a percentage of
   one core, and its peak resident memory (VmHWM).
2. Flood: one more service prints --rate lines per second for --flood seconds while the UI
   follows the log of all services. The UI draws at most 20 frames a second and keeps the last
   20,000 lines in memory, so it may skip frames but the keeper writes every line to disk: the
   lines the producer printed are compared with the lines in the log (rotations included). Also
   the UI's CPU during the flood, its peak memory, and how long `q` takes to end it meanwhile.
Everything runs in a temporary state directory; every process carries a random token and is
stopped at the end (the UI by `q`, the services by `reaper stop --all`).
"""
import argparse, fcntl, glob, os, pty, struct, sys, tempfile, termios, threading, time

from benchlib import TOKEN, leftovers, reaper_bin, run

ROWS, COLUMNS = 30, 120
TICKS = os.sysconf("SC_CLK_TCK")

# Prints RATE numbered lines a second for SECONDS, paced in 10 ms batches, then a summary line.
PRODUCER = """import os, sys, time
rate, seconds = {rate}, {seconds}
batch = rate // 100
start = time.monotonic()
n = 0
while n < rate * seconds:
    os.write(1, b''.join(b'flood line %09d\\n' % (n + i) for i in range(batch)))
    n += batch
    ahead = start + n / rate - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
elapsed = time.monotonic() - start
os.write(1, b'flood done: %d lines in %.2f s\\n' % (n, elapsed))
time.sleep(1000)
"""


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def count_lines(log):
    return sum(open(p, "rb").read().count(b"\n") for p in glob.glob(log + "*")
               if not p.endswith(".idx") and ".removed-" not in p)


class Ui:
    """`reaper ui` on a pty whose output is read (and thrown away) as fast as it comes."""

    def __init__(self, exe, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(exe, [exe, "ui"], env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.bytes = 0
        self.frames = 0
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.bytes += len(chunk)
            # ratatui ends every frame by hiding the cursor.
            self.frames += chunk.count(b"\x1b[?25l")

    def cpu_percent(self, seconds):
        t0, c0 = time.monotonic(), cpu_seconds(self.pid)
        time.sleep(seconds)
        return 100 * (cpu_seconds(self.pid) - c0) / (time.monotonic() - t0)

    def quit(self):
        """Types q; returns the seconds until the UI has exited, and its exit status."""
        t0 = time.monotonic()
        os.write(self.fd, b"q")
        _, status = os.waitpid(self.pid, 0)
        return time.monotonic() - t0, os.waitstatus_to_exitcode(status)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--flood", type=int, default=10)
    parser.add_argument("--rate", type=int, default=50_000)
    parser.add_argument("--services", type=int, default=20)
    args = parser.parse_args()
    exe = reaper_bin()
    with tempfile.TemporaryDirectory(prefix="reaper-bench-tui-") as state:
        env = dict(os.environ, REAPER_STATE_DIR=state, REAPER_BENCH_TOKEN=TOKEN, TERM="xterm-256color")
        env.pop("NO_COLOR", None)
        try:
            for i in range(args.services):
                name = f"svc{i:02d}"
                run([exe, "start", name, "--min-uptime", "0", "--", "sh", "-c",
                     f"echo {name} up; exec sleep 1000"], env)
            ui = Ui(exe, env)
            time.sleep(3)  # warm-up: first look, initial log tails, first frames
            drawn, frames = ui.bytes, ui.frames
            idle_cpu = ui.cpu_percent(args.idle)
            # Each look scans the process table: its cost grows with the machine's processes.
            machine_processes = sum(1 for p in os.listdir("/proc") if p.isdigit())
            idle_drawn_per_second = (ui.bytes - drawn) / args.idle
            idle_frames_per_second = (ui.frames - frames) / args.idle
            idle_rss = peak_rss_mb(ui.pid)

            code = PRODUCER.format(rate=args.rate, seconds=args.flood)
            run([exe, "start", "flood", "--min-uptime", "0", "--", sys.executable, "-c", code], env)
            drawn, frames = ui.bytes, ui.frames
            flood_cpu = ui.cpu_percent(args.flood)
            drawn_per_second = (ui.bytes - drawn) / args.flood
            frames_per_second = (ui.frames - frames) / args.flood
            log = os.path.join(state, ".logs", "flood.log")
            deadline = time.monotonic() + 60
            summary = None
            while time.monotonic() < deadline and summary is None:
                text = open(log, "rb").read() if os.path.exists(log) else b""
                for line in text.splitlines()[-3:]:
                    if line.startswith(b"flood done:"):
                        summary = line.decode()
                time.sleep(0.2)
            flood_rss = peak_rss_mb(ui.pid)
            quit_seconds, quit_code = ui.quit()
            on_disk = count_lines(log) - 1  # the summary line
            printed = int(summary.split()[2]) if summary else -1
            achieved = summary.split(" in ")[1] if summary else "did not finish"
        finally:
            run([exe, "stop", "--all", "--timeout", "2s"], env, check=False)
        left = leftovers(live_only=True)

    print(f"reaper ui, {args.services} services, {COLUMNS}x{ROWS} pty, "
          f"{machine_processes} processes on the machine\n")
    rows = [
        ("UI CPU at idle (% of one core)", f"{idle_cpu:.2f}", "< 2"),
        ("UI peak RSS at idle (MB)", f"{idle_rss:.1f}", "< 15"),
        (f"UI CPU during {args.rate:,} lines/s (% of one core)", f"{flood_cpu:.1f}", "-"),
        ("frames drawn at idle / in the flood (per s)", f"{idle_frames_per_second:.1f} / {frames_per_second:.1f}", "flood <= 20"),
        ("screen updates at idle / in the flood (KB/s)", f"{idle_drawn_per_second / 1024:.1f} / {drawn_per_second / 1024:.1f}", "-"),
        ("UI peak RSS after the flood (MB)", f"{flood_rss:.1f}", "-"),
        ("lines printed / lines on disk", f"{printed:,} / {on_disk:,}", "equal"),
        ("producer's time for them", achieved, f"{args.flood} s"),
        ("q to exit during the run (ms)", f"{quit_seconds * 1000:.0f} (exit {quit_code})", "-"),
        ("processes left", str(len(left)), "0"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>22}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>22}  {target}")
    if printed != on_disk or left:
        sys.exit("lines were lost or processes were left behind")


if __name__ == "__main__":
    main()
