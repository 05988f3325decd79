"""What the soak and fault scripts share: a private state directory, the token every process they
start carries (environment and command line), and the checks that decide a run passed: no process
carrying the token, no cgroup of this state directory under reaper's base, no record left or
unreadable. Only processes carrying the token are ever signalled, through a pidfd opened before the
token is re-checked (so a reused pid cannot be hit)."""
import json, os, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
from benchlib import TOKEN, leftovers, reaper_bin  # noqa: E402

TOKEN_VAR = "REAPER_BENCH_TOKEN"


def binary():
    """The reaper binary: $REAPER_BIN if set (a build made elsewhere), else a fresh release build."""
    return os.environ.get("REAPER_BIN") or reaper_bin()


def sandbox(prefix):
    """A new private state directory and the environment for reaper commands using it."""
    state = tempfile.mkdtemp(prefix=f"reaper-soak-{prefix}-")
    env = dict(os.environ, REAPER_STATE_DIR=state, **{TOKEN_VAR: TOKEN})
    return state, env


def token_argv0():
    """An argv[0] for `sh -c` scripts, so the token is in the command line as well as the env."""
    return f"soak-{TOKEN}"


def token_processes():
    """Pids whose environment or command line carries the token (zombies included)."""
    found = set(leftovers())
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if TOKEN.encode() in f.read():
                    found.add(int(pid))
        except OSError:
            pass
    found.discard(os.getpid())
    return sorted(found)


def _carries_token(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            if f"{TOKEN_VAR}={TOKEN}".encode() in f.read().split(b"\0"):
                return True
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return TOKEN.encode() in f.read()
    except OSError:
        return False


def kill_token_processes():
    """SIGKILLs every process carrying the token: pidfd first, then the token re-checked, then the
    signal through the pidfd. Returns how many were signalled."""
    n = 0
    for pid in token_processes():
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            if _carries_token(pid):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
                n += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return n


def project_hash(run_dir):
    """reaper's `containment::project_hash`: FNV-1a of the path, low 32 bits as 8 hex digits."""
    h = 0xCBF29CE484222325
    for b in os.fsencode(run_dir):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h & 0xFFFFFFFF:08x}"


def cgroup_base():
    """reaper's cgroup base (`<cgroup2 mount>/reaper`), or None where there is no cgroup v2."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split()[0] == "cgroup2":
                    return os.path.join(left.split()[4], "reaper")
    except OSError:
        pass
    return None


def leftover_cgroups(state):
    """Service cgroups of this state directory still present under reaper's base."""
    base = cgroup_base()
    if not base or not os.path.isdir(base):
        return []
    prefix = f"svc.{project_hash(os.path.join(state, '.run'))}."
    return sorted(d for d in os.listdir(base) if d.startswith(prefix))


def records(state):
    """(names with a record, names whose record or pid file is unreadable or corrupt,
    temporary files left in .run)."""
    run = os.path.join(state, ".run")
    names, corrupt, temps = [], [], []
    if not os.path.isdir(run):
        return names, corrupt, temps
    for entry in sorted(os.listdir(run)):
        path = os.path.join(run, entry)
        if entry.startswith(".markers-since."):
            continue  # the marker floor `start` writes once per boot: not a record, not temporary
        if entry.startswith(".") and os.path.isfile(path) and not entry.startswith(".stack"):
            temps.append(entry)
            continue
        if not entry.endswith((".json", ".pid")) or entry.endswith(".exit.json") or entry.startswith("."):
            continue
        name = entry.rsplit(".", 1)[0]
        try:
            with open(path) as f:
                text = f.read()
            if entry.endswith(".json"):
                rec = json.loads(text)
                if not isinstance(rec, dict) or "pid" not in json.dumps(rec):
                    raise ValueError("no pid")
            elif not text.strip().isdigit():
                raise ValueError("pid file")
        except (OSError, ValueError):
            corrupt.append(entry)
        if entry.endswith(".json"):
            names.append(name)
    return names, corrupt, temps


def run(args, env, timeout=120, cwd=None):
    """Runs a command quietly with a timeout; returns (seconds, returncode or 'timeout', stderr)."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
        return time.perf_counter() - t0, p.returncode, p.stderr
    except subprocess.TimeoutExpired as e:
        return time.perf_counter() - t0, "timeout", (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")


def table(title, rows):
    """Prints rows of (label, value) as an aligned two-column table."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{title}")
    print(f"{'':-<{width}}  {'':-<12}")
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


def final_check(state, env, exe, rows):
    """Stops and cleans what is left through reaper, then counts leftovers: appends the rows and
    returns the number of problems (processes, cgroups, records, corrupt files)."""
    run([exe, "stop", "--all", "--timeout", "2s"], env)
    run([exe, "clean", "--kill"], env)
    wait_token_gone()
    procs = token_processes()
    cgroups = leftover_cgroups(state)
    names, corrupt, temps = records(state)
    rows += [("leftover processes (token)", len(procs)), ("leftover cgroups", len(cgroups)),
             ("records left after stop/clean", len(names)), ("corrupt records / pid files", len(corrupt)),
             ("temporary files left in .run", len(temps))]
    if procs:
        print(f"left behind: {procs}: " + "; ".join(describe(p) for p in procs[:10]), file=sys.stderr)
        kill_token_processes()
    for what, items in (("cgroups", cgroups), ("records", names), ("corrupt", corrupt), ("temporary files", temps)):
        if items:
            print(f"{what} left: {items[:20]}", file=sys.stderr)
    return len(procs) + len(cgroups) + len(names) + len(corrupt) + len(temps)


def describe(pid):
    """pid, state and command line of a process, for a leftover report."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:80]
        return f"{pid} {state} {cmd}"
    except OSError:
        return f"{pid} (gone)"


def wait_token_gone(seconds=5):
    """Waits up to `seconds` for the processes carrying the token to exit."""
    deadline = time.time() + seconds
    while token_processes() and time.time() < deadline:
        time.sleep(0.05)


def teardown(state, remove=True):
    """Whatever happened: kills what carries the token, removes this state directory's empty
    cgroups (only ours: its project prefix) and, with `remove`, the directory."""
    kill_token_processes()
    wait_token_gone()
    base = cgroup_base()
    for d in leftover_cgroups(state):
        try:
            os.rmdir(os.path.join(base, d))
        except OSError:
            pass
    if remove:
        shutil.rmtree(state, ignore_errors=True)
