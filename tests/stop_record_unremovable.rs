//! A stop whose record cannot be removed (the state directory became read-only or immutable)
//! still says what it stopped, then which file it could not remove, and exits 1. Before, it
//! printed only "Operation not permitted" although the processes were ended.
#![cfg(target_os = "linux")]

mod common;

use std::process::Command;

use common::{Sandbox, TOKEN_VAR};

/// Makes `.run` read-only but keeps `.run/.locks` writable (as `chattr +i .run` does: the flag
/// is not inherited), in a private mount namespace so only this command sees it, and runs
/// `reaper stop web` there.
const STOP_ON_A_READ_ONLY_RUN_DIR: &str = r#"
set -e
mkdir locks-mount
mount --bind .run/.locks locks-mount
mount --bind .run .run
mount -o remount,bind,ro .run
mount --bind locks-mount .run/.locks
shift
exec "$0" stop web "$@"
"#;

fn stop_read_only(sandbox: &Sandbox, args: &[&str]) -> std::process::Output {
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(STOP_ON_A_READ_ONLY_RUN_DIR)
        .arg(assert_cmd::cargo::cargo_bin("reaper"))
        .arg("--")
        .args(args)
        .current_dir(sandbox.path())
        .env("REAPER_STATE_DIR", sandbox.path())
        .env(TOKEN_VAR, &sandbox.token)
        .output()
        .unwrap()
}

#[test]
fn stop_says_what_it_stopped_and_which_file_it_could_not_remove() {
    if !common::mount_namespaces_usable() {
        eprintln!("skipped: needs root for `unshare --mount` to make .run read-only");
        return;
    }
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh("web", "exec sleep 300");
    let leader = record["leader"]["pid"].as_u64().unwrap();
    let output = stop_read_only(&sandbox, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("stopped web"), "{stdout}");
    assert!(stdout.contains(&leader.to_string()), "{stdout}");
    assert!(
        stderr.contains("web was stopped, but its record could not be removed"),
        "{stderr}"
    );
    assert!(
        stderr.contains(".run/web."),
        "the file is not named: {stderr}"
    );
    assert!(sandbox.token_processes().is_empty());
    // The record is still there; once the directory is writable, clean removes it.
    assert!(sandbox.record_path("web").exists());
    sandbox.reaper().arg("clean").assert().success();
    assert!(!sandbox.record_path("web").exists());
    sandbox.assert_nothing_left();
}

#[test]
fn stop_json_lists_the_unremoved_record() {
    if !common::mount_namespaces_usable() {
        eprintln!("skipped: needs root for `unshare --mount` to make .run read-only");
        return;
    }
    let sandbox = Sandbox::new();
    sandbox.start_sh("web", "exec sleep 300");
    let output = stop_read_only(&sandbox, &["--json"]);
    assert_eq!(output.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(doc["stopped"][0]["name"], "web", "{doc}");
    assert_eq!(doc["unremoved"][0]["name"], "web", "{doc}");
    assert!(
        doc["unremoved"][0]["error"]
            .as_str()
            .unwrap()
            .contains(".run/web."),
        "{doc}"
    );
    sandbox.reaper().arg("clean").assert().success();
    sandbox.assert_nothing_left();
}
