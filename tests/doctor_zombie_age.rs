//! A zombie's age in `doctor` is the time since it started, read from its start time. Before,
//! the age was cut to whole seconds and then formatted, so a zombie younger than a second was
//! said to have "started 0.0ms ago" with `age_secs` 0.
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, SystemTime};

use common::{Sandbox, json_of, wait_until};
use serde_json::Value;

/// How long ago `pid` started, by the same start time reaper reads.
fn age_of(pid: u32) -> Duration {
    let info = reaper::os::process_info(pid).expect("zombie still there");
    SystemTime::now().duration_since(info.started_at).unwrap()
}

#[test]
fn zombie_age_is_measured_from_its_start_time() {
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh("young", "sleep 0.01 & exec sleep 1000");
    let parent = record["leader"]["pid"].as_u64().unwrap();
    let mut finding = Value::Null;
    let mut bounds = (Duration::ZERO, Duration::ZERO);
    assert!(wait_until(Duration::from_secs(5), || {
        let Some(&pid) = common::zombie_children(parent as u32).first() else {
            return false;
        };
        let before = age_of(pid);
        let out = sandbox
            .reaper()
            .args(["doctor", "--sample", "0", "--scope", "project", "--json"])
            .assert();
        let after = age_of(pid);
        bounds = (before, after);
        let report = json_of(&out);
        finding = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == "zombie" && f["pid"] == pid)
            .cloned()
            .unwrap_or(Value::Null);
        !finding.is_null()
    }));
    let (before, after) = bounds;
    eprintln!("zombie age: {before:?} before doctor, {after:?} after");
    let evidence = finding["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("the kernel does not record when it exited"),
        "{evidence}"
    );
    let shown = evidence
        .rsplit_once("(started ")
        .and_then(|(_, rest)| rest.strip_suffix(" ago)"))
        .unwrap_or_else(|| panic!("no age in {evidence}"));
    let shown = reaper::units::parse_duration(shown)
        .unwrap_or_else(|e| panic!("age {shown:?} does not parse: {e}"));
    // Shown in milliseconds below a second, in whole seconds above.
    let unit = if after < Duration::from_secs(1) {
        Duration::from_millis(1)
    } else {
        Duration::from_secs(1)
    };
    // Start times count clock ticks (10 ms) and the boot time is read from /proc/uptime (10 ms
    // steps) by each process on its own: two readings of one age may differ by that much.
    let resolution = Duration::from_millis(20);
    eprintln!("shown: {shown:?}");
    assert!(
        shown + unit + resolution > before && shown <= after + resolution,
        "shown {shown:?}, real age between {before:?} and {after:?}: {evidence}"
    );
    let age_secs = finding["age_secs"].as_u64().unwrap();
    assert!(
        before.as_secs_f64().round() as u64 <= age_secs
            && age_secs <= after.as_secs_f64().round() as u64,
        "age_secs {age_secs}, real age between {before:?} and {after:?}"
    );
    sandbox.reaper().args(["stop", "young"]).assert().success();
    sandbox.assert_nothing_left();
}
