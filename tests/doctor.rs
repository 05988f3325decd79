//! `reaper doctor`: zombies (a parent that never reaps 5 children), marker orphans, hung
//! processes, stale records, the JSON report and its file, exit codes 0/1/2, and `--fix`.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{Sandbox, free_port, json_of, wait_until};
use predicates::str::contains;
use serde_json::Value;

fn doctor(sandbox: &Sandbox, args: &[&str]) -> (i32, Value) {
    let out = sandbox
        .reaper()
        .arg("doctor")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, value)
}

fn findings_for<'a>(
    report: &'a Value,
    kind: &str,
    filter: impl Fn(&Value) -> bool,
) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind && filter(f))
        .collect()
}

#[test]
fn zombie_factory_is_reported_and_fixed() {
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh(
        "factory",
        "for i in 1 2 3 4 5; do sleep 0.01 & done; exec sleep 1000",
    );
    let parent = record["leader"]["pid"].as_u64().unwrap();
    let mut report = Value::Null;
    assert!(wait_until(Duration::from_secs(3), || {
        report = doctor(&sandbox, &["--sample", "0", "--scope", "project"]).1;
        findings_for(&report, "zombie", |f| f["ppid"] == parent).len() == 5
    }));
    let zombies = findings_for(&report, "zombie", |f| f["ppid"] == parent);
    for z in &zombies {
        assert_eq!(z["service"], "factory");
        assert_eq!(z["owned"], true);
        assert!(z["fix"].as_str().unwrap().contains("SIGCHLD"));
        assert!(
            z["evidence"]
                .as_str()
                .unwrap()
                .contains(&parent.to_string())
        );
    }
    let (code, _) = doctor(&sandbox, &["--sample", "0", "--scope", "project"]);
    assert_eq!(code, 1);

    // Safe mode never ends the service's process (tests/doctor_safe_fix.rs); --force does.
    let out = sandbox
        .reaper()
        .args([
            "doctor", "--sample", "0", "--scope", "project", "--fix", "--force", "--json",
        ])
        .assert()
        .success();
    let fixed = json_of(&out);
    let fixes = fixed["fixes"].as_array().unwrap();
    assert_eq!(
        fixes
            .iter()
            .filter(|f| f["kind"] == "zombie" && f["resolved"] == true)
            .count(),
        5,
        "{fixed}"
    );
    for z in &zombies {
        assert!(
            common::stat(z["pid"].as_u64().unwrap() as u32).is_none(),
            "zombie still there"
        );
    }
    sandbox.reaper().arg("clean").assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn marker_orphan_and_stale_record_are_found_and_fixed() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("lost", "exec sleep 1000");
    let record = sandbox.record("lost");
    std::fs::remove_file(sandbox.record_path("lost")).unwrap();
    std::fs::remove_file(sandbox.path().join(".run/lost.pid")).unwrap();
    // A stale pid file: a process that is gone.
    std::fs::write(sandbox.path().join(".run/gone.pid"), "4194303\n").unwrap();

    let (code, report) = doctor(&sandbox, &["--sample", "0", "--scope", "project"]);
    assert_eq!(code, 1);
    let orphans = findings_for(&report, "orphan", |_| true);
    assert_eq!(orphans.len(), 1, "{report}");
    assert_eq!(orphans[0]["pid"], record["leader"]["pid"]);
    assert_eq!(orphans[0]["service"], "lost");
    let stale = findings_for(&report, "stale_record", |_| true);
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0]["service"], "gone");

    sandbox
        .reaper()
        .args(["doctor", "--sample", "0", "--scope", "project", "--fix"])
        .assert()
        .success()
        .stdout(contains("fixed orphan"))
        .stdout(contains("fixed stale record"));
    assert!(!sandbox.path().join(".run/gone.pid").exists());
    sandbox.assert_nothing_left();
    let (code, _) = doctor(&sandbox, &["--sample", "0", "--scope", "project"]);
    assert_eq!(code, 0);
}

