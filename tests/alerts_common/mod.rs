//! Shared by the alert tests (watch_new_and_resolved, on_finding_hook, doctor_github_format,
//! watch_notify): a service whose leader never reaps its one child, so doctor finds a zombie.
#![allow(dead_code)]

use std::time::Duration;

use crate::common::{self, Sandbox, wait_until};

/// Starts service `factory` (`sh -c 'sleep 0.01 & exec sleep 1000'`) and waits until its leader
/// has one zombie child; returns the leader's pid and the zombie's.
pub fn start_zombie_factory(sandbox: &Sandbox) -> (u32, u32) {
    sandbox.start_sh("factory", "sleep 0.01 & exec sleep 1000");
    let leader = sandbox.record("factory")["leader"]["pid"].as_u64().unwrap() as u32;
    assert!(wait_until(Duration::from_secs(5), || {
        common::zombie_children(leader).len() == 1
    }));
    (leader, common::zombie_children(leader)[0])
}

/// `reaper stop factory`, then nothing of the sandbox may be left.
pub fn stop_factory(sandbox: &Sandbox) {
    sandbox
        .reaper()
        .args(["stop", "factory"])
        .assert()
        .success();
    sandbox.assert_nothing_left();
}
