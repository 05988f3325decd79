//! `reaper up` on a pseudo-terminal opens the UI: `j` then `r` restarts the second service (its
//! new pid per `reaper ps --json`), `q` stops the stack as Ctrl-C does and the shutdown is
//! printed on the restored screen; nothing is left.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;
mod ui_common;

use common::Sandbox;
use stack_common::write_config;
use ui_common::{Pty, pid_of};

const STACK: &str = r#"[services.first]
command = "echo first run $$; exec sleep 1000"

[services.second]
command = "echo second run $$; exec sleep 1000"
depends_on = ["first"]
"#;

/// `reaper up` of [`STACK`] on a pseudo-terminal, once the UI shows the second service's output.
fn up_on_a_terminal() -> (Sandbox, Pty) {
    let sandbox = Sandbox::new();
    write_config(&sandbox, STACK);
    let mut ui = Pty::reaper(&sandbox, &["up"]);
    ui.wait_for("q stops the stack");
    ui.wait_for("second | second run");
    (sandbox, ui)
}

#[test]
fn up_on_a_terminal_restarts_the_second_service_with_j_r_and_q_stops_the_stack() {
    let (sandbox, mut ui) = up_on_a_terminal();
    let second = pid_of(&sandbox.ps_json(), "second").expect("second runs");
    ui.wait_for(&format!("second | second run {second}"));
    sandbox.note_tree();

    ui.send("j");
    ui.send("r");
    ui.wait_for("restarted second: pid");
    let restarted = pid_of(&sandbox.ps_json(), "second").expect("second runs again");
    assert_ne!(
        restarted, second,
        "r started a new run of the second service"
    );
    ui.wait_for(&format!("second | second run {restarted}"));
    sandbox.note_tree();

    // s stops it as `reaper stop` does; S asks the supervisor to start it again.
    ui.send("s");
    ui.wait_for("stopped second");
    assert_eq!(pid_of(&sandbox.ps_json(), "second"), None);
    // The supervisor starts only a service it has seen end.
    assert!(common::wait_until(
        std::time::Duration::from_secs(30),
        || {
            let ps = sandbox.ps_json();
            let state = ps["services"]
                .as_array()
                .and_then(|all| all.iter().find(|s| s["name"] == "second"))
                .map(|s| s["state"].clone());
            matches!(
                state.as_ref().and_then(|s| s.as_str()),
                Some("stopped" | "exited" | "crashed")
            )
        }
    ));
    ui.send("S");
    ui.wait_for("asked the supervisor to start second");
    let mut started = None;
    assert!(
        common::wait_until(std::time::Duration::from_secs(30), || {
            started = pid_of(&sandbox.ps_json(), "second");
            started.is_some()
        }),
        "S did not start second again; the screen:\n{}",
        ui.screen()
    );
    let started = started.unwrap();
    assert_ne!(started, restarted);
    ui.wait_for(&format!("second | second run {started}"));
    sandbox.note_tree();

    ui.send("q");
    assert_eq!(ui.exit_code(), 0);
    let screen = ui.screen();
    assert!(
        screen.contains("stopped"),
        "the shutdown is printed after the UI:\n{screen}"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn up_with_no_tui_prints_the_interleaved_lines_on_a_terminal() {
    let sandbox = Sandbox::new();
    write_config(&sandbox, STACK);
    let mut ui = Pty::reaper(&sandbox, &["up", "--no-tui"]);
    ui.wait_for("first  | first run");
    ui.wait_for("second | second run");
    assert!(!ui.screen().contains("q stops the stack"));
    sandbox.note_tree();
    ui.signal(rexpect::process::Signal::SIGINT);
    assert_eq!(ui.exit_code(), 0);
    sandbox.assert_nothing_left();
}

#[test]
fn sigterm_to_up_gives_the_terminal_back_before_the_shutdown() {
    let (sandbox, mut ui) = up_on_a_terminal();
    sandbox.note_tree();
    ui.signal(rexpect::process::Signal::SIGTERM);
    assert_eq!(ui.exit_code(), 0);
    let screen = ui.screen();
    assert!(
        screen.contains("SIGTERM received: stopping the services")
            && screen.contains("stopped second")
            && screen.contains("stack stopped in"),
        "the shutdown is printed on the restored screen:\n{screen}"
    );
    sandbox.assert_nothing_left();
}
