//! `replicas = 3`: three real copies `web.1`…`web.3`, each with its own record, pid, PORT (port +
//! index - 1) and REAPER_REPLICA; a service that depends on `web` starts after every copy is
//! ready and gets each copy's port; `reaper up web` starts every copy; nothing is left after.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use common::{Sandbox, free_port};
use stack_common::{Up, write_config};

/// Three consecutive ports P, P+1, P+2, reserved until dropped. Freeing a port and starting a
/// server on it later races with every connection the machine opens, since the kernel hands out
/// the same range as local ports (CI saw a copy fail with "Address already in use"). Each port
/// is therefore held by a socket bound without `SO_REUSEADDR`, which proves that no socket of any
/// state used it, and keeps the kernel from giving it to a connection or to another test; only
/// then is `SO_REUSEADDR` set, so a server that sets it too (as `SERVER` does) binds and listens
/// beside the holder. The holder never listens, so reaper does not see the port as in use.
fn three_reserved_ports() -> (u16, Vec<rustix::fd::OwnedFd>) {
    let reserve = |port: u16| -> Option<rustix::fd::OwnedFd> {
        use rustix::net::{AddressFamily, SocketType, bind, socket, sockopt};
        let holder = socket(AddressFamily::INET, SocketType::STREAM, None).ok()?;
        bind(
            &holder,
            &std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, port),
        )
        .ok()?;
        sockopt::set_socket_reuseaddr(&holder, true).ok()?;
        Some(holder)
    };
    loop {
        let base = free_port();
        if base >= 65000 {
            continue;
        }
        if let Some(holders) = (0..3)
            .map(|i| reserve(base + i))
            .collect::<Option<Vec<_>>>()
        {
            return (base, holders);
        }
    }
}

const SERVER: &str = "import os, socket, time\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', int(os.environ['PORT'])))\ns.listen()\nprint('copy', os.environ['REAPER_REPLICA'], 'on', os.environ['PORT'], flush=True)\ntime.sleep(1000)";

fn config(base: u16) -> String {
    format!(
        r#"[services.web]
command = ["python3", "-c", "{SERVER}"]
port = {base}
replicas = 3

[services.client]
command = "echo client sees $WEB_1_PORT $WEB_2_PORT $WEB_3_PORT; exec sleep 1000"
depends_on = ["web"]
ready = {{ log = "client sees" }}
"#,
        SERVER = SERVER.replace('\n', "\\n")
    )
}

#[test]
fn three_copies_with_their_own_ports_records_and_dependents() {
    let sandbox = Sandbox::new();
    let (base, _reserved) = three_reserved_ports();
    write_config(&sandbox, &config(base));
    let mut up = Up::start(&sandbox, &[]);
    up.wait_for("all 4 services are ready");
    sandbox.note_tree();
    let text = up.text();
    let mut pids = Vec::new();
    for index in 1..=3u16 {
        let port = base + index - 1;
        // A copy is ready once its port accepts, which may be before its line is printed.
        up.wait_for(&format!("copy {index} on {port}"));
        let record = sandbox.record(&format!("web.{index}"));
        let pid = record["leader"]["pid"].as_u64().unwrap();
        assert_eq!(record["port"].as_u64(), Some(u64::from(port)));
        assert!(common::alive(pid as u32));
        pids.push(pid);
    }
    pids.dedup();
    assert_eq!(pids.len(), 3, "each copy is its own process");
    let ready_of = |name: &str| {
        text.lines()
            .position(|l| l.contains(&format!("{name} is ready")))
            .unwrap_or_else(|| panic!("{name} never ready:\n{text}"))
    };
    let client = ready_of("client");
    for index in 1..=3 {
        assert!(ready_of(&format!("web.{index}")) < client, "{text}");
    }
    assert!(
        text.contains(&format!("client sees {base} {} {}", base + 1, base + 2)),
        "{text}"
    );
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    for index in 1..=3 {
        assert!(!sandbox.record_path(&format!("web.{index}")).exists());
    }
    sandbox.assert_nothing_left();
}

#[test]
fn naming_the_service_starts_every_copy_and_ps_lists_them() {
    let sandbox = Sandbox::new();
    let (base, _reserved) = three_reserved_ports();
    write_config(&sandbox, &config(base));
    sandbox
        .reaper()
        .args(["up", "-d", "web"])
        .assert()
        .success();
    let ps = sandbox.ps_json();
    let running: Vec<(String, u64)> = ps["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["pid"].is_u64())
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["port"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let base = u64::from(base);
    assert_eq!(
        running,
        vec![
            ("web.1".to_string(), base),
            ("web.2".to_string(), base + 1),
            ("web.3".to_string(), base + 2)
        ],
        "{ps:#}"
    );
    sandbox.reaper().arg("down").assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn copies_that_would_collide_are_refused_at_load() {
    let sandbox = Sandbox::new();
    let (base, _reserved) = three_reserved_ports();
    write_config(
        &sandbox,
        &format!(
            "[services.web]\ncommand = \"sleep 1\"\nport = {base}\nreplicas = 3\n\n[services.other]\ncommand = \"sleep 1\"\nport = {}\n\n[services.many]\ncommand = \"sleep 1\"\nreplicas = 0\n",
            base + 2
        ),
    );
    let assert = sandbox.reaper().arg("check").assert().code(2);
    let out = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(
        out.contains(&format!(
            "reaper.toml:4:12: service `web`: copy `web.3` would listen on port {}, the port of `other`",
            base + 2
        )),
        "{out}"
    );
    assert!(
        out.contains("reaper.toml:12:12: service `many`: replicas = 0 is out of range"),
        "{out}"
    );
}
