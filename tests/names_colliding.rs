//! Service names whose files would be reaper's own are refused with exit 2 (they made services
//! invisible to `status` and `stop --all`): names ending in `.exit` (their record is read as
//! another service's exit status), `reaper` and `zombie-detection` (their log is reaper's own),
//! and `_stack` for new services (the detached stack supervisor's record).
#![cfg(target_os = "linux")]

mod common;

use common::Sandbox;
use predicates::str::contains;

#[test]
fn name_ending_in_exit_is_refused_instead_of_becoming_invisible() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["start", "web.exit", "--", "sh", "-c", "sleep 30"])
        .assert()
        .code(2)
        .stderr(contains("reserved"))
        .stderr(contains(".exit"));
    sandbox.assert_nothing_left();
    assert!(!sandbox.record_path("web.exit").exists());
    sandbox
        .reaper()
        .args(["start", "web.EXIT", "--", "sh", "-c", "sleep 30"])
        .assert()
        .code(2);
    sandbox.assert_nothing_left();
}

#[test]
fn names_whose_log_is_reapers_own_are_refused() {
    let sandbox = Sandbox::new();
    for name in ["reaper", "zombie-detection"] {
        sandbox
            .reaper()
            .args([
                "start",
                name,
                "--",
                "sh",
                "-c",
                "echo forged action log line; sleep 30",
            ])
            .assert()
            .code(2)
            .stderr(contains("reserved"))
            .stderr(contains(format!(".logs/{name}.log")));
        sandbox.assert_nothing_left();
    }
    // Nor does `logs` print the action log as if it were a service's.
    sandbox.reaper().args(["logs", "reaper"]).assert().code(2);
}

#[test]
fn stack_supervisor_name_is_refused_for_new_services() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["start", "_stack", "--", "sh", "-c", "sleep 30"])
        .assert()
        .code(2)
        .stderr(contains("reserved"));
    sandbox.assert_nothing_left();
    // It stays a name to ask about: nothing runs under it here.
    sandbox.reaper().args(["status", "_stack"]).assert().code(3);
}

#[test]
fn reserved_names_in_reaper_toml_are_configuration_errors() {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.path().join("reaper.toml"),
        "[services.reaper]\ncommand = \"sleep 30\"\n\n[services.\"db.exit\"]\ncommand = \"sleep 30\"\n",
    )
    .unwrap();
    sandbox
        .reaper()
        .args(["check"])
        .assert()
        .code(2)
        .stdout(contains("'reaper' is reserved"))
        .stdout(contains("'db.exit' is reserved"));
}

#[test]
fn names_that_only_look_like_reapers_files_still_work() {
    let sandbox = Sandbox::new();
    for name in ["web.env", "web.exited", "web"] {
        sandbox.start_sh(name, "sleep 30");
    }
    let status = sandbox.reaper().args(["status"]).assert().success();
    let text = String::from_utf8_lossy(&status.get_output().stdout).to_string();
    for name in ["web.env", "web.exited", "web"] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("{name} "))),
            "{text}"
        );
    }
    sandbox.reaper().args(["stop", "--all"]).assert().success();
    sandbox.assert_nothing_left();
}
