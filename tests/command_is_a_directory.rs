//! `start -- DIR` and `run -- DIR` say the command is a directory, not "permission denied" (exec
//! gives EACCES for a directory, so the path itself is looked at).
#![cfg(target_os = "linux")]

mod common;

use common::Sandbox;
use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn start_and_run_of_a_directory_say_is_a_directory_not_permission_denied() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path().join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let dir = dir.to_str().unwrap();
    // With a PATH, start's own check finds it; without one, the keeper's spawn reports it
    // (on Linux through the clone3 spawn into the service's cgroup when there is one).
    for without_path in [false, true] {
        let mut start = sandbox.reaper();
        if without_path {
            start.env_remove("PATH");
        }
        start
            .args(["start", "d", "--", dir])
            .assert()
            .code(2)
            .stderr(contains("it is a directory"))
            .stderr(contains("ermission denied").not());
        assert!(!sandbox.record_path("d").exists());
    }
    sandbox
        .reaper()
        .args(["run", "--", dir])
        .assert()
        .code(126)
        .stderr(contains("cannot execute: is a directory"))
        .stderr(contains("ermission denied").not());
    // A file without the execute bit is still "not executable".
    let file = sandbox.path().join("plain-file");
    std::fs::write(&file, "#!/bin/sh\n").unwrap();
    sandbox
        .reaper()
        .args(["run", "--", file.to_str().unwrap()])
        .assert()
        .code(126)
        .stderr(contains("is a directory").not());
    sandbox.assert_nothing_left();
}
