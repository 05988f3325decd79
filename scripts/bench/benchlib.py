"""What the Python benchmarks share: the release binary, and the token every process they start
carries (so anything left behind is found, and only that is killed)."""
import os, secrets, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN = "bench" + secrets.token_hex(8)


def reaper_bin():
    """Builds the release binary and returns its path."""
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True, timeout=1800)
    return os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "reaper")


def carries_token(pid, live_only=False):
    """True when process `pid` carries REAPER_BENCH_TOKEN=TOKEN (with live_only: and is no zombie)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            if f"REAPER_BENCH_TOKEN={TOKEN}".encode() not in f.read().split(b"\0"):
                return False
        if live_only:
            with open(f"/proc/{pid}/stat") as s:
                if s.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return False
        return True
    except OSError:
        return False


def leftovers(live_only=False):
    """Pids of processes carrying REAPER_BENCH_TOKEN=TOKEN (with live_only, not zombies)."""
    return [int(pid) for pid in filter(str.isdigit, os.listdir("/proc")) if carries_token(pid, live_only)]


def run(args, env, check=True):
    """Runs a command quietly; returns (seconds, CompletedProcess). Exits on failure."""
    t0 = time.perf_counter()
    # reaper: ignore[PY001] (timed: wait(timeout=) polls with sleeps in Python 3.11, which would add to the time measured)
    p = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if check and p.returncode != 0:
        sys.exit(f"{args} failed ({p.returncode}): {p.stderr}")
    return dt, p
