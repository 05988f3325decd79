//! `reaper ui` on a pseudo-terminal, attached to services started with `reaper start`: `j` and
//! `r` restart the second one (a new pid, per `status --json`), `s` stops it, `S` starts it
//! again from its record; `q` and SIGTERM give the terminal back and leave everything running.
#![cfg(target_os = "linux")]

mod common;
mod ui_common;

use common::Sandbox;
use ui_common::{Pty, pid_of};

#[test]
fn ui_restarts_stops_and_starts_the_selection_and_quit_leaves_services_running() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("alpha", "echo alpha says hi; exec sleep 1000");
    sandbox.start_sh("beta", "echo beta run $$; exec sleep 1000");
    let before = sandbox.status_json();
    let alpha = pid_of(&before, "alpha").expect("alpha runs");
    let beta = pid_of(&before, "beta").expect("beta runs");

    let mut ui = Pty::reaper(&sandbox, &["ui"]);
    ui.wait_for("2 of 2 managed services running");
    ui.wait_for("alpha | alpha says hi");
    ui.wait_for(&format!("beta  | beta run {beta}"));
    ui.send("j");
    ui.send("r");
    ui.wait_for("restarted beta: pid");
    let restarted = pid_of(&sandbox.status_json(), "beta").expect("beta runs again");
    assert_ne!(restarted, beta, "r started a new run of the second service");
    ui.wait_for(&format!("beta  | beta run {restarted}"));
    sandbox.note_tree();

    ui.send("s");
    ui.wait_for("stopped beta");
    assert_eq!(
        pid_of(&sandbox.status_json(), "beta"),
        None,
        "s stopped beta"
    );
    // Its record is gone, yet it stays listed (and selected) so S can start it again.
    ui.wait_for("1 of 1 managed services running");
    ui.wait_for("│beta  stopped");
    ui.send("S");
    ui.wait_for("started beta: pid");
    let started = pid_of(&sandbox.status_json(), "beta").expect("S started beta from its record");
    assert_ne!(started, restarted);
    sandbox.note_tree();

    ui.send("q");
    assert_eq!(ui.exit_code(), 0);
    assert!(
        ui.screen()
            .contains("reaper ui ended; 2 services left running"),
        "{}",
        ui.screen()
    );
    let after = sandbox.status_json();
    assert_eq!(
        pid_of(&after, "alpha"),
        Some(alpha),
        "quitting left alpha running"
    );
    assert_eq!(
        pid_of(&after, "beta"),
        Some(started),
        "quitting left beta running"
    );

    sandbox.reaper().args(["stop", "--all"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn sigterm_gives_the_terminal_back_and_leaves_services_running() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("solo", "echo solo up; exec sleep 1000");
    let mut ui = Pty::reaper(&sandbox, &["ui"]);
    // Drawn: the shell has exec'd reaper, the pty's child is the UI itself.
    ui.wait_for("solo | solo up");
    ui.signal(rexpect::process::Signal::SIGTERM);
    assert_eq!(ui.exit_code(), 0);
    assert!(
        ui.screen()
            .contains("reaper ui ended (SIGTERM received); 1 service left running"),
        "{}",
        ui.screen()
    );
    assert!(pid_of(&sandbox.status_json(), "solo").is_some());
    sandbox.reaper().args(["stop", "solo"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn two_uis_attach_at_once_and_show_raw_bytes_and_escapes_harmlessly() {
    let sandbox = Sandbox::new();
    sandbox.start_sh(
        "noisy",
        r"printf 'bad \377\376 bytes\n\033[2J\033[31mred\033[0m bell\007\n'; exec sleep 1000",
    );
    let mut first = Pty::reaper(&sandbox, &["ui"]);
    let mut second = Pty::reaper(&sandbox, &["ui"]);
    for ui in [&mut first, &mut second] {
        ui.wait_for("noisy | bad \u{fffd}\u{fffd} bytes");
        // The clear-screen and colour codes were removed, not obeyed: the UI is still drawn.
        ui.wait_for("noisy | red bell");
        ui.wait_for("1 of 1 managed services running");
    }
    first.send("q");
    assert_eq!(first.exit_code(), 0);
    second.send("\u{3}");
    assert_eq!(second.exit_code(), 0, "Ctrl-C quits too");
    assert!(pid_of(&sandbox.status_json(), "noisy").is_some());
    sandbox.reaper().args(["stop", "noisy"]).assert().success();
    sandbox.assert_nothing_left();
}
