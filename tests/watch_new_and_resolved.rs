//! `reaper watch` de-duplicates findings across scans: a zombie is `new` on the first scan that
//! sees it, nothing is said while it stays, and it is `resolved` on the first scan after it is
//! gone — on stdout and in .logs/zombie-detection.log.
#![cfg(target_os = "linux")]

mod alerts_common;
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use alerts_common::start_zombie_factory;
use common::{KillOnDrop, Sandbox, TOKEN_VAR};

#[test]
fn zombie_is_new_once_then_resolved_once() {
    let sandbox = Sandbox::new();
    let (_, zombie) = start_zombie_factory(&sandbox);
    // The scans are paced by --interval; the test follows them by their output lines, and
    // --count bounds the run if the expected lines never come.
    let mut watch = KillOnDrop(
        Command::new(assert_cmd::cargo::cargo_bin("reaper"))
            .args([
                "watch",
                "--sample",
                "0",
                "--interval",
                "100ms",
                "--count",
                "300",
            ])
            .current_dir(sandbox.path())
            .env("REAPER_STATE_DIR", sandbox.path())
            .env(TOKEN_VAR, &sandbox.token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(watch.0.stdout.take().unwrap()).lines();
    let new = format!("   new zombie pid {zombie} ");
    let resolved = format!("   resolved zombie pid {zombie} ");
    let mut next = || lines.next().expect("watch ended too early").unwrap();
    let is_scan = |line: &str| line.contains(" total=");

    // The scan that sees it first says `new`.
    let mut line = next();
    while !line.contains(&new) {
        line = next();
    }
    // The next scan, whole (up to the summary line of the one after), says nothing about it.
    while !is_scan(&line) {
        line = next();
        assert!(!line.contains(&resolved), "{line}");
    }
    line = next();
    while !is_scan(&line) {
        assert!(!line.contains(&new) && !line.contains(&resolved), "{line}");
        line = next();
    }
    sandbox
        .reaper()
        .args(["stop", "factory"])
        .assert()
        .success();
    // Once it is gone: `resolved`, and never `new` again.
    while !line.contains(&resolved) {
        assert!(!line.contains(&new), "{line}");
        line = next();
    }
    drop(watch);
    let log = std::fs::read_to_string(sandbox.path().join(".logs/zombie-detection.log")).unwrap();
    assert_eq!(log.matches(&new).count(), 1, "{log}");
    assert_eq!(log.matches(&resolved).count(), 1, "{log}");
    sandbox.assert_nothing_left();
}
