//! `reaper doctor --format github`: one workflow command per finding (`::error` for a process in
//! trouble, `::warning` for a stale record, `title=` escaped), and the job summary table appended
//! to $GITHUB_STEP_SUMMARY.
#![cfg(target_os = "linux")]

mod alerts_common;
mod common;

use alerts_common::{start_zombie_factory, stop_factory};
use common::Sandbox;

#[test]
fn findings_become_annotations_and_a_summary_table() {
    let sandbox = Sandbox::new();
    let (leader, zombie) = start_zombie_factory(&sandbox);
    // A pid file whose process is gone (exited and reaped): a stale record.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    std::fs::write(sandbox.path().join(".run/old.pid"), format!("{gone_pid}\n")).unwrap();
    let summary = sandbox.path().join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let out = sandbox
        .reaper()
        .args([
            "doctor", "--sample", "0", "--scope", "project", "--format", "github",
        ])
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let zombie_line = stdout
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "::error title=reaper doctor%3A zombie (pid {zombie})::"
            ))
        })
        .unwrap_or_else(|| panic!("no zombie annotation in {stdout}"));
    // The message is one line: the evidence, then the fix after an encoded line break.
    assert!(zombie_line.contains(&format!("parent {leader} (sleep 1000)")));
    assert!(zombie_line.contains("%0Afix: the parent must reap it"));
    assert!(
        stdout.lines().any(|l| l.starts_with(&format!(
            "::warning title=reaper doctor%3A stale record (pid {gone_pid})::"
        ))),
        "{stdout}"
    );
    assert!(stdout.contains("found problems: 1 zombie,"), "{stdout}");

    let table = std::fs::read_to_string(&summary).unwrap();
    assert!(
        table.starts_with("earlier step\n### reaper doctor: 2 findings\n"),
        "{table}"
    );
    assert!(table.contains("| Kind | PID | Service | Command | Evidence | Fix |"));
    assert!(
        table.contains(&format!("| zombie | {zombie} | factory | `[sleep]` |")),
        "{table}"
    );
    assert!(
        table.contains(&format!("| stale record | {gone_pid} | old |")),
        "{table}"
    );
    std::fs::remove_file(sandbox.path().join(".run/old.pid")).unwrap();
    stop_factory(&sandbox);
}

#[test]
fn clean_scan_says_so_in_the_summary() {
    let sandbox = Sandbox::new();
    let summary = sandbox.path().join("step-summary.md");
    sandbox
        .reaper()
        .args([
            "doctor", "--sample", "0", "--scope", "project", "--format", "github",
        ])
        .env("GITHUB_STEP_SUMMARY", &summary)
        .assert()
        .success()
        .stdout(predicates::str::starts_with("clean: "));
    let table = std::fs::read_to_string(&summary).unwrap();
    assert!(table.starts_with("### reaper doctor: clean\n"), "{table}");
}

#[test]
fn json_and_format_together_are_refused() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["doctor", "--json", "--format", "github"])
        .assert()
        .code(2);
}
