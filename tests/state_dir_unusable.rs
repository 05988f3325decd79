//! An unusable state directory (a file where a directory should be) is bad input for every
//! command that works on records: exit 2 and one line naming it, as `start` always said.
#![cfg(target_os = "linux")]

mod common;

use common::Sandbox;
use predicates::str::contains;

const COMMANDS: [&[&str]; 6] = [
    &["status"],
    &["stop", "--all"],
    &["start", "x", "--", "sleep", "1000"],
    &["clean"],
    &["logs", "x"],
    &["restart", "x"],
];

#[test]
fn status_and_stop_all_exit_2_like_start_on_an_unusable_state_dir() {
    let sandbox = Sandbox::new();
    // The state directory itself is a file.
    let file = sandbox.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    for command in COMMANDS {
        sandbox
            .reaper()
            .env("REAPER_STATE_DIR", &file)
            .args(command)
            .assert()
            .code(2)
            .stderr(contains("is not usable: not a directory"));
    }
    // `.run` is a file.
    std::fs::write(sandbox.path().join(".run"), "").unwrap();
    for command in COMMANDS {
        sandbox
            .reaper()
            .args(command)
            .assert()
            .code(2)
            .stderr(contains(".run is not usable: not a directory"));
    }
    assert!(sandbox.token_processes().is_empty());
}
