//! `reaper run --timeout`: when it expires the whole tree gets the graceful signal, SIGKILL after
//! --kill-after; exit 124 when the graceful signal was enough, 137 when SIGKILL was needed; and
//! nothing of the tree is left either way.
#![cfg(target_os = "linux")]

mod common;

use common::Sandbox;
use predicates::str::contains;

fn report(sandbox: &Sandbox) -> serde_json::Value {
    let text = std::fs::read_to_string(sandbox.path().join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn term_obeying_tree_exits_124_and_nothing_is_left() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["run", "--timeout", "300ms", "--json-report", "report.json"])
        .args(["--", "sh", "-c", "sleep 1000 & sleep 1001 & wait"])
        .assert()
        .code(124)
        .stderr(contains("timed out after 300ms"));
    let report = report(&sandbox);
    assert_eq!(report["timed_out"], true);
    assert_eq!(report["exit_code"], 124);
    let processes = report["timeout_stop"]["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 3, "{processes:?}");
    assert!(processes.iter().all(|p| p["outcome"] == "graceful"));
    sandbox.assert_nothing_left();
}

#[test]
fn term_ignoring_tree_exits_137_and_nothing_is_left() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["run", "--timeout", "300ms", "--kill-after", "300ms"])
        .args(["--json-report", "report.json", "--", "sh", "-c"])
        .arg("trap '' TERM; sleep 1000 & sleep 1001 & wait")
        .assert()
        .code(137)
        .stderr(contains("by SIGKILL"));
    let report = report(&sandbox);
    assert_eq!(report["timed_out"], true);
    let processes = report["timeout_stop"]["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 3, "{processes:?}");
    assert!(processes.iter().all(|p| p["outcome"] == "forced"));
    sandbox.assert_nothing_left();
}

#[test]
fn timeout_reaches_setsid_daemons_too() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["run", "--timeout", "500ms", "--json-report", "report.json"])
        .args(["--", "sh", "-c", "(setsid sleep 1000 &); exec sleep 1001"])
        .assert()
        .code(124);
    let report = report(&sandbox);
    let commands: Vec<&str> = report["timeout_stop"]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["command"].as_str().unwrap())
        .collect();
    assert!(commands.contains(&"sleep 1000"), "{commands:?}");
    sandbox.assert_nothing_left();
}

#[test]
fn custom_signal_is_used_on_timeout() {
    let sandbox = Sandbox::new();
    // The command ignores TERM but ends on INT (KeyboardInterrupt).
    sandbox
        .reaper()
        .args([
            "run",
            "--timeout",
            "300ms",
            "--signal",
            "INT",
            "--kill-after",
            "10s",
        ])
        .args(["--", "python3", "-c"])
        .arg("import signal,time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(1000)")
        .assert()
        .code(124)
        .stderr(contains("after SIGINT"));
    sandbox.assert_nothing_left();
}

#[test]
fn command_that_finishes_in_time_is_not_timed_out() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["run", "--timeout", "60s", "--", "sh", "-c", "exit 7"])
        .assert()
        .code(7);
    sandbox.assert_nothing_left();
}
