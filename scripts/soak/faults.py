#!/usr/bin/env python3
"""Fault injection (issue 12).

1. SIGKILL: `reaper start`, `stop`, `restart`, `up` (foreground and -d), `down` and `port --kill`
   are killed with SIGKILL after a random delay (uniform over the command's usual duration).
   After each, the recovery a user would run — `down` (for stacks), `stop --all`, `clean --kill`
   — must leave no process carrying the run's token, no cgroup of the state directory, no
   record, and no unreadable record or pid file. The trees are those of the start/stop soak: a
   TERM-ignoring child and a setsid daemon in each.
2. ENOSPC: the state directory is a 512 KB tmpfs filled to the last byte; start, restart, stop,
   status, up -d and down must fail cleanly (a one-line error, never a panic) or succeed, and
   leave nothing once the disk has room again.
3. EMFILE: start, status, stop, restart and clean under RLIMIT_NOFILE from 3 to 24 (prlimit).
4. Read-only state directory mid-run: a read-only bind mount over it while a service runs; stop,
   start, restart, status, clean must not panic or lose the service; after the mount is gone,
   stop leaves nothing.
5. Log file deleted under a running service: reported as observed (what `logs` shows, whether the
   file comes back), not judged — the keeper's log writer is being rewritten elsewhere.

Usage: scripts/soak/faults.py [--iterations 500] [--seed N] [--only sigkill,enospc,emfile,readonly,logdel]
Exits 1 on any leftover, corrupt record or panic.  REAPER_BIN=path skips the release build.
"""
import argparse, collections, os, random, socket, subprocess, sys, tempfile, time

import soaklib
from soaklib import run

TREE = ("for i in 1 2 3 4; do sleep 1000 & done; setsid sleep 1000 & "
        "sh -c 'trap \"\" TERM; sleep 1000; :' & wait")
LISTENER = ("import signal, socket, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN) if sys.argv[2] == 'stubborn' else None\n"
            "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); time.sleep(1000)\n")
STACK = """[services.db]
command = ["sh", "-c", "trap '' TERM; exec sleep 1000", "{argv0}"]
stop_timeout = "200ms"

[services.api]
command = ["sh", "-c", "{tree}", "{argv0}"]
depends_on = ["db"]
stop_timeout = "200ms"

[services.crash]
command = ["sh", "-c", "sleep 0.05; exit 1", "{argv0}"]
restart = "always"
backoff = "10ms"
max_backoff = "10ms"
max_restarts = 1000000
"""


