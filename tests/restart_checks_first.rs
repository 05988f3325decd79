//! `restart` checks what the new run needs — working directory, env files, program — before it
//! stops the old run. Before, a restart whose env file had been deleted stopped the service and
//! then failed to start it, leaving nothing running.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Sandbox, alive};
use predicates::str::contains;

/// Starts `web` (cwd `app/`, env file `app/app.env`, program `app/serve.sh`), runs `break_it` on
/// the app directory, and checks that `restart web` refuses with exit 2 and `message`, leaving the
/// same run of web alive.
fn restart_refused_after(break_it: impl FnOnce(&std::path::Path), message: &str) {
    let sandbox = Sandbox::new();
    let app = sandbox.path().join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(app.join("app.env"), "GREETING=hello\n").unwrap();
    let script = app.join("serve.sh");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 300\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    sandbox
        .reaper()
        .args([
            "start",
            "web",
            "--cwd",
            "app",
            "--env-file",
            "app.env",
            "--",
            "./serve.sh",
        ])
        .assert()
        .success();
    sandbox.note_tree();
    let record = sandbox.record("web");
    let pid = record["leader"]["pid"].as_u64().unwrap() as u32;

    break_it(&app);
    sandbox
        .reaper()
        .args(["restart", "web"])
        .assert()
        .code(2)
        .stderr(contains("web was not restarted and keeps running"))
        .stderr(contains(message));
    assert!(alive(pid), "the refused restart stopped web");
    assert_eq!(sandbox.record("web")["run_id"], record["run_id"]);

    sandbox.reaper().args(["stop", "web"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn restart_with_a_deleted_env_file_leaves_the_service_running() {
    restart_refused_after(
        |app| std::fs::remove_file(app.join("app.env")).unwrap(),
        "app.env: no such file",
    );
}

#[test]
fn restart_with_a_deleted_cwd_leaves_the_service_running() {
    restart_refused_after(
        |app| std::fs::remove_dir_all(app).unwrap(),
        "working directory",
    );
}

#[test]
fn restart_with_a_deleted_program_leaves_the_service_running() {
    restart_refused_after(
        |app| std::fs::remove_file(app.join("serve.sh")).unwrap(),
        "command not found: ./serve.sh",
    );
}

#[test]
fn restart_with_a_program_no_longer_executable_leaves_the_service_running() {
    restart_refused_after(
        |app| {
            std::fs::set_permissions(app.join("serve.sh"), std::fs::Permissions::from_mode(0o644))
                .unwrap()
        },
        "cannot execute ./serve.sh",
    );
}

#[test]
fn restart_with_everything_in_place_still_restarts() {
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh("web", "sleep 300");
    sandbox.reaper().args(["restart", "web"]).assert().success();
    sandbox.note_tree();
    assert_ne!(sandbox.record("web")["run_id"], record["run_id"]);
    sandbox.reaper().args(["stop", "web"]).assert().success();
    sandbox.assert_nothing_left();
}
