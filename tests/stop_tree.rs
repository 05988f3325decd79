//! Stopping whole trees: normal TERM exit, escalation decided by the tree (not the leader),
//! TERM-ignoring trees, setsid double-forked daemons, wrapper chains, forks during the stop, and
//! zombie children. After each, nothing carrying the test's token and no zombie of ours remains.
#![cfg(target_os = "linux")]

mod common;

use common::{Sandbox, alive, json_of};

fn stop_json(sandbox: &Sandbox, name: &str, timeout: &str) -> serde_json::Value {
    let assert = sandbox
        .reaper()
        .args(["stop", name, "--timeout", timeout, "--json"])
        .assert()
        .success();
    json_of(&assert)
}

fn outcomes(report: &serde_json::Value) -> Vec<String> {
    report["stopped"][0]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["outcome"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn prompt_term_exit_is_graceful_and_record_removed() {
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh("web", "exec sleep 1000");
    let pid = record["leader"]["pid"].as_u64().unwrap() as u32;
    assert!(alive(pid));
    let report = stop_json(&sandbox, "web", "10s");
    assert_eq!(outcomes(&report), ["graceful"]);
    assert!(!alive(pid));
    assert!(!sandbox.record_path("web").exists());
    assert!(!sandbox.path().join(".run/web.pid").exists());
    sandbox.assert_nothing_left();
}

#[test]
fn leader_exits_on_term_but_children_ignoring_it_still_die() {
    let sandbox = Sandbox::new();
    sandbox.start_sh(
        "mixed",
        "(trap '' TERM; exec sleep 1000) & (trap '' TERM; exec sleep 1001) & wait",
    );
    assert_eq!(sandbox.token_processes().len(), 3);
    let report = stop_json(&sandbox, "mixed", "300ms");
    let mut got = outcomes(&report);
    got.sort();
    assert_eq!(got, ["forced", "forced", "graceful"]);
    sandbox.assert_nothing_left();
}

#[test]
fn term_ignoring_tree_needs_sigkill() {
    let sandbox = Sandbox::new();
    sandbox.start_sh("stubborn", "trap '' TERM; sleep 1000 & sleep 1001 & wait");
    let report = stop_json(&sandbox, "stubborn", "300ms");
    assert!(outcomes(&report).iter().all(|o| o == "forced"));
    assert_eq!(outcomes(&report).len(), 3);
    sandbox.assert_nothing_left();
}

#[test]
fn setsid_double_forked_daemon_is_stopped() {
    // The daemon leaves the session and the leader's descendants; the leader exits with 0.
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["start", "daemon", "--min-uptime", "500ms", "--", "sh", "-c"])
        .arg("(setsid sh -c 'exec sleep 1000' &) ; sleep 0.1; exit 0")
        .assert()
        .success()
        .stdout(predicates::str::contains("daemonized"));
    sandbox.note_tree();
    let daemons = sandbox.token_processes();
    assert_eq!(daemons.len(), 1, "{daemons:?}");
    let status = json_of(
        &sandbox
            .reaper()
            .args(["status", "daemon", "--json"])
            .assert()
            .success(),
    );
    assert_eq!(status["services"][0]["state"], "running");
    assert_eq!(status["services"][0]["leader_alive"], false);
    let report = stop_json(&sandbox, "daemon", "5s");
    assert_eq!(outcomes(&report), ["graceful"]);
    sandbox.assert_nothing_left();
}

#[test]
fn wrapper_chain_that_swallows_signals_is_stopped_whole() {
    let sandbox = Sandbox::new();
    // Like `npm run dev`: a wrapper that ignores TERM, running a shell, running the server.
    sandbox.start_sh(
        "npm",
        "trap '' TERM; sh -c 'sh -c \"exec sleep 1000\" & wait' & wait",
    );
    let before = sandbox.token_processes();
    assert!(before.len() >= 3, "{before:?}");
    stop_json(&sandbox, "npm", "500ms");
    sandbox.assert_nothing_left();
}

#[test]
fn processes_forked_during_the_stop_are_caught() {
    let sandbox = Sandbox::new();
    // On TERM the leader forks two new children and keeps going.
    sandbox.start_sh(
        "forker",
        "trap 'sleep 1000 & sleep 1001 &' TERM; while :; do sleep 0.05; done",
    );
    let report = stop_json(&sandbox, "forker", "1s");
    let commands: Vec<String> = report["stopped"][0]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["command"].as_str().unwrap().to_string())
        .collect();
    assert!(
        commands.iter().any(|c| c.contains("sleep 1000")),
        "children forked after the first signal were not seen: {commands:?}"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn zombie_child_of_the_service_is_reaped() {
    let sandbox = Sandbox::new();
    // `exec` leaves the background child to a parent (sleep) that never reaps it.
    sandbox.start_sh("zombies", "sleep 0.05 & exec sleep 1000");
    assert!(common::wait_until(
        std::time::Duration::from_secs(2),
        || {
            sandbox.note_tree();
            std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                    .and_then(common::stat)
                    .is_some_and(|(ppid, state)| {
                        state == 'Z' && sandbox.token_processes().iter().any(|p| p.0 == ppid)
                    })
            })
        }
    ));
    let status = json_of(
        &sandbox
            .reaper()
            .args(["status", "zombies", "--json"])
            .assert()
            .success(),
    );
    assert_eq!(
        status["services"][0]["processes"], 1,
        "a zombie is not a running process"
    );
    stop_json(&sandbox, "zombies", "5s");
    sandbox.assert_nothing_left();
}