def unmount(path):
    """Unmounts what this script mounted, retrying while the last processes that used it exit."""
    for _ in range(100):
        if subprocess.run(["umount", path], stderr=subprocess.DEVNULL, timeout=30).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(["umount", "--lazy", path], check=True, timeout=30)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Faults:
    def __init__(self, exe, seed):
        self.exe = exe
        self.rng = random.Random(seed)
        self.state, self.env = soaklib.sandbox("faults")
        with open(os.path.join(self.state, "reaper.toml"), "w") as f:
            f.write(STACK.format(argv0=soaklib.token_argv0(), tree=TREE.replace('"', '\\"')))
        self.counts = collections.Counter()
        self.failures = []
        self.panics = []

    def reaper(self, *args, timeout=60, env=None, prefix=()):
        dt, rc, err = run([*prefix, self.exe, *args], env or self.env, timeout=timeout, cwd=self.state)
        if "panicked" in err or rc == 101:
            self.panics.append(f"{' '.join(args)}: {err.strip()[:300]}")
        if rc == "timeout":
            self.failures.append(f"`reaper {' '.join(args)}` did not finish in {timeout}s")
        return rc, err

    def start_tree(self, name):
        return self.reaper("start", name, "--", "sh", "-c", TREE, soaklib.token_argv0())

    def killed_during(self, args, delay):
        """Runs `reaper ARGS`, SIGKILLs it after `delay` s (if still running); True if it was killed."""
        p = subprocess.Popen([self.exe, *args], env=self.env, cwd=self.state, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            p.kill()  # our own direct child, not yet reaped: its pid cannot have been reused
        _, err = p.communicate(timeout=60)
        if "panicked" in err:
            self.panics.append(f"{' '.join(args)}: {err.strip()[:300]}")
        return p.returncode == -9

    def recover_and_check(self, what):
        """The recovery a user would run, then the leftover checks; records failures under `what`."""
        notes = []
        for args in (("down",), ("stop", "--all", "--timeout", "1s"), ("clean", "--kill")):
            rc, err = self.reaper(*args)
            if rc not in (0, 1):
                notes.append(f"`{' '.join(args)}` exit {rc}: {err.strip()[:200]}")
        soaklib.wait_token_gone(3)
        procs = soaklib.token_processes()
        cgroups = soaklib.leftover_cgroups(self.state)
        names, corrupt, temps = soaklib.records(self.state)
        if procs or cgroups or names or corrupt:
            self.failures.append(f"{what}: processes {len(procs)} ({soaklib.describe(procs[0]) if procs else ''}), "
                                 f"cgroups {cgroups}, records {names}, corrupt {corrupt}; {notes}")
            soaklib.teardown(self.state, remove=False)
            for n in names + [c.rsplit('.', 1)[0] for c in corrupt]:
                for suffix in (".json", ".pid", ".exit.json", ".env"):
                    try:
                        os.unlink(os.path.join(self.state, ".run", n + suffix))
                    except OSError:
                        pass
        self.counts["leftover processes"] += len(procs)
        self.counts["leftover cgroups"] += len(cgroups)
        self.counts["leftover records"] += len(names)
        self.counts["corrupt records"] += len(corrupt)
        self.counts["temporary files"] = len(temps)

    # --- 1. SIGKILL at random points -------------------------------------------------------
    def sigkill(self, iterations):
        ops = ["start", "stop", "restart", "up", "up -d", "down", "port --kill"]
        for i in range(iterations):
            op = ops[i % len(ops)]
            delay = self.rng.uniform(*{"start": (0, 0.35), "stop": (0, 0.35), "restart": (0, 0.7),
                                      "up": (0, 1.0), "up -d": (0, 1.2), "down": (0, 0.8),
                                      "port --kill": (0, 0.5)}[op])
            if op == "start":
                killed = self.killed_during(["start", "svc", "--", "sh", "-c", TREE, soaklib.token_argv0()], delay)
            elif op in ("stop", "restart"):
                self.start_tree("svc")
                args = ["stop", "svc", "--timeout", "200ms"] if op == "stop" else ["restart", "svc"]
                killed = self.killed_during(args, delay)
            elif op == "up":
                killed = self.killed_during(["up"], delay)
            elif op == "up -d":
                killed = self.killed_during(["up", "-d"], delay)
            elif op == "down":
                self.reaper("up", "-d")
                killed = self.killed_during(["down"], delay)
            else:
                port = free_port()
                mode = "stubborn" if i % 2 else "plain"
                if (i // 7) % 2:
                    self.reaper("start", "web", "--port", str(port), "--", "python3", "-c", LISTENER, str(port), mode,
                                soaklib.token_argv0())
                    holder = None
                else:
                    holder = subprocess.Popen(["python3", "-c", LISTENER, str(port), mode, soaklib.token_argv0()],
                                              env=self.env, stdin=subprocess.DEVNULL)
                    self.wait_listening(port)
                killed = self.killed_during(["port", str(port), "--kill", "--timeout", "200ms"], delay)
                self.reaper("port", str(port), "--kill", "--timeout", "200ms")
                if holder:
                    try:
                        holder.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        self.failures.append(f"port {port}: our holder survived a second `port --kill`")
            self.counts[f"SIGKILL during {op}: iterations"] += 1
            self.counts[f"SIGKILL during {op}: killed mid-command"] += killed
            self.recover_and_check(f"iteration {i} ({op}, SIGKILL after {delay * 1000:.0f} ms, killed={killed})")
            if (i + 1) % 50 == 0:
                print(f"{i + 1} SIGKILL iterations, failures {len(self.failures)}", file=sys.stderr, flush=True)

    @staticmethod
    def wait_listening(port):
        deadline = time.time() + 5
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.02)

    # --- 2. ENOSPC -------------------------------------------------------------------------
    def enospc(self):
        mnt = tempfile.mkdtemp(prefix="reaper-soak-enospc-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", mnt], check=True, timeout=30)
        saved = self.state, self.env
        self.state, self.env = mnt, dict(self.env, REAPER_STATE_DIR=mnt)
        outcomes = []
        try:
            with open(os.path.join(mnt, "reaper.toml"), "w") as f:
                f.write(STACK.format(argv0=soaklib.token_argv0(), tree=TREE.replace('"', '\\"')).split("[services.crash]")[0])
            self.start_tree("a")
            self.fill(mnt)
            for args in (("start", "b", "--", "sh", "-c", TREE, soaklib.token_argv0()), ("restart", "a"),
                         ("status", "--json"), ("up", "-d"), ("down",), ("stop", "a", "--timeout", "200ms"),
                         ("clean", "--kill")):
                rc, err = self.reaper(*args)
                outcomes.append((f"disk full: {args[0]} {args[1] if len(args) > 1 and args[0] != 'status' else ''}".strip(),
                                 f"exit {rc}: {(err.strip().splitlines() or [''])[-1][:110]}"))
                self.counts["ENOSPC faults"] += 1
            os.unlink(os.path.join(mnt, "filler"))
            self.recover_and_check("after ENOSPC")
        finally:
            soaklib.teardown(mnt, remove=False)
            self.state, self.env = saved
            unmount(mnt)
            os.rmdir(mnt)
        return outcomes

    @staticmethod
    def fill(mnt):
        fd = os.open(os.path.join(mnt, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 512)
        except OSError:
            pass
        finally:
            os.close(fd)

    # --- 3. EMFILE -------------------------------------------------------------------------
    def emfile(self):
        worst = collections.Counter()
        for limit in range(3, 25):
            prefix = ("prlimit", f"--nofile={limit}:{limit}", "--")
            for args in (("start", "e", "--", "sh", "-c", TREE, soaklib.token_argv0()), ("status", "--json"),
                         ("restart", "e"), ("stop", "e", "--timeout", "200ms"), ("clean", "--kill")):
                rc, err = self.reaper(*args, prefix=prefix)
                worst[(args[0], rc)] += 1
                self.counts["EMFILE faults"] += 1
            self.recover_and_check(f"after EMFILE (limit {limit})")
        return [(f"RLIMIT_NOFILE 3..24: {cmd}", ", ".join(f"exit {rc} x{n}" for (c, rc), n in sorted(worst.items(), key=str) if c == cmd))
                for cmd in ("start", "status", "restart", "stop", "clean")]

    # --- 4. read-only state dir ------------------------------------------------------------
    def readonly(self):
        outcomes = []
        self.start_tree("ro")
        subprocess.run(["mount", "--bind", self.state, self.state], check=True, timeout=30)
        try:
            subprocess.run(["mount", "-o", "remount,ro,bind", self.state, self.state], check=True, timeout=30)
            for args in (("status", "--json"), ("start", "ro2", "--", "sh", "-c", TREE, soaklib.token_argv0()),
                         ("restart", "ro"), ("stop", "ro", "--timeout", "200ms"), ("clean", "--kill")):
                rc, err = self.reaper(*args)
                outcomes.append((f"read-only: {args[0]}", f"exit {rc}: {(err.strip().splitlines() or [''])[-1][:110]}"))
                self.counts["read-only faults"] += 1
        finally:
            unmount(self.state)
        self.recover_and_check("after read-only state dir")
        return outcomes

    # --- 5. log file deleted ---------------------------------------------------------------
    def log_deleted(self):
        self.reaper("start", "chatty", "--log-max-size", "4KB", "--", "sh", "-c",
                    "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.01; done", soaklib.token_argv0())
        log = os.path.join(self.state, ".logs", "chatty.log")
        time.sleep(0.3)
        os.unlink(log)
        time.sleep(1.5)
        exists = os.path.exists(log)
        rotated = sorted(f for f in os.listdir(os.path.join(self.state, ".logs")) if f.startswith("chatty.log."))
        logs = subprocess.run([self.exe, "logs", "chatty", "-n", "3"], env=self.env, capture_output=True, text=True, timeout=60)
        size = os.path.getsize(log) if exists else 0
        self.counts["log deletions"] += 1
        self.recover_and_check("after log deletion")
        return [("log deleted: file back after 1.5 s", f"{exists} ({size} bytes; rotated files {rotated})"),
                ("log deleted: `logs -n 3`", f"exit {logs.returncode}: {(logs.stdout.strip().splitlines() or [''])[-1][:60]!r} "
                                             f"{logs.stderr.strip()[:80]!r}")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=504, help="SIGKILL iterations in all (spread over 7 commands)")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--only", default="sigkill,enospc,emfile,readonly,logdel")
    opts = ap.parse_args()
    exe = soaklib.binary()
    f = Faults(exe, opts.seed)
    parts = opts.only.split(",")
    outcomes = []
    try:
        if "sigkill" in parts:
            f.sigkill(opts.iterations)
        if "enospc" in parts:
            outcomes += f.enospc()
        if "emfile" in parts:
            outcomes += f.emfile()
        if "readonly" in parts:
            outcomes += f.readonly()
        if "logdel" in parts:
            outcomes += f.log_deleted()
        rows = [("seed", opts.seed)] + sorted(f.counts.items()) + [("panics", len(f.panics)), ("failures", len(f.failures))]
        problems = soaklib.final_check(f.state, f.env, exe, rows)
        soaklib.table("fault injection", rows)
        if outcomes:
            soaklib.table("what each faulted command did", outcomes)
        for line in (f.failures + f.panics)[:30]:
            print(line, file=sys.stderr)
        return 1 if f.failures or f.panics or problems else 0
    finally:
        soaklib.teardown(f.state)


if __name__ == "__main__":
    sys.exit(main())
