//! A service member adopted by a subreaper (not init) once its keeper is gone is an orphan:
//! orphans are "no longer in the keeper/leader chain", not "ppid is 1" (issue 11, orphans).
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{Sandbox, alive, stat, wait_until};
use rustix::process::{Pid, Signal, kill_process};
use serde_json::Value;

#[test]
fn member_adopted_by_a_subreaper_is_an_orphan() {
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh("adopted", "exec sleep 1000");
    let leader = record["leader"]["pid"].as_u64().unwrap() as u32;
    let keeper = record["keeper"]["pid"].as_u64().unwrap() as u32;
    // The keeper's parent is this test binary (a subreaper in the harness), so once the keeper
    // is gone the leader is adopted here, not by init.
    let me = std::process::id();
    assert_eq!(stat(keeper).map(|s| s.0), Some(me));
    kill_process(Pid::from_raw(keeper as i32).unwrap(), Signal::KILL).unwrap();
    assert!(wait_until(Duration::from_secs(10), || stat(leader)
        .is_some_and(|(ppid, _)| ppid == me)));
    assert!(alive(leader));

    let out = sandbox
        .reaper()
        .args(["doctor", "--sample", "0", "--scope", "project", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let orphans: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "orphan" && f["pid"] == leader)
        .collect();
    assert_eq!(orphans.len(), 1, "{report}");
    assert_eq!(orphans[0]["service"], "adopted");
    assert!(
        orphans[0]["evidence"]
            .as_str()
            .unwrap()
            .contains(&format!("adopted by {me}")),
        "{report}"
    );

    sandbox
        .reaper()
        .args(["stop", "adopted"])
        .assert()
        .success();
    sandbox.assert_nothing_left();
}
