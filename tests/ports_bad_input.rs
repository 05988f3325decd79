//! Bad input to `reaper port`: a clear one-line error and exit 2, nothing signalled; a service
//! name instead of a port is resolved through the records.
#![cfg(target_os = "linux")]

mod common;

use common::Sandbox;
use predicates::str::contains;

#[test]
fn invalid_ports_are_bad_input() {
    let sandbox = Sandbox::new();
    let cases = [
        ("0", "port 0 is not a port"),
        ("-1", "-1 is not a port"),
        ("-80", "-80 is not a port"),
        ("65536", "65536 is out of range"),
        ("99999999999999999999999", "is out of range"),
        ("abc", "'abc' is neither a port"),
        ("8o80", "'8o80' is neither a port"),
        ("", "is neither a port"),
    ];
    for (input, message) in cases {
        sandbox
            .reaper()
            .args(["port", input])
            .assert()
            .code(2)
            .stderr(contains(message));
        sandbox
            .reaper()
            .args(["port", input, "--kill"])
            .assert()
            .code(2)
            .stderr(contains(message));
    }
}

#[test]
fn retries_zero_and_kill_options_without_kill_are_bad_input() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["port", "8001", "--kill", "--retries", "0"])
        .assert()
        .code(2)
        .stderr(contains("must be at least 1"));
    for extra in [["--timeout", "1s"], ["--retries", "2"]] {
        sandbox
            .reaper()
            .args(["port", "8001"])
            .args(extra)
            .assert()
            .code(2)
            .stderr(contains("--kill"));
    }
    sandbox
        .reaper()
        .args(["port", "--free-from", "0"])
        .assert()
        .code(2);
    sandbox
        .reaper()
        .args(["port", "8001", "--free-from", "8002"])
        .assert()
        .code(2);
}

#[test]
fn service_names_resolve_through_records() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("noport", "exec sleep 1000");
    sandbox
        .reaper()
        .args(["port", "noport"])
        .assert()
        .code(2)
        .stderr(contains("service noport declares no port"));
    sandbox
        .reaper()
        .args(["port", "missing"])
        .assert()
        .code(2)
        .stderr(contains("neither a port"));
    sandbox.reaper().args(["stop", "noport"]).assert().success();
    sandbox.assert_nothing_left();
}
