#!/usr/bin/env python3
"""`reaper lint` on a generated tree of 10,000 files (Python, shell, JavaScript, TypeScript,
PowerShell), timed with the release build; beside it semgrep (from PyPI, in a venv under
target/) with the same rules written for it, where it installs. Prints a table and the ratio.

Usage: scripts/bench/lint.py [--files 10000] [--runs 5] [--semgrep-runs 1] [--no-semgrep]
                             [--reaper PATH (a release binary already built; default: build it)]
"""
import argparse, json, os, random, resource, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import ROOT, reaper_bin

PY = '''import os
import subprocess


def build(target):
    """Builds one target."""
    subprocess.run(["make", target], check=True, timeout=600)
    out = subprocess.check_output(["git", "rev-parse", "HEAD"], timeout=10)
    return out.decode().strip()


def helper_{n}(items):
    total = 0
    for item in items:
        if item % 3 == 0:
            total += item * {n}
        else:
            total -= item
    return total
'''
PY_BAD = '''

def deploy_{n}():
    subprocess.run(["./deploy.sh"])
    os.system("make clean")
'''
SH = '''#!/bin/sh
set -eu
echo "step {n}"
for f in *.txt; do
  wc -l "$f"
done
make -C "dir{n}" all
'''
SH_BAD = '''nohup ./worker{n} > worker.log 2>&1 &
'''
JS = '''const {{ execSync, spawn }} = require("child_process");

function version{n}() {{
  return execSync("git describe", {{ timeout: 5000 }}).toString().trim();
}}

function sum{n}(xs) {{
  return xs.reduce((a, b) => a + b * {n}, 0);
}}

module.exports = {{ version{n}, sum{n} }};
'''
JS_BAD = '''
const out{n} = execSync("make");
'''
TS = '''import {{ execFileSync }} from "child_process";

export interface Item{n} {{ id: number; name: string }}

export function list{n}(dir: string): string[] {{
  return execFileSync("ls", [dir], {{ timeout: 1000, encoding: "utf8" }}).split("\\n");
}}
'''
TS_BAD = '''
export const built{n} = execFileSync("make", ["all"], {{ encoding: "utf8" }});
'''
PS = '''$ErrorActionPreference = "Stop"
$items = Get-ChildItem -Path "dir{n}"
foreach ($item in $items) {{
    Write-Output $item.Name
}}
Start-Process -FilePath "setup{n}.exe" -Wait
'''
PS_BAD = '''Start-Process -FilePath "server{n}.exe"
'''

KINDS = [  # (extension, body, bad tail, share of the files)
    ("py", PY, PY_BAD, 40),
    ("sh", SH, SH_BAD, 20),
    ("js", JS, JS_BAD, 20),
    ("ts", TS, TS_BAD, 10),
    ("ps1", PS, PS_BAD, 10),
]

# The same rules for semgrep, as far as it reaches (it has no PowerShell).
SEMGREP_RULES = '''rules:
  - id: PY001
    languages: [python]
    severity: WARNING
    message: subprocess call without timeout=
    patterns:
      - pattern-either:
          - pattern: subprocess.run(...)
          - pattern: subprocess.call(...)
          - pattern: subprocess.check_call(...)
          - pattern: subprocess.check_output(...)
      - pattern-not: subprocess.$F(..., timeout=$T, ...)
  - id: PY004
    languages: [python]
    severity: WARNING
    message: os.system/os.popen
    pattern-either:
      - pattern: os.system(...)
      - pattern: os.popen(...)
  - id: SH002
    languages: [bash]
    severity: WARNING
    message: nohup/setsid/disown
    pattern-either:
      - pattern: nohup ...
      - pattern: setsid ...
  - id: JS001
    languages: [javascript, typescript]
    severity: WARNING
    message: execSync/execFileSync/spawnSync without timeout
    patterns:
      - pattern-either:
          - pattern: execSync(...)
          - pattern: execFileSync(...)
          - pattern: spawnSync(...)
      - pattern-not: '$F(..., {..., timeout: $T, ...}, ...)'
'''


