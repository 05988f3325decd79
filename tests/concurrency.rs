//! Concurrent commands: 20 simultaneous `start` of one name run exactly one process, and
//! `stop --all` ends 50 services in parallel.
#![cfg(target_os = "linux")]

mod common;

use std::thread;

use common::{Sandbox, json_of};

#[test]
fn twenty_concurrent_starts_of_one_name_run_exactly_one() {
    let sandbox = Sandbox::new();
    let codes: Vec<i32> = thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(|| {
                    sandbox
                        .reaper()
                        .args([
                            "start",
                            "once",
                            "--min-uptime",
                            "50ms",
                            "--",
                            "sleep",
                            "1000",
                        ])
                        .output()
                        .unwrap()
                        .status
                        .code()
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 4).count(), 19, "{codes:?}");
    sandbox.note_tree();
    assert_eq!(sandbox.token_processes().len(), 1);
    sandbox.reaper().args(["stop", "once"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn stop_all_ends_fifty_services_in_parallel() {
    let sandbox = Sandbox::new();
    for i in 0..50 {
        sandbox
            .reaper()
            .args([
                "start",
                &format!("svc{i}"),
                "--min-uptime",
                "0",
                "--",
                "sleep",
                "1000",
            ])
            .assert()
            .success();
    }
    sandbox.note_tree();
    assert_eq!(sandbox.token_processes().len(), 50);
    let status = sandbox.status_json();
    assert_eq!(status["services"].as_array().unwrap().len(), 50);
    let report = json_of(
        &sandbox
            .reaper()
            .args(["stop", "--all", "--json"])
            .assert()
            .success(),
    );
    assert_eq!(report["stopped"].as_array().unwrap().len(), 50);
    let entries: Vec<_> = std::fs::read_dir(sandbox.path().join(".run"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file())
        // The marker floor (`start` writes it once per boot so scans can skip older processes)
        // is not a record.
        .filter(|e| {
            !e.file_name()
                .to_string_lossy()
                .starts_with(".markers-since.")
        })
        .collect();
    assert!(entries.is_empty(), "records left: {entries:?}");
    sandbox.assert_nothing_left();
}
