//! reaper.toml type errors are reported all together in one run, in file order, like semantic
//! errors (the TOML parser stops at the first; reaper reads the rest again without it).
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use common::Sandbox;
use predicates::prelude::*;
use predicates::str::contains;
use stack_common::write_config;

#[test]
fn toml_type_errors_are_reported_together_not_one_at_a_time() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        "[services.api]\ncommand = \"sleep 1\"\nport = \"x\"\nrestart = \"sometimes\"\n\n\
         [services.db]\ncommand = 5\n\n\
         [services.web]\ncwd = \".\"\n\n\
         [checks]\nfiles = [1]\n",
    );
    let output = sandbox.reaper().arg("check").assert().code(2);
    let stdout = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let expected = [
        "reaper.toml:3:8: invalid type: string \"x\", expected an integer",
        "reaper.toml:4:11: unknown value `sometimes`",
        "reaper.toml:7:11: ",
        "reaper.toml:9:1: missing `command`",
        "reaper.toml:13:10: invalid type: integer `1`, expected a string",
    ];
    assert_eq!(lines.len(), expected.len(), "{stdout}");
    for (line, start) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(start),
            "{line:?} should start with {start:?}\n{stdout}"
        );
    }
    // `db`'s `command` was wrong, not missing: no second error for it.
    output
        .stdout(contains("reaper.toml:6:").not())
        .stderr(contains("5 problems in reaper.toml"));
    assert!(sandbox.token_processes().is_empty());
}
