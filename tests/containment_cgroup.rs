//! Containment by cgroup v2 (one cgroup per service run and per `reaper run`) and the session +
//! marker fallback, tested side by side: what each contains, what `status` says, and what is
//! found again after a keeper or a `reaper run` is SIGKILLed. The cgroup tests need a writable
//! cgroup v2 hierarchy (root here); where there is none they say so and check the fallback only.
#![cfg(target_os = "linux")]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{KillOnDrop, Sandbox, alive, json_of, wait_until};

fn cgroups_usable() -> bool {
    let usable = reaper::os::cgroup_support();
    if let Err(why) = &usable {
        eprintln!("cgroup containment is not usable here ({why}): testing the fallback only");
    }
    usable.is_ok()
}

/// `sh -c SCRIPT` started as service `name`, in `mode` (`auto` or `fallback`).
fn start(sandbox: &Sandbox, mode: &str, name: &str, script: &str) -> serde_json::Value {
    sandbox
        .reaper()
        .env("REAPER_CONTAINMENT", mode)
        .args(["start", name, "--", "sh", "-c", script])
        .assert()
        .success();
    sandbox.note_tree();
    sandbox.record(name)
}

fn containment_of(sandbox: &Sandbox, name: &str) -> serde_json::Value {
    let status = json_of(
        &sandbox
            .reaper()
            .args(["status", name, "--json"])
            .assert()
            .success(),
    );
    status["services"][0]["containment"].clone()
}

