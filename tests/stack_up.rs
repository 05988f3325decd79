//! `reaper up` in the foreground: dependency order and readiness, prefixed output, restarts with
//! backoff, daemonizing services, Ctrl-C (also while a service is still starting), a second
//! Ctrl-C, and a failed start — all on real processes, with nothing left behind.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use std::time::Duration;

use common::{Sandbox, free_port};
use stack_common::{Up, position, write_config};

#[test]
fn dependencies_start_in_order_and_stop_in_reverse() {
    let sandbox = Sandbox::new();
    let db_port = free_port();
    // db opens its port only after a while; api connects to it at once and fails if it cannot,
    // so api starting before db is ready would crash it (restart = "no" then fails the stack).
    write_config(
        &sandbox,
        &format!(
            r#"[services.api]
command = ["python3", "-c", "import os, socket, time\nsocket.create_connection(('127.0.0.1', int(os.environ['DB_PORT'])))\nprint('api: db reachable', flush=True)\ntime.sleep(1000)"]
depends_on = ["db", "cache"]
ready = {{ log = "db reachable" }}

[services.db]
command = ["python3", "-c", "import os, socket, time\ntime.sleep(0.3)\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', int(os.environ['PORT'])))\ns.listen()\nprint('db: listening', flush=True)\ntime.sleep(1000)"]
port = {db_port}

[services.cache]
command = "echo cache: up; exec sleep 1000"
ready = {{ log = "cache: up" }}
"#
        ),
    );
    let mut up = Up::start(&sandbox, &[]);
    up.wait_for("all 3 services are ready");
    sandbox.note_tree();
    let lines = up.output();
    assert!(position(&lines, "db is ready") < position(&lines, "api is ready"));
    assert!(position(&lines, "cache is ready") < position(&lines, "api is ready"));
    position(&lines, "(pid ");
    position(&lines, &format!("port {db_port}, tcp {db_port}"));
    // Output lines: "HH:MM:SS.mmm name  | text", names aligned.
    let line = &lines[position(&lines, "api: db reachable")];
    let re = regex::Regex::new(r"^\d\d:\d\d:\d\d\.\d{3} api    \| api: db reachable$").unwrap();
    assert!(re.is_match(line), "{line:?}");
    // Each service is an ordinary record, marked as part of the stack.
    let record = sandbox.record("api");
    assert!(record["stack"].as_str().unwrap().ends_with("reaper.toml"));
    // Every output line also went to the service's log.
    let log = std::fs::read_to_string(sandbox.path().join(".logs/api.log")).unwrap();
    assert!(log.contains("api: db reachable"));
    up.interrupt();
    let status = up.wait();
    assert_eq!(status.code(), Some(0), "{}", up.text());
    let lines = up.output();
    assert!(position(&lines, "stopped api") < position(&lines, "stopped db"));
    assert!(position(&lines, "stopped api") < position(&lines, "stopped cache"));
    assert!(!sandbox.record_path("api").exists());
    assert!(!sandbox.path().join(".run/.stack.json").exists());
    sandbox.assert_nothing_left();
}

#[test]
fn crashing_service_is_restarted_with_backoff_and_counted() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        r#"[services.steady]
command = "exec sleep 1000"

