//! The marker floor (issue 17): `doctor` and `clean` read the environment only of processes
//! started after the first marker of the boot was issued. `start` records that floor before its
//! keeper exists; a floor that cannot be trusted (garbled) makes the scan read everything.
#![cfg(target_os = "linux")]

mod common;

use common::{Sandbox, json_of};
use serde_json::Value;

fn floor_path(sandbox: &Sandbox) -> std::path::PathBuf {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    sandbox
        .path()
        .join(format!(".run/.markers-since.{}", boot.trim()))
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
