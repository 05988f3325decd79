//! CI mode of `reaper up`: `--exit-with` passes the service's exit code through (0 and 3),
//! `--abort-on-exit` stops the stack when the first service ends, `--timeout` exits 124 with
//! everything stopped, and the leak audit after the shutdown catches a planted leak (a port
//! still held by a process the stack started outside its containment).
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use common::{Sandbox, free_port};
use stack_common::{Up, write_config};

fn stack_with_test_task(sandbox: &Sandbox, port: u16, test_exit: u8) {
    write_config(
        sandbox,
        &format!(
            r#"[services.web]
command = ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
port = {port}

[services.test]
command = "echo tests ran; exit {test_exit}"
kind = "task"
depends_on = ["web"]
"#
        ),
    );
}

#[test]
fn exit_with_passes_the_exit_code_through() {
    let sandbox = Sandbox::new();
    for expected in [0u8, 3] {
        let port = free_port();
        stack_with_test_task(&sandbox, port, expected);
        let mut up = Up::start(&sandbox, &["--exit-with", "test"]);
        let status = up.wait();
        let text = up.text();
        assert_eq!(status.code(), Some(i32::from(expected)), "{text}");
        assert!(text.contains("tests ran"), "{text}");
        assert!(text.contains("stopped web in"), "{text}");
        assert!(
            text.contains("leak audit: no process, port or record of the stack is left"),
            "{text}"
        );
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
        sandbox.assert_nothing_left();
    }
}

#[test]
fn abort_on_exit_stops_the_stack_with_the_first_exit_code() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        r#"[services.setup]
command = "echo set up"
kind = "task"

[services.steady]
command = "echo steady: up; exec sleep 1000"
depends_on = ["setup"]
ready = { log = "steady: up" }

[services.quitter]
command = "echo quitter: up; sleep 0.5; exit 5"
depends_on = ["setup"]
ready = { log = "quitter: up" }
"#,
    );
    let mut up = Up::start(&sandbox, &["--abort-on-exit"]);
    up.wait_for("steady: up");
    sandbox.note_tree();
    let status = up.wait();
    let text = up.text();
    assert_eq!(status.code(), Some(5), "{text}");
    // The completed task did not abort the stack; the quitter did.
    assert!(
        text.contains("--abort-on-exit: quitter ended with exit code 5; stopping the stack"),
        "{text}"
    );
    assert!(!text.contains("--abort-on-exit: setup"), "{text}");
    assert!(text.contains("stopped steady in"), "{text}");
    sandbox.assert_nothing_left();
}

#[test]
fn timeout_exits_124_with_everything_stopped() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        r#"[services.forever]
command = "echo forever: up; sleep 1000 & sleep 1000"
ready = { log = "forever: up" }
"#,
    );
    let mut up = Up::start(&sandbox, &["--timeout", "1s"]);
    up.wait_for("forever is ready");
    sandbox.note_tree();
    let status = up.wait();
    let text = up.text();
    assert_eq!(status.code(), Some(124), "{text}");
    assert!(text.contains("--timeout 1s: the time is up"), "{text}");
    assert!(text.contains("leak audit: no process"), "{text}");
    assert!(!sandbox.record_path("forever").exists());
    sandbox.assert_nothing_left();
}

#[test]
fn the_leak_audit_names_a_port_held_by_a_process_started_outside_the_stack() {
    let sandbox = Sandbox::new();
    let port = free_port();
    let reaper = assert_cmd::cargo::cargo_bin("reaper");
    // web hands its port to a separately managed service (as `docker run -d` or `pm2 start`
    // would): that one is not in the stack's containment, so stopping the stack leaves it.
    write_config(
        &sandbox,
        &format!(
            r#"[services.web]
command = "'{reaper}' start sidecar -- python3 -m http.server {port} --bind 127.0.0.1 && exec sleep 1000"
port = {port}

[services.check]
command = "echo checked"
kind = "task"
depends_on = ["web"]
"#,
            reaper = reaper.display()
        ),
    );
    let mut up = Up::start(&sandbox, &["--exit-with", "check"]);
    let status = up.wait();
    sandbox.note_tree();
    let text = up.text();
    // check passed (exit 0), but the leak turns the exit code into 1.
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("leak audit: port {port} is still held by pid ")),
        "{text}"
    );
    assert!(text.contains("service sidecar"), "{text}");
    sandbox
        .reaper()
        .args(["stop", "sidecar"])
        .assert()
        .success();
    sandbox.assert_nothing_left();
}
