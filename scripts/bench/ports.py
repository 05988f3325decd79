#!/usr/bin/env python3
"""Port benchmarks (issue 3); run through scripts/bench/ports.sh, which installs the peers.

1. Lookup: `reaper port P` against `lsof -i:P -t`, `ss -ltnp 'sport = :P'` and `fuser P/tcp`,
   plus rows that show where the time goes: a lookup of a free port (socket tables only, no
   process scan), `ss` without -p (its netlink query only), the kernel's text tables
   (/proc/net/*) and `reaper --version` (process start-up alone). By default the commands run
   round-robin, one run of each in turn, so that load from other work on the machine weighs on
   all of them alike (running each command's batch in a row, as hyperfine does, lets load drift
   between batches decide the comparison on a shared machine); `--hyperfine` uses hyperfine
   -N instead.
2. Freeing a port held by a plain listener with a client connected to it (the bystander):
   `reaper port P --kill` against `fuser -k P/tcp` and `lsof -ti:P | xargs kill`: time until the
   command returns, time until the port can be bound, and whether the client was killed.

Both run twice: on the machine as it is, and with 2,000 extra processes and 1,000 extra
listening sockets (10 processes x 100, on 127.0.0.1 ephemeral ports). Every process started is
a child of this script carrying a random token; all are ended by pid (Popen) at the end, and
anything else carrying the token is reported and killed by pid.
"""
import argparse, atexit, json, os, secrets, shlex, signal, socket, statistics, subprocess, sys, tempfile, time

TOKEN_VAR = "REAPER_BENCH_TOKEN"
TOKEN = "bench" + secrets.token_hex(8)
DEVNULL = subprocess.DEVNULL
children = []

LISTENERS = r"""
import socket, sys, time
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); socks.append(s)
print('ready', flush=True)
time.sleep(3600)
"""

HOLDER = r"""
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()
print(s.getsockname()[1], flush=True)
if len(sys.argv) > 2:
    conn, _ = s.accept()
time.sleep(3600)
"""

CLIENT = r"""
import socket, sys, time
c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
print('connected', flush=True)
time.sleep(3600)
"""


def token_env(extra=None):
    env = dict(os.environ)
    env[TOKEN_VAR] = TOKEN
    env.update(extra or {})
    return env


def spawn(args, ready=True):
    p = subprocess.Popen(args, env=token_env(), stdin=DEVNULL, stdout=subprocess.PIPE if ready else DEVNULL, stderr=DEVNULL, text=True)
    children.append(p)
    line = p.stdout.readline().strip() if ready else ""
    return p, line


def end(p):
    if p.poll() is None:
        p.kill()
    p.wait()


