//! `doctor --fix` without `--force` never ends a service's process and never signals a process
//! that is not reaper's; ending is `--force`'s job (issue 11, case 5).
#![cfg(target_os = "linux")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Sandbox, TOKEN_VAR, alive, json_of, wait_until};
use serde_json::Value;

fn zombie_fixes(fixed: &Value, parent: u64) -> Vec<&Value> {
    let zombies: Vec<u64> = fixed["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "zombie" && f["ppid"] == parent)
        .map(|f| f["pid"].as_u64().unwrap())
        .collect();
    fixed["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "zombie" && zombies.contains(&f["pid"].as_u64().unwrap()))
        .collect()
}

#[test]
fn safe_fix_leaves_a_service_that_keeps_a_zombie_running() {
    let sandbox = Sandbox::new();
    // `sleep` never reaps: the child the shell started before exec stays a zombie.
    let record = sandbox.start_sh("keeps", "sleep 0.01 & exec sleep 1000");
    let leader = record["leader"]["pid"].as_u64().unwrap();
    let scan = || {
        let out = sandbox
            .reaper()
            .args(["doctor", "--sample", "0", "--scope", "project", "--json"])
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert!(wait_until(Duration::from_secs(5), || {
        scan()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "zombie" && f["ppid"] == leader)
    }));

    let out = sandbox
        .reaper()
        .args([
            "doctor", "--sample", "0", "--scope", "project", "--fix", "--json",
        ])
        .assert()
        .code(1);
    let fixed = json_of(&out);
    let fixes = zombie_fixes(&fixed, leader);
    assert_eq!(fixes.len(), 1, "{fixed}");
    assert_eq!(fixes[0]["resolved"], false, "{fixed}");
    let action = fixes[0]["action"].as_str().unwrap();
    assert!(action.contains("--force"), "{action}");
    assert!(action.contains("keeps"), "{action}");
    assert!(
        alive(leader as u32),
        "safe mode ended the service's process"
    );

    // `--fix --force` ends it (tests/doctor.rs, zombie_factory_is_reported_and_fixed).
    sandbox.reaper().args(["stop", "keeps"]).assert().success();
    sandbox.assert_nothing_left();
}

/// A parent reaper did not start, with an unreaped zombie child and a SIGCHLD handler that
/// writes a file. The test runs in a PID namespace of its own, so the machine-wide scan sees
/// only these processes.
const FOREIGN_PARENT: &str = r#"
import os, signal, sys, time
flag, ready, probe, answer = sys.argv[1:5]
child = os.fork()
if child == 0:
    os._exit(0)
while open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
    time.sleep(0.01)
signal.signal(signal.SIGCHLD, lambda *_: open(flag, "w").close())
open(ready, "w").close()
while True:
    time.sleep(0.01)
    # Any signal delivered before the probe request has had its handler run by now.
    if os.path.exists(probe):
        open(answer, "w").close()
"#;

#[test]
fn safe_fix_sends_no_signal_to_a_parent_that_is_not_reapers() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path();
    let [flag, ready, probe, answer, out] =
        ["sigchld", "ready", "probe", "answer", "doctor.json"].map(|f| dir.join(f));
    let script = r#"
python3 -c "$PARENT" "$FLAG" "$READY" "$PROBE" "$ANSWER" &
while [ ! -e "$READY" ]; do sleep 0.01; done
"$REAPER" doctor --sample 0 --fix --json > "$OUT"
touch "$PROBE"
while [ ! -e "$ANSWER" ]; do sleep 0.01; done
kill -KILL $!
"#;
    let status = Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",
            "sh",
            "-c",
            script,
        ])
        .current_dir(dir)
        .env("REAPER_STATE_DIR", dir)
        .env(TOKEN_VAR, &sandbox.token)
        .env("PARENT", FOREIGN_PARENT)
        .env("REAPER", assert_cmd::cargo::cargo_bin("reaper"))
        .env("FLAG", &flag)
        .env("READY", &ready)
        .env("PROBE", &probe)
        .env("ANSWER", &answer)
        .env("OUT", &out)
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    let fixed: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let zombies: Vec<&Value> = fixed["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "zombie")
        .collect();
    assert_eq!(zombies.len(), 1, "{fixed}");
    assert_eq!(zombies[0]["resolved"], false, "{fixed}");
    assert!(
        zombies[0]["action"].as_str().unwrap().contains("--force"),
        "{fixed}"
    );
    assert!(
        !flag.exists(),
        "safe mode sent SIGCHLD to a process that is not reaper's: {fixed}"
    );
    sandbox.assert_nothing_left();
}
