//! `reaper up -d`, `ps`, `restart`/`logs` on stack services, `down`, and `down` after the
//! supervisor was killed with SIGKILL: nothing of the stack may be left.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use std::time::Duration;

use common::{Sandbox, alive, free_port, wait_until};
use predicates::str::contains;
use stack_common::write_config;

fn config(port: u16) -> String {
    format!(
        r#"[services.web]
command = ["python3", "-c", "import os, socket, time\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', int(os.environ['PORT'])))\ns.listen()\nprint('web: listening', flush=True)\nos.fork()\ntime.sleep(1000)"]
port = {port}
depends_on = ["worker"]

[services.worker]
command = "(setsid sh -c 'echo worker daemon; exec sleep 1000' &); echo worker parent exits"
"#
    )
}

fn service<'a>(ps: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    ps["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {ps}"))
}

#[test]
fn up_detached_then_ps_restart_logs_and_down() {
    let sandbox = Sandbox::new();
    let port = free_port();
    write_config(&sandbox, &config(port));
    sandbox
        .reaper()
        .args(["up", "-d"])
        .assert()
        .success()
        .stdout(contains("all 2 services are ready"))
        .stdout(contains("stack is up"));
    sandbox.note_tree();
    let ps = sandbox.ps_json();
    assert_eq!(ps["schema"], 1);
    assert_eq!(ps["supervisor"]["running"], true, "{ps}");
    assert_eq!(ps["supervisor"]["detached"], true, "{ps}");
    assert_eq!(ps["supervisor"]["phase"], "running", "{ps}");
    let web = service(&ps, "web");
    assert_eq!(web["state"], "ready", "{ps}");
    assert_eq!(web["port"], port, "{ps}");
    assert_eq!(web["health"], "healthy", "{ps}");
    assert_eq!(web["processes"], 2, "{ps}");
    assert_eq!(service(&ps, "worker")["state"], "ready", "{ps}");
    // The supervisor is itself a managed record; the services are ordinary records.
    sandbox
        .reaper()
        .arg("status")
        .assert()
        .success()
        .stdout(contains("_stack"))
        .stdout(contains("web"))
        .stdout(contains("worker"));
    // `restart SERVICE` works on a stack service, and the supervisor adopts the new run.
    let old_pid = web["pid"].as_u64().unwrap();
    sandbox
        .reaper()
        .args(["restart", "web"])
        .assert()
        .success()
        .stdout(contains(format!("port {port} accepting")));
    sandbox.note_tree();
    assert!(wait_until(Duration::from_secs(10), || {
        let ps = sandbox.ps_json();
        let web = service(&ps, "web");
        web["restarts"] == 1 && web["state"] == "ready" && web["pid"].as_u64() != Some(old_pid)
    }));
    assert!(sandbox.record("web")["stack"].is_string());
    sandbox
        .reaper()
        .args(["logs", "web"])
        .assert()
        .success()
        .stdout(contains("web: listening"));
    sandbox
        .reaper()
        .args(["logs", "_stack"])
        .assert()
        .success()
        .stdout(contains("web was restarted outside the supervisor"));
    sandbox
        .reaper()
        .arg("down")
        .assert()
        .success()
        .stdout(contains("SIGTERM to its supervisor"))
        .stdout(contains("stopped web"))
        .stdout(contains("stopped worker"));
    for name in ["web", "worker", "_stack"] {
        assert!(!sandbox.record_path(name).exists(), "{name}");
    }
    assert!(!sandbox.path().join(".run/.stack.json").exists());
    sandbox.assert_nothing_left();
    sandbox
        .reaper()
        .arg("down")
        .assert()
        .success()
        .stdout(contains("nothing to stop"));
}

#[test]
fn down_after_the_supervisor_was_killed() {
    let sandbox = Sandbox::new();
    let port = free_port();
    write_config(&sandbox, &config(port));
    sandbox.reaper().args(["up", "-d"]).assert().success();
    sandbox.note_tree();
    let supervisor = sandbox.record("_stack")["leader"]["pid"].as_u64().unwrap() as u32;
    let daemon: Vec<u32> = sandbox
        .token_processes()
        .into_iter()
        .filter(|p| p.3.starts_with("sleep 1000"))
        .map(|p| p.0)
        .collect();
    assert_eq!(daemon.len(), 1);
    // SIGKILL the supervisor this test started (through `reaper up -d`).
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(supervisor as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(5), || !alive(supervisor)));
    // Its services run on, still reachable through their records.
    assert!(alive(daemon[0]));
    let ps = sandbox.ps_json();
    assert_eq!(ps["supervisor"]["running"], false, "{ps}");
    assert_eq!(service(&ps, "web")["state"], "running", "{ps}");
    sandbox
        .reaper()
        .arg("down")
        .assert()
        .success()
        .stdout(contains("stopped web"))
        .stdout(contains("stopped worker"));
    assert!(!alive(daemon[0]));
    for name in ["web", "worker", "_stack"] {
        assert!(!sandbox.record_path(name).exists(), "{name}");
    }
    sandbox.assert_nothing_left();
}

#[test]
fn detached_start_failure_reports_and_leaves_nothing() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        "[services.ok]\ncommand = \"exec sleep 1000\"\n\n[services.bad]\ncommand = \"echo broken config >&2; exit 2\"\nready = { log = \"never\" }\ndepends_on = [\"ok\"]\n",
    );
    sandbox
        .reaper()
        .args(["up", "-d"])
        .assert()
        .code(1)
        .stdout(contains("bad exited during start-up (exit code 2)"))
        .stderr(contains("the stack did not come up"));
    sandbox.note_tree();
    assert!(!sandbox.record_path("_stack").exists());
    assert!(!sandbox.record_path("ok").exists());
    sandbox.assert_nothing_left();
}

#[test]
fn a_second_up_is_refused_and_kill_existing_replaces_the_stack() {
    let sandbox = Sandbox::new();
    write_config(&sandbox, "[services.one]\ncommand = \"exec sleep 1000\"\n");
    sandbox.reaper().args(["up", "-d"]).assert().success();
    sandbox.note_tree();
    let first = sandbox.record("_stack")["leader"]["pid"].as_u64().unwrap();
    sandbox
        .reaper()
        .args(["up", "-d"])
        .assert()
        .code(4)
        .stderr(contains("the stack is already up"));
    sandbox
        .reaper()
        .args(["up", "-d", "--kill-existing"])
        .assert()
        .success()
        .stdout(contains("--kill-existing: stopping the running stack"))
        .stdout(contains("stack is up"));
    sandbox.note_tree();
    let second = sandbox.record("_stack")["leader"]["pid"].as_u64().unwrap();
    assert_ne!(first, second);
    assert!(!alive(first as u32));
    sandbox.reaper().arg("down").assert().success();
    sandbox.assert_nothing_left();
}
