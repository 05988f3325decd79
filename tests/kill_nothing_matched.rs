//! `reaper kill PATTERN` that matches nothing exits 1, as `pkill` does, so a script learns that
//! its target was not there. Before, it exited 0.
#![cfg(target_os = "linux")]

mod common;

use common::Sandbox;
use predicates::str::contains;

#[test]
fn kill_with_no_match_exits_1() {
    let sandbox = Sandbox::new();
    let pattern = format!("{}-matches-nothing", sandbox.token);
    sandbox
        .reaper()
        .args(["kill", &pattern, "--yes"])
        .assert()
        .code(1)
        .stdout(contains("no process matches"));
    sandbox
        .reaper()
        .args(["kill", &pattern, "--dry-run"])
        .assert()
        .code(1);
}
