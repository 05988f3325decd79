//! One parser and one message for a port number, wherever one is given: `start --port`,
//! `port --free-from`, `emergency --port`, `reaper port`, and `port` / `ready.tcp` in reaper.toml.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use common::Sandbox;
use predicates::prelude::*;
use predicates::str::contains;
use stack_common::write_config;

/// What every port option says about each mistake.
const CASES: [(&str, &str); 4] = [
    ("abc", "'abc' is not a port number: ports are 1-65535"),
    ("0", "port 0 is not a port anything can hold"),
    ("-1", "-1 is not a port: ports are 1-65535"),
    ("70000", "70000 is out of range: ports are 1-65535"),
];

#[test]
fn start_port_abc_says_it_is_not_a_port_not_invalid_digit() {
    let sandbox = Sandbox::new();
    for (input, message) in CASES {
        let option = format!("--port={input}");
        sandbox
            .reaper()
            .args(["start", "x", &option, "--", "sleep", "1000"])
            .assert()
            .code(2)
            .stderr(contains(message))
            .stderr(contains("invalid digit").not());
        sandbox
            .reaper()
            .args(["port", "--free-from", input])
            .assert()
            .code(2)
            .stderr(contains(message));
        sandbox
            .reaper()
            .args(["emergency", "--port", input])
            .assert()
            .code(2)
            .stderr(contains(message));
    }
    // `reaper port` also takes service names, so it says so for a word.
    sandbox
        .reaper()
        .args(["port", "70000"])
        .assert()
        .code(2)
        .stderr(contains(CASES[3].1));
    assert!(sandbox.token_processes().is_empty());
}

#[test]
fn toml_port_out_of_range_gets_the_same_message() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        "[services.api]\ncommand = \"sleep 1\"\nport = 70000\n\n\
         [services.web]\ncommand = \"sleep 1\"\nready = { tcp = 0 }\n",
    );
    sandbox
        .reaper()
        .arg("check")
        .assert()
        .code(2)
        .stdout(contains(
            "reaper.toml:3:8: service `api`: 70000 is out of range: ports are 1-65535",
        ))
        .stdout(contains(
            "service `web`: ready.tcp: port 0 is not a port anything can hold",
        ));
}
