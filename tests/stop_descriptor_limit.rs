//! Regression (issue 11, case 9): members that could not be pinned (EMFILE after ~1,000
//! processes during a stop) were skipped in silence and the stop reported success. Now the soft
//! limit is raised to the hard one, pidfds of exited members are closed, and members beyond the
//! descriptors at hand wait for a later round instead of being skipped.
#![cfg(target_os = "linux")]

mod common;

use std::process::Command;

use common::Sandbox;

fn has_prlimit() -> bool {
    let found = Command::new("prlimit").arg("--version").output().is_ok();
    if !found {
        eprintln!("skipped: needs prlimit(1) (util-linux)");
    }
    found
}

/// Starts a service of 300 sleepers, then stops it under `limit` (prlimit's SOFT:HARD).
fn stop_under_limit(mode: &str, limit: &str) {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .env("REAPER_CONTAINMENT", mode)
        .args(["start", "crowd", "--", "sh", "-c"])
        .arg("for i in $(seq 300); do sleep 1000 & done; wait")
        .assert()
        .success();
    sandbox.note_tree();
    let reaper = assert_cmd::cargo::cargo_bin("reaper");
    let mut stop = assert_cmd::Command::new("prlimit");
    stop.arg(format!("--nofile={limit}"))
        .arg(reaper)
        .args(["stop", "crowd", "--timeout", "10s"])
        .current_dir(sandbox.path())
        .env("REAPER_STATE_DIR", sandbox.path())
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success();
    assert!(!sandbox.record_path("crowd").exists());
    sandbox.assert_nothing_left();
}

#[test]
fn a_stop_with_few_descriptors_ends_every_member_without_a_cgroup() {
    if has_prlimit() {
        stop_under_limit("fallback", "100:100");
    }
}

#[test]
fn a_stop_raises_its_soft_descriptor_limit() {
    if has_prlimit() {
        stop_under_limit("fallback", "40:4096");
    }
}

#[test]
fn a_stop_with_few_descriptors_ends_every_member_in_a_cgroup() {
    if has_prlimit() {
        stop_under_limit("auto", "100:100");
    }
}
