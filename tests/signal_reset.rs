//! Services start with every signal at its default action and none blocked, whatever their
//! starter ignored or blocked. Before, a service started from a shell running `trap '' TERM INT
//! HUP` (or from `nohup`) inherited the ignored signals, so `stop` could only SIGKILL it.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;

use common::{Sandbox, TOKEN_VAR, json_of};

/// Signals 32 and 33 belong to the C library (glibc refuses to change them and sets them up
/// itself in programs that use them); `cargo test` starts its tests with 32 ignored.
const C_LIBRARY_SIGNALS: u64 = 0b11 << 31;

/// The `SigIgn` and `SigBlk` masks in `status` (the text of /proc/PID/status), without the C
/// library's signals.
fn ignored_and_blocked(status: &str) -> (u64, u64) {
    let field = |name: &str| {
        let hex = status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap()
            .trim();
        u64::from_str_radix(hex, 16).unwrap() & !C_LIBRARY_SIGNALS
    };
    (field("SigIgn:"), field("SigBlk:"))
}

/// `reaper ARGS` run through `sh` with TERM, INT and HUP ignored, and TERM blocked.
fn reaper_from_a_shell_ignoring_signals(sandbox: &Sandbox, args: &str) -> std::process::Output {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("trap '' TERM INT HUP; exec \"$0\" {args}"))
        .arg(assert_cmd::cargo::cargo_bin("reaper"))
        .current_dir(sandbox.path())
        .env("REAPER_STATE_DIR", sandbox.path())
        .env(TOKEN_VAR, &sandbox.token);
    // SAFETY: runs between fork and exec; sigemptyset, sigaddset and sigprocmask are
    // async-signal-safe and touch only the local set and the child's mask.
    unsafe {
        command.pre_exec(|| {
            let mut term: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut term);
            libc::sigaddset(&mut term, libc::SIGTERM);
            libc::sigprocmask(libc::SIG_BLOCK, &term, std::ptr::null_mut());
            Ok(())
        });
    }
    command.output().unwrap()
}

#[test]
fn a_service_started_by_a_shell_ignoring_term_stops_gracefully() {
    let sandbox = Sandbox::new();
    let output = reaper_from_a_shell_ignoring_signals(&sandbox, "start web -- sleep 300");
    assert!(output.status.success(), "{output:?}");
    sandbox.note_tree();
    let record = sandbox.record("web");
    let leader = record["leader"]["pid"].as_u64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{leader}/status")).unwrap();
    assert_eq!(ignored_and_blocked(&status), (0, 0), "{status}");
    let stop = sandbox
        .reaper()
        .args(["stop", "web", "--json"])
        .assert()
        .success();
    let json = json_of(&stop);
    let processes = json["stopped"][0]["processes"].as_array().unwrap();
    assert!(
        processes.iter().all(|p| p["outcome"] == "graceful"),
        "{json}"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn a_command_run_by_a_shell_ignoring_term_starts_with_default_signals() {
    let sandbox = Sandbox::new();
    let output =
        reaper_from_a_shell_ignoring_signals(&sandbox, "run -- grep ^Sig /proc/self/status");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(ignored_and_blocked(&stdout), (0, 0), "{stdout}");
    sandbox.assert_nothing_left();
}
