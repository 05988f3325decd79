//! A state directory that became read-only while a service ran (found by
//! `scripts/soak/faults.py`): `stop`, `restart` and `clean` failed with the bare OS error on a
//! lock file (`.run/.locks/web: Read-only file system`, exit 1). They now say the state
//! directory is not usable and how to go on (exit 2, as `start` does), end nothing, and
//! `status` still reads it; once it is writable again the service stops normally.
#![cfg(target_os = "linux")]

mod common;

use std::process::Command;

use common::{Sandbox, TOKEN_VAR};

/// Runs `reaper ARGS…` in a private mount namespace where the whole state directory is a
/// read-only bind mount of itself, so only that command sees it read-only.
const ON_A_READ_ONLY_STATE_DIR: &str = r#"
set -e
mount --bind . .
mount -o remount,bind,ro . .
cd "$PWD"
exec "$@"
"#;

fn reaper_read_only(sandbox: &Sandbox, args: &[&str]) -> std::process::Output {
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(ON_A_READ_ONLY_STATE_DIR)
        .arg("sh")
        .arg(assert_cmd::cargo::cargo_bin("reaper"))
        .args(args)
        .current_dir(sandbox.path())
        .env("REAPER_STATE_DIR", sandbox.path())
        .env(TOKEN_VAR, &sandbox.token)
        .output()
        .unwrap()
}

#[test]
fn commands_on_a_read_only_state_dir_say_so_and_end_nothing() {
    if !common::mount_namespaces_usable() {
        eprintln!("skipped: needs root for `unshare --mount` to make the state dir read-only");
        return;
    }
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh("web", "exec sleep 300");
    let leader = record["leader"]["pid"].as_u64().unwrap() as u32;

    for args in [
        &["stop", "web"][..],
        &["restart", "web"],
        &["clean", "--kill"],
    ] {
        let output = reaper_read_only(&sandbox, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("is not usable: Read-only file system")
                && stderr.contains("pass a writable --state-dir"),
            "{args:?}: {stderr}"
        );
        assert!(common::alive(leader), "{args:?} ended the service");
    }
    let status = reaper_read_only(&sandbox, &["status", "web"]);
    assert_eq!(status.status.code(), Some(0), "{status:?}");
    assert_eq!(sandbox.record("web")["run_id"], record["run_id"]);

    sandbox.reaper().args(["stop", "web"]).assert().success();
    sandbox.assert_nothing_left();
}
