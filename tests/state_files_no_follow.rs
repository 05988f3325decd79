//! The state directory is input: a symbolic link planted where reaper keeps a log or a lock is
//! refused, and one at a rotated log's name is renamed over, never followed, so it cannot make
//! reaper append to, copy over, truncate or print another file.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::Sandbox;
use predicates::prelude::*;
use predicates::str::contains;

const PRECIOUS: &str = "precious contents that no reaper command may touch\n";

/// A file outside the state directory's reach, and its contents.
fn victim(sandbox: &Sandbox) -> PathBuf {
    let dir = sandbox.path().join("elsewhere");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("victim.txt");
    std::fs::write(&path, PRECIOUS).unwrap();
    path
}

fn plant(link: &Path, target: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    symlink(target, link).unwrap();
}

#[test]
fn planted_log_symlink_is_neither_appended_to_nor_truncated_by_start() {
    let sandbox = Sandbox::new();
    let victim = victim(&sandbox);
    plant(&sandbox.path().join(".logs/web.log"), &victim);
    // A victim larger than --log-max-size: the old code rotated it (copy and truncate) first.
    sandbox
        .reaper()
        .args(["start", "web", "--log-max-size", "10", "--"])
        .args(["sh", "-c", "echo written-through-the-link; sleep 30"])
        .assert()
        .failure()
        .stderr(contains("symbolic link"));
    sandbox.assert_nothing_left();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), PRECIOUS);
    assert!(!sandbox.record_path("web").exists());
}

#[test]
fn planted_log_symlink_is_not_printed_by_logs() {
    let sandbox = Sandbox::new();
    let victim = victim(&sandbox);
    plant(&sandbox.path().join(".logs/web.log"), &victim);
    sandbox
        .reaper()
        .args(["logs", "web"])
        .assert()
        .failure()
        .stdout(contains("precious").not())
        .stderr(contains("symbolic link"));
}

#[test]
fn planted_symlink_at_rotated_log_path_is_not_written_through() {
    let sandbox = Sandbox::new();
    let victim = victim(&sandbox);
    let logs = sandbox.path().join(".logs");
    std::fs::create_dir_all(&logs).unwrap();
    plant(&logs.join("web.log.1"), &victim);
    // Output past the rotation size: rotation renames over the planted name, never through it.
    sandbox
        .reaper()
        .args(["start", "web", "--log-max-size", "10", "--log-keep", "1"])
        .args([
            "--",
            "sh",
            "-c",
            "echo first-line-past-ten-bytes; echo second; sleep 30",
        ])
        .assert()
        .success();
    sandbox.note_tree();
    let rotated = logs.join("web.log.1");
    assert!(common::wait_until(
        std::time::Duration::from_secs(10),
        || std::fs::symlink_metadata(&rotated).is_ok_and(|m| m.file_type().is_file())
    ));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), PRECIOUS);
    assert_eq!(
        std::fs::read_to_string(&rotated).unwrap(),
        "first-line-past-ten-bytes\n"
    );
    sandbox.reaper().args(["stop", "web"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn symlinked_lock_file_is_refused() {
    let sandbox = Sandbox::new();
    let victim = victim(&sandbox);
    plant(&sandbox.path().join(".run/.locks/web"), &victim);
    sandbox
        .reaper()
        .args(["start", "web", "--", "sh", "-c", "sleep 30"])
        .assert()
        .failure()
        .stderr(contains("symbolic link"));
    sandbox.assert_nothing_left();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), PRECIOUS);
}

#[test]
fn planted_action_log_symlink_is_not_appended_to() {
    let sandbox = Sandbox::new();
    let victim = victim(&sandbox);
    plant(&sandbox.path().join(".logs/reaper.log"), &victim);
    sandbox
        .reaper()
        .args(["start", "web", "--", "sh", "-c", "sleep 30"])
        .assert()
        .success()
        .stderr(contains("symbolic link"));
    sandbox.note_tree();
    sandbox.reaper().args(["stop", "web"]).assert().success();
    sandbox.assert_nothing_left();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), PRECIOUS);
}

#[test]
fn symlinked_record_is_reported_not_followed() {
    let sandbox = Sandbox::new();
    let elsewhere = sandbox.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    sandbox.start_sh("real", "sleep 30");
    // A record that is a link to a real record: reaper must not act on what it points to.
    let moved = elsewhere.join("real.json");
    std::fs::rename(sandbox.record_path("real"), &moved).unwrap();
    plant(&sandbox.record_path("web"), &moved);
    sandbox
        .reaper()
        .args(["status", "web"])
        .assert()
        .success()
        .stdout(contains("broken"))
        .stdout(contains("symbolic link"));
    sandbox.kill_leftovers();
}
