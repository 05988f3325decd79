//! What happens to a service whose keeper is killed (SIGKILL): the read ends of its output
//! pipes go with the keeper, so the service gets SIGPIPE at its next write, as any program
//! whose reader dies; `stop` then finds nothing left to end and removes the record.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{Sandbox, alive, wait_until};

#[test]
fn a_writing_service_ends_with_sigpipe_when_its_keeper_is_killed() {
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh(
        "writer",
        "while :; do echo tick || exit 3; sleep 0.01; done",
    );
    let keeper = record["keeper"]["pid"].as_u64().unwrap() as i32;
    let leader = record["leader"]["pid"].as_u64().unwrap() as u32;
    // Our own keeper, by pid, after checking it is one.
    let command = std::fs::read(format!("/proc/{keeper}/cmdline")).unwrap();
    assert!(String::from_utf8_lossy(&command).contains("__keeper"));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(keeper).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || !alive(leader)),
        "the service went on after its keeper was killed"
    );
    sandbox.reaper().args(["stop", "writer"]).assert().success();
    sandbox.assert_nothing_left();
}
