//! A log file deleted under a running service: the keeper notices (it checks once a second
//! while output comes) and starts a new log, saying so in it.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{Sandbox, wait_until};

#[test]
fn a_log_deleted_under_a_running_service_is_started_again() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("writer", "while :; do echo tick; sleep 0.01; done");
    let log = sandbox.path().join(".logs/writer.log");
    assert!(wait_until(Duration::from_secs(10), || log.exists()));
    std::fs::remove_file(&log).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || {
            std::fs::read_to_string(&log).is_ok_and(|t| t.contains("tick"))
        }),
        "no new log"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("the log was deleted or replaced"), "{text}");
    // Its index started again with it: `logs` reads the new log's lines whole.
    let shown = sandbox
        .reaper()
        .args(["logs", "writer", "-n", "1000"])
        .assert()
        .success();
    let shown = String::from_utf8_lossy(&shown.get_output().stdout).into_owned();
    assert!(
        shown
            .lines()
            .all(|l| l == "tick" || l.starts_with("[reaper keeper] the log was deleted")),
        "{shown}"
    );
    sandbox.reaper().args(["stop", "writer"]).assert().success();
    sandbox.assert_nothing_left();
}
