//! `reaper port PORT` and `reaper ports`: every socket on the port and every process holding
//! it, on real listeners (TCP v4 and v6, UDP, a socket shared by a forked pair, a managed
//! service), and a port with only TIME-WAIT sockets.
#![cfg(target_os = "linux")]

mod common;
mod ports_common;

use common::{Sandbox, json_of};
use ports_common::Helper;
use predicates::str::contains;
use serde_json::Value;

fn lookup(sandbox: &Sandbox, port: u16) -> Value {
    json_of(
        &sandbox
            .reaper()
            .args(["port", &port.to_string(), "--json"])
            .assert()
            .code(0),
    )
}

fn owner_pids(socket: &Value) -> Vec<u64> {
    socket["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["pid"].as_u64().unwrap())
        .collect()
}

#[test]
fn tcp_v4_listener_with_its_owner() {
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "tcp4", &[]);
    let port = holder.port();
    let doc = lookup(&sandbox, port);
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["port"], port);
    assert_eq!(doc["held"], true);
    let sockets = doc["sockets"].as_array().unwrap();
    assert_eq!(sockets.len(), 1, "{doc}");
    let socket = &sockets[0];
    assert_eq!(socket["protocol"], "tcp");
    assert_eq!(socket["state"], "listen");
    assert_eq!(socket["local"], format!("127.0.0.1:{port}"));
    assert_eq!(socket["holds_port"], true);
    assert!(socket["inode"].as_u64().unwrap() > 0);
    let owner = &socket["owners"][0];
    assert_eq!(owner["pid"], holder.pid());
    assert_eq!(owner["name"], "python3");
    assert!(owner["command"][0].as_str().unwrap().contains("python3"));
    assert!(owner["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(owner["user"].is_string() || owner["uid"].is_u64());
    assert_eq!(owner["service"], Value::Null);
    sandbox
        .reaper()
        .args(["port", &port.to_string()])
        .assert()
        .code(0)
        .stdout(contains(format!("port {port} is in use")))
        .stdout(contains(format!("pid {}", holder.pid())));
}

#[test]
fn tcp_v6_listener() {
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "tcp6", &[]);
    let port = holder.port();
    let doc = lookup(&sandbox, port);
    let socket = &doc["sockets"][0];
    assert_eq!(socket["local"], format!("[::1]:{port}"));
    assert_eq!(socket["state"], "listen");
    assert_eq!(owner_pids(socket), vec![u64::from(holder.pid())]);
}

#[test]
fn udp_socket_holds_its_port() {
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "udp", &[]);
    let port = holder.port();
    let doc = lookup(&sandbox, port);
    let socket = &doc["sockets"][0];
    assert_eq!(socket["protocol"], "udp");
    assert_eq!(socket["state"], "unconnected");
    assert_eq!(socket["holds_port"], true);
    assert_eq!(owner_pids(socket), vec![u64::from(holder.pid())]);
}

#[test]
fn forked_pair_sharing_one_socket_are_both_holders() {
    let sandbox = Sandbox::new();
    let pair = Helper::spawn(&sandbox, "fork", &[]);
    let port = pair.port();
    let doc = lookup(&sandbox, port);
    let listeners: Vec<&Value> = doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["holds_port"] == true)
        .collect();
    assert_eq!(listeners.len(), 1, "one socket: {doc}");
    let mut expected = vec![u64::from(pair.number(1)), u64::from(pair.number(2))];
    expected.sort_unstable();
    assert_eq!(owner_pids(listeners[0]), expected);
}

#[test]
fn port_with_only_time_wait_sockets_is_not_held() {
    let sandbox = Sandbox::new();
    let helper = Helper::spawn(&sandbox, "time-wait", &[]);
    let port = helper.port();
    let assert = sandbox
        .reaper()
        .args(["port", &port.to_string(), "--json"])
        .assert()
        .code(1);
    let doc = json_of(&assert);
    assert_eq!(doc["held"], false, "{doc}");
    let sockets = doc["sockets"].as_array().unwrap();
    assert!(!sockets.is_empty(), "{doc}");
    for socket in sockets {
        assert_eq!(socket["state"], "time_wait", "{doc}");
        assert_eq!(socket["owners"], serde_json::json!([]));
        assert!(socket["unseen"].as_str().unwrap().contains("TIME-WAIT"));
    }
    // A server that sets SO_REUSEADDR can bind now; a plain bind cannot until they expire.
    assert_eq!(doc["bind"]["reuse_addr"], true, "{doc}");
    assert_eq!(doc["bind"]["plain"], false, "{doc}");
    sandbox
        .reaper()
        .args(["port", &port.to_string()])
        .assert()
        .code(1)
        .stdout(contains(format!("port {port} is free")))
        .stdout(contains("TIME-WAIT"))
        .stdout(contains("no process holds"));
}

