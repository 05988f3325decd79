//! A member of a tree that had exited before the stop signalled it is reported as such
//! ("had already exited", `already_exited`), not as "exited after SIGTERM", and does not make
//! the stop incomplete. Before, such members were missing from the report or counted as ended
//! by the signal.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{Sandbox, json_of, wait_until};

/// Starts service `early` running `sh -c SCRIPT` without a cgroup (the tree is then found by
/// descent, zombies included; a cgroup drops its members as they exit), and waits until its
/// leader has `zombies` zombie children; returns the leader's pid and theirs.
fn start_with_zombies(sandbox: &Sandbox, script: &str, zombies: usize) -> (u32, Vec<u32>) {
    sandbox
        .reaper()
        .env("REAPER_CONTAINMENT", "fallback")
        .args(["start", "early", "--", "sh", "-c", script])
        .assert()
        .success();
    sandbox.note_tree();
    let leader = sandbox.record("early")["leader"]["pid"].as_u64().unwrap() as u32;
    assert!(wait_until(Duration::from_secs(5), || {
        common::zombie_children(leader).len() == zombies
    }));
    (leader, common::zombie_children(leader))
}

#[test]
fn members_gone_before_the_signal_had_already_exited() {
    let sandbox = Sandbox::new();
    let (leader, exited) =
        start_with_zombies(&sandbox, "sleep 0.01 & sleep 0.01 & exec sleep 1000", 2);

    let out = sandbox
        .reaper()
        .args(["stop", "early", "--json"])
        .assert()
        .success();
    let doc = json_of(&out);
    let processes = doc["stopped"][0]["processes"].as_array().unwrap();
    for pid in &exited {
        let entry = processes
            .iter()
            .find(|p| p["pid"] == *pid)
            .unwrap_or_else(|| panic!("zombie {pid} missing from {doc}"));
        assert_eq!(entry["outcome"], "already_exited", "{doc}");
    }
    let signalled = processes.iter().find(|p| p["pid"] == leader).unwrap();
    assert_eq!(signalled["outcome"], "graceful", "{doc}");
    assert!(!sandbox.record_path("early").exists(), "record kept: {doc}");
    sandbox.assert_nothing_left();
}

#[test]
fn the_human_report_says_had_already_exited() {
    let sandbox = Sandbox::new();
    start_with_zombies(&sandbox, "sleep 0.01 & exec sleep 1000", 1);
    let out = sandbox.reaper().args(["stop", "early"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("had already exited"), "{stdout}");
    assert!(stdout.contains("1 had already exited"), "{stdout}");
    assert_eq!(
        stdout.matches("exited after SIGTERM").count(),
        1,
        "{stdout}"
    );
    sandbox.assert_nothing_left();
}