[services.crashy]
command = "echo crashing; exit 3"
restart = "on-failure"
max_restarts = 3
backoff = "50ms"
"#,
    );
    let mut up = Up::start(&sandbox, &[]);
    up.wait_for("crashy exited (exit code 3); restarting in 50ms (restart 1 of 3)");
    up.wait_for("crashy exited (exit code 3); restarting in 100ms (restart 2 of 3)");
    up.wait_for("crashy exited (exit code 3); restarting in 200ms (restart 3 of 3)");
    up.wait_for("crashy exited (exit code 3); giving up after 3 restarts");
    // Under load, steady's readiness can come after crashy has given up.
    up.wait_for("steady is ready");
    sandbox.note_tree();
    let crashy_of = |ps: &serde_json::Value| {
        ps["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "crashy")
            .unwrap()
            .clone()
    };
    // The status file is written at the end of the supervisor's turn, after the line is printed.
    common::wait_until(Duration::from_secs(10), || {
        crashy_of(&sandbox.ps_json())["state"] == "failed"
    });
    let ps = sandbox.ps_json();
    let crashy = crashy_of(&ps);
    assert_eq!(crashy["state"], "failed", "{ps}");
    assert_eq!(crashy["restarts"], 3, "{ps}");
    assert_eq!(crashy["last_exit"], "exit code 3", "{ps}");
    let steady = &ps["services"][0];
    assert_eq!(steady["state"], "ready", "{ps}");
    up.interrupt();
    // A service that crashed for good makes `up` fail.
    assert_eq!(up.wait().code(), Some(1), "{}", up.text());
    sandbox.assert_nothing_left();
}

#[test]
fn daemonizing_service_is_tracked_reaped_and_stopped() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        r#"[services.daemon]
command = "(setsid sh -c 'echo daemon running; exec sleep 1000' &); echo parent exits"
"#,
    );
    let mut up = Up::start(&sandbox, &[]);
    up.wait_for("exited 0 and left processes running (it daemonized)");
    up.wait_for("daemon running");
    sandbox.note_tree();
    // The daemon left its session, but it is still the service's (and no zombie is left).
    let daemon: Vec<_> = sandbox
        .token_processes()
        .into_iter()
        .filter(|p| p.3.starts_with("sleep 1000"))
        .collect();
    assert_eq!(daemon.len(), 1, "{daemon:?}");
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    assert!(up.text().contains("stopped daemon"), "{}", up.text());
    sandbox.assert_nothing_left();
}

#[test]
fn ctrl_c_while_a_service_is_still_starting() {
    let sandbox = Sandbox::new();
    let port = free_port();
    // Never opens its port: it stays "starting" until the ready timeout.
    write_config(
        &sandbox,
        &format!(
            r#"[services.slow]
command = "echo warming up; exec sleep 1000"
port = {port}
ready_timeout = "10m"

[services.after]
command = "exec sleep 1000"
depends_on = ["slow"]
"#
        ),
    );
    let mut up = Up::start(&sandbox, &[]);
    up.wait_for("warming up");
    // The record is written once the keeper reports the spawn, which can come after the
    // service's first line is in its log.
    assert!(common::wait_until(Duration::from_secs(10), || sandbox
        .record_path("slow")
        .exists()));
    sandbox.note_tree();
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    let text = up.text();
    assert!(text.contains("stopped slow"), "{text}");
    assert!(!text.contains("after is ready"), "{text}");
    assert!(!sandbox.record_path("after").exists());
    sandbox.assert_nothing_left();
}

#[test]
fn second_ctrl_c_kills_at_once() {
    let sandbox = Sandbox::new();
    let mut up = Up::stubborn(&sandbox);
    up.interrupt_twice();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    assert!(up.text().contains("by SIGKILL"), "{}", up.text());
    sandbox.assert_nothing_left();
}

