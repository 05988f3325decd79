//! Stops you can watch, on a terminal: a stop still waiting after a second shows a live line on a
//! pseudo-terminal naming the process it waits for and counting down to SIGKILL, and the line is
//! cleared when the stop ends, leaving only the usual report on the screen; lines a command
//! prints meanwhile (`down` shows the supervisor's) land above it.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use std::num::NonZeroU16;
use std::process::Command;

use common::{Sandbox, TOKEN_VAR};
use stack_common::write_config;

const COLUMNS: NonZeroU16 = NonZeroU16::new(100).unwrap();
const ROWS: NonZeroU16 = NonZeroU16::new(24).unwrap();

/// Runs `reaper ARGS` on a fresh pseudo-terminal of COLUMNS×ROWS (stdin, stdout and stderr) and
/// returns everything it wrote there.
fn on_terminal(sandbox: &Sandbox, args: &[&str]) -> Vec<u8> {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("reaper"));
    command
        .args(args)
        .current_dir(sandbox.path())
        .env("REAPER_STATE_DIR", sandbox.path())
        .env(TOKEN_VAR, &sandbox.token)
        .env("TERM", "xterm-256color");
    let mut session = rexpect::session::spawn_command(command, Some(30_000)).expect("pty");
    let terminal = session.process().get_file_handle().expect("pty handle");
    rustix::termios::tcsetwinsize(
        &terminal,
        rustix::termios::Winsize {
            ws_row: ROWS.get(),
            ws_col: COLUMNS.get(),
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .expect("window size");
    let output = session.exp_eof().expect("reaper ends");
    let status = session.process().wait().expect("reaper exits");
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}: {output}"
    );
    // The reader hands over each byte as a char.
    output.chars().map(|c| c as u8).collect()
}

/// The screen after `output`, as a terminal of COLUMNS×ROWS shows it.
fn screen(output: &[u8]) -> String {
    let mut parser = vt100::Parser::new(ROWS.get(), COLUMNS.get(), 0);
    parser.process(output);
    parser.screen().contents()
}

#[test]
fn the_live_line_counts_down_names_the_process_and_is_cleared() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("stubborn", "(trap '' TERM; exec sleep 1000) & wait");
    let child = sandbox
        .token_processes()
        .into_iter()
        .find(|p| p.3.trim_end() == "sleep 1000")
        .expect("the child")
        .0;
    let output = on_terminal(&sandbox, &["stop", "stubborn", "--timeout", "4s"]);
    let raw = String::from_utf8_lossy(&output);
    let shown: Vec<u32> = (1..=3)
        .filter(|left| {
            let line = format!("stopping stubborn (SIGKILL in {left}s): pid {child} (sleep 1000)");
            raw.contains(&line)
        })
        .collect();
    // Redrawn at least 4 times a second: however busy the machine, more than one second shows.
    assert!(shown.len() >= 2, "the countdown ticks ({shown:?}): {raw:?}");
    let screen = screen(&output);
    assert!(!screen.contains("stopping stubborn"), "cleared:\n{screen}");
    assert!(
        !screen.contains("reaper: waiting"),
        "no plain lines:\n{screen}"
    );
    let report = screen.lines().next().unwrap_or_default();
    assert!(
        report.starts_with("stopped stubborn in ")
            && report.ends_with(": 2 processes, 1 after SIGTERM, 1 by SIGKILL"),
        "the report is unchanged:\n{screen}"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn parallel_stops_get_a_line_each_and_all_are_cleared() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("first", "(trap '' TERM; exec sleep 1000) & wait");
    sandbox.start_sh("second", "(trap '' TERM; exec sleep 1001) & wait");
    let output = on_terminal(&sandbox, &["stop", "--all", "--timeout", "2s"]);
    let raw = String::from_utf8_lossy(&output);
    for name in ["first", "second"] {
        let line = format!("stopping {name} (SIGKILL in ");
        assert!(raw.contains(&line), "{name}: {raw:?}");
    }
    let screen = screen(&output);
    assert!(!screen.contains("stopping "), "cleared:\n{screen}");
    for name in ["first", "second"] {
        assert!(
            screen.contains(&format!("stopped {name} in ")),
            "{name}:\n{screen}"
        );
    }
    sandbox.assert_nothing_left();
}

#[test]
fn a_quick_stop_draws_no_line() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("quick", "exec sleep 1000");
    let output = on_terminal(&sandbox, &["stop", "quick"]);
    let raw = String::from_utf8_lossy(&output);
    assert!(raw.starts_with("stopped quick in "), "{raw:?}");
    assert!(!raw.contains("stopping"), "{raw:?}");
    sandbox.assert_nothing_left();
}

#[test]
fn down_prints_the_supervisors_lines_above_its_live_line() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        r#"[services.stubborn]
command = ["sh", "-c", "trap '' TERM; exec sleep 1000"]
stop_timeout = "3s"
"#,
    );
    sandbox.reaper().args(["up", "-d"]).assert().success();
    sandbox.note_tree();
    let output = on_terminal(&sandbox, &["down"]);
    let raw = String::from_utf8_lossy(&output);
    assert!(raw.contains("stopping _stack (SIGKILL in "), "{raw:?}");
    let screen = screen(&output);
    assert!(!screen.contains("stopping _stack"), "cleared:\n{screen}");
    // The supervisor's own wait for the service, from its log, is whole on its own line.
    assert!(
        screen
            .lines()
            .any(|line| line.starts_with("reaper: waiting for stubborn after SIGTERM")),
        "{screen}"
    );
    sandbox.assert_nothing_left();
}
