//! The rest of a service's life: status fields, restart with the same command and env, logs
//! (tail, follow, rotation), clean of exited records and of marker-carrying orphans.
#![cfg(target_os = "linux")]

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use common::{Sandbox, alive, free_port, json_of, wait_until};
use predicates::str::contains;

#[test]
fn status_reports_tree_ports_and_log() {
    let sandbox = Sandbox::new();
    let port = free_port();
    sandbox
        .reaper()
        .args(["start", "web", "--port", &port.to_string(), "--"])
        .args(["python3", "-c"])
        .arg("import os,socket,time\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen()\nprint('listening', flush=True)\nos.fork(); time.sleep(1000)")
        .assert()
        .success()
        .stdout(contains(format!("port {port} accepting")));
    sandbox.note_tree();
    let status = sandbox.status_json();
    assert_eq!(status["schema"], 1);
    let web = &status["services"][0];
    assert_eq!(web["name"], "web");
    assert_eq!(web["state"], "running");
    assert_eq!(web["processes"], 2, "{web}");
    assert_eq!(web["ports"], serde_json::json!([port]));
    assert_eq!(web["declared_port"], port);
    assert!(web["rss_bytes"].as_u64().unwrap() > 0);
    assert!(web["cpu_percent"].as_f64().is_some());
    assert!(web["log"].as_str().unwrap().ends_with(".logs/web.log"));
    sandbox
        .reaper()
        .arg("status")
        .assert()
        .success()
        .stdout(contains("web"))
        .stdout(contains(port.to_string()));
    sandbox.reaper().args(["stop", "web"]).assert().success();
    // The port is free again.
    assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
    sandbox.assert_nothing_left();
}

#[test]
fn port_that_never_opens_fails_the_start_and_leaves_nothing() {
    let sandbox = Sandbox::new();
    let port = free_port();
    sandbox
        .reaper()
        .args([
            "start",
            "slow",
            "--port",
            &port.to_string(),
            "--ready-timeout",
            "300ms",
        ])
        .args(["--", "sh", "-c", "echo warming up; exec sleep 1000"])
        .assert()
        .code(1)
        .stderr(contains(format!(
            "did not accept connections on port {port}"
        )))
        .stderr(contains("warming up"));
    assert!(!sandbox.record_path("slow").exists());
    sandbox.assert_nothing_left();
}

#[test]
fn exited_service_shows_exit_code_and_clean_removes_it() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args([
            "start",
            "brief",
            "--min-uptime",
            "0",
            "--",
            "sh",
            "-c",
            "sleep 0.3; exit 7",
        ])
        .assert()
        .success();
    sandbox.note_tree();
    assert!(wait_until(Duration::from_secs(5), || sandbox
        .token_processes()
        .is_empty()));
    assert!(wait_until(Duration::from_secs(2), || sandbox
        .path()
        .join(".run/brief.exit.json")
        .exists()));
    sandbox
        .reaper()
        .arg("status")
        .assert()
        .success()
        .stdout(contains("exited (exit code 7)"));
    sandbox
        .reaper()
        .arg("clean")
        .assert()
        .success()
        .stdout(contains("brief: removed"));
    assert!(!sandbox.record_path("brief").exists());
    assert!(!sandbox.path().join(".run/brief.exit.json").exists());
    sandbox.assert_nothing_left();
}

#[test]
fn restart_keeps_command_and_env_and_replaces_the_tree() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path().join("app.env"), "FROM_FILE=one\n").unwrap();
    sandbox
        .reaper()
        .args([
            "start",
            "app",
            "--env",
            "SECRET=s3 'q' $x",
            "--env-file",
            "app.env",
            "--",
        ])
        .args([
            "sh",
            "-c",
            "echo \"secret=$SECRET file=$FROM_FILE\"; exec sleep 1000",
        ])
        .assert()
        .success();
    let first = sandbox.record("app");
    let record_text = std::fs::read_to_string(sandbox.record_path("app")).unwrap();
    assert!(
        record_text.contains("SECRET") && !record_text.contains("s3 'q'"),
        "values leaked into the record"
    );
    std::fs::write(sandbox.path().join("app.env"), "FROM_FILE=two\n").unwrap();
    sandbox
        .reaper()
        .args(["restart", "app"])
        .assert()
        .success()
        .stdout(contains("started app"));
    let second = sandbox.record("app");
    sandbox.note_tree();
    assert_ne!(first["leader"]["pid"], second["leader"]["pid"]);
    assert!(!alive(first["leader"]["pid"].as_u64().unwrap() as u32));
    assert_eq!(sandbox.token_processes().len(), 1);
    let log = std::fs::read_to_string(sandbox.path().join(".logs/app.log")).unwrap();
    assert!(log.contains("secret=s3 'q' $x file=one"), "{log}");
    assert!(log.contains("secret=s3 'q' $x file=two"), "{log}");
    sandbox.reaper().args(["stop", "app"]).assert().success();
    sandbox.reaper().args(["restart", "app"]).assert().code(3);
    sandbox.assert_nothing_left();
}

