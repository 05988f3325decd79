//! One-shot tasks (`kind = "task"`) in `reaper up`: a task runs to completion before its
//! dependents start and `reaper ps` shows it `completed`; a failing task fails `up` with its
//! log's last lines and nothing that depends on it starts; `restart = "on-failure"` retries a
//! task. Real processes, nothing left behind.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use common::Sandbox;
use stack_common::{Up, position, write_config};

#[test]
fn a_task_completes_before_its_dependents_start_and_ps_shows_completed() {
    let sandbox = Sandbox::new();
    // api refuses to run without the migration's file: it starting early would fail the stack.
    write_config(
        &sandbox,
        r#"[services.migrate]
command = "echo migrating; sleep 0.5; echo done > migrated; echo migrated"
kind = "task"

[services.api]
command = "test -f migrated || exit 7; echo api: up; exec sleep 1000"
depends_on = ["migrate"]
ready = { log = "api: up" }
"#,
    );
    let mut up = Up::start(&sandbox, &[]);
    up.wait_for("all 2 services are ready");
    sandbox.note_tree();
    let lines = up.output();
    assert!(position(&lines, "task migrate completed after") < position(&lines, "api: up"));
    let ps = sandbox.ps_json();
    let migrate = ps["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "migrate")
        .unwrap();
    assert_eq!(migrate["state"], "completed", "{ps}");
    assert!(migrate["pid"].is_null(), "{ps}");
    // Nothing of the task is left: no record.
    assert!(!sandbox.record_path("migrate").exists());
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    sandbox.assert_nothing_left();
}

#[test]
fn a_failing_task_fails_up_with_its_log_tail_and_its_dependents_never_start() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        r#"[services.migrate]
command = "echo 'error: relation users already exists'; exit 4"
kind = "task"
restart = "no"

[services.api]
command = "echo api: started; exec sleep 1000"
depends_on = { migrate = "completed_successfully" }
"#,
    );
    let mut up = Up::start(&sandbox, &[]);
    let status = up.wait();
    let text = up.text();
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("task migrate failed after"), "{text}");
    assert!(
        text.contains("(exit code 4); last lines of its log:"),
        "{text}"
    );
    assert!(
        text.contains("| error: relation users already exists"),
        "{text}"
    );
    assert!(
        text.contains("migrate failed: stopping the stack"),
        "{text}"
    );
    assert!(!text.contains("api: started"), "{text}");
    assert!(!sandbox.record_path("migrate").exists());
    sandbox.assert_nothing_left();
}

#[test]
fn a_task_with_restart_on_failure_is_retried_until_it_succeeds() {
    let sandbox = Sandbox::new();
    // Fails on the first attempt (no marker file yet), succeeds on the second.
    write_config(
        &sandbox,
        r#"[services.seed]
command = "if [ -f attempted ]; then echo seeded; else touch attempted; echo flaky; exit 1; fi"
kind = "task"
restart = "on-failure"
backoff = "50ms"

[services.web]
command = "echo web: up; exec sleep 1000"
depends_on = ["seed"]
ready = { log = "web: up" }
"#,
    );
    let mut up = Up::start(&sandbox, &[]);
    up.wait_for("all 2 services are ready");
    sandbox.note_tree();
    let lines = up.output();
    let failed = position(&lines, "task seed failed after");
    let retried = position(&lines, "restarting seed in");
    let completed = position(&lines, "task seed completed after");
    assert!(failed <= retried && retried < completed, "{}", up.text());
    assert!(completed < position(&lines, "web: up"));
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    sandbox.assert_nothing_left();
}