#[test]
fn failed_start_stops_the_stack_and_fails() {
    let sandbox = Sandbox::new();
    let port = free_port();
    write_config(
        &sandbox,
        &format!(
            r#"[services.first]
command = "exec sleep 1000"

[services.broken]
command = "echo cannot start >&2; exit 1"
port = {port}
depends_on = ["first"]

[services.never]
command = "exec sleep 1000"
depends_on = ["broken"]
"#
        ),
    );
    let mut up = Up::start(&sandbox, &[]);
    assert_eq!(up.wait().code(), Some(1), "{}", up.text());
    let text = up.text();
    assert!(
        text.contains("broken exited during start-up (exit code 1)"),
        "{text}"
    );
    assert!(text.contains("cannot start"), "{text}");
    assert!(
        text.contains("broken failed to start: stopping the stack"),
        "{text}"
    );
    assert!(text.contains("stopped first"), "{text}");
    assert!(!text.contains("never is ready"), "{text}");
    let status: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox.path().join(".run/.stack.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(status["phase"], "failed");
    sandbox.assert_nothing_left();
}

#[test]
fn only_the_named_services_and_their_dependencies_start() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        r#"[services.db]
command = "exec sleep 1000"

[services.api]
command = "exec sleep 1000"
depends_on = ["db"]

[services.other]
command = "exec sleep 1000"
"#,
    );
    let mut up = Up::start(&sandbox, &["api"]);
    up.wait_for("all 2 services are ready");
    sandbox.note_tree();
    assert!(!sandbox.record_path("other").exists());
    // A second `up` refuses: the stack is already up.
    sandbox
        .reaper()
        .arg("up")
        .assert()
        .code(4)
        .stderr(predicates::str::contains("the stack is already up"));
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    sandbox.assert_nothing_left();
}

/// A listener on `port` started by this test (carrying the sandbox token), not by reaper.
fn foreign_listener(sandbox: &Sandbox, port: u16) -> std::process::Child {
    let child = std::process::Command::new("python3")
        .args(["-c", "import socket, sys, time\ns = socket.socket()\ns.bind(('127.0.0.1', int(sys.argv[1])))\ns.listen()\nprint('listening', flush=True)\ntime.sleep(1000)"])
        .arg(port.to_string())
        .env(common::TOKEN_VAR, &sandbox.token)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(common::wait_until(
        std::time::Duration::from_secs(10),
        || { std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() }
    ));
    child
}

const LISTENER: &str = r#"["python3", "-c", "import os, socket, time\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', int(os.environ['PORT'])))\ns.listen()\nprint('listening on', os.environ['PORT'], flush=True)\ntime.sleep(1000)"]"#;

#[test]
fn busy_port_fails_the_start_and_kill_existing_frees_it() {
    let sandbox = Sandbox::new();
    let port = free_port();
    let mut holder = foreign_listener(&sandbox, port);
    write_config(
        &sandbox,
        &format!("[services.web]\ncommand = {LISTENER}\nport = {port}\n"),
    );
    let mut up = Up::start(&sandbox, &[]);
    assert_eq!(up.wait().code(), Some(1), "{}", up.text());
    assert!(
        up.text()
            .contains(&format!("port {port} is in use by pid {}", holder.id())),
        "{}",
        up.text()
    );
    let mut up = Up::start(&sandbox, &["--kill-existing"]);
    up.wait_for(&format!(
        "--kill-existing: port {port}: ended pid {}",
        holder.id()
    ));
    up.wait_for("all 1 service is ready");
    let _ = holder.wait();
    sandbox.note_tree();
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    sandbox.assert_nothing_left();
}

#[test]
fn fallback_moves_to_a_free_port_and_dependents_learn_it() {
    let sandbox = Sandbox::new();
    let port = free_port();
    let mut holder = foreign_listener(&sandbox, port);
    write_config(
        &sandbox,
        &format!(
            "[services.api]\ncommand = {LISTENER}\nport = {port}\nfallback = true\nready = {{ tcp = {port} }}\n\n[services.web]\ncommand = \"echo api is on $API_PORT; exec sleep 1000\"\ndepends_on = [\"api\"]\n"
        ),
    );
    let mut up = Up::start(&sandbox, &[]);
    up.wait_for(&format!("port {port} is in use by pid {}", holder.id()));
    up.wait_for("all 2 services are ready");
    sandbox.note_tree();
    let record = sandbox.record("api");
    let actual = record["port"].as_u64().unwrap() as u16;
    assert_ne!(actual, port);
    up.wait_for(&format!("listening on {actual}"));
    up.wait_for(&format!("api is on {actual}"));
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    let _ = holder.kill();
    let _ = holder.wait();
    sandbox.assert_nothing_left();
}
