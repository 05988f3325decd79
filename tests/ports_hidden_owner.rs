//! Sockets whose owner cannot be seen are explained, not reported as "not found": another
//! user's process read without permission (reaper run as `nobody`), and another network
//! namespace (reaper run under `unshare -n`). Setting these up needs root; elsewhere the tests
//! say so and pass.
#![cfg(target_os = "linux")]

mod common;
mod ports_common;

use std::os::unix::process::CommandExt;
use std::process::Command;

use common::{Sandbox, json_of};
use ports_common::Helper;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `reaper ARGS` as another user, from a directory that user can read.
fn reaper_as(uid: u32, args: &[&str]) -> assert_cmd::Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_reaper"));
    command
        .args(args)
        .current_dir("/")
        .env("REAPER_STATE_DIR", std::env::temp_dir())
        .uid(uid)
        .gid(uid);
    assert_cmd::Command::from_std(command)
}

#[test]
fn other_users_holder_is_explained_with_the_inode() {
    if !is_root() {
        eprintln!("skipped: needs root to run reaper as another user");
        return;
    }
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "tcp4", &[]);
    let port = holder.port().to_string();
    let assert = reaper_as(65534, &["port", &port, "--json"]).assert();
    let output = assert.get_output();
    if output.status.code() != Some(0) {
        eprintln!(
            "skipped: reaper does not run as uid 65534 here: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    let doc = json_of(&assert);
    assert_eq!(doc["held"], true);
    let socket = &doc["sockets"][0];
    assert_eq!(socket["owners"], serde_json::json!([]));
    let why = socket["unseen"].as_str().unwrap();
    let inode = socket["inode"].as_u64().unwrap();
    assert!(why.contains(&format!("socket inode {inode}")), "{why}");
    assert!(why.contains("permission denied"), "{why}");
    assert!(why.contains(&format!("sudo reaper port {port}")), "{why}");
    // --kill signals nothing it cannot see, and says why.
    reaper_as(65534, &["port", &port, "--kill"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("by no process reaper can see"));
    assert!(common::alive(holder.pid()));
}

#[test]
fn another_network_namespace_is_explained() {
    if !is_root() || Command::new("unshare").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and unshare(1)");
        return;
    }
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "tcp4", &[]);
    let port = holder.port().to_string();
    let mut command = Command::new("unshare");
    command
        .args(["-n", env!("CARGO_BIN_EXE_reaper"), "port", &port, "--json"])
        .env("REAPER_STATE_DIR", sandbox.path());
    let assert = assert_cmd::Command::from_std(command).assert();
    let output = assert.get_output();
    if output.status.code() != Some(1) {
        eprintln!(
            "skipped: unshare -n is not allowed here: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    let doc = json_of(&assert);
    assert_eq!(doc["held"], false);
    let notes = doc["notes"].to_string();
    assert!(notes.contains("network namespace of its own"), "{notes}");
    assert!(notes.contains("nsenter"), "{notes}");
}
