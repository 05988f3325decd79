//! A service that writes without newlines still gets its output on disk: by size (4 KiB), and
//! a prompt once its stream is quiet.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{Sandbox, wait_until};

#[test]
fn output_without_newlines_is_flushed_by_size_and_when_quiet() {
    let sandbox = Sandbox::new();
    // 10,000 bytes without a newline, then a prompt, then silence.
    sandbox.start_sh(
        "nonl",
        "i=0; while [ $i -lt 1000 ]; do printf 'xxxxxxxxxx'; i=$((i+1)); done; \
         printf 'prompt> '; exec sleep 1000",
    );
    let log = sandbox.path().join(".logs/nonl.log");
    assert!(
        wait_until(Duration::from_secs(20), || {
            std::fs::read_to_string(&log).is_ok_and(|t| t.ends_with("prompt> \n"))
        }),
        "{:?}",
        std::fs::read_to_string(&log)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.iter().all(|l| l.len() <= 4096),
        "a line longer than the flush size"
    );
    assert_eq!(text.matches('x').count(), 10_000);
    assert!(lines.len() >= 3, "{lines:?}");
    sandbox.reaper().args(["stop", "nonl"]).assert().success();
    sandbox.assert_nothing_left();
}