#[test]
fn close_wait_only_is_not_held_and_names_the_process() {
    let sandbox = Sandbox::new();
    let helper = Helper::spawn(&sandbox, "close-wait", &[]);
    let port = helper.port();
    let doc = json_of(
        &sandbox
            .reaper()
            .args(["port", &port.to_string(), "--json"])
            .assert()
            .code(1),
    );
    assert_eq!(doc["held"], false, "{doc}");
    let socket = &doc["sockets"][0];
    assert_eq!(socket["state"], "close_wait", "{doc}");
    assert_eq!(owner_pids(socket), vec![u64::from(helper.pid())]);
    assert!(doc["notes"].to_string().contains("CLOSE-WAIT"), "{doc}");
    assert_eq!(doc["bind"]["reuse_addr"], true, "{doc}");
    // Nothing listens, so --kill ends nothing: connections are never touched.
    let killed = json_of(
        &sandbox
            .reaper()
            .args(["port", &port.to_string(), "--kill", "--json"])
            .assert()
            .code(0),
    );
    assert_eq!(killed["attempts"], 0, "{killed}");
    assert!(common::alive(helper.pid()));
}

#[test]
fn free_port_exits_1_and_says_so() {
    let sandbox = Sandbox::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    sandbox
        .reaper()
        .args(["port", &port.to_string()])
        .assert()
        .code(1)
        .stdout(contains(format!("port {port} is free")));
}

#[test]
fn managed_service_is_named_and_resolvable_by_name() {
    let sandbox = Sandbox::new();
    let port = Helper::spawn(&sandbox, "tcp4", &[]).port();
    // The helper is gone (dropped): its port is free for the service.
    assert!(common::wait_until(
        std::time::Duration::from_secs(2),
        || { ports_common::bindable(port) }
    ));
    sandbox
        .reaper()
        .args(["start", "web", "--port", &port.to_string(), "--"])
        .args(["python3", "-c"])
        .arg(
            "import os,socket,time\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen(); time.sleep(1000)",
        )
        .assert()
        .success();
    sandbox.note_tree();
    let record = sandbox.record("web");
    let by_name = json_of(
        &sandbox
            .reaper()
            .args(["port", "web", "--json"])
            .assert()
            .code(0),
    );
    assert_eq!(by_name["port"], port);
    let owner = &by_name["sockets"][0]["owners"][0];
    assert_eq!(owner["pid"], record["leader"]["pid"]);
    assert_eq!(owner["service"], "web");
    // `reaper ports` lists it, marked.
    let all = json_of(
        &sandbox
            .reaper()
            .args(["ports", "--json"])
            .assert()
            .success(),
    );
    let ours = all["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["local"] == format!("127.0.0.1:{port}"))
        .expect("listed");
    assert_eq!(ours["owners"][0]["service"], "web");
    sandbox
        .reaper()
        .arg("ports")
        .assert()
        .success()
        .stdout(contains(format!("127.0.0.1:{port}")))
        .stdout(contains("web"));
    sandbox.reaper().args(["stop", "web"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn free_from_finds_the_next_free_port() {
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "tcp4", &[]);
    let port = holder.port();
    let assert = sandbox
        .reaper()
        .args(["port", "--free-from", &port.to_string()])
        .assert()
        .success();
    let found: u16 = String::from_utf8_lossy(&assert.get_output().stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(found > port);
    let doc = json_of(
        &sandbox
            .reaper()
            .args([
                "port",
                "--free-from",
                &port.to_string(),
                "--count",
                "3",
                "--json",
            ])
            .assert()
            .success(),
    );
    let free = doc["free"].as_array().unwrap();
    assert_eq!(free.len(), 3);
    assert!(free.iter().all(|p| p.as_u64().unwrap() > u64::from(port)));
}
