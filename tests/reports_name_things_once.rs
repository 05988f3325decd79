//! Reports say each thing once, in the words the rest of the output uses. Before: `stop --all`
//! printed "skipped p0: p0: …", `doctor --fix` printed "fixed Zombie 576" (the kind's Rust
//! name) and "ended 1 process(es)" again for every zombie of the same parent.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{Sandbox, json_of, wait_until};

#[test]
fn stop_all_names_a_skipped_entry_once() {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.path().join(".run")).unwrap();
    std::fs::write(sandbox.path().join(".run/p0.pid"), "4194303\n").unwrap();
    let out = sandbox.reaper().args(["stop", "--all"]).assert().code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("skipped p0: "), "{stderr}");
    assert!(!stderr.contains("p0: p0:"), "{stderr}");
}

#[test]
fn doctor_fix_names_the_kind_as_the_report_does_and_the_ended_parent_once() {
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh("factory", "sleep 0.01 & sleep 0.01 & exec sleep 1000");
    let parent = record["leader"]["pid"].as_u64().unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        let out = sandbox
            .reaper()
            .args(["doctor", "--sample", "0", "--scope", "project", "--json"])
            .assert();
        json_of(&out)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "zombie" && f["ppid"] == parent)
            .count()
            == 2
    }));
    let out = sandbox
        .reaper()
        .args([
            "doctor", "--sample", "0", "--scope", "project", "--fix", "--force",
        ])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(stdout.matches("fixed zombie ").count(), 2, "{stdout}");
    assert!(!stdout.contains("Zombie"), "{stdout}");
    assert!(!stdout.contains("process(es)"), "{stdout}");
    assert_eq!(stdout.matches("ended 1 process").count(), 1, "{stdout}");
    sandbox.reaper().arg("clean").assert().success();
    sandbox.assert_nothing_left();
}
