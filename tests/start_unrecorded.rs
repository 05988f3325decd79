//! A start whose record cannot be written (disk full) stops what it started: never a running
//! service without a record. Before, `start` printed the write error and left the service
//! running, invisible to `status` and `stop`.
#![cfg(target_os = "linux")]

mod common;

use std::process::Command;

use common::{Sandbox, TOKEN_VAR};

/// Mounts a full tmpfs on `.run` (in a private mount namespace, so only this command and what it
/// starts see it) and runs `reaper start web -- sleep 300` there.
const START_ON_A_FULL_RUN_DIR: &str = r#"
set -e
mkdir -p .run
mount -t tmpfs -o size=16k,mode=0700 tmpfs .run
mkdir .run/.locks
touch .run/.locks/web
# The marker floor is written before anything starts; present, it leaves the record as the
# first write that fails.
touch ".run/.markers-since.$(cat /proc/sys/kernel/random/boot_id)"
cat /dev/zero > .run/fill 2>/dev/null || true
exec "$1" start web -- sleep 300
"#;

#[test]
fn start_whose_record_cannot_be_written_stops_the_service() {
    if !common::mount_namespaces_usable() {
        eprintln!("skipped: needs root for `unshare --mount` to fill a private tmpfs");
        return;
    }
    let sandbox = Sandbox::new();
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(START_ON_A_FULL_RUN_DIR)
        .arg("sh")
        .arg(assert_cmd::cargo::cargo_bin("reaper"))
        .current_dir(sandbox.path())
        .env("REAPER_STATE_DIR", sandbox.path())
        .env(TOKEN_VAR, &sandbox.token)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot record web"), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(
        stderr.contains("the processes it started were stopped"),
        "{stderr}"
    );
    assert!(
        sandbox.token_processes().is_empty(),
        "the unrecorded service survived: {:?}",
        sandbox.token_processes()
    );
    sandbox.assert_nothing_left();
}
