//! PID reuse: a record whose pid now belongs to an unrelated process is stale; that process is
//! never signalled, `stop` refuses to touch it, and `clean` removes only the record.
#![cfg(target_os = "linux")]

mod common;

use common::{Sandbox, alive, bystander, json_of};

/// Writes a record naming `pid` with a start time that is not that process's.
fn forge_record(sandbox: &Sandbox, name: &str, pid: u32) {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let record = serde_json::json!({
        "schema": 1, "name": name, "run_id": "0123456789abcdef",
        "leader": {"pid": pid, "start_time": 1, "boot_id": boot_id.trim()},
        "keeper": null, "argv": ["sleep", "1000"], "cwd": sandbox.path(),
        "env_names": [], "env_files": [], "port": null,
        "log": sandbox.path().join(".logs/x.log"), "started_at": "2026-01-01T00:00:00Z",
        "marker": "v1:0123456789abcdef:x:/nowhere"
    });
    std::fs::create_dir_all(sandbox.path().join(".run")).unwrap();
    std::fs::write(sandbox.record_path(name), record.to_string()).unwrap();
    std::fs::write(
        sandbox.path().join(format!(".run/{name}.pid")),
        format!("{pid}\n"),
    )
    .unwrap();
}

#[test]
fn record_pointing_at_an_unrelated_process_leaves_it_untouched() {
    let sandbox = Sandbox::new();
    let bystander = bystander();
    let pid = bystander.0.id();
    forge_record(&sandbox, "reused", pid);

    let status = json_of(
        &sandbox
            .reaper()
            .args(["status", "reused", "--json"])
            .assert()
            .success(),
    );
    assert_eq!(status["services"][0]["state"], "stale");

    sandbox
        .reaper()
        .args(["stop", "reused", "--timeout", "200ms"])
        .assert()
        .success()
        .stdout(predicates::str::contains("nothing was running"));
    assert!(alive(pid), "the unrelated process was signalled");

    forge_record(&sandbox, "reused", pid);
    sandbox
        .reaper()
        .arg("clean")
        .assert()
        .success()
        .stdout(predicates::str::contains("now belongs to another process"));
    assert!(!sandbox.record_path("reused").exists());
    assert!(alive(pid), "clean signalled the unrelated process");
}

#[test]
fn pid_file_without_record_is_never_signalled() {
    let sandbox = Sandbox::new();
    let bystander = bystander();
    let pid = bystander.0.id();
    std::fs::create_dir_all(sandbox.path().join(".run")).unwrap();
    std::fs::write(sandbox.path().join(".run/legacy.pid"), format!("{pid}\n")).unwrap();
    sandbox
        .reaper()
        .args(["stop", "legacy"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("cannot be checked"));
    sandbox
        .reaper()
        .args(["start", "legacy", "--", "sleep", "1"])
        .assert()
        .code(4);
    sandbox.reaper().arg("clean").assert().success();
    assert!(
        sandbox.path().join(".run/legacy.pid").exists(),
        "a live pid's file was removed"
    );
    assert!(alive(pid));
}

#[test]
fn own_pid_and_ancestors_are_never_targets() {
    let sandbox = Sandbox::new();
    // The test process is an ancestor of every reaper it runs: a record naming it (with its
    // real start time) must still not be signalled.
    let me = std::process::id();
    let stat = std::fs::read_to_string(format!("/proc/{me}/stat")).unwrap();
    let start: u64 = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    forge_record(&sandbox, "me", me);
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sandbox.record_path("me")).unwrap()).unwrap();
    record["leader"]["start_time"] = start.into();
    std::fs::write(sandbox.record_path("me"), record.to_string()).unwrap();
    sandbox
        .reaper()
        .args(["stop", "me", "--timeout", "100ms", "--signal", "USR2"])
        .assert()
        .code(1)
        .stdout(predicates::str::contains("not stopped"));
    assert!(sandbox.record_path("me").exists(), "the record was removed");
    // Still here: a USR2 would have killed this test binary.
}

/// A record from an earlier boot names a process that cannot exist any more, even when a process
/// now has the same pid and start time (clock ticks since boot repeat across boots): it is
/// stale, and nothing is signalled.
#[test]
fn record_from_an_earlier_boot_is_stale_even_with_a_matching_start_time() {
    let sandbox = Sandbox::new();
    let bystander = bystander();
    let pid = bystander.0.id();
    let start_time = reaper::os::process_info(pid).expect("bystander").start_time;
    forge_record(&sandbox, "old", pid);
    let path = sandbox.record_path("old");
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    record["leader"]["start_time"] = start_time.into();
    record["leader"]["boot_id"] = "00000000-0000-0000-0000-000000000000".into();
    std::fs::write(&path, record.to_string()).unwrap();

    let status = json_of(
        &sandbox
            .reaper()
            .args(["status", "old", "--json"])
            .assert()
            .success(),
    );
    assert_eq!(status["services"][0]["state"], "stale", "{status}");
    assert!(
        status["services"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("earlier boot"),
        "{status}"
    );
    sandbox
        .reaper()
        .args(["stop", "old", "--timeout", "200ms"])
        .assert()
        .success();
    assert!(
        alive(pid),
        "a process was signalled on a record from another boot"
    );
}
