//! A bad line in an env file is reported at its real line and column (not `.env:1:1` and "at
//! character N of a line"), and never by its text, which may hold a secret.
#![cfg(target_os = "linux")]

mod common;

use common::Sandbox;
use predicates::prelude::*;
use predicates::str::contains;

const BAD_ENV: &str = "# settings\nA=1\n\n  TOKEN s3cr3t\nB=2\n";

#[test]
fn env_file_bad_line_is_reported_at_its_line_and_column_not_1_1() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path().join("bad.env"), BAD_ENV).unwrap();
    sandbox
        .reaper()
        .args(["start", "e", "--env-file", "bad.env", "--", "sleep", "1000"])
        .assert()
        .code(2)
        .stderr(contains(
            "cannot parse line 4, column 9 (expected KEY=VALUE)",
        ))
        .stderr(contains("s3cr3t").not());

    // The .env beside a Procfile.
    std::fs::write(sandbox.path().join("Procfile"), "web: sleep 1000\n").unwrap();
    std::fs::write(sandbox.path().join(".env"), BAD_ENV).unwrap();
    sandbox
        .reaper()
        .arg("check")
        .assert()
        .code(2)
        .stdout(contains(".env:4:9: cannot parse this line"))
        .stdout(contains("s3cr3t").not());
    std::fs::remove_file(sandbox.path().join("Procfile")).unwrap();

    // env_file in reaper.toml.
    std::fs::write(
        sandbox.path().join("reaper.toml"),
        "[services.api]\ncommand = \"sleep 1000\"\nenv_file = \"bad.env\"\n",
    )
    .unwrap();
    sandbox
        .reaper()
        .arg("check")
        .assert()
        .code(2)
        .stdout(contains(
            "env file `bad.env`: cannot parse line 4, column 9 (expected KEY=VALUE)",
        ))
        .stdout(contains("s3cr3t").not());
    assert!(sandbox.token_processes().is_empty());
}

/// Regression (found by fuzzing): an error after non-ASCII text panicked (exit 101), dotenvy's
/// character index being taken as a byte index.
#[test]
fn env_file_error_after_non_ascii_text_is_reported_not_a_panic() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path().join("bad.env"), "A=\"ééé\" x\n").unwrap();
    sandbox
        .reaper()
        .args(["start", "e", "--env-file", "bad.env", "--", "sleep", "1000"])
        .assert()
        .code(2)
        .stderr(contains(
            "cannot parse line 1, column 9 (expected KEY=VALUE)",
        ));
    sandbox.assert_nothing_left();
}
