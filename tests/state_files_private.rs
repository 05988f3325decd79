//! Logs and the action log hold argv and output, and `NAME.env` holds `--env` values: every
//! directory reaper creates in the state directory is 0700 and every file 0600, from the start.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::Sandbox;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn state_directories_are_0700_and_files_0600() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["start", "web", "--env", "SECRET=hunter2", "--"])
        .args(["sh", "-c", "echo started; sleep 30"])
        .assert()
        .success();
    sandbox.note_tree();
    let root = sandbox.path();
    for dir in [".run", ".run/.locks", ".logs"] {
        assert_eq!(mode(&root.join(dir)), 0o700, "{dir}");
    }
    for file in [
        ".run/web.json",
        ".run/web.pid",
        ".run/web.env",
        ".run/.locks/web",
        ".logs/web.log",
        ".logs/reaper.log",
    ] {
        assert_eq!(mode(&root.join(file)), 0o600, "{file}");
    }
    sandbox.reaper().args(["stop", "web"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn a_nested_state_dir_is_created_private() {
    let sandbox = Sandbox::new();
    let state = sandbox.path().join("a/b");
    sandbox
        .reaper()
        .env("REAPER_STATE_DIR", &state)
        .args(["start", "web", "--", "sh", "-c", "sleep 30"])
        .assert()
        .success();
    sandbox.note_tree();
    for dir in ["a", "a/b", "a/b/.run", "a/b/.logs"] {
        assert_eq!(mode(&sandbox.path().join(dir)), 0o700, "{dir}");
    }
    sandbox
        .reaper()
        .env("REAPER_STATE_DIR", &state)
        .args(["stop", "web"])
        .assert()
        .success();
    sandbox.assert_nothing_left();
}
