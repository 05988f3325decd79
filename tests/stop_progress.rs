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

/// The lines of `stderr` that start with `prefix`.
fn lines_with<'a>(stderr: &'a str, prefix: &str) -> Vec<&'a str> {
    stderr.lines().filter(|l| l.starts_with(prefix)).collect()
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
    let out = sandbox
        .reaper()
        .args(["stop", "stubborn", "--timeout", "3s"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let waiting = lines_with(&stderr, WAITING);
    assert_eq!(waiting.len(), 1, "{stderr}");
    let expected = format!(
        "reaper: waiting for stubborn after SIGTERM (SIGKILL in 2s): pid {child} (sleep 1000)"
    );
    assert_eq!(waiting[0], expected, "{stderr}");
    let done = lines_with(&stderr, DONE);
    assert_eq!(done.len(), 1, "{stderr}");
    assert!(done[0].contains("stopped stubborn in 3s"), "{stderr}");
    assert!(done[0].contains("1 by SIGKILL"), "{stderr}");
    assert_eq!(
        stderr.lines().count(),
        2,
        "nothing else on stderr: {stderr}"
    );
    assert!(
        !stdout.contains("waiting"),
        "stdout keeps its report: {stdout}"
    );
    assert!(stdout.starts_with("stopped stubborn in 3s"), "{stdout}");
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
    let out = sandbox
        .reaper()
        .args(["stop", "--all", "--timeout", "2s"])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let waiting = lines_with(&stderr, WAITING);
    assert_eq!(waiting.len(), 1, "{stderr}");
    assert!(
        waiting[0].contains(&format!(
            "first after SIGTERM (SIGKILL in 1s): pid {first} (sleep 1000)"
        )),
        "{stderr}"
    );
    assert!(
        waiting[0].contains(&format!(
            "second after SIGTERM (SIGKILL in 1s): pid {second} (sleep 1001)"
        )),
        "{stderr}"
    );
    assert!(!waiting[0].contains("quick"), "quick was done: {stderr}");
    let done = lines_with(&stderr, DONE);
    assert_eq!(done.len(), 1, "{stderr}");
    assert!(done[0].contains("stopped first in 2s"), "{stderr}");
    assert!(done[0].contains("stopped second in 2s"), "{stderr}");
    sandbox.assert_nothing_left();
}

#[test]
fn run_timeout_says_what_it_waits_for() {
    let sandbox = Sandbox::new();
    let out = sandbox
        .reaper()
        .args(["run", "--timeout", "300ms", "--kill-after", "2s", "--"])
        .args(["sh", "-c", "trap '' TERM; sleep 1000 & wait"])
        .assert()
        .code(137);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let waiting = lines_with(&stderr, WAITING);
    assert_eq!(waiting.len(), 1, "{stderr}");
    assert!(
        waiting[0].starts_with("reaper: waiting for run after SIGTERM (SIGKILL in 1s): pid "),
        "{stderr}"
    );
    assert!(waiting[0].contains("(sleep 1000)"), "{stderr}");
    assert!(waiting[0].contains("(sh -c trap '' TERM;"), "{stderr}");
    let done = lines_with(&stderr, DONE);
    assert_eq!(done.len(), 1, "{stderr}");
    assert!(done[0].contains("2 by SIGKILL"), "{stderr}");
    sandbox.assert_nothing_left();
}

#[test]
fn port_kill_says_which_holder_it_waits_for() {
    let sandbox = Sandbox::new();
    let holder = Helper::spawn(&sandbox, "ignore-term", &[]);
    let out = sandbox
        .reaper()
        .args([
            "port",
            &holder.port().to_string(),
            "--kill",
            "--timeout",
            "2s",
        ])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let waiting = lines_with(&stderr, WAITING);
    assert_eq!(waiting.len(), 1, "{stderr}");
    let expected = format!(
        "reaper: waiting for port holders after SIGTERM (SIGKILL in 1s): pid {} (",
        holder.pid()
    );
    assert!(waiting[0].starts_with(&expected), "{stderr}");
    // The helper's long script is cut short, its newlines escaped.
    assert!(waiting[0].contains("python3 -c \\nimport os"), "{stderr}");
    assert!(waiting[0].ends_with('…'), "{stderr}");
    let done = lines_with(&stderr, DONE);
    assert_eq!(done.len(), 1, "{stderr}");
    assert!(done[0].contains("1 by SIGKILL"), "{stderr}");
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
    let out = sandbox.reaper().arg("down").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    // `down` waits for the supervisor…
    let waiting = lines_with(&stderr, WAITING);
    assert_eq!(waiting.len(), 1, "{stderr}");
    assert!(
        waiting[0].starts_with("reaper: waiting for _stack after SIGTERM"),
        "{stderr}"
    );
    assert!(waiting[0].contains("up --supervisor"), "{stderr}");
    assert_eq!(lines_with(&stderr, DONE).len(), 1, "{stderr}");
    // …and shows the supervisor's log, where its own stop names the service it waits for.
    let expected = format!(
        "reaper: waiting for stubborn after SIGTERM (SIGKILL in 1s): pid {service} (sleep 1000)"
    );
    assert!(stdout.contains(&expected), "{stdout}");
    sandbox.assert_nothing_left();
}