/// The pid of the live process whose command line starts with `needle`, among the sandbox's.
fn pid_of(sandbox: &Sandbox, needle: &str) -> u32 {
    let mut found = None;
    wait_until(Duration::from_secs(5), || {
        found = sandbox
            .token_processes()
            .into_iter()
            .find(|p| p.3.starts_with(needle) && p.2 != 'Z')
            .map(|p| p.0);
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("no process running {needle}"))
}

/// SIGKILLs the keeper of `record` (a process this test started through reaper).
fn kill_keeper(record: &serde_json::Value) {
    let keeper = record["keeper"]["pid"].as_u64().expect("keeper pid") as i32;
    let pid = rustix::process::Pid::from_raw(keeper).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("kill keeper");
}

#[test]
fn status_names_the_containment_of_each_service() {
    let sandbox = Sandbox::new();
    start(&sandbox, "fallback", "plain", "exec sleep 1000");
    assert_eq!(containment_of(&sandbox, "plain")["kind"], "session_marker");
    if cgroups_usable() {
        let record = start(&sandbox, "auto", "boxed", "exec sleep 1000");
        let cgroup = record["cgroup"].as_str().expect("record names its cgroup");
        let containment = containment_of(&sandbox, "boxed");
        assert_eq!(containment["kind"], "cgroup");
        assert_eq!(containment["path"], cgroup);
        let procs = std::fs::read_to_string(format!("{cgroup}/cgroup.procs")).unwrap();
        assert_eq!(procs.trim(), record["leader"]["pid"].to_string());
        sandbox
            .reaper()
            .arg("status")
            .assert()
            .success()
            .stdout(predicates::str::contains("cgroup"))
            .stdout(predicates::str::contains("session"));
        sandbox.reaper().args(["stop", "boxed"]).assert().success();
        assert!(
            !std::path::Path::new(cgroup).exists(),
            "the stop leaves its cgroup behind"
        );
    }
    sandbox.reaper().args(["stop", "--all"]).assert().success();
    sandbox.assert_nothing_left();
}

/// Regression (issue 11, case 7): a child that calls setsid and clears its environment (no
/// marker) escaped once the keeper was gone. In a cgroup it cannot.
#[test]
fn setsid_env_cleared_child_is_stopped_after_the_keeper_was_killed() {
    if !cgroups_usable() {
        return;
    }
    let sandbox = Sandbox::new();
    let token = format!("REAPER_TEST_TOKEN={}", sandbox.token);
    let record = start(
        &sandbox,
        "auto",
        "escapee",
        &format!("setsid env -i {token} sleep 997 & exec sleep 1000"),
    );
    let escaped = pid_of(&sandbox, "sleep 997");
    kill_keeper(&record);
    sandbox
        .reaper()
        .args(["stop", "escapee", "--timeout", "2s"])
        .assert()
        .success();
    assert!(
        wait_until(Duration::from_secs(5), || !alive(escaped)),
        "the setsid child without a marker survived the stop"
    );
    sandbox.assert_nothing_left();
    assert!(
        sandbox.cgroups().is_empty(),
        "cgroup left: {:?}",
        sandbox.cgroups()
    );
}

/// Regression (issue 11, case 8): `reaper run` SIGKILLed left its whole tree, and neither
/// `doctor` nor `clean` could see it. Its cgroup names it: both find it, `clean --kill` ends it.
#[test]
fn the_tree_of_a_killed_reaper_run_is_found_and_ended_in_a_cgroup() {
    if !cgroups_usable() {
        return;
    }
    // Even a child that left the session and cleared its environment (no marker) is found.
    killed_run_is_found_and_ended(
        "auto",
        "setsid env -i REAPER_TEST_TOKEN={token} sleep 996 & sleep 995",
        "leftover cgroup",
    );
}

/// The same without a cgroup: the marker names the `reaper run`, so its marked processes are
/// orphans once it is gone.
#[test]
fn the_tree_of_a_killed_reaper_run_is_found_and_ended_without_a_cgroup() {
    killed_run_is_found_and_ended("fallback", "setsid sleep 996 & sleep 995", "orphan process");
}

/// Runs `sh -c SCRIPT` (`{token}` replaced by the sandbox's token) under `reaper run`, SIGKILLs
/// reaper, and checks doctor, clean and clean --kill on what it left.
fn killed_run_is_found_and_ended(mode: &str, script: &str, clean_says: &str) {
    let sandbox = Sandbox::new();
    let script = script.replace("{token}", &sandbox.token);
    let run = Command::new(assert_cmd::cargo::cargo_bin("reaper"))
        .current_dir(sandbox.path())
        .env("REAPER_STATE_DIR", sandbox.path())
        .env("REAPER_CONTAINMENT", mode)
        .env(common::TOKEN_VAR, &sandbox.token)
        .args(["run", "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("reaper run");
    let mut run = KillOnDrop(run);
    let child = pid_of(&sandbox, "sleep 996");
    run.0.kill().expect("SIGKILL reaper run");
    run.0.wait().expect("reap reaper run");
    sandbox.note_tree();
    assert!(
        alive(child),
        "the tree died with reaper run (nothing to find)"
    );

    let doctor = json_of(
        &sandbox
            .reaper()
            .args(["doctor", "--json", "--sample", "0"])
            .assert()
            .code(1),
    );
    let evidence = doctor["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["pid"] == child)
        .unwrap_or_else(|| panic!("doctor does not report pid {child}: {doctor}"))["evidence"]
        .to_string();
    assert!(evidence.contains("reaper run"), "evidence: {evidence}");

    sandbox
        .reaper()
        .arg("clean")
        .assert()
        .success()
        .stdout(predicates::str::contains(clean_says));
    assert!(alive(child), "clean without --kill ended a process");
    sandbox
        .reaper()
        .args(["clean", "--kill", "--timeout", "2s"])
        .assert()
        .success();
    assert!(wait_until(Duration::from_secs(5), || !alive(child)));
    sandbox.assert_nothing_left();
}

/// The fallback without a keeper: marker carriers are still found, and a child that cleared its
/// environment and left the session is the one thing that can escape (the README says so).
#[test]
fn fallback_finds_marked_members_after_the_keeper_was_killed() {
    let sandbox = Sandbox::new();
    let record = start(
        &sandbox,
        "fallback",
        "marked",
        "setsid sleep 994 & exec sleep 1000",
    );
    assert!(record.get("cgroup").is_none(), "fallback made a cgroup");
    let daemon = pid_of(&sandbox, "sleep 994");
    kill_keeper(&record);
    sandbox
        .reaper()
        .args(["stop", "marked", "--timeout", "2s"])
        .assert()
        .success();
    assert!(wait_until(Duration::from_secs(5), || !alive(daemon)));
    sandbox.assert_nothing_left();
}
