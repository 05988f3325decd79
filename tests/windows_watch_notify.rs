//! Windows: `reaper watch --notify` posts a toast for a new finding; where WinRT cannot show
//! one (wine, Server Core) it says so in one stderr line and the scan still reports and logs the
//! finding. Runs under wine in `.ci/run` (see README, "Platforms").
#![cfg(windows)]

mod windows_common;

use windows_common::{Project, Terminator};

#[test]
fn a_new_finding_is_notified_or_the_fallback_is_said_once() {
    let project = Project::new();
    let mut leftovers = Terminator::default();
    // Without its record the service's tree is an orphan finding.
    project.orphaned_tree(&mut leftovers);
    let report = project.json(&["doctor", "--sample", "0", "--scope", "project", "--json"]);
    for finding in report["findings"].as_array().unwrap() {
        if let Some(pid) = finding["pid"].as_u64() {
            leftovers.adopt_if_running(pid as u32);
        }
    }

    let output = project
        .reaper()
        .args(["watch", "--sample", "0", "--count", "1", "--notify"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("new orphan"), "{stdout}");
    let fallbacks: Vec<&str> = stderr.lines().filter(|l| l.contains("--notify")).collect();
    assert!(fallbacks.len() <= 1, "said more than once: {stderr}");
    for line in fallbacks {
        assert!(
            line.contains("the notification could not be shown")
                && line.ends_with("going on without notifications"),
            "{stderr}"
        );
    }
}
