//! `reaper run` exit codes: the command's own code passes through, a signal becomes 128+N, a
//! missing command is 127 and a non-executable one 126 (as shells report them), and stdin,
//! stdout and stderr are the caller's.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::Sandbox;
use predicates::str::contains;

#[test]
fn success_passes_through() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["run", "--", "true"])
        .assert()
        .code(0);
    sandbox.assert_nothing_left();
}

#[test]
fn exit_code_passes_through() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"])
        .assert()
        .code(3)
        .stdout("out\n")
        .stderr("err\n");
    sandbox.assert_nothing_left();
}

#[test]
fn death_by_signal_is_128_plus_n() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["run", "--", "sh", "-c", "kill -KILL $$"])
        .assert()
        .code(137);
    sandbox
        .reaper()
        .args(["run", "--", "sh", "-c", "kill -TERM $$"])
        .assert()
        .code(143);
    sandbox.assert_nothing_left();
}

#[test]
fn missing_command_is_127() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["run", "--", "no-such-command-for-reaper-tests"])
        .assert()
        .code(127)
        .stderr(contains("command not found"));
    sandbox
        .reaper()
        .args(["run", "--", "./no-such-file"])
        .assert()
        .code(127);
}

#[test]
fn non_executable_command_is_126() {
    let sandbox = Sandbox::new();
    let script = sandbox.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\necho never\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    sandbox
        .reaper()
        .args(["run", "--"])
        .arg(&script)
        .assert()
        .code(126)
        .stdout("")
        .stderr(contains("cannot execute"));
    // A directory cannot be executed either.
    sandbox
        .reaper()
        .args(["run", "--"])
        .arg(sandbox.path())
        .assert()
        .code(126);
}

#[test]
fn stdin_passes_through() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["run", "--", "cat"])
        .write_stdin("hi\nthere\n")
        .assert()
        .code(0)
        .stdout("hi\nthere\n");
    sandbox.assert_nothing_left();
}

#[test]
fn usage_errors_are_2() {
    let sandbox = Sandbox::new();
    sandbox.reaper().args(["run"]).assert().code(2);
    sandbox
        .reaper()
        .args(["run", "--timeout", "soon", "--", "true"])
        .assert()
        .code(2);
    sandbox
        .reaper()
        .args(["run", "--leaks", "ignore", "--", "true"])
        .assert()
        .code(2);
    sandbox
        .reaper()
        .args(["run", "--json-report", "no/such/dir/r.json", "--", "true"])
        .assert()
        .code(2)
        .stderr(contains("does not exist"));
}

#[test]
fn json_report_of_a_plain_run() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args([
            "run",
            "--json-report",
            "report.json",
            "--",
            "sh",
            "-c",
            "exit 5",
        ])
        .assert()
        .code(5);
    let text = std::fs::read_to_string(sandbox.path().join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["schema"], 1);
    assert_eq!(report["command"], serde_json::json!(["sh", "-c", "exit 5"]));
    assert_eq!(report["exit_code"], 5);
    assert_eq!(report["status"]["code"], 5);
    assert_eq!(report["timed_out"], false);
    assert_eq!(report["leaks"], serde_json::json!([]));
    assert!(report["duration_ms"].is_u64());
}

#[test]
fn help_has_examples_and_exit_codes() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["run", "--help"])
        .assert()
        .success()
        .stdout(contains("Examples:"))
        .stdout(contains("reaper run --timeout"))
        .stdout(contains("124"))
        .stdout(contains("122"));
}
