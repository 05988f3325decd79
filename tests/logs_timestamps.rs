//! `--log-timestamps` (and `log_timestamps = true` in reaper.toml) starts each line of the log
//! file with its time; `logs` prints the lines as stored, `--json` and `up` give the text alone.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use std::time::Duration;

use common::{Sandbox, wait_until};
use stack_common::{Up, write_config};

fn stamped(line: &str, text: &str) -> bool {
    let re = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (.*)$").unwrap();
    re.captures(line).is_some_and(|c| &c[1] == text)
}

#[test]
fn start_with_log_timestamps() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["start", "stamped", "--log-timestamps", "--"])
        .args(["sh", "-c", "echo one; echo two >&2; exec sleep 1000"])
        .assert()
        .success();
    sandbox.note_tree();
    let log = sandbox.path().join(".logs/stamped.log");
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() == 2)
    }));
    let file = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = file.lines().collect();
    assert!(
        stamped(lines[0], "one") || stamped(lines[1], "one"),
        "{file}"
    );
    assert!(
        stamped(lines[0], "two") || stamped(lines[1], "two"),
        "{file}"
    );
    let plain = sandbox
        .reaper()
        .args(["logs", "stamped"])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&plain.get_output().stdout),
        file,
        "logs prints the lines as stored"
    );
    let json = sandbox
        .reaper()
        .args(["logs", "stamped", "--json"])
        .assert()
        .success();
    let json = String::from_utf8_lossy(&json.get_output().stdout).into_owned();
    assert!(
        json.contains(r#""text":"one""#) && json.contains(r#""text":"two""#),
        "{json}"
    );
    sandbox
        .reaper()
        .args(["stop", "stamped"])
        .assert()
        .success();
    sandbox.assert_nothing_left();
}

#[test]
fn stack_service_with_log_timestamps() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        r#"[services.clock]
command = "echo hello-stamp; exec sleep 1000"
ready = { log = "^hello-stamp$" }
log_timestamps = true
"#,
    );
    let mut up = Up::start(&sandbox, &[]);
    // The readiness probe and the printed line see the text without the time prefix.
    up.wait_for("all 1 service is ready");
    sandbox.note_tree();
    assert!(up.text().contains("clock  | hello-stamp"), "{}", up.text());
    let file = std::fs::read_to_string(sandbox.path().join(".logs/clock.log")).unwrap();
    assert!(
        stamped(file.lines().next().unwrap(), "hello-stamp"),
        "{file}"
    );
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    sandbox.assert_nothing_left();
}
