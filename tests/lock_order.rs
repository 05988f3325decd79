//! Name locks are taken once each, in sorted order: `stop web web` returned never (it waited on
//! its own lock), `stop a b` beside `stop b a` could deadlock, and `clean` judged a record on a
//! process table read before it held the record's lock.
#![cfg(target_os = "linux")]

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::{KillOnDrop, Sandbox, TOKEN_VAR, alive, wait_until};

/// A command that waits forever is killed after this, so the test fails instead of hanging.
const HANG: Duration = Duration::from_secs(30);

#[test]
fn stop_of_a_name_given_twice_returns_and_stops_it_once() {
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh("web", "sleep 300");
    let pid = record["leader"]["pid"].as_u64().unwrap() as u32;
    let output = sandbox
        .reaper()
        .args(["stop", "web", "web", "--json"])
        .timeout(HANG)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["stopped"].as_array().unwrap().len(), 1, "{json}");
    assert!(!alive(pid));
    assert!(!sandbox.record_path("web").exists());
    sandbox.assert_nothing_left();
}

#[test]
fn crossed_stops_of_two_names_cannot_deadlock() {
    let sandbox = Sandbox::new();
    for round in 0..20 {
        for name in ["a", "b"] {
            sandbox
                .reaper()
                .args(["start", name, "--min-uptime", "0", "--", "sleep", "300"])
                .assert()
                .success();
        }
        sandbox.note_tree();
        let codes: Vec<Option<i32>> = thread::scope(|scope| {
            let crossed = [["stop", "a", "b"], ["stop", "b", "a"]].map(|args| {
                let sandbox = &sandbox;
                scope.spawn(move || {
                    let output = sandbox.reaper().args(args).timeout(HANG).output().unwrap();
                    output.status.code()
                })
            });
            crossed.map(|h| h.join().unwrap()).to_vec()
        });
        // One stops both; the other finds them gone (exit 3) or, if it came first, stops both.
        assert!(
            codes.iter().all(|c| matches!(c, Some(0 | 3))) && codes.contains(&Some(0)),
            "round {round}: {codes:?} (None: killed after hanging)"
        );
        sandbox.assert_nothing_left();
    }
}

/// Holds `.run/.locks/NAME` the way reaper does (flock), until dropped.
fn hold_lock(sandbox: &Sandbox, name: &str) -> std::fs::File {
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(sandbox.path().join(".run/.locks").join(name))
        .unwrap();
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).unwrap();
    file
}

/// Whether `pid` waits for a flock (a `->` line of /proc/locks).
fn waits_for_a_lock(pid: u32) -> bool {
    std::fs::read_to_string("/proc/locks").is_ok_and(|locks| {
        locks.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&"->") && fields.get(5) == Some(&pid.to_string().as_str())
        })
    })
}

#[test]
fn clean_judges_a_record_restarted_while_it_waited_on_a_fresh_process_table() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("a", "sleep 300");
    let old = sandbox.start_sh("web", "sleep 300");
    // clean goes through the names in order: holding `a` stops it before `web`.
    let held = hold_lock(&sandbox, "a");
    let mut clean = KillOnDrop(
        Command::new(assert_cmd::cargo::cargo_bin("reaper"))
            .args(["clean", "--kill"])
            .current_dir(sandbox.path())
            .env("REAPER_STATE_DIR", sandbox.path())
            .env(TOKEN_VAR, &sandbox.token)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        wait_until(HANG, || waits_for_a_lock(clean.0.id())),
        "clean never waited for the lock of a"
    );
    // While clean waits, web is restarted: its new processes started after clean began.
    sandbox.reaper().args(["restart", "web"]).assert().success();
    sandbox.note_tree();
    let new = sandbox.record("web");
    assert_ne!(new["run_id"], old["run_id"]);
    drop(held);
    let mut stdout = String::new();
    clean
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = clean.0.wait().unwrap();
    assert!(status.success(), "clean: {status}, {stdout}");
    assert!(!stdout.contains("web: removed"), "{stdout}");
    assert!(
        sandbox.record_path("web").exists(),
        "clean removed the record of a running service"
    );
    let pid = new["leader"]["pid"].as_u64().unwrap() as u32;
    assert!(alive(pid));
    sandbox.reaper().args(["stop", "--all"]).assert().success();
    sandbox.assert_nothing_left();
}
