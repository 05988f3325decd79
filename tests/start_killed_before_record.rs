//! `reaper start` and `reaper up -d` SIGKILLed after the keeper launched the service but before
//! the record was written (the testing-only fault point `REAPER_FAULT=after-launch`): the keeper
//! must stop the service's whole tree and exit, so nothing unrecorded is left running.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use std::os::unix::process::ExitStatusExt;
use std::sync::Mutex;
use std::time::Duration;

use common::{Sandbox, stat, wait_until};
use stack_common::write_config;

/// The orphaned keepers come back to this test process (a subreaper), where they are told apart
/// from another test's only by running one test at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A tree with a child and a `setsid` daemon, all waiting far longer than the test.
const TREE: &str = "(setsid sleep 1000 &); sleep 1000 & echo started; exec sleep 1000";

/// Children of this test process that are `reaper` processes: the keepers of the killed
/// command, reparented here (alive, or zombies once they exited).
fn orphaned_keepers() -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat(*pid).is_some_and(|(ppid, _)| ppid == me))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "reaper")
        })
        .collect()
}

/// Waits for every orphaned keeper to exit, reaps it, and fails if one is still running.
fn assert_keepers_exited() {
    let keepers = orphaned_keepers();
    let exited = wait_until(Duration::from_secs(30), || {
        keepers
            .iter()
            .all(|pid| stat(*pid).is_none_or(|(_, state)| state == 'Z'))
    });
    for pid in keepers
        .iter()
        .filter(|pid| stat(**pid).is_some_and(|(_, s)| s == 'Z'))
    {
        let pid = rustix::process::Pid::from_raw(*pid as i32);
        let _ = rustix::process::waitpid(pid, rustix::process::WaitOptions::empty());
    }
    assert!(
        exited,
        "a keeper of an unrecorded run kept running: {keepers:?}"
    );
}

#[test]
fn start_killed_before_the_record_leaves_no_service() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = Sandbox::new();
    let output = sandbox
        .reaper()
        .env("REAPER_FAULT", "after-launch")
        .args(["start", "svc", "--", "sh", "-c", TREE])
        .output()
        .expect("run reaper start");
    assert_eq!(output.status.signal(), Some(9), "{output:?}");
    sandbox.note_tree();
    assert_keepers_exited();
    sandbox.assert_nothing_left();
    assert!(!sandbox.record_path("svc").exists(), "a record was written");
    assert!(sandbox.cgroups().is_empty(), "{:?}", sandbox.cgroups());
    // The name is free again: a normal start works and is stopped as usual.
    sandbox.start_sh("svc", "exec sleep 1000");
    sandbox.reaper().args(["stop", "svc"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn up_detached_killed_before_the_record_leaves_no_supervisor() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        &format!("[services.worker]\ncommand = [\"sh\", \"-c\", \"{TREE}\"]\n"),
    );
    let output = sandbox
        .reaper()
        .env("REAPER_FAULT", "after-launch")
        .args(["up", "-d"])
        .output()
        .expect("run reaper up -d");
    assert_eq!(output.status.signal(), Some(9), "{output:?}");
    sandbox.note_tree();
    assert_keepers_exited();
    sandbox.assert_nothing_left();
    let records: Vec<_> = std::fs::read_dir(sandbox.path().join(".run"))
        .expect(".run")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json"))
        .collect();
    assert!(records.is_empty(), "records left: {records:?}");
    assert!(sandbox.cgroups().is_empty(), "{:?}", sandbox.cgroups());
}
