//! When root cannot read another process's open files, `reaper port` and `reaper ports` say
//! what limits it instead of suggesting `sudo` (which would change nothing). Before, root was
//! told to try `sudo reaper port N`. Set up by running reaper as root without CAP_SYS_PTRACE
//! (setpriv), which the kernel requires to read the fds of a process with more capabilities.
#![cfg(target_os = "linux")]

mod common;
mod ports_common;

use std::process::Command;

use common::{Sandbox, json_of};
use ports_common::Helper;

/// `reaper ARGS` as root without CAP_SYS_PTRACE, or None where that cannot be arranged.
fn reaper_without_ptrace(sandbox: &Sandbox, args: &[&str]) -> Option<assert_cmd::Command> {
    let drop = ["--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace"];
    let usable = rustix::process::geteuid().is_root()
        && Command::new("setpriv")
            .args(drop)
            .arg("true")
            .status()
            .is_ok_and(|s| s.success());
    if !usable {
        return None;
    }
    let mut command = Command::new("setpriv");
    command
        .args(drop)
        .arg(env!("CARGO_BIN_EXE_reaper"))
        .args(args)
        .current_dir(sandbox.path())
        .env("REAPER_STATE_DIR", sandbox.path());
    Some(assert_cmd::Command::from_std(command))
}

#[test]
fn root_is_not_told_to_use_sudo() {
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "tcp4", &[]);
    let port = holder.port().to_string();
    let Some(mut lookup) = reaper_without_ptrace(&sandbox, &["port", &port, "--json"]) else {
        eprintln!("skipped: needs root and setpriv(1) to drop CAP_SYS_PTRACE");
        return;
    };
    let doc = json_of(&lookup.assert().success());
    let why = doc["sockets"][0]["unseen"].as_str().unwrap_or_default();
    if why.is_empty() {
        eprintln!("skipped: the holder's open files were readable without CAP_SYS_PTRACE: {doc}");
        return;
    }
    assert!(why.contains("permission denied"), "{why}");
    assert!(!why.contains("sudo"), "{why}");
    assert!(why.contains("already runs as root"), "{why}");
    assert!(why.contains("CAP_SYS_PTRACE"), "{why}");

    let listing = reaper_without_ptrace(&sandbox, &["ports"])
        .unwrap()
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&listing.get_output().stdout).into_owned();
    assert!(stdout.contains("could not be read"), "{stdout}");
    assert!(!stdout.contains("sudo"), "{stdout}");
    assert!(stdout.contains("already runs as root"), "{stdout}");
    assert!(common::alive(holder.pid()));
}
