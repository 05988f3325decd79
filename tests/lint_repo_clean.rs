//! The repository's own scripts, examples and installers lint clean (exit 0, no findings at
//! all): reaper follows its own spawning rules.
#![cfg(feature = "lint")]

mod lint_common;

use std::path::Path;

use lint_common::reaper;

#[test]
fn repository_scripts_and_examples_lint_clean() {
    let output = reaper(Path::new(env!("CARGO_MANIFEST_DIR")))
        .args([
            "lint",
            "scripts",
            "examples",
            "install.sh",
            "install.ps1",
            "npm",
            ".ci",
        ])
        .output()
        .expect("reaper lint runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.is_empty(), "findings:\n{stdout}");
}