def cleanup():
    for p in children:
        if p.poll() is None:
            p.kill()
    for p in children:
        try:
            p.wait(timeout=10)
        except Exception:
            pass
    children.clear()
    # Safety net: anything else carrying the token (there should be nothing), by pid.
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"{TOKEN_VAR}={TOKEN}".encode() in f.read().split(b"\0"):
                    print(f"warning: leftover pid {pid} carries the token; killing it", file=sys.stderr)
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def load(processes, sockets, per_process=100):
    """Extra processes (sleep) and listening sockets (python, 100 each)."""
    started = []
    for _ in range(processes):
        started.append(spawn(["sleep", "3600"], ready=False)[0])
    for _ in range(sockets // per_process):
        started.append(spawn([sys.executable, "-c", LISTENERS, str(per_process)])[0])
    return started


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def bindable(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def machine():
    procs = sum(1 for p in os.listdir("/proc") if p.isdigit())
    tcp = sum(1 for f in ("/proc/net/tcp", "/proc/net/tcp6") for _ in open(f)) - 2
    return procs, tcp


def hyperfine(commands, runs, workdir):
    out = os.path.join(workdir, "hf.json")
    args = ["hyperfine", "-N", "-i", "--warmup", "3", "--runs", str(runs), "--export-json", out, "--style", "none"]
    for name, cmd in commands:
        args += ["-n", name, cmd]
    subprocess.run(args, check=True, stdout=DEVNULL, env=token_env(), timeout=1800)
    with open(out) as f:
        return {r["command"]: r for r in json.load(f)["results"]}


def round_robin(commands, runs):
    """Median and 10th percentile of wall time per command, commands interleaved."""
    argvs = [(name, shlex.split(cmd)) for name, cmd in commands]
    for _, argv in argvs:  # warm-up
        subprocess.run(argv, stdout=DEVNULL, stderr=DEVNULL, env=token_env(), timeout=300)
    times = {name: [] for name, _ in argvs}
    for _ in range(runs):
        for name, argv in argvs:
            t0 = time.perf_counter()
            # reaper: ignore[PY001] (timed: wait(timeout=) polls with sleeps in Python 3.11, which would add to the time measured)
            subprocess.run(argv, stdout=DEVNULL, stderr=DEVNULL, env=token_env())
            times[name].append(time.perf_counter() - t0)
    return {name: {"median": statistics.median(t), "spread": sorted(t)[len(t) // 10]} for name, t in times.items()}


def lookups(exe, runs, workdir, use_hyperfine):
    holder, port = spawn([sys.executable, "-c", HOLDER, "0"])
    port = int(port)
    free = free_port()
    commands = [
        ("reaper port P", f"{exe} port {port}"),
        ("lsof -i:P -t", f"lsof -i:{port} -t"),
        ("ss -ltnp 'sport = :P'", f"ss -ltnp 'sport = :{port}'"),
        ("fuser P/tcp", f"fuser {port}/tcp"),
        ("reaper port FREE (tables only)", f"{exe} port {free}"),
        ("ss -ltn 'sport = :P' (no -p)", f"ss -ltn 'sport = :{port}'"),
        ("cat /proc/net/{tcp,tcp6,udp,udp6}", "cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6"),
        ("reaper --version (start-up only)", f"{exe} --version"),
    ]
    # Sanity: every tool finds the holder.
    for name, cmd in commands[:4]:
        out = subprocess.run(shlex.split(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300).stdout
        if str(holder.pid) not in out:
            print(f"warning: {name} did not report pid {holder.pid}: {out!r}", file=sys.stderr)
    if use_hyperfine:
        results = {name: {"median": r["median"], "spread": r["stddev"]} for name, r in hyperfine(commands, runs, workdir).items()}
    else:
        results = round_robin(commands, runs)
    end(holder)
    return results


def kills(exe, runs):
    """Median times for each way of freeing a port held by a plain listener with a client."""
    port = free_port()
    ways = [
        ("reaper port P --kill", [exe, "port", str(port), "--kill"]),
        ("fuser -k P/tcp", ["fuser", "-k", f"{port}/tcp"]),
        ("lsof -ti:P | xargs kill", ["sh", "-c", f"lsof -ti:{port} | xargs -r kill"]),
    ]
    results = {}
    for name, cmd in ways:
        returned, freed, bystanders = [], [], 0
        for _ in range(runs):
            holder, _ = spawn([sys.executable, "-c", HOLDER, str(port), "accept"])
            client, _ = spawn([sys.executable, "-c", CLIENT, str(port)])
            time.sleep(0.02)
            t0 = time.perf_counter()
            subprocess.run(cmd, stdout=DEVNULL, stderr=DEVNULL, env=token_env(), timeout=300)
            t1 = time.perf_counter()
            while not bindable(port):
                if time.perf_counter() - t1 > 5:
                    break
                time.sleep(0.0002)
            t2 = time.perf_counter()
            returned.append(t1 - t0)
            freed.append(t2 - t0)
            if client.poll() is not None:
                bystanders += 1
            end(holder)
            end(client)
        results[name] = (statistics.median(returned), statistics.median(freed), bystanders, runs)
    return results


def ms(seconds):
    return f"{seconds * 1000:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reaper", required=True)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--hyperfine", action="store_true", help="time lookups with hyperfine -N (batches) instead of round-robin")
    ap.add_argument("--processes", type=int, default=2000)
    ap.add_argument("--sockets", type=int, default=1000)
    opts = ap.parse_args()
    exe = os.path.abspath(opts.reaper)
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    workdir = tempfile.mkdtemp(prefix="reaper-ports-bench-")
    os.environ["REAPER_STATE_DIR"] = workdir

    scenarios = []
    for label, extra in [("as is", False), ("loaded", True)]:
        added = load(opts.processes, opts.sockets) if extra else []
        procs, tcp = machine()
        look = lookups(exe, opts.runs, workdir, opts.hyperfine)
        kill = kills(exe, max(5, opts.runs // 2))
        scenarios.append((label, procs, tcp, look, kill))
        for p in added:
            end(p)

    print(f"# Port benchmarks: {os.cpu_count()} cores, Linux {os.uname().release}, {opts.runs} runs each\n")
    heads = [f"{label} ({procs} processes, {tcp} TCP sockets)" for label, procs, tcp, _, _ in scenarios]
    how = "hyperfine -N; ± is the standard deviation" if opts.hyperfine else "round-robin; in brackets the 10th percentile"
    print(f"## Lookup: who holds port P (median ms of wall time, {how})\n")
    print("| command | " + " | ".join(heads) + " |")
    print("|---|" + "---|" * len(scenarios))
    names = list(scenarios[0][3].keys())
    for name in names:
        fmt = "{} ± {}" if opts.hyperfine else "{} ({})"
        cells = [fmt.format(ms(s[3][name]["median"]), ms(s[3][name]["spread"])) for s in scenarios]
        print(f"| `{name}` | " + " | ".join(cells) + " |")
    for peer in ["lsof -i:P -t", "ss -ltnp 'sport = :P'", "fuser P/tcp"]:
        cells = [f"{s[3][peer]['median'] / s[3]['reaper port P']['median']:.1f}x" for s in scenarios]
        print(f"| reaper speed-up vs `{peer}` | " + " | ".join(cells) + " |")

    print("\n## Freeing port P held by a plain listener with one connected client (median ms)\n")
    print("| command | scenario | command returns | port bindable | client (bystander) killed |")
    print("|---|---|---|---|---|")
    for label, procs, tcp, _, kill in scenarios:
        for name, (returned, freed, bystanders, runs) in kill.items():
            print(f"| `{name}` | {label} | {ms(returned)} | {ms(freed)} | {bystanders}/{runs} |")


if __name__ == "__main__":
    main()
