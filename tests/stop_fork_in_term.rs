//! Regression (issue 11, case 6): a main process whose TERM handler forks a child (which leaves
//! the session and clears its environment) and exits at once. The stop concluded on a scan
//! taken before those exits, so the child survived, the keeper of the incomplete tree was
//! SIGTERMed and the record deleted. A stop now concludes only on a scan taken after the last
//! tracked member exited (fallback), or on the cgroup being empty.
#![cfg(target_os = "linux")]

mod common;

use common::Sandbox;

/// The leader's process group is signalled first: 100 sleepers in it die at once, while the
/// leader forks its heir. The stop then pins 100 dead processes before it looks again.
fn script(token: &str) -> String {
    format!(
        "trap 'setsid env -i REAPER_TEST_TOKEN={token} sleep 993 & exit 0' TERM; \
         for i in $(seq 100); do sleep 1000 & done; \
         while :; do sleep 0.05; done"
    )
}

fn stop_twenty_times(mode: &str) {
    let sandbox = Sandbox::new();
    for round in 0..20 {
        sandbox
            .reaper()
            .env("REAPER_CONTAINMENT", mode)
            .args(["start", "heir", "--min-uptime", "100ms", "--"])
            .args(["sh", "-c", &script(&sandbox.token)])
            .assert()
            .success();
        sandbox.note_tree();
        sandbox
            .reaper()
            .args(["stop", "heir", "--timeout", "5s"])
            .assert()
            .success();
        let left: Vec<_> = sandbox
            .token_processes()
            .into_iter()
            .filter(|p| p.2 != 'Z')
            .collect();
        assert!(
            left.is_empty(),
            "round {round} ({mode}): left running after the stop: {left:?}"
        );
        assert!(
            !sandbox.record_path("heir").exists(),
            "record kept after a complete stop"
        );
    }
    sandbox.assert_nothing_left();
}

#[test]
fn child_forked_in_term_handler_is_stopped_in_a_cgroup() {
    stop_twenty_times("auto");
}

#[test]
fn child_forked_in_term_handler_is_stopped_without_a_cgroup() {
    stop_twenty_times("fallback");
}
