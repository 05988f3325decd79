//! Regression (issue 11, case 1): a record whose leader is gone trusted every process whose
//! session id equals the leader's old pid. Once that pid is reused by a program that calls
//! setsid and leaves a daemon behind, `status` said the service ran and `stop` ended the
//! unrelated daemon. Reproduced deterministically as root in a private pid namespace
//! (`unshare --pid --fork --mount-proc`), where writing to /proc/sys/kernel/ns_last_pid picks
//! the next pid, and nothing outside the namespace can be touched: when the scenario (pid 1 of
//! the namespace) exits, the kernel ends everything left in it.
#![cfg(target_os = "linux")]

mod common;

use std::process::Command;

use common::Sandbox;

/// Pid 1 of the namespace: starts a service, SIGKILLs its keeper and leader, hands the leader's
/// pid to a program that calls setsid and leaves a daemon in that session, then asks reaper.
const SCENARIO: &str = r#"
import json, os, signal, subprocess, sys, time
reaper, state = sys.argv[1], sys.argv[2]
env = dict(os.environ, REAPER_STATE_DIR=state)
def run(*args):
    return subprocess.run([reaper, *args], env=env, cwd=state, capture_output=True, text=True)
def reap_until_gone(*pids):
    deadline = time.time() + 5
    while any(os.path.exists(f"/proc/{p}") for p in pids) and time.time() < deadline:
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.01)
started = run("start", "victim", "--", "sleep", "1000")
assert started.returncode == 0, started.stderr
record = json.load(open(f"{state}/.run/victim.json"))
leader, keeper = record["leader"]["pid"], record["keeper"]["pid"]
os.kill(keeper, signal.SIGKILL)
os.kill(leader, signal.SIGKILL)
reap_until_gone(keeper, leader)
with open("/proc/sys/kernel/ns_last_pid", "w") as f:
    f.write(str(leader - 1))
child = os.fork()
if child == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "2000"])
    os._exit(0)
os.waitpid(child, 0)
assert child == leader, f"pid {leader} was not reused (got {child})"
def find_daemon():
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and open(f"/proc/{p}/cmdline").read() == "sleep\x002000\x00":
                return int(p)
        except OSError:
            pass
deadline = time.time() + 5
while (daemon := find_daemon()) is None and time.time() < deadline:
    time.sleep(0.01)
assert daemon, "the daemon did not start"
assert os.getsid(daemon) == leader
out = {"status": json.loads(run("status", "victim", "--json").stdout)["services"][0]["state"]}
out["stop"] = run("stop", "victim", "--timeout", "1s").returncode
out["daemon_after_stop"] = os.path.exists(f"/proc/{daemon}")
run("start", "other", "--", "sleep", "1000")
out["stop_all"] = run("stop", "--all", "--timeout", "1s").returncode
out["daemon_after_stop_all"] = os.path.exists(f"/proc/{daemon}")
print(json.dumps(out))
"#;

fn reused_session_is_not_adopted(mode: &str) {
    let is_root = rustix::process::geteuid().is_root();
    if !is_root || Command::new("unshare").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and unshare(1)");
        return;
    }
    let sandbox = Sandbox::new();
    let script = sandbox.path().join("scenario.py");
    std::fs::write(&script, SCENARIO).unwrap();
    let output = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "python3"])
        .arg(&script)
        .arg(assert_cmd::cargo::cargo_bin("reaper"))
        .arg(sandbox.path())
        .env("REAPER_CONTAINMENT", mode)
        .env(common::TOKEN_VAR, &sandbox.token)
        .output()
        .expect("unshare");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "scenario failed: {stdout}{stderr}");
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).expect("scenario JSON");
    assert_ne!(result["status"], "running", "{result}");
    assert_eq!(
        result["daemon_after_stop"], true,
        "stop ended the unrelated daemon: {result}"
    );
    assert_eq!(
        result["daemon_after_stop_all"], true,
        "stop --all ended it: {result}"
    );
    assert_eq!(result["stop"], 0, "{result}");
    assert_eq!(result["stop_all"], 0, "{result}");
}

#[test]
fn reused_leader_pid_with_its_own_session_is_not_adopted_without_a_cgroup() {
    reused_session_is_not_adopted("fallback");
}

#[test]
fn reused_leader_pid_with_its_own_session_is_not_adopted_in_a_cgroup() {
    reused_session_is_not_adopted("auto");
}
