//! `up`'s second Ctrl-C SIGKILLs this `up`'s own services only: another stack's services in the
//! same state directory keep running (issue 11, case 4).
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use common::{Sandbox, alive};
use stack_common::Up;

#[test]
fn second_ctrl_c_leaves_another_stacks_services_running() {
    let sandbox = Sandbox::new();
    // Another stack in the same state directory whose supervisor is gone (SIGKILLed): its
    // service runs on, kept by its keeper.
    std::fs::write(
        sandbox.path().join("other.toml"),
        r#"[services.other]
command = ["sh", "-c", "echo other-started; exec sleep 1000"]
"#,
    )
    .unwrap();
    let mut other = Up::start(&sandbox, &["-f", "other.toml"]);
    other.wait_for("other-started");
    other.signal(rustix::process::Signal::KILL);
    other.wait();
    sandbox.note_tree();
    let bystander = sandbox.record("other")["leader"]["pid"].as_u64().unwrap() as u32;
    assert!(alive(bystander));

    let mut up = Up::stubborn(&sandbox);
    up.interrupt_twice();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    assert!(up.text().contains("stubborn"), "{}", up.text());
    assert!(!sandbox.record_path("stubborn").exists(), "{}", up.text());
    assert!(
        alive(bystander),
        "the other stack's service was killed:\n{}",
        up.text()
    );

    sandbox.reaper().args(["stop", "other"]).assert().success();
    sandbox.assert_nothing_left();
}