def generate(root, count, seed=1):
    rng = random.Random(seed)
    weights = [k[3] for k in KINDS]
    bad = 0
    for n in range(count):
        ext, body, tail, _ = rng.choices(KINDS, weights)[0]
        text = body.format(n=n)
        if n % 10 == 0:
            text += tail.format(n=n)
            bad += 1
        directory = os.path.join(root, f"pkg{n // 100:03d}")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"m{n}.{ext}"), "w") as f:
            f.write(text)
    return bad


def cpu_of_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv, runs):
    """Median wall and CPU time (user + sys of the command and everything it waited for) over
    runs, and the last run's stdout. On a shared, loaded machine the CPU time is the steadier."""
    walls, cpus, out = [], [], ""
    for _ in range(runs):
        c0, t0 = cpu_of_children(), time.perf_counter()
        # reaper: ignore[PY001] (timed: wait(timeout=) polls with sleeps in Python 3.11, which would add to the time measured)
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_of_children() - c0)
        out = p.stdout
    return (statistics.median(walls), statistics.median(cpus)), out


def semgrep_bin():
    """semgrep from PyPI in a venv under target/, or None where it does not install."""
    venv = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "semgrep-venv")
    exe = os.path.join(venv, "bin", "semgrep")
    if not os.path.exists(exe):
        try:
            subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=300)
            subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "semgrep"], check=True, timeout=1800)
        except (subprocess.SubprocessError, OSError) as e:
            print(f"semgrep does not install here ({e}): reaper alone", file=sys.stderr)
            return None
    return exe


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--semgrep-runs", type=int, default=1)
    ap.add_argument("--no-semgrep", action="store_true")
    ap.add_argument("--reaper", help="release binary to time (default: cargo build --release)")
    opts = ap.parse_args()
    exe = opts.reaper or reaper_bin()
    work = tempfile.mkdtemp(prefix="reaper-lint-bench-")
    try:
        tree = os.path.join(work, "tree")
        bad = generate(tree, opts.files)
        rows = []
        secs, out = timed([exe, "lint", "--format", "json", tree], opts.runs)
        report = json.loads(out)
        warnings = sum(1 for f in report["findings"] if f["severity"] == "warning")
        rows.append(("reaper lint (all 16 rules)", report["files"], warnings, secs))
        secs, out = timed([exe, "lint", "--format", "json", "--select", "PY001,PY004,SH002,JS001", tree], opts.runs)
        same_rules = json.loads(out)
        rows.append(("reaper lint (the 4 semgrep rules)", same_rules["files"], len(same_rules["findings"]), secs))
        semgrep = None if opts.no_semgrep else semgrep_bin()
        if semgrep:
            rules = os.path.join(work, "rules.yml")
            with open(rules, "w") as f:
                f.write(SEMGREP_RULES)
            argv = [semgrep, "scan", "--config", rules, "--json", "--metrics=off", "--disable-version-check",
                    "--quiet", "--jobs", str(os.cpu_count() or 1), tree]
            secs, out = timed(argv, opts.semgrep_runs)
            results = json.loads(out)
            files = len(results.get("paths", {}).get("scanned", []))
            rows.append(("semgrep (4 rules)", files, len(results["results"]), secs))
        print(f"{opts.files} generated files, {bad} with planted findings; {os.cpu_count()} cores; "
              f"median of {opts.runs} runs (semgrep: {opts.semgrep_runs})")
        print(f"load average {os.getloadavg()[0]:.1f}")
        print(f"{'tool':<36} {'files':>7} {'findings':>9} {'wall s':>8} {'CPU s':>8}")
        for name, files, findings, (wall, cpu) in rows:
            print(f"{name:<36} {files:>7} {findings:>9} {wall:>8.3f} {cpu:>8.3f}")
        if semgrep:
            (sw, sc), (rw, rc) = rows[2][3], rows[1][3]
            print(f"semgrep / reaper (same 4 rules): {sw / rw:.1f}x wall, {sc / rc:.1f}x CPU")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
