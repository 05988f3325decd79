//! The exported systemd units pass `systemd-analyze verify` (when systemd is installed; .ci/run
//! installs it): unit syntax, quoting, specifiers, executables and dependencies are what systemd
//! itself accepts.
#![cfg(target_os = "linux")]

mod export_common;

use std::path::Path;
use std::process::Command;

use export_common::fixtures;

#[test]
fn units_pass_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: skipped (apt-get install systemd)");
        return;
    }
    for (name, fixture) in fixtures() {
        let export =
            export_common::systemd(&fixture, name, Path::new(env!("CARGO_BIN_EXE_reaper")));
        let dir = tempfile::tempdir().unwrap();
        for file in &export.files {
            std::fs::write(dir.path().join(&file.name), &file.contents).unwrap();
        }
        let names: Vec<&str> = export.files.iter().map(|f| f.name.as_str()).collect();
        let output = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .args(&names)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stderr.trim().is_empty(),
            "{name}: systemd-analyze verify: {}\n{stderr}",
            output.status
        );
    }
}

/// A unit that systemd rejects is reported: the test above can fail.
#[test]
fn a_broken_unit_fails_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.service"),
        "[Service]\nExecStart=relative/program\n",
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "broken.service"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        !output.status.success() || !output.stderr.is_empty(),
        "systemd-analyze accepted a relative ExecStart"
    );
}
