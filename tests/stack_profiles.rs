//! Profiles: services with `profiles = [...]` start only with `--profile` (also through the
//! detached supervisor), by name, or as a dependency of a service that runs; services without
//! profiles always run; `ps --profile` lists the profile's services; a misspelt profile is bad
//! input (exit 2) with a suggestion.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use common::Sandbox;
use stack_common::write_config;

const CONFIG: &str = r#"[services.app]
command = "exec sleep 1000"

[services.tests]
command = "exec sleep 1000"
profiles = ["test"]
depends_on = ["fixtures"]

[services.fixtures]
command = "exec sleep 1000"
profiles = ["seed"]

[services.debugger]
command = "exec sleep 1000"
profiles = ["debug"]
"#;

/// (name, running) for each service `reaper ps --json ARGS` lists.
fn listed(sandbox: &Sandbox, args: &[&str]) -> Vec<(String, bool)> {
    let ps = common::json_of(
        &sandbox
            .reaper()
            .args(["ps", "--json"])
            .args(args)
            .assert()
            .success(),
    );
    ps["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["pid"].is_u64()))
        .collect()
}

fn running(list: &[(String, bool)]) -> Vec<&str> {
    let mut names: Vec<&str> = list
        .iter()
        .filter(|(_, up)| *up)
        .map(|(n, _)| n.as_str())
        .collect();
    names.sort_unstable();
    names
}

#[test]
fn without_a_profile_only_services_without_profiles_run() {
    let sandbox = Sandbox::new();
    write_config(&sandbox, CONFIG);
    sandbox.reaper().args(["up", "-d"]).assert().success();
    let list = listed(&sandbox, &[]);
    assert_eq!(running(&list), vec!["app"], "{list:?}");
    assert!(!list.iter().any(|(n, _)| n == "debugger"), "{list:?}");
    sandbox.reaper().arg("down").assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn a_profile_adds_its_services_and_their_dependencies_detached() {
    let sandbox = Sandbox::new();
    write_config(&sandbox, CONFIG);
    sandbox
        .reaper()
        .args(["up", "-d", "--profile", "test"])
        .assert()
        .success();
    let list = listed(&sandbox, &[]);
    // fixtures (profile seed) runs because tests depends on it; debugger does not.
    assert_eq!(running(&list), vec!["app", "fixtures", "tests"], "{list:?}");
    // ps --profile debug lists debugger as not running.
    let list = listed(&sandbox, &["--profile", "debug"]);
    assert!(list.contains(&("debugger".to_string(), false)), "{list:?}");
    sandbox.reaper().arg("down").assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn a_service_named_on_the_command_line_runs_whatever_its_profile() {
    let sandbox = Sandbox::new();
    write_config(&sandbox, CONFIG);
    sandbox
        .reaper()
        .args(["up", "-d", "debugger"])
        .assert()
        .success();
    assert_eq!(running(&listed(&sandbox, &[])), vec!["debugger"]);
    sandbox.reaper().arg("down").assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn a_misspelt_profile_is_bad_input_and_starts_nothing() {
    let sandbox = Sandbox::new();
    write_config(&sandbox, CONFIG);
    sandbox
        .reaper()
        .args(["up", "--profile", "tests"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "no service has profile `tests` (did you mean `test`?); profiles: debug, seed, test",
        ));
    assert!(!sandbox.path().join(".run/.stack.json").exists());
    sandbox.assert_nothing_left();
}
