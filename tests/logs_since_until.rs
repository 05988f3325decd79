//! `logs --since` / `--until` select lines by the time the keeper wrote them (durations ago or
//! RFC 3339 times), and bad values are refused with a usage error.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{Sandbox, wait_until};
use predicates::str::contains;
use serde_json::Value;

fn json_lines(sandbox: &Sandbox, args: &[&str]) -> Vec<Value> {
    let out = sandbox
        .reaper()
        .args(["logs", "timed", "--json"])
        .args(args)
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn texts(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|l| l["text"].as_str().unwrap()).collect()
}

#[test]
fn since_and_until_select_by_time() {
    let sandbox = Sandbox::new();
    sandbox.start_sh(
        "timed",
        "echo early; while [ ! -e next ]; do sleep 0.01; done; echo late; exec sleep 1000",
    );
    let log = sandbox.path().join(".logs/timed.log");
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("early"))
    }));
    // A boundary strictly after "early" was written and before "late" is.
    std::thread::sleep(Duration::from_millis(20));
    let boundary = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(sandbox.path().join("next"), "").unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("late"))
    }));
    assert_eq!(
        texts(&json_lines(&sandbox, &["--since", &boundary])),
        ["late"]
    );
    assert_eq!(
        texts(&json_lines(&sandbox, &["--until", &boundary])),
        ["early"]
    );
    assert_eq!(
        texts(&json_lines(&sandbox, &["--since", "1h"])),
        ["early", "late"]
    );
    assert!(json_lines(&sandbox, &["--until", "1h"]).is_empty());
    assert_eq!(
        texts(&json_lines(&sandbox, &["--since", "1h", "-n", "1"])),
        ["late"]
    );
    sandbox.reaper().args(["stop", "timed"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn bad_times_are_usage_errors() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["logs", "x", "--since", "yesterday"])
        .assert()
        .code(2)
        .stderr(contains("invalid duration 'yesterday'"));
    sandbox
        .reaper()
        .args(["logs", "x", "--until", "2026-13-01T00:00:00Z"])
        .assert()
        .code(2)
        .stderr(contains("nor an RFC 3339 time"));
    sandbox
        .reaper()
        .args(["logs", "x", "--since", "1m", "--until", "1h"])
        .assert()
        .code(2)
        .stderr(contains("--until is before --since"));
    sandbox
        .reaper()
        .args(["logs", "x", "-f", "--until", "1h"])
        .assert()
        .code(2)
        .stderr(contains("cannot be used with"));
}
