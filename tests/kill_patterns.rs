//! `reaper kill PATTERN…`: matches on the full command line (with a random token, so only this
//! test's processes can match), whole trees ended, `--dry-run` touches nothing, no confirmation
//! means no action off a terminal.
#![cfg(target_os = "linux")]

mod common;

use common::{Sandbox, alive};
use predicates::str::contains;

fn spawn_tagged(sandbox: &Sandbox, tag: &str) -> std::process::Child {
    std::process::Command::new("sh")
        .args(["-c", "sleep 1000 & sleep 1001 & wait", tag])
        .env(common::TOKEN_VAR, &sandbox.token)
        .spawn()
        .unwrap()
}

#[test]
fn dry_run_and_missing_confirmation_touch_nothing() {
    let sandbox = Sandbox::new();
    let tag = format!("{}-dry", sandbox.token);
    let mut child = spawn_tagged(&sandbox, &tag);
    assert!(common::wait_until(
        std::time::Duration::from_secs(2),
        || sandbox.token_processes().len() == 3
    ));
    sandbox.note_tree();
    sandbox
        .reaper()
        .args(["kill", &tag, "--dry-run"])
        .assert()
        .success()
        .stdout(contains("1 matching process"))
        .stdout(contains("dry run"));
    sandbox
        .reaper()
        .args(["kill", &tag])
        .assert()
        .code(2)
        .stderr(contains("--yes"));
    assert_eq!(sandbox.token_processes().len(), 3);
    assert!(alive(child.id()));
    sandbox.kill_leftovers();
    let _ = child.wait();
}

#[test]
fn each_match_is_ended_with_its_tree() {
    let sandbox = Sandbox::new();
    let tag = format!("{}-tree", sandbox.token);
    let mut child = spawn_tagged(&sandbox, &tag);
    let other_tag = format!("{}-other", sandbox.token);
    let mut bystander = spawn_tagged(&sandbox, &other_tag);
    assert!(common::wait_until(
        std::time::Duration::from_secs(2),
        || sandbox.token_processes().len() == 6
    ));
    sandbox.note_tree();
    sandbox
        .reaper()
        .args(["kill", &format!("{tag}$"), "--yes", "--timeout", "2s"])
        .assert()
        .success()
        .stdout(contains("3 processes"));
    let _ = child.wait();
    assert!(
        alive(bystander.id()),
        "a process matching another token was ended"
    );
    assert_eq!(sandbox.token_processes().len(), 3);
    sandbox
        .reaper()
        .args([
            "kill",
            "--exact",
            &format!("sh -c sleep 1000 & sleep 1001 & wait {other_tag}"),
            "--yes",
            "--force",
        ])
        .assert()
        .success();
    let _ = bystander.wait();
    sandbox.assert_nothing_left();
}

#[test]
fn bad_patterns_and_users_are_usage_errors() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["kill", "(unclosed", "--yes"])
        .assert()
        .code(2)
        .stderr(contains("invalid pattern"));
    sandbox
        .reaper()
        .args(["kill", "x", "--user", "no-such-user-xyz", "--yes"])
        .assert()
        .code(2)
        .stderr(contains("unknown user"));
    // No match at all: tests/kill_nothing_matched.rs.
}
