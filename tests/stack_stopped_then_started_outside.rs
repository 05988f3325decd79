//! A stack service stopped outside `reaper up` (`reaper stop web`) whose record comes back (it
//! was started again with the stack's record) is adopted by the supervisor, as a restart outside
//! it is, and ended with the stack.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use std::time::Duration;

use common::{Sandbox, wait_until};
use stack_common::{Up, write_config};

const CONFIG: &str = r#"[services.web]
command = "echo web up; exec sleep 1000"

[services.worker]
command = "echo worker up; exec sleep 1000"
"#;

fn web_in_ps(sandbox: &Sandbox) -> serde_json::Value {
    let ps = sandbox.ps_json();
    ps["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "web")
        .unwrap_or_else(|| panic!("no web in {ps}"))
        .clone()
}

#[test]
fn a_service_stopped_then_started_outside_the_supervisor_is_adopted() {
    let sandbox = Sandbox::new();
    write_config(&sandbox, CONFIG);
    let mut up = Up::start(&sandbox, &[]);
    up.wait_for("all 2 services are ready");
    sandbox.note_tree();
    let stack = sandbox.record("web")["stack"].clone();
    assert!(stack.is_string(), "{stack}");
    sandbox.reaper().args(["stop", "web"]).assert().success();
    up.wait_for("web was stopped outside the supervisor");
    assert!(wait_until(Duration::from_secs(10), || web_in_ps(&sandbox)
        ["state"]
        == "stopped"));
    // Started again outside the supervisor, then given the stack's record, as a start with
    // the stack's record writes it (renamed into place, so it is never seen half written).
    let mut record = sandbox.start_sh("web", "echo web again; exec sleep 1000");
    let pid = record["leader"]["pid"].as_u64().unwrap();
    record["stack"] = stack;
    let staged = sandbox.path().join("web.json.staged");
    std::fs::write(&staged, serde_json::to_vec(&record).unwrap()).unwrap();
    std::fs::rename(&staged, sandbox.record_path("web")).unwrap();
    up.wait_for(&format!(
        "web was restarted outside the supervisor (now pid {pid})"
    ));
    assert!(wait_until(Duration::from_secs(10), || {
        let web = web_in_ps(&sandbox);
        web["state"] == "ready" && web["pid"].as_u64() == Some(pid) && web["restarts"] == 1
    }));
    // The adopted run is the stack's: Ctrl-C ends it with the rest.
    up.interrupt();
    assert!(up.wait().success(), "{}", up.text());
    assert!(up.text().contains("stopped web"), "{}", up.text());
    assert!(!sandbox.record_path("web").exists());
    sandbox.assert_nothing_left();
}
