//! Stops you can watch, off a terminal: a stop still waiting after a second prints one line
//! naming what it waits for (service, pid, command, countdown to SIGKILL) and one line saying how
//! it ended, on stderr; a quick stop prints neither, and stdout's reports are unchanged. Covered
//! for `stop`, `stop --all`, `run --timeout`, `port --kill` and `down`.
#![cfg(target_os = "linux")]

mod common;
mod ports_common;
mod stack_common;

use common::Sandbox;
use ports_common::Helper;
use stack_common::write_config;

const WAITING: &str = "reaper: waiting for ";
const DONE: &str = "reaper: done waiting after ";

/// A service whose child ignores SIGTERM: the stop waits for its timeout, then SIGKILLs it.
const CHILD_IGNORES_TERM: &str = "(trap '' TERM; exec sleep 1000) & wait";

/// What a command printed, and the one waiting line and one end line on its stderr.
struct Watched {
    stdout: String,
    stderr: String,
    waiting: String,
    done: String,
}

/// `text` with every countdown (`SIGKILL in 2s`) written `SIGKILL in Ns`: how many seconds are
/// left when the line is printed depends on how busy the machine is.
fn countdowns_masked(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("SIGKILL in ") {
        let (before, after) = rest.split_at(at + "SIGKILL in ".len());
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        assert!(
            digits > 0 && after[digits..].starts_with("s)"),
            "a countdown: {text}"
        );
        out.push_str(before);
        out.push('N');
        rest = &after[digits..];
    }
    out + rest
}

fn watched(assert: &assert_cmd::assert::Assert) -> Watched {
    let output = assert.get_output();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let one = |prefix: &str| {
        let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with(prefix)).collect();
        assert_eq!(lines.len(), 1, "one line starting {prefix:?}:\n{stderr}");
        lines[0].to_string()
    };
    Watched {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        waiting: countdowns_masked(&one(WAITING)),
        done: one(DONE),
        stderr,
    }
}

/// The pid of the sandbox's process whose command line is `command`.
fn pid_of(sandbox: &Sandbox, command: &str) -> u32 {
    sandbox
        .token_processes()
        .into_iter()
        .find(|p| p.3.trim_end() == command)
        .unwrap_or_else(|| panic!("no `{command}` in {:?}", sandbox.token_processes()))
        .0
}

#[test]
fn a_slow_stop_prints_one_waiting_line_and_one_end_line() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("stubborn", CHILD_IGNORES_TERM);
    let child = pid_of(&sandbox, "sleep 1000");
    let out = watched(
        &sandbox
            .reaper()
            .args(["stop", "stubborn", "--timeout", "3s"])
            .assert()
            .success(),
    );
    let expected = format!(
        "reaper: waiting for stubborn after SIGTERM (SIGKILL in Ns): pid {child} (sleep 1000)"
    );
    assert_eq!(out.waiting, expected, "{}", out.stderr);
    assert!(out.done.contains("stopped stubborn in "), "{}", out.stderr);
    assert!(out.done.contains("1 by SIGKILL"), "{}", out.stderr);
    assert_eq!(
        out.stderr.lines().count(),
        2,
        "nothing else: {}",
        out.stderr
    );
    assert!(
        !out.stdout.contains("waiting"),
        "stdout keeps its report: {}",
        out.stdout
    );
    assert!(
        out.stdout.starts_with("stopped stubborn in "),
        "{}",
        out.stdout
    );
    sandbox.assert_nothing_left();
}

#[test]
fn a_quick_stop_prints_nothing_on_stderr() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("quick", "exec sleep 1000");
    sandbox
        .reaper()
        .args(["stop", "quick", "--timeout", "3s"])
        .assert()
        .success()
        .stderr("");
    sandbox.assert_nothing_left();
}