#[test]
fn logs_tail_follow_and_rotation() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["start", "chatty", "--log-max-size", "2KB", "--log-keep", "2", "--"])
        .args(["sh", "-c", "i=0; while [ $i -lt 30 ]; do echo line$i; i=$((i+1)); done; while :; do echo tick-tick-tick-tick-tick-tick-tick-tick; sleep 0.01; done"])
        .assert()
        .success();
    sandbox.note_tree();
    let out = sandbox
        .reaper()
        .args(["logs", "chatty", "-n", "3"])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout)
            .lines()
            .count(),
        3
    );
    let mut follow = std::process::Command::new(assert_cmd::cargo::cargo_bin("reaper"))
        .current_dir(sandbox.path())
        .env("REAPER_STATE_DIR", sandbox.path())
        .args(["logs", "chatty", "-f", "-n", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    follow.kill().unwrap();
    let _ = follow.wait();
    let mut followed = String::new();
    follow
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut followed)
        .unwrap();
    assert!(
        followed.contains("tick"),
        "follow printed nothing new: {followed:?}"
    );
    // The log passes 2 KB within a second; the keeper rotates as it writes.
    assert!(wait_until(Duration::from_secs(8), || sandbox
        .path()
        .join(".logs/chatty.log.1")
        .exists()));
    let size = std::fs::metadata(sandbox.path().join(".logs/chatty.log"))
        .unwrap()
        .len();
    assert!(size < 64 * 1024, "log was not truncated: {size}");
    sandbox.reaper().args(["stop", "chatty"]).assert().success();
    // Logs stay readable after the stop.
    sandbox
        .reaper()
        .args(["logs", "chatty"])
        .assert()
        .success()
        .stdout(contains("tick"));
    sandbox.assert_nothing_left();
}

#[test]
fn orphans_without_a_record_are_listed_then_killed() {
    let sandbox = Sandbox::new();
    // Marker orphans (without a cgroup; a leftover cgroup is tested in containment_cgroup.rs).
    sandbox
        .reaper()
        .env("REAPER_CONTAINMENT", "fallback")
        .args([
            "start",
            "lost",
            "--",
            "sh",
            "-c",
            "sleep 1000 & exec sleep 1001",
        ])
        .assert()
        .success();
    sandbox.note_tree();
    // Lose the record, as if someone deleted .run by hand.
    for file in ["lost.json", "lost.pid"] {
        std::fs::remove_file(sandbox.path().join(".run").join(file)).unwrap();
    }
    sandbox
        .reaper()
        .arg("clean")
        .assert()
        .success()
        .stdout(contains("2 orphan processes"))
        .stdout(contains("reaper clean --kill"));
    assert_eq!(sandbox.token_processes().len(), 2);
    let report = json_of(
        &sandbox
            .reaper()
            .args(["clean", "--kill", "--json"])
            .assert()
            .success(),
    );
    assert_eq!(report["clean"]["orphans"].as_array().unwrap().len(), 2);
    assert_eq!(
        report["clean"]["stopped"][0]["processes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    sandbox.assert_nothing_left();
}

#[test]
fn supervisor_keeper_killed_then_stop_still_finds_everything() {
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh(
        "sturdy",
        "(setsid sh -c 'exec sleep 1000' &); exec sleep 1001",
    );
    let keeper = record["keeper"]["pid"].as_u64().unwrap() as i32;
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(keeper).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(2), || !alive(keeper as u32)));
    sandbox.note_tree();
    assert_eq!(sandbox.token_processes().len(), 2);
    let report = json_of(
        &sandbox
            .reaper()
            .args(["stop", "sturdy", "--json"])
            .assert()
            .success(),
    );
    assert_eq!(
        report["stopped"][0]["processes"].as_array().unwrap().len(),
        2
    );
    sandbox.assert_nothing_left();
}

#[test]
fn action_log_has_a_line_per_action() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("one", "exec sleep 1000");
    sandbox.reaper().args(["stop", "one"]).assert().success();
    let log = std::fs::read_to_string(sandbox.path().join(".logs/reaper.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines[0].contains(" start one pid="), "{log}");
    assert!(
        lines[1].contains(" stop one signal=SIGTERM processes=1"),
        "{log}"
    );
    assert!(lines[0].starts_with("20"), "timestamped: {log}");
    sandbox.assert_nothing_left();
}
