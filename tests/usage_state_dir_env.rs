//! With REAPER_STATE_DIR set, usage lines do not show `--state-dir <DIR>` as if it were required,
//! and the variable still chooses the state directory.
#![cfg(target_os = "linux")]

mod common;

use common::Sandbox;
use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn state_dir_env_is_not_shown_as_a_required_option_in_usage() {
    let sandbox = Sandbox::new();
    // The sandbox passes its state directory through REAPER_STATE_DIR.
    sandbox
        .reaper()
        .arg("stop")
        .assert()
        .code(2)
        .stderr(contains("Usage: reaper stop <NAMES>..."))
        .stderr(contains("--state-dir").not());
    sandbox.start_sh("envdir", "exec sleep 1000");
    assert!(sandbox.record_path("envdir").exists());
    // From another directory, only the variable can lead to the record.
    let elsewhere = sandbox.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    sandbox
        .reaper()
        .current_dir(&elsewhere)
        .args(["status", "envdir"])
        .assert()
        .success()
        .stdout(contains("envdir"));
    sandbox.reaper().args(["stop", "envdir"]).assert().success();
    sandbox.assert_nothing_left();
}
