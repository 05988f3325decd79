//! A panic in the terminal UI gives the terminal back (main screen, cursor shown, raw mode off)
//! before the message is printed; `reaper ui` leaves the services running, and under `reaper up`
//! the stack is stopped as by Ctrl-C, with nothing left.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;
mod ui_common;

use common::Sandbox;
use stack_common::write_config;
use ui_common::{Pty, pid_of};

const PANIC: (&str, &str) = ("REAPER_FAULT", "ui-panic");

#[test]
fn a_panic_in_reaper_ui_restores_the_terminal_and_leaves_the_services_running() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("idle", "exec sleep 1000");
    let mut ui = Pty::reaper_with(&sandbox, &["ui"], &[PANIC]);
    assert_eq!(ui.exit_code(), 101, "{}", ui.screen());
    assert!(
        ui.screen().contains("a panic injected for testing"),
        "the message is printed on the restored screen:\n{}",
        ui.screen()
    );
    let status = sandbox.status_json();
    assert!(
        pid_of(&status, "idle").is_some(),
        "idle still runs: {status}"
    );
    sandbox.reaper().args(["stop", "idle"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn a_panic_in_ups_ui_stops_the_stack_on_a_restored_terminal() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        "[services.web]\ncommand = \"echo web up; exec sleep 1000\"\n",
    );
    let mut ui = Pty::reaper_with(&sandbox, &["up"], &[PANIC]);
    ui.exit_code();
    let screen = ui.screen();
    assert!(
        screen.contains("a panic injected for testing") && screen.contains("stack stopped in"),
        "the panic and the shutdown are printed on the restored screen:\n{screen}"
    );
    sandbox.assert_nothing_left();
}
