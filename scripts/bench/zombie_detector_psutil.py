#!/usr/bin/env python3
"""Peer for the doctor benchmark: the spec's psutil-based zombie-detector.py, doing the same
checks as `reaper doctor --sample 0`: zombies with their parents, processes carrying a reaper
marker whose record is gone, stale pid files, and a JSON report. Prints the report to stdout."""
import json, os, sys, time

import psutil

state = os.environ.get("REAPER_STATE_DIR", os.getcwd())
run_dir = os.path.join(state, ".run")
runs = set()
for name in (os.listdir(run_dir) if os.path.isdir(run_dir) else []):
    if name.endswith(".json") and not name.endswith(".exit.json"):
        try:
            runs.add(json.load(open(os.path.join(run_dir, name)))["run_id"])
        except (OSError, ValueError, KeyError):
            pass
findings = []
for p in psutil.process_iter(["pid", "ppid", "status", "name", "cmdline", "create_time"]):
    info = p.info
    if info["status"] == psutil.STATUS_ZOMBIE:
        try:
            parent = psutil.Process(info["ppid"]).cmdline()
        except psutil.Error:
            parent = None
        findings.append({"kind": "zombie", "pid": info["pid"], "ppid": info["ppid"], "parent": parent})
        continue
    try:
        marker = p.environ().get("REAPER_MARKER")
    except psutil.Error:
        marker = None
    if marker and marker.startswith("v1:"):
        _, run_id, name, directory = marker.split(":", 3)
        if directory == run_dir and run_id not in runs:
            findings.append({"kind": "orphan", "pid": info["pid"], "service": name, "command": info["cmdline"]})
for name in (os.listdir(run_dir) if os.path.isdir(run_dir) else []):
    if name.endswith(".pid"):
        try:
            pid = int(open(os.path.join(run_dir, name)).read())
            if not psutil.pid_exists(pid):
                findings.append({"kind": "stale_record", "pid": pid, "service": name[:-4]})
        except (OSError, ValueError):
            findings.append({"kind": "stale_record", "service": name[:-4]})
json.dump({"schema": 1, "scanned_at": time.time(), "findings": findings}, sys.stdout)
sys.exit(1 if findings else 0)
