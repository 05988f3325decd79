//! The marker floor (issue 17): `doctor` and `clean` read the environment only of processes
//! that can carry a marker they look for. `start` records its state directory's floor before its
//! keeper exists; a floor that cannot be trusted (garbled) makes the scan read everything.
//! `reaper run` registers for as long as what it started may be left: a run that ends cleanly
//! leaves the registry, a killed one stays until a scan finds nothing of it.
#![cfg(target_os = "linux")]

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{KillOnDrop, Sandbox, json_of, wait_until};
use serde_json::Value;

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap()
        .trim()
        .to_string()
}

/// The registry entry of the `reaper run` with this pid.
fn registry_entry(pid: u32) -> PathBuf {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(19)
        .unwrap();
    let uid = rustix::process::getuid().as_raw();
    PathBuf::from(format!(
        "/tmp/reaper-runs.{uid}.{}/{pid}.{start}",
        boot_id()
    ))
}

fn spawn_run(sandbox: &Sandbox, script: &str) -> KillOnDrop {
    KillOnDrop(
        Command::new(assert_cmd::cargo::cargo_bin("reaper"))
            .current_dir(sandbox.path())
            .env("REAPER_STATE_DIR", sandbox.path())
            .env("REAPER_CONTAINMENT", "fallback")
            .env(common::TOKEN_VAR, &sandbox.token)
            .args(["run", "--", "sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("reaper run"),
    )
}

#[test]
fn a_run_that_ends_cleanly_leaves_the_registry() {
    let sandbox = Sandbox::new();
    let mut run = spawn_run(&sandbox, "sleep 1");
    let pid = run.0.id();
    let entry = registry_entry(pid);
    assert!(
        wait_until(Duration::from_secs(5), || entry.exists()),
        "{} was not registered",
        entry.display()
    );
    assert!(run.0.wait().unwrap().success());
    assert!(!entry.exists(), "{} is still registered", entry.display());
    sandbox.assert_nothing_left();
}

#[test]
fn a_killed_run_stays_registered_until_a_scan_finds_nothing_of_it() {
    let sandbox = Sandbox::new();
    let mut run = spawn_run(&sandbox, "sleep 995");
    let pid = run.0.id();
    let entry = registry_entry(pid);
    assert!(wait_until(Duration::from_secs(5), || entry.exists()));
    run.0.kill().unwrap();
    run.0.wait().unwrap();
    sandbox.note_tree();
    assert!(entry.exists(), "a killed run left the registry");
    sandbox
        .reaper()
        .args(["clean", "--kill", "--timeout", "2s"])
        .assert()
        .success();
    sandbox.kill_leftovers();
    sandbox
        .reaper()
        .args(["doctor", "--sample", "0", "--json"])
        .output()
        .unwrap();
    assert!(
        !entry.exists(),
        "{} outlived its processes",
        entry.display()
    );
    sandbox.assert_nothing_left();
}

fn floor_path(sandbox: &Sandbox) -> PathBuf {
    sandbox
        .path()
        .join(format!(".run/.markers-since.{}", boot_id()))
}

fn orphans(sandbox: &Sandbox) -> Vec<Value> {
    let report = json_of(
        &sandbox
            .reaper()
            .args(["doctor", "--sample", "0", "--scope", "project", "--json"])
            .assert()
            .code(1),
    );
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "orphan")
        .cloned()
        .collect()
}

/// Starts a service and removes its record: its leader is then an orphan that only its marker
/// (read from its environment) reveals.
fn lost_service(sandbox: &Sandbox) -> Value {
    sandbox.start_sh("lost", "exec sleep 1000");
    let record = sandbox.record("lost");
    std::fs::remove_file(sandbox.record_path("lost")).unwrap();
    std::fs::remove_file(sandbox.path().join(".run/lost.pid")).unwrap();
    record
}

#[test]
fn start_records_a_floor_no_later_than_its_service() {
    let sandbox = Sandbox::new();
    let record = lost_service(&sandbox);
    let floor: u64 = std::fs::read_to_string(floor_path(&sandbox))
        .expect("start wrote the floor")
        .trim()
        .parse()
        .expect("a start time");
    let leader_start = record["leader"]["start_time"].as_u64().unwrap();
    assert!(
        floor <= leader_start,
        "floor {floor} is after the service started ({leader_start})"
    );
    let found = orphans(&sandbox);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["pid"], record["leader"]["pid"]);
    sandbox.kill_leftovers();
    sandbox.assert_nothing_left();
}

#[test]
fn a_garbled_floor_makes_the_scan_read_every_environment() {
    let sandbox = Sandbox::new();
    let record = lost_service(&sandbox);
    // As if the floor said the marker came later than it did: an unparsable file is not trusted.
    std::fs::write(floor_path(&sandbox), "not a start time\n").unwrap();
    let found = orphans(&sandbox);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["pid"], record["leader"]["pid"]);
    sandbox.kill_leftovers();
    sandbox.assert_nothing_left();
}

/// Services started this boot by a reaper that wrote no floor (an older version) carry markers
/// too: a state directory that has run something but has no floor is read whole.
#[test]
fn a_state_directory_without_a_floor_is_read_whole() {
    let sandbox = Sandbox::new();
    let record = lost_service(&sandbox);
    std::fs::remove_file(floor_path(&sandbox)).unwrap();
    let found = orphans(&sandbox);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["pid"], record["leader"]["pid"]);
    sandbox.kill_leftovers();
    sandbox.assert_nothing_left();
}
