//! `reaper ui` without a terminal: one line naming what to use instead, exit code 2. (It starts
//! nothing, so it runs on every platform without the process harness.)

use std::time::Duration;

use assert_cmd::Command;
use predicates::str::contains;

#[test]
fn ui_without_a_terminal_names_ps_and_logs_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    // The binary itself, not through a cargo runner: under wine a runner is a Unix program,
    // which cannot take the Windows test's handles.
    let assert = Command::new(assert_cmd::cargo::cargo_bin("reaper"))
        .arg("ui")
        .current_dir(dir.path())
        .env("REAPER_STATE_DIR", dir.path())
        .timeout(Duration::from_secs(60))
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert
        .stderr(contains("needs a terminal"))
        .stderr(contains("reaper ps"))
        .stderr(contains("reaper logs NAME -f"));
}
