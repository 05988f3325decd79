//! `reaper start --port P --port-fallback` (use the next free port when P is taken) and
//! `--kill-existing` (free P first).
#![cfg(target_os = "linux")]

mod common;
mod ports_common;

use std::time::Duration;

use common::{Sandbox, alive, wait_until};
use ports_common::{Helper, bindable};
use predicates::str::contains;

/// A server on $PORT.
const SERVE_PORT: &str = "import os,socket,time\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen(); time.sleep(1000)";

#[test]
fn port_fallback_takes_the_next_free_port() {
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "tcp4", &[]);
    let taken = holder.port();
    sandbox
        .reaper()
        .args([
            "start",
            "api",
            "--port",
            &taken.to_string(),
            "--port-fallback",
        ])
        .args(["--", "python3", "-c", SERVE_PORT])
        .assert()
        .success()
        .stdout(contains(format!("port {taken} is in use")))
        .stdout(contains(format!("pid {}", holder.pid())));
    sandbox.note_tree();
    let used = sandbox.record("api")["port"].as_u64().unwrap();
    assert!(used > u64::from(taken), "{used}");
    assert!(alive(holder.pid()), "fallback must not touch the holder");
    sandbox.reaper().args(["stop", "api"]).assert().success();
    drop(holder);
    sandbox.assert_nothing_left();
}

#[test]
fn port_fallback_keeps_a_free_port() {
    let sandbox = Sandbox::new();
    let port = Helper::spawn(&sandbox, "tcp4", &[]).port();
    assert!(wait_until(Duration::from_secs(2), || bindable(port)));
    sandbox
        .reaper()
        .args([
            "start",
            "api",
            "--port",
            &port.to_string(),
            "--port-fallback",
        ])
        .args(["--", "python3", "-c", SERVE_PORT])
        .assert()
        .success()
        .stdout(contains(format!("port {port} accepting")));
    sandbox.note_tree();
    assert_eq!(sandbox.record("api")["port"], port);
    sandbox.reaper().args(["stop", "api"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn kill_existing_frees_the_port_then_starts() {
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "tcp4", &[]);
    let port = holder.port();
    sandbox
        .reaper()
        .args([
            "start",
            "api",
            "--port",
            &port.to_string(),
            "--kill-existing",
        ])
        .args(["--", "python3", "-c", SERVE_PORT])
        .assert()
        .success()
        .stdout(contains(format!("{}", holder.pid())))
        .stdout(contains(format!("port {port} accepting")));
    sandbox.note_tree();
    assert!(!alive(holder.pid()));
    assert_eq!(sandbox.record("api")["port"], port);
    // Again: this time the holder is the service itself, stopped through its record.
    sandbox
        .reaper()
        .args([
            "start",
            "api",
            "--port",
            &port.to_string(),
            "--kill-existing",
        ])
        .args(["--", "python3", "-c", SERVE_PORT])
        .assert()
        .success()
        .stdout(contains("stopped api"));
    sandbox.note_tree();
    sandbox.reaper().args(["stop", "api"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn flags_need_a_port_and_exclude_each_other() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["start", "api", "--port-fallback", "--", "sleep", "1"])
        .assert()
        .code(2);
    sandbox
        .reaper()
        .args([
            "start",
            "api",
            "--port",
            "8001",
            "--port-fallback",
            "--kill-existing",
        ])
        .args(["--", "sleep", "1"])
        .assert()
        .code(2);
}
