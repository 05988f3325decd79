//! `reaper ui` without a terminal: one line naming what to use instead, exit code 2.

mod common;

use common::Sandbox;
use predicates::str::contains;

#[test]
fn ui_without_a_terminal_names_ps_and_logs_and_exits_2() {
    let sandbox = Sandbox::new();
    let assert = sandbox.reaper().arg("ui").assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert
        .stderr(contains("needs a terminal"))
        .stderr(contains("reaper ps"))
        .stderr(contains("reaper logs NAME -f"));
    sandbox.assert_nothing_left();
}
