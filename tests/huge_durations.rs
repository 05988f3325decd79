//! Durations and sizes past their documented maximum (366 days, 1TiB) are refused when parsed,
//! with exit 2 and a one-line message, before anything starts or stops. Before the cap, `run`,
//! `stop`, `start` and `up` panicked on `Instant + Duration` overflow, `run` and `start` leaving
//! the service running unsupervised and `up` hanging with its service started.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use common::{Sandbox, alive};
use predicates::str::contains;
use stack_common::write_config;

/// u64::MAX seconds: overflowed every deadline.
const HUGE: &str = "18446744073709551615";

#[test]
fn run_with_a_huge_timeout_is_refused_not_a_panic() {
    let sandbox = Sandbox::new();
    for option in ["--timeout", "--kill-after"] {
        sandbox
            .reaper()
            .args(["run", option, HUGE, "--", "sh", "-c", "sleep 30"])
            .assert()
            .code(2)
            .stderr(contains(format!("duration '{HUGE}' is too long")))
            .stderr(contains("366 days"));
    }
    sandbox.assert_nothing_left();
}

#[test]
fn stop_with_a_huge_timeout_is_refused_and_the_service_keeps_running() {
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh("web", "sleep 300");
    let pid = record["leader"]["pid"].as_u64().unwrap() as u32;
    for command in ["stop", "restart"] {
        sandbox
            .reaper()
            .args([command, "web", "--timeout", HUGE])
            .assert()
            .code(2)
            .stderr(contains("too long"));
        assert!(
            alive(pid),
            "{command} with a refused timeout left web running"
        );
    }
    sandbox.reaper().args(["stop", "web"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn start_with_a_huge_wait_or_log_size_is_refused_and_starts_nothing() {
    let sandbox = Sandbox::new();
    for (option, value, message) in [
        ("--min-uptime", HUGE, "too long"),
        ("--min-uptime", "367d", "too long"),
        ("--ready-timeout", HUGE, "too long"),
        ("--log-max-size", "99999999GB", "too large"),
        // Each rotation renamed every numbered file up to N: 4 billion renames.
        ("--log-keep", "4294967295", "not in 0..=1000"),
    ] {
        sandbox
            .reaper()
            .args(["start", "web", option, value, "--", "sh", "-c", "sleep 300"])
            .assert()
            .code(2)
            .stderr(contains(message));
        assert!(
            !sandbox.record_path("web").exists(),
            "{option} {value}: nothing may start"
        );
        sandbox.assert_nothing_left();
    }
}

#[test]
fn other_huge_durations_are_refused_before_any_work() {
    let sandbox = Sandbox::new();
    for args in [
        &["doctor", "--sample", HUGE][..],
        &["doctor", "--fix", "--timeout", HUGE],
        &["watch", "--interval", HUGE],
        &["watch", "--sample", HUGE],
        &["clean", "--timeout", HUGE],
        &["kill", "no-such-pattern-xyz", "--timeout", HUGE],
        &["emergency", "--timeout", HUGE],
        &["port", "1", "--kill", "--timeout", HUGE],
    ] {
        sandbox
            .reaper()
            .args(args)
            .assert()
            .code(2)
            .stderr(contains("too long"));
    }
}

#[test]
fn up_with_a_huge_duration_in_reaper_toml_is_a_config_error() {
    let sandbox = Sandbox::new();
    for value in [format!("\"{HUGE}s\""), "9223372036854775807".to_string()] {
        write_config(
            &sandbox,
            &format!("[services.web]\ncommand = \"sleep 300\"\nready_timeout = {value}\n"),
        );
        sandbox
            .reaper()
            .arg("up")
            .timeout(std::time::Duration::from_secs(30))
            .assert()
            .code(2)
            .stderr(contains("`ready_timeout` is too long"));
        assert!(!sandbox.record_path("web").exists(), "nothing may start");
        sandbox.assert_nothing_left();
    }
}
