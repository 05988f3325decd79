//! `depends_on` conditions in `reaper up`, each on real processes: "started" does not wait for
//! readiness, "log_ready" waits for the dependency's log probe, "healthy" for its port,
//! "completed_successfully" for a task's exit 0. A condition its dependency cannot meet, or an
//! unknown one, is a configuration error (exit 2) with line, column and a hint.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use common::{Sandbox, free_port};
use stack_common::{Up, position, write_config};

#[test]
fn each_condition_waits_for_what_it_names() {
    let sandbox = Sandbox::new();
    let db_port = free_port();
    write_config(
        &sandbox,
        &format!(
            r#"[services.slow]
command = "echo slow: warming; sleep 1.5; echo slow: ready; exec sleep 1000"
ready = {{ log = "slow: ready" }}

[services.early]
command = "echo early: up; exec sleep 1000"
depends_on = {{ slow = "started" }}
ready = {{ log = "early: up" }}

[services.late]
command = "echo late: up; exec sleep 1000"
depends_on = {{ slow = "log_ready" }}
ready = {{ log = "late: up" }}

[services.db]
command = ["python3", "-c", "import os, socket, time\ntime.sleep(0.5)\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', int(os.environ['PORT'])))\ns.listen()\ntime.sleep(1000)"]
port = {db_port}

[services.client]
command = ["python3", "-c", "import os, socket, time\nsocket.create_connection(('127.0.0.1', int(os.environ['DB_PORT'])))\nprint('client: connected', flush=True)\ntime.sleep(1000)"]
depends_on = {{ db = "healthy" }}
ready = {{ log = "client: connected" }}

[services.job]
command = "sleep 0.5; echo done > job.out"
kind = "task"

[services.after_job]
command = "test -f job.out || exit 9; echo after_job: up; exec sleep 1000"
depends_on = {{ job = "completed_successfully" }}
ready = {{ log = "after_job: up" }}
"#
        ),
    );
    let mut up = Up::start(&sandbox, &[]);
    up.wait_for("all 7 services are ready");
    sandbox.note_tree();
    let lines = up.output();
    // started: early runs while slow is still warming up.
    assert!(position(&lines, "early is ready") < position(&lines, "slow is ready"));
    // log_ready: late only after slow's line matched.
    assert!(position(&lines, "slow is ready") < position(&lines, "late: up"));
    // healthy: client connects at once, so it must start after db's port accepts.
    assert!(position(&lines, "db is ready") < position(&lines, "client: connected"));
    // completed_successfully: after_job checks the task's file.
    assert!(position(&lines, "task job completed") < position(&lines, "after_job: up"));
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    sandbox.assert_nothing_left();
}

#[test]
fn conditions_that_cannot_be_met_are_configuration_errors() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        r#"[services.db]
command = "sleep 1000"

[services.api]
command = "sleep 1000"
depends_on = { db = "healthy" }
"#,
    );
    let out = sandbox.reaper().args(["up"]).assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("reaper.toml:6:21: service `api`: `db` can never be healthy (hint: `db` has no readiness probe: give it a `port` or `ready`, or use \"started\")"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was started"), "{stderr}");
    write_config(
        &sandbox,
        "[services.db]\ncommand = \"sleep 1000\"\n\n[services.api]\ncommand = \"sleep 1000\"\ndepends_on = { db = \"ready\" }\n",
    );
    let out = sandbox.reaper().args(["check"]).assert().code(2);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("reaper.toml:6:21: unknown value `ready`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("started, healthy, completed_successfully, log_ready"),
        "{stdout}"
    );
    sandbox.assert_nothing_left();
}
