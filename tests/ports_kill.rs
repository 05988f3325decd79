//! `reaper port PORT --kill`: ends exactly the holders of the port (all of them), escalates to
//! SIGKILL, stops a managed service through its record, proves the port free by binding it,
//! and never touches clients, processes on other ports, or reaper's own ancestry.
#![cfg(target_os = "linux")]

mod common;
mod ports_common;

use std::time::Duration;

use common::{Sandbox, alive, json_of, wait_until};
use ports_common::{Helper, bindable};
use predicates::str::contains;

fn kill_json(sandbox: &Sandbox, port: u16, extra: &[&str]) -> serde_json::Value {
    json_of(
        &sandbox
            .reaper()
            .args(["port", &port.to_string(), "--kill", "--json"])
            .args(extra)
            .assert()
            .code(0),
    )
}

fn ended_pids(doc: &serde_json::Value) -> Vec<u64> {
    let mut pids: Vec<u64> = doc["ended"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    pids.sort_unstable();
    pids
}

#[test]
fn kills_tcp_v4_holder_and_proves_the_port_free() {
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "tcp4", &[]);
    let port = holder.port();
    sandbox
        .reaper()
        .args(["port", &port.to_string(), "--kill"])
        .assert()
        .success()
        .stdout(contains(format!("{}", holder.pid())))
        .stdout(contains("exited after SIGTERM"))
        .stdout(contains(format!("port {port} is free")));
    assert!(bindable(port));
    assert!(wait_until(Duration::from_secs(2), || !alive(holder.pid())));
    sandbox.assert_nothing_left();
}

#[test]
fn kills_tcp_v6_and_udp_holders() {
    let sandbox = Sandbox::new();
    for mode in ["tcp6", "udp"] {
        let holder = Helper::spawn(&sandbox, mode, &[]);
        let doc = kill_json(&sandbox, holder.port(), &[]);
        assert_eq!(doc["freed"], true, "{mode}: {doc}");
        assert_eq!(doc["attempts"], 1);
        assert_eq!(ended_pids(&doc), vec![u64::from(holder.pid())], "{mode}");
        assert_eq!(doc["ended"][0]["outcome"], "graceful");
        let verified = doc["verified"][0].as_str().unwrap();
        assert!(
            verified.starts_with(if mode == "udp" { "udp" } else { "tcp [::1]" }),
            "{verified}"
        );
    }
    sandbox.assert_nothing_left();
}

#[test]
fn forked_pair_sharing_the_socket_is_ended_together() {
    let sandbox = Sandbox::new();
    let pair = Helper::spawn(&sandbox, "fork", &[]);
    let doc = kill_json(&sandbox, pair.port(), &[]);
    let mut expected = vec![u64::from(pair.number(1)), u64::from(pair.number(2))];
    expected.sort_unstable();
    assert_eq!(ended_pids(&doc), expected, "{doc}");
    assert_eq!(doc["freed"], true);
    sandbox.assert_nothing_left();
}

#[test]
fn connected_client_survives() {
    let sandbox = Sandbox::new();
    let server = Helper::spawn(&sandbox, "server-with-accepted", &[]);
    let port = server.port();
    let client = Helper::spawn(&sandbox, "client", &[&port.to_string()]);
    let doc = kill_json(&sandbox, port, &[]);
    assert_eq!(ended_pids(&doc), vec![u64::from(server.pid())], "{doc}");
    assert!(alive(client.pid()), "the client was touched");
    assert_eq!(doc["freed"], true);
}

#[test]
fn holders_child_on_another_port_is_left_alone() {
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "other-port-child", &[]);
    let (child, other_port) = (holder.number(1), holder.number(2) as u16);
    let doc = kill_json(&sandbox, holder.port(), &[]);
    assert_eq!(ended_pids(&doc), vec![u64::from(holder.pid())], "{doc}");
    assert!(alive(child), "the child serving another port was touched");
    let other = json_of(
        &sandbox
            .reaper()
            .args(["port", &other_port.to_string(), "--json"])
            .assert()
            .code(0),
    );
    assert_eq!(other["sockets"][0]["owners"][0]["pid"], child);
}

#[test]
fn term_ignoring_holder_is_killed_after_the_timeout() {
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "ignore-term", &[]);
    let doc = kill_json(&sandbox, holder.port(), &["--timeout", "300ms"]);
    assert_eq!(doc["ended"][0]["pid"], holder.pid());
    assert_eq!(doc["ended"][0]["outcome"], "forced", "{doc}");
    assert!(doc["ended"][0]["after_ms"].as_u64().unwrap() >= 300);
    assert_eq!(doc["freed"], true);
    sandbox.assert_nothing_left();
}

#[test]
fn force_kills_at_once() {
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "ignore-term", &[]);
    let doc = kill_json(&sandbox, holder.port(), &["--force", "--timeout", "30s"]);
    assert_eq!(doc["ended"][0]["outcome"], "forced", "{doc}");
    assert!(doc["elapsed_ms"].as_u64().unwrap() < 5000);
    sandbox.assert_nothing_left();
}

#[test]
fn managed_service_is_stopped_whole_and_its_record_removed() {
    let sandbox = Sandbox::new();
    let port = Helper::spawn(&sandbox, "tcp4", &[]).port();
    assert!(wait_until(Duration::from_secs(2), || bindable(port)));
    // The service: a python holder plus a child that does not hold the port.
    sandbox
        .reaper()
        .args(["start", "web", "--port", &port.to_string(), "--"])
        .args(["python3", "-c"])
        .arg(
            "import os,socket,subprocess,time\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen()\nsubprocess.Popen(['sleep', '1000'])\ntime.sleep(1000)",
        )
        .assert()
        .success();
    sandbox.note_tree();
    assert_eq!(sandbox.token_processes().len(), 2);
    let doc = kill_json(&sandbox, port, &[]);
    assert_eq!(doc["freed"], true, "{doc}");
    assert_eq!(doc["ended"], serde_json::json!([]), "{doc}");
    let service = &doc["services"][0];
    assert_eq!(service["name"], "web");
    assert_eq!(
        service["processes"].as_array().unwrap().len(),
        2,
        "whole tree: {doc}"
    );
    assert!(!sandbox.record_path("web").exists());
    assert!(bindable(port));
    sandbox.assert_nothing_left();
}

#[test]
fn refuses_when_the_holder_is_reapers_parent_or_reaper_itself() {
    let sandbox = Sandbox::new();
    let reaper = env!("CARGO_BIN_EXE_reaper");
    let mut runner = Helper::spawn(
        &sandbox,
        "run-reaper",
        &[reaper, "port", "{port}", "--kill"],
    );
    assert_eq!(runner.fields[1], "1", "reaper must fail");
    let output = runner.rest();
    assert!(output.contains("refusing"), "{output}");
    assert!(
        output.contains("ancestor of this reaper process"),
        "{output}"
    );
    assert!(output.contains("it is this reaper process"), "{output}");
    assert!(
        runner.child.wait().unwrap().success(),
        "the holder was signalled"
    );
}

#[test]
fn already_free_port_is_reported_free() {
    let sandbox = Sandbox::new();
    let port = Helper::spawn(&sandbox, "tcp4", &[]).port();
    assert!(wait_until(Duration::from_secs(2), || bindable(port)));
    let doc = kill_json(&sandbox, port, &[]);
    assert_eq!(doc["freed"], true);
    assert_eq!(doc["attempts"], 0);
}
