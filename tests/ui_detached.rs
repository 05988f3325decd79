//! `reaper ui` on a detached stack (`up -d`): it shows the stack's services and the supervisor's
//! own lines; `s` stops a service as `reaper stop` does, `S` starts it again from its record and
//! the detached supervisor adopts the new run; quitting leaves the stack up for `reaper down`.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;
mod ui_common;

use std::time::Duration;

use common::{Sandbox, wait_until};
use stack_common::write_config;
use ui_common::{Pty, pid_of};

fn state_of(sandbox: &Sandbox, name: &str) -> Option<String> {
    sandbox.ps_json()["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)?["state"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn ui_on_a_detached_stack_stops_and_starts_a_service_the_supervisor_adopts() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        "[services.web]\ncommand = \"echo web run $$; exec sleep 1000\"\n",
    );
    sandbox.reaper().args(["up", "-d"]).assert().success();
    sandbox.note_tree();
    let first = pid_of(&sandbox.ps_json(), "web").expect("web runs");

    let mut ui = Pty::reaper(&sandbox, &["ui"]);
    ui.wait_for("(detached)");
    ui.wait_for(&format!("web run {first}"));
    // The supervisor's own lines, from its log.
    ui.wait_for("reaper | web is ready");

    ui.send("s");
    ui.wait_for("stopped web");
    assert!(
        wait_until(Duration::from_secs(30), || {
            state_of(&sandbox, "web").as_deref() == Some("stopped")
        }),
        "the supervisor saw web stopped: {}",
        sandbox.ps_json()
    );
    ui.send("S");
    ui.wait_for("started web: pid");
    let mut adopted = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            let ps = sandbox.ps_json();
            adopted = pid_of(&ps, "web").filter(|_| {
                ps["services"][0]["state"] == "ready" && ps["services"][0]["restarts"] == 1
            });
            adopted.is_some()
        }),
        "the supervisor adopted the new run: {}",
        sandbox.ps_json()
    );
    assert_ne!(adopted, Some(first));
    sandbox.note_tree();

    ui.send("q");
    assert_eq!(ui.exit_code(), 0);
    assert_eq!(
        pid_of(&sandbox.ps_json(), "web"),
        adopted,
        "quitting left the stack up"
    );
    sandbox.reaper().arg("down").assert().success();
    sandbox.assert_nothing_left();
}
