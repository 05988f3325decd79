"""What the Python benchmarks share: the release binary, and the token every process they start
carries (so anything left behind is found, and only that is killed)."""
import os, platform, secrets, shutil, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN = "bench" + secrets.token_hex(8)


MUSL = "x86_64-unknown-linux-musl"


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def reaper_bin():
    """Builds the release binary (`cargo build --release`: what `cargo install` gives) and returns
    its path."""
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True, timeout=1800)
    return os.path.join(target_dir(), "release", "reaper")


def static_reaper_bin():
    """Builds the static musl binary that the release ships for x86_64 Linux (wheels, npm
    packages, install.sh; see scripts/package/check.sh) and returns its path, or None with the
    reason when this machine cannot build it."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return None, "the static build is made for x86_64 Linux only"
    if not shutil.which("musl-gcc"):
        return None, "musl-gcc is missing (Debian: apt-get install musl-tools)"
    added = subprocess.run(["rustup", "target", "add", MUSL], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=600) if shutil.which("rustup") else None
    if added is None or added.returncode != 0:
        return None, f"the {MUSL} target cannot be installed (rustup target add failed)"
    env = dict(os.environ, CC_x86_64_unknown_linux_musl="musl-gcc")
    subprocess.run(["cargo", "build", "--release", "-q", "--target", MUSL], cwd=ROOT, env=env,
                   check=True, timeout=1800)
    return os.path.join(target_dir(), MUSL, "release", "reaper"), None


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
