//! `reaper probe SERVICE`: the service's readiness probe run once (or until ready with --wait),
//! exit 0 when ready, 1 when not, 2 on bad input, 3 for an unknown service. Probed against real
//! listeners the test opens on ephemeral ports and real services it starts.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::{Sandbox, free_port};
use predicates::str::contains;
use stack_common::write_config;

/// Answers every HTTP request on `listener` with `status`, from a thread that ends with the test.
fn http_server(listener: TcpListener, status: &'static str) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.0 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
}

#[test]
fn tcp_probe_follows_the_listener() {
    let sandbox = Sandbox::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    write_config(
        &sandbox,
        &format!("[services.db]\ncommand = [\"sleep\", \"1\"]\nport = {port}\n"),
    );
    sandbox
        .reaper()
        .args(["probe", "db"])
        .assert()
        .code(0)
        .stdout(contains(format!("ready: db (tcp {port})")));
    drop(listener);
    sandbox
        .reaper()
        .args(["probe", "db"])
        .assert()
        .code(1)
        .stderr(contains(format!("db is not ready (tcp {port})")));
    sandbox.assert_nothing_left();
}

#[test]
fn http_probe_needs_a_good_status() {
    let sandbox = Sandbox::new();
    let good = TcpListener::bind("127.0.0.1:0").unwrap();
    let bad = TcpListener::bind("127.0.0.1:0").unwrap();
    let (good_port, bad_port) = (
        good.local_addr().unwrap().port(),
        bad.local_addr().unwrap().port(),
    );
    http_server(good, "200 OK");
    http_server(bad, "503 Service Unavailable");
    write_config(
        &sandbox,
        &format!(
            "[services.good]\ncommand = \"true\"\nport = {good_port}\nready = {{ http = \"http://127.0.0.1:$PORT/health\" }}\n\n\
             [services.bad]\ncommand = \"true\"\nport = {bad_port}\nready = {{ http = \"http://127.0.0.1:$PORT/health\" }}\n"
        ),
    );
    sandbox
        .reaper()
        .args(["probe", "good"])
        .assert()
        .code(0)
        .stdout(contains(format!("http://127.0.0.1:{good_port}/health")));
    sandbox.reaper().args(["probe", "bad"]).assert().code(1);
    sandbox.assert_nothing_left();
}

#[test]
fn wait_probes_until_ready() {
    let sandbox = Sandbox::new();
    let port = free_port();
    write_config(
        &sandbox,
        &format!("[services.late]\ncommand = \"true\"\nready = {{ tcp = {port} }}\n"),
    );
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        // Keep it open long enough for the probe to connect.
        std::thread::sleep(Duration::from_secs(5));
        drop(listener);
    });
    sandbox
        .reaper()
        .args(["probe", "--wait", "30s", "late"])
        .assert()
        .code(0);
    opener.join().unwrap();
    // With nothing listening, --wait gives up after its time.
    sandbox
        .reaper()
        .args(["probe", "--wait", "300ms", "late"])
        .assert()
        .code(1)
        .stderr(contains("late is not ready"));
    sandbox.assert_nothing_left();
}

#[test]
fn managed_services_without_a_probe_are_ready_while_they_run() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        "[services.worker]\ncommand = [\"sleep\", \"1000\"]\n\n\
         [services.logger]\ncommand = \"true\"\nready = { log = \"logger ready\" }\n",
    );
    sandbox.reaper().args(["probe", "worker"]).assert().code(1);
    sandbox.start_sh("worker", &format!("exec sleep 1000 # {}", sandbox.token));
    sandbox
        .reaper()
        .args(["probe", "worker"])
        .assert()
        .code(0)
        .stdout(contains("running as a managed service"));
    sandbox.start_sh(
        "logger",
        &format!("echo logger ready; exec sleep 1000 # {}", sandbox.token),
    );
    sandbox
        .reaper()
        .args(["probe", "--wait", "10s", "logger"])
        .assert()
        .code(0)
        .stdout(contains("log /logger ready/"));
    sandbox.reaper().args(["stop", "--all"]).assert().success();
    sandbox.reaper().args(["probe", "worker"]).assert().code(1);
    sandbox.assert_nothing_left();
}

#[test]
fn bad_input_has_documented_exit_codes() {
    let sandbox = Sandbox::new();
    write_config(&sandbox, "[services.api]\ncommand = \"true\"\n");
    sandbox
        .reaper()
        .args(["probe", "apo"])
        .assert()
        .code(3)
        .stderr(contains("no service `apo` in reaper.toml; services: api"));
    sandbox
        .reaper()
        .args(["probe", "--wait", "soon", "api"])
        .assert()
        .code(2);
    write_config(&sandbox, "[services.api]\ncomand = \"true\"\n");
    sandbox
        .reaper()
        .args(["probe", "api"])
        .assert()
        .code(2)
        .stderr(contains("unknown key `comand`"));
    sandbox.assert_nothing_left();
}

/// A running service that moved to another port (fallback) is probed where it actually listens:
/// the port of its record, not the declared one.
#[test]
fn probe_follows_the_port_a_fallback_moved_to() {
    let sandbox = Sandbox::new();
    let declared = free_port();
    let actual = free_port();
    write_config(
        &sandbox,
        &format!("[services.web]\ncommand = \"true\"\nport = {declared}\nfallback = true\n"),
    );
    sandbox
        .reaper()
        .args(["start", "web", "--port", &actual.to_string(), "--"])
        .args(["sh", "-c"])
        .arg(format!(
            "exec python3 -m http.server {actual} --bind 127.0.0.1 # {}",
            sandbox.token
        ))
        .assert()
        .success();
    sandbox.note_tree();
    sandbox
        .reaper()
        .args(["probe", "web"])
        .assert()
        .code(0)
        .stdout(contains(format!("ready: web (tcp {actual})")));
    sandbox.reaper().args(["stop", "web"]).assert().success();
    sandbox
        .reaper()
        .args(["probe", "web"])
        .assert()
        .code(1)
        .stderr(contains(format!("(tcp {declared})")));
    sandbox.assert_nothing_left();
}
