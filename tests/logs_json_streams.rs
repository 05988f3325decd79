//! stdout and stderr stay apart: `logs --json` gives each line its stream, its time and the
//! service's name; plain `logs` prints the text as written.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{Sandbox, wait_until};
use serde_json::Value;

#[test]
fn json_lines_carry_stream_time_and_service() {
    let sandbox = Sandbox::new();
    sandbox.start_sh(
        "both",
        "i=0; while [ $i -lt 20 ]; do echo \"out $i\"; echo \"err $i\" >&2; i=$((i+1)); done; \
         exec sleep 1000",
    );
    let log = sandbox.path().join(".logs/both.log");
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("err 19"))
    }));
    let out = sandbox
        .reaper()
        .args(["logs", "both", "--json", "-n", "100"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 40, "{text}");
    for line in &lines {
        let body = line["text"].as_str().unwrap();
        let stream = line["stream"].as_str().unwrap();
        assert_eq!(line["service"], "both");
        assert_eq!(
            stream,
            if body.starts_with("out ") {
                "stdout"
            } else {
                "stderr"
            },
            "{line}"
        );
        humantime::parse_rfc3339(line["time"].as_str().unwrap()).expect("RFC 3339 time");
    }
    // Each stream keeps its own order.
    let of = |stream: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l["stream"] == stream)
            .map(|l| l["text"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        of("stdout"),
        (0..20).map(|i| format!("out {i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        of("stderr"),
        (0..20).map(|i| format!("err {i}")).collect::<Vec<_>>()
    );
    // Plain output is the text as written, nothing added.
    let plain = sandbox
        .reaper()
        .args(["logs", "both", "-n", "100"])
        .assert()
        .success();
    let plain = String::from_utf8(plain.get_output().stdout.clone()).unwrap();
    assert!(
        plain
            .lines()
            .all(|l| l.starts_with("out ") || l.starts_with("err ")),
        "{plain}"
    );
    sandbox.reaper().args(["stop", "both"]).assert().success();
    sandbox.assert_nothing_left();
}
