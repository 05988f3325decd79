//! `reaper export` through the binary: files written with -o (or shown on stdout), notes on
//! stderr and in the files, documented exit codes, and a Procfile that runs as the stack did.
#![cfg(target_os = "linux")]

mod common;

use std::process::Command;

use common::Sandbox;
use predicates::prelude::*;
use predicates::str::contains;

const STACK: &str = r#"[services.db]
command = ["sleep", "1000"]
port = 15432
stop_signal = "SIGINT"

[services.api]
command = "echo \"in $(basename \"$PWD\") with $GREETING and ${PORT:-no port}\""
cwd = "api"
env = { GREETING = "hello world" }
depends_on = ["db"]
"#;

fn sandbox_with_stack() -> Sandbox {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.path().join("api")).unwrap();
    std::fs::write(sandbox.path().join("reaper.toml"), STACK).unwrap();
    sandbox
}

#[test]
fn systemd_units_are_written_with_notes() {
    let sandbox = sandbox_with_stack();
    let out = sandbox.path().join("units");
    sandbox
        .reaper()
        .args(["export", "systemd", "--user", "--name", "shop", "-o"])
        .arg(&out)
        .assert()
        .code(0)
        .stdout(contains("wrote").and(contains("shop-db.service")))
        .stdout(contains("shop.target"));
    let api = std::fs::read_to_string(out.join("shop-api.service")).unwrap();
    assert!(
        api.contains("Requires=shop-db.service\nAfter=shop-db.service"),
        "{api}"
    );
    assert!(api.contains("KillMode=control-group"), "{api}");
    let db = std::fs::read_to_string(out.join("shop-db.service")).unwrap();
    assert!(db.contains("KillSignal=SIGINT"), "{db}");
    assert!(db.contains(" probe -f "), "{db}");
    let target = std::fs::read_to_string(out.join("shop.target")).unwrap();
    assert!(target.contains("WantedBy=default.target"), "{target}");
    sandbox.assert_nothing_left();
}

#[test]
fn notes_go_to_stderr_and_into_the_output() {
    let sandbox = sandbox_with_stack();
    let assert = sandbox
        .reaper()
        .args(["export", "launchd"])
        .assert()
        .code(0)
        .stdout(contains("==> reaper."))
        .stderr(contains(
            "reaper: note: service `db`: stop_signal = \"SIGINT\" (launchd always sends SIGTERM)",
        ));
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout);
    assert!(
        stdout.contains("service `db`: stop_signal = \"SIGINT\" (launchd always sends SIGTERM)"),
        "{stdout}"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn bad_input_exits_2() {
    let sandbox = sandbox_with_stack();
    sandbox
        .reaper()
        .args(["export", "compose"])
        .assert()
        .code(2)
        .stderr(contains("--image"));
    sandbox
        .reaper()
        .args(["export", "compose", "--image", ""])
        .assert()
        .code(2)
        .stderr(contains("is not an image name"));
    sandbox
        .reaper()
        .args(["export", "systemd", "--name", "My Shop"])
        .assert()
        .code(2)
        .stderr(contains("is not a usable stack name"));
    std::fs::write(sandbox.path().join("reaper.toml"), "[services.x]\n").unwrap();
    sandbox
        .reaper()
        .args(["export", "procfile"])
        .assert()
        .code(2)
        .stderr(contains("missing"));
    sandbox.assert_nothing_left();
}

#[test]
fn unwritable_output_exits_1() {
    let sandbox = sandbox_with_stack();
    std::fs::write(sandbox.path().join("taken"), "a file").unwrap();
    sandbox
        .reaper()
        .args(["export", "systemd", "-o", "taken/units"])
        .assert()
        .code(1)
        .stderr(contains("cannot create"));
    sandbox.assert_nothing_left();
}

#[test]
fn compose_paths_start_at_the_output_file() {
    let sandbox = sandbox_with_stack();
    sandbox
        .reaper()
        .args([
            "export",
            "compose",
            "--image",
            "debian:12",
            "-o",
            "deploy/compose.yaml",
        ])
        .assert()
        .code(0);
    let yaml = std::fs::read_to_string(sandbox.path().join("deploy/compose.yaml")).unwrap();
    assert!(yaml.contains("- ..:/project"), "{yaml}");
    assert!(yaml.contains("working_dir: /project/api"), "{yaml}");
    sandbox.assert_nothing_left();
}

/// The exported Procfile line, run by `sh -c` from the Procfile's directory as foreman does,
/// runs the command in its working directory with its environment; and reaper reads the
/// Procfile back with the same services.
#[test]
fn procfile_lines_run_like_the_stack() {
    let sandbox = sandbox_with_stack();
    sandbox
        .reaper()
        .args(["export", "procfile", "-o", "Procfile.export"])
        .assert()
        .code(0)
        .stderr(contains(
            "service `db`: port = 15432 (the platform assigns PORT)",
        ));
    let procfile = std::fs::read_to_string(sandbox.path().join("Procfile.export")).unwrap();
    let line = procfile
        .lines()
        .find_map(|l| l.strip_prefix("api: "))
        .unwrap_or_else(|| panic!("{procfile}"));
    let output = Command::new("sh")
        .args(["-c", line])
        .current_dir(sandbox.path())
        .env("PORT", "5100")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "in api with hello world and 5100\n"
    );
    sandbox
        .reaper()
        .args(["check", "-f", "Procfile.export"])
        .assert()
        .code(0)
        .stdout(contains("2 services"));
    sandbox.assert_nothing_left();
}