#[test]
fn stop_all_names_every_service_still_waited_for_in_one_line() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("first", CHILD_IGNORES_TERM);
    sandbox.start_sh("second", "(trap '' TERM; exec sleep 1001) & wait");
    sandbox.start_sh("quick", "exec sleep 1002");
    let (first, second) = (
        pid_of(&sandbox, "sleep 1000"),
        pid_of(&sandbox, "sleep 1001"),
    );
    let out = watched(
        &sandbox
            .reaper()
            .args(["stop", "--all", "--timeout", "2s"])
            .assert()
            .success(),
    );
    for (name, pid, command) in [
        ("first", first, "sleep 1000"),
        ("second", second, "sleep 1001"),
    ] {
        let part = format!("{name} after SIGTERM (SIGKILL in Ns): pid {pid} ({command})");
        assert!(out.waiting.contains(&part), "{}", out.stderr);
        assert!(
            out.done.contains(&format!("stopped {name} in ")),
            "{}",
            out.stderr
        );
    }
    assert!(
        !out.waiting.contains("quick"),
        "quick was done: {}",
        out.stderr
    );
    sandbox.assert_nothing_left();
}

#[test]
fn run_timeout_says_what_it_waits_for() {
    let sandbox = Sandbox::new();
    let out = watched(
        &sandbox
            .reaper()
            .args(["run", "--timeout", "300ms", "--kill-after", "2s", "--"])
            .args(["sh", "-c", "trap '' TERM; sleep 1000 & wait"])
            .assert()
            .code(137),
    );
    let start = "reaper: waiting for run after SIGTERM (SIGKILL in Ns): pid ";
    assert!(out.waiting.starts_with(start), "{}", out.stderr);
    assert!(out.waiting.contains("(sleep 1000)"), "{}", out.stderr);
    assert!(
        out.waiting.contains("(sh -c trap '' TERM;"),
        "{}",
        out.stderr
    );
    assert!(out.done.contains("2 by SIGKILL"), "{}", out.stderr);
    sandbox.assert_nothing_left();
}

#[test]
fn port_kill_says_which_holder_it_waits_for() {
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "ignore-term", &[]);
    let port = holder.port().to_string();
    let out = watched(
        &sandbox
            .reaper()
            .args(["port", &port, "--kill", "--timeout", "2s"])
            .assert()
            .success(),
    );
    let start = format!(
        "reaper: waiting for port holders after SIGTERM (SIGKILL in Ns): pid {} (",
        holder.pid()
    );
    assert!(out.waiting.starts_with(&start), "{}", out.stderr);
    // The helper's long script is cut short, its newlines escaped.
    assert!(
        out.waiting.contains("python3 -c \\nimport os"),
        "{}",
        out.stderr
    );
    assert!(out.waiting.ends_with('…'), "{}", out.stderr);
    assert!(out.done.contains("1 by SIGKILL"), "{}", out.stderr);
    drop(holder);
    sandbox.assert_nothing_left();
}

#[test]
fn down_reports_the_supervisor_it_waits_for_and_the_services_behind_it() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        r#"[services.stubborn]
command = ["sh", "-c", "trap '' TERM; exec sleep 1000"]
stop_timeout = "2s"
"#,
    );
    sandbox.reaper().args(["up", "-d"]).assert().success();
    sandbox.note_tree();
    let service = pid_of(&sandbox, "sleep 1000");
    let out = watched(&sandbox.reaper().arg("down").assert().success());
    // `down` waits for the supervisor…
    let start = "reaper: waiting for _stack after SIGTERM";
    assert!(out.waiting.starts_with(start), "{}", out.stderr);
    assert!(out.waiting.contains("up --supervisor"), "{}", out.stderr);
    // …and shows the supervisor's log, where its own stop names the service it waits for.
    let expected = format!(
        "reaper: waiting for stubborn after SIGTERM (SIGKILL in Ns): pid {service} (sleep 1000)"
    );
    assert!(
        countdowns_masked(&out.stdout).contains(&expected),
        "{}",
        out.stdout
    );
    sandbox.assert_nothing_left();
}
