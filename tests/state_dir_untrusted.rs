//! A state directory, or a `reaper.toml` found by walking up, that another user owns or that
//! group or others may write is not trusted (as git refuses another user's repository): reaper
//! says why and names the override, `REAPER_TRUST_STATE_DIR=1`. A private state directory inside
//! a world-writable sticky directory such as /tmp is fine (every sandbox here is one).
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::Sandbox;
use predicates::prelude::*;
use predicates::str::contains;

/// `nobody`'s uid: a user other than the one running the tests (root).
const NOBODY: u32 = 65534;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn give_to_nobody(path: &Path) {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test makes a directory another user's, which needs root"
    );
    std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
}

#[test]
fn group_writable_state_dir_is_refused_unless_trusted() {
    let sandbox = Sandbox::new();
    chmod(sandbox.path(), 0o770);
    sandbox
        .reaper()
        .args(["status"])
        .assert()
        .code(2)
        .stderr(contains("its group may write it"))
        .stderr(contains("REAPER_TRUST_STATE_DIR=1"));
    sandbox
        .reaper()
        .args(["start", "web", "--", "sh", "-c", "sleep 30"])
        .assert()
        .code(2);
    sandbox.assert_nothing_left();
    assert!(!sandbox.path().join(".run").exists());
    sandbox
        .reaper()
        .env("REAPER_TRUST_STATE_DIR", "1")
        .args(["status"])
        .assert()
        .success();
}

#[test]
fn state_dir_of_another_user_is_refused_unless_trusted() {
    let sandbox = Sandbox::new();
    give_to_nobody(sandbox.path());
    sandbox
        .reaper()
        .args(["stop", "--all"])
        .assert()
        .code(2)
        .stderr(contains("belongs to nobody"))
        .stderr(contains("REAPER_TRUST_STATE_DIR=1"));
    sandbox
        .reaper()
        .env("REAPER_TRUST_STATE_DIR", "1")
        .args(["stop", "--all"])
        .assert()
        .success();
}

#[test]
fn run_dir_writable_by_others_is_refused() {
    let sandbox = Sandbox::new();
    let run = sandbox.path().join(".run");
    std::fs::create_dir(&run).unwrap();
    chmod(&run, 0o777);
    sandbox
        .reaper()
        .args(["status"])
        .assert()
        .code(2)
        .stderr(contains(".run"))
        .stderr(contains("others may write it"));
}

#[test]
fn reaper_toml_of_another_user_found_by_walking_up_is_refused() {
    let sandbox = Sandbox::new();
    let project = sandbox.path().join("project");
    let below = project.join("src");
    std::fs::create_dir_all(&below).unwrap();
    let config = project.join("reaper.toml");
    std::fs::write(&config, "[services.web]\ncommand = \"sleep 30\"\n").unwrap();
    give_to_nobody(&config);
    sandbox
        .reaper()
        .current_dir(&below)
        .env_remove("REAPER_STATE_DIR")
        .args(["check"])
        .assert()
        .code(2)
        .stderr(contains("reaper.toml"))
        .stderr(contains("belongs to nobody"));
    sandbox
        .reaper()
        .current_dir(&below)
        .env_remove("REAPER_STATE_DIR")
        .args(["status"])
        .assert()
        .code(2)
        .stderr(contains("belongs to nobody"));
    sandbox
        .reaper()
        .current_dir(&below)
        .env_remove("REAPER_STATE_DIR")
        .env("REAPER_TRUST_STATE_DIR", "1")
        .args(["check"])
        .assert()
        .success()
        .stderr(contains("nobody").not());
}
