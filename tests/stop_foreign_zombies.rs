//! After the keeper was SIGKILLed, the service's processes belong to another parent (init, or
//! here the test process as their subreaper), which reaper cannot make reap them: `stop`
//! reports their zombies as unreaped without waiting for that parent. Before, it waited up to
//! its reap grace (seconds) for a parent that was not going to reap on its behalf. No timing is
//! asserted (the elapsed time is printed); the report must list the zombie and the stop finish.
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::{Sandbox, json_of, wait_until};
use rustix::process::{Pid, Signal, kill_process};

#[test]
fn zombies_of_a_parent_that_is_not_ours_are_reported_at_once() {
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh("orphaned", "exec sleep 300");
    let leader = record["leader"]["pid"].as_u64().unwrap() as u32;
    let keeper = record["keeper"]["pid"].as_u64().unwrap() as u32;
    // The keeper is this test binary's child (the harness is a subreaper), so its pid is ours
    // until reaped; once it is gone the leader is adopted here.
    let me = std::process::id();
    assert_eq!(common::stat(keeper).map(|s| s.0), Some(me));
    kill_process(Pid::from_raw(keeper as i32).unwrap(), Signal::KILL).unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        common::stat(leader).is_some_and(|(ppid, _)| ppid == me)
    }));

    let began = Instant::now();
    let out = sandbox
        .reaper()
        .args(["stop", "orphaned", "--json"])
        .assert()
        .success();
    eprintln!("stop took {:?}", began.elapsed());
    let doc = json_of(&out);
    let report = &doc["stopped"][0];
    eprintln!("reported elapsed_ms: {}", report["elapsed_ms"]);
    assert_eq!(report["processes"][0]["pid"], leader, "{doc}");
    // This test process is the leader's parent now and has not reaped it.
    assert_eq!(
        report["unreaped_zombies"],
        serde_json::json!([leader]),
        "{doc}"
    );
    assert_eq!(common::stat(leader), Some((me, 'Z')));
    sandbox.assert_nothing_left();
}
