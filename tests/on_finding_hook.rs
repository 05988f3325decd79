//! `--on-finding CMD`: the hook gets the JSON report (schema 1) on stdin, its stdout does not mix
//! with reaper's, it runs only when something is found, and a hook that hangs (and forks) is
//! ended with its whole tree after --on-finding-timeout and reported, nothing left.
#![cfg(target_os = "linux")]

mod alerts_common;
mod common;

use alerts_common::{start_zombie_factory, stop_factory};
use common::Sandbox;
use serde_json::Value;

#[test]
fn hook_reads_the_report_on_stdin() {
    let sandbox = Sandbox::new();
    let (_, zombie) = start_zombie_factory(&sandbox);
    let out = sandbox
        .reaper()
        .args(["doctor", "--sample", "0", "--scope", "project", "--json"])
        .args([
            "--on-finding",
            "cat > hook-input.json; echo said-by-the-hook",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // The hook's stdout goes to stderr: reaper's stdout stays one JSON document.
    let printed: Value = serde_json::from_slice(&out.stdout).expect("stdout is the report");
    assert!(String::from_utf8_lossy(&out.stderr).contains("said-by-the-hook"));
    let text = std::fs::read_to_string(sandbox.path().join("hook-input.json")).unwrap();
    let heard: Value = serde_json::from_str(&text).expect("the hook got JSON");
    assert_eq!(heard["schema"], 1);
    assert_eq!(heard["findings"], printed["findings"]);
    assert!(
        heard["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "zombie" && f["pid"] == zombie)
    );
    stop_factory(&sandbox);
}

#[test]
fn hook_does_not_run_when_nothing_is_found() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["doctor", "--sample", "0", "--scope", "project"])
        .args(["--on-finding", "touch hook-ran"])
        .assert()
        .success();
    assert!(!sandbox.path().join("hook-ran").exists());
}

#[test]
fn hook_that_hangs_is_ended_with_its_tree() {
    let sandbox = Sandbox::new();
    start_zombie_factory(&sandbox);
    let out = sandbox
        .reaper()
        .args(["doctor", "--sample", "0", "--scope", "project"])
        .args([
            "--on-finding",
            "sh -c 'sleep 1000' & echo $! > child.pid; sleep 1000",
            "--on-finding-timeout",
            "1s",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the findings decide the exit code"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("did not finish within 1s and was ended"),
        "{stderr}"
    );
    assert!(stderr.contains("stopped on-finding hook"), "{stderr}");
    let child = std::fs::read_to_string(sandbox.path().join("child.pid")).unwrap();
    assert!(
        stderr.contains(&format!(" {} ", child.trim())),
        "the forked child is in the report: {stderr}"
    );
    stop_factory(&sandbox);
}

#[test]
fn hook_that_leaves_processes_running_has_them_ended() {
    let sandbox = Sandbox::new();
    start_zombie_factory(&sandbox);
    let out = sandbox
        .reaper()
        .args(["doctor", "--sample", "0", "--scope", "project"])
        .args(["--on-finding", "sleep 1000 & exit 0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("left processes running"), "{stderr}");
    assert!(stderr.contains("sleep 1000"), "{stderr}");
    stop_factory(&sandbox);
}
