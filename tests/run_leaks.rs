//! `reaper run --leaks`: what the command leaves running when it exits — a `setsid` daemon, a
//! background job of its group — is found in every mode: `kill` ends it and keeps the command's
//! exit code, `report` lists it and leaves it running, `fail` ends it and exits 122.
#![cfg(target_os = "linux")]

mod common;

use common::{Sandbox, alive};
use predicates::str::contains;

/// Starts a setsid daemon (`sleep 1000`, in a session of its own, reparented to reaper when its
/// parent exits; its output goes to /dev/null, as a daemon's does, so it does not hold the
/// test's pipes open), waits until it has written its pid, then exits with `code`.
fn daemon_script(daemon_prelude: &str, code: i32) -> String {
    format!(
        "(setsid sh -c '{daemon_prelude} echo $$ > daemon.pid; exec sleep 1000' \
         </dev/null >/dev/null 2>&1 &); \
         while [ ! -s daemon.pid ]; do sleep 0.01; done; exit {code}"
    )
}

fn daemon_pid(sandbox: &Sandbox) -> u64 {
    std::fs::read_to_string(sandbox.path().join("daemon.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn report(sandbox: &Sandbox) -> serde_json::Value {
    let text = std::fs::read_to_string(sandbox.path().join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn leaks(report: &serde_json::Value) -> Vec<(u64, String)> {
    report["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["pid"].as_u64().unwrap(),
                l["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn kill_ends_the_daemon_and_keeps_the_exit_code() {
    let sandbox = Sandbox::new();
    let assert = sandbox
        .reaper()
        .args(["run", "--json-report", "report.json", "--", "sh", "-c"])
        .arg(daemon_script("", 0))
        .assert()
        .code(0);
    let pid = daemon_pid(&sandbox);
    assert
        .stderr(contains(format!("leaked process {pid}")))
        .stderr(contains("ended after SIGTERM"));
    let report = report(&sandbox);
    assert_eq!(report["leak_policy"], "kill");
    assert_eq!(leaks(&report), [(pid, "ended".to_string())]);
    assert!(!alive(pid as u32));
    sandbox.assert_nothing_left();
}

#[test]
fn kill_escalates_for_a_daemon_that_ignores_term() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["run", "--leaks", "kill", "--kill-after", "200ms"])
        .args(["--json-report", "report.json", "--", "sh", "-c"])
        .arg(daemon_script("trap \"\" TERM;", 4))
        .assert()
        .code(4)
        .stderr(contains("killed with SIGKILL"));
    let pid = daemon_pid(&sandbox);
    assert_eq!(leaks(&report(&sandbox)), [(pid, "killed".to_string())]);
    sandbox.assert_nothing_left();
}

#[test]
fn report_lists_the_daemon_and_leaves_it_running() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["run", "--leaks", "report", "--json-report", "report.json"])
        .args(["--", "sh", "-c"])
        .arg(daemon_script("", 0))
        .assert()
        .code(0)
        .stderr(contains("left running"));
    let pid = daemon_pid(&sandbox);
    sandbox.note_tree();
    assert!(alive(pid as u32), "report mode must not end the daemon");
    assert_eq!(
        leaks(&report(&sandbox)),
        [(pid, "left_running".to_string())]
    );
    // It carries the run's marker, so it can be traced back to the run.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|entry| entry.starts_with(b"REAPER_MARKER=v1:")),
        "the daemon has no marker"
    );
    sandbox.kill_leftovers();
    sandbox.assert_nothing_left();
}

#[test]
fn fail_ends_the_daemon_and_exits_122_even_after_success() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["run", "--leaks", "fail", "--json-report", "report.json"])
        .args(["--", "sh", "-c"])
        .arg(daemon_script("", 0))
        .assert()
        .code(122)
        .stderr(contains("leaked process"));
    let pid = daemon_pid(&sandbox);
    let report = report(&sandbox);
    assert_eq!(report["exit_code"], 122);
    assert_eq!(report["status"]["code"], 0);
    assert_eq!(leaks(&report), [(pid, "ended".to_string())]);
    sandbox.assert_nothing_left();
}

#[test]
fn fail_without_leaks_keeps_the_exit_code() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args([
            "run",
            "--leaks",
            "fail",
            "--",
            "sh",
            "-c",
            "sleep 0.01 & wait",
        ])
        .assert()
        .code(0)
        .stderr("");
    sandbox.assert_nothing_left();
}

#[test]
fn background_job_of_the_group_is_a_leak() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["run", "--json-report", "report.json", "--", "sh", "-c"])
        .arg("sleep 1000 & echo $! > daemon.pid; exit 0")
        .assert()
        .code(0);
    let pid = daemon_pid(&sandbox);
    assert_eq!(leaks(&report(&sandbox)), [(pid, "ended".to_string())]);
    sandbox.assert_nothing_left();
}