#[test]
fn busy_loop_is_hung_and_only_force_ends_it() {
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh("spin", "while :; do :; done");
    let pid = record["leader"]["pid"].as_u64().unwrap();
    // A low threshold: the machine is shared and the loop may not get a whole core.
    let (code, report) = doctor(
        &sandbox,
        &["--sample", "1s", "--cpu", "20", "--scope", "project"],
    );
    assert_eq!(code, 1);
    let hung = findings_for(&report, "hung", |f| f["pid"] == pid);
    assert_eq!(hung.len(), 1, "{report}");
    assert!(hung[0]["cpu_percent"].as_f64().unwrap() >= 20.0);
    assert_eq!(hung[0]["service"], "spin");
    // Safe mode never ends a service's process: it says what to do.
    sandbox
        .reaper()
        .args([
            "doctor", "--sample", "1s", "--cpu", "20", "--scope", "project", "--fix",
        ])
        .assert()
        .code(1)
        .stdout(contains("NOT FIXED hung"))
        .stdout(contains("reaper restart spin"));
    assert!(common::alive(pid as u32));
    sandbox
        .reaper()
        .args([
            "doctor", "--sample", "1s", "--cpu", "20", "--scope", "project", "--fix", "--force",
        ])
        .assert()
        .success()
        .stdout(contains("fixed hung"));
    assert!(wait_until(Duration::from_secs(3), || sandbox
        .token_processes()
        .is_empty()));
    sandbox.reaper().arg("clean").assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn json_report_matches_the_documented_schema_and_out_file() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("z", "sleep 0.01 & exec sleep 1000");
    let out_file = sandbox.path().join("results.json");
    std::thread::sleep(Duration::from_millis(200));
    let out = sandbox
        .reaper()
        .args([
            "doctor", "--sample", "0", "--scope", "project", "--json", "--out",
        ])
        .arg(&out_file)
        .assert()
        .code(1);
    let report = json_of(&out);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(report, written);
    assert_eq!(report["schema"], 1);
    assert!(report["scanned_at"].as_str().unwrap().ends_with('Z'));
    assert!(report["host"].is_string());
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&report["summary"]),
        [
            "hung",
            "orphan",
            "port_conflict",
            "processes_scanned",
            "stale_record",
            "total",
            "zombie"
        ]
    );
    let finding = &report["findings"][0];
    for key in [
        "kind",
        "pid",
        "ppid",
        "command",
        "service",
        "port",
        "cpu_percent",
        "age_secs",
        "owned",
        "evidence",
        "fix",
    ] {
        assert!(finding.get(key).is_some(), "finding lacks {key}: {finding}");
    }
    assert_eq!(finding["kind"], "zombie");
    sandbox.reaper().args(["stop", "z"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn exit_codes_zero_one_two() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["doctor", "--sample", "0", "--scope", "project"])
        .assert()
        .code(0)
        .stdout(contains("clean:"));
    std::fs::create_dir_all(sandbox.path().join(".run")).unwrap();
    std::fs::write(sandbox.path().join(".run/x.pid"), "4194303\n").unwrap();
    sandbox
        .reaper()
        .args(["doctor", "--sample", "0", "--scope", "project"])
        .assert()
        .code(1)
        .stdout(contains("stale record (1)"));
    sandbox
        .reaper()
        .args(["doctor", "--cpu", "0"])
        .assert()
        .code(2);
    std::fs::write(
        sandbox.path().join("reaper.toml"),
        "[doctor]\norphan_patterns = [\"(unclosed\"]\n",
    )
    .unwrap();
    sandbox
        .reaper()
        .args(["doctor", "--sample", "0"])
        .assert()
        .code(2)
        .stderr(contains("orphan_patterns"));
}

/// A python listener on `port`, carrying the sandbox token; returns once it accepts.
fn foreign_listener(sandbox: &Sandbox, port: u16) -> std::process::Child {
    let child = std::process::Command::new("python3")
        .args(["-c", "import socket,sys,time\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); time.sleep(1000)"])
        .arg(port.to_string())
        .env(common::TOKEN_VAR, &sandbox.token)
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    sandbox.note_tree();
    child
}

#[test]
fn declared_port_held_by_another_process_is_a_conflict() {
    let sandbox = Sandbox::new();
    let port = free_port();
    // The service listens briefly (enough for start's readiness), then lets the port go.
    sandbox
        .reaper()
        .args(["start", "api", "--port", &port.to_string(), "--", "python3", "-c"])
        .arg("import os,socket,time\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen()\ntime.sleep(0.5); s.close(); time.sleep(1000)")
        .assert()
        .success();
    sandbox.note_tree();
    assert!(wait_until(Duration::from_secs(5), || {
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
    }));
    let mut intruder = foreign_listener(&sandbox, port);
    let (code, report) = doctor(&sandbox, &["--sample", "0", "--scope", "project"]);
    assert_eq!(code, 1);
    let conflicts = findings_for(&report, "port_conflict", |f| f["port"] == port);
    assert_eq!(conflicts.len(), 1, "{report}");
    assert_eq!(conflicts[0]["pid"], intruder.id());
    assert_eq!(conflicts[0]["service"], "api");
    assert!(
        conflicts[0]["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("reaper port {port} --kill"))
    );
    // A second service declaring a held port is refused before it starts.
    sandbox
        .reaper()
        .args([
            "start",
            "api2",
            "--port",
            &port.to_string(),
            "--",
            "sleep",
            "1000",
        ])
        .assert()
        .code(1)
        .stderr(contains(format!(
            "port {port} is already in use by pid {}",
            intruder.id()
        )));
    assert!(!sandbox.record_path("api2").exists());
    // Safe mode leaves a process reaper does not own alone; --force frees the port.
    sandbox
        .reaper()
        .args(["doctor", "--sample", "0", "--scope", "project", "--fix"])
        .assert()
        .code(1)
        .stdout(contains("add --force"));
    assert!(common::alive(intruder.id()));
    sandbox
        .reaper()
        .args([
            "doctor",
            "--sample",
            "0",
            "--scope",
            "project",
            "--fix",
            "--force",
            "--timeout",
            "2s",
        ])
        .assert()
        .success()
        .stdout(contains(format!("freed port {port}")));
    intruder.wait().unwrap();
    sandbox.reaper().args(["stop", "api"]).assert().success();
    sandbox.assert_nothing_left();
}
