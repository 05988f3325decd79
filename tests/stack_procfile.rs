//! Procfile mode: without reaper.toml, a Procfile and .env in the directory are used as foreman
//! uses them (sh -c, .env for every process, PORT = base + 100 × index).
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use common::{Sandbox, free_port};
use predicates::str::contains;
use stack_common::Up;

#[test]
fn procfile_and_env_run_like_foreman() {
    let sandbox = Sandbox::new();
    // PORT here is only a number handed to the processes (nothing binds it); it comes from an
    // ephemeral port so no fixed number is used.
    let base = free_port().min(60000);
    std::fs::write(
        sandbox.path().join("Procfile"),
        "# processes\nweb: echo \"web on $PORT says $GREETING\"; exec sleep 1000\nworker: echo \"worker on $PORT\"; exec sleep 1000\n",
    )
    .unwrap();
    std::fs::write(
        sandbox.path().join(".env"),
        format!("GREETING=hello\nPORT={base}\n"),
    )
    .unwrap();
    sandbox
        .reaper()
        .arg("check")
        .assert()
        .success()
        .stdout(contains("ok: Procfile: 2 services, 0 checks passed"));
    let mut up = Up::start(&sandbox, &[]);
    up.wait_for(&format!("web on {base} says hello"));
    up.wait_for(&format!("worker on {}", base + 100));
    up.wait_for("all 2 services are ready");
    sandbox.note_tree();
    let ps = sandbox.ps_json();
    assert_eq!(ps["services"][0]["name"], "web", "{ps}");
    assert_eq!(ps["services"][1]["name"], "worker", "{ps}");
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    assert!(up.text().contains("stopped web"));
    sandbox.assert_nothing_left();
}

#[test]
fn procfile_errors_have_line_numbers() {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.path().join("Procfile"),
        "web: sleep 1\nthis line has no colon\nweb: sleep 2\n",
    )
    .unwrap();
    sandbox
        .reaper()
        .arg("check")
        .assert()
        .code(2)
        .stdout(contains("Procfile:2:1: expected `NAME: COMMAND`"))
        .stdout(contains(
            "Procfile:3:1: process `web` is already declared on line 1",
        ));
}

#[test]
fn reaper_toml_wins_over_a_procfile() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path().join("Procfile"), "web: sleep 1\n").unwrap();
    std::fs::write(
        sandbox.path().join("reaper.toml"),
        "[services.api]\ncommand = \"sleep 1\"\n",
    )
    .unwrap();
    sandbox
        .reaper()
        .arg("check")
        .assert()
        .success()
        .stdout(contains("ok: reaper.toml: 1 service"));
}
