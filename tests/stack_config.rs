//! reaper.toml validation: every configuration error is reported with file, line, column and a
//! hint, before anything starts; the shipped JSON Schema matches the config types.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use common::Sandbox;
use predicates::str::contains;
use stack_common::write_config;

/// `reaper check` on `config`: exit 2, and stdout has every expected fragment.
fn config_error(config: &str, expected: &[&str]) {
    let sandbox = Sandbox::new();
    write_config(&sandbox, config);
    let mut assert = sandbox.reaper().arg("check").assert().code(2);
    for fragment in expected {
        assert = assert.stdout(contains(*fragment));
    }
    assert.stderr(contains("nothing was started"));
    // `up` refuses the same configuration before starting anything.
    sandbox
        .reaper()
        .arg("up")
        .assert()
        .code(2)
        .stderr(contains(expected[0]));
    assert!(!sandbox.path().join(".run").join(".stack.json").exists());
    assert!(sandbox.token_processes().is_empty());
}

#[test]
fn unknown_key() {
    config_error(
        "[services.api]\ncommand = \"sleep 1\"\ncomand = \"x\"\n",
        &[
            "reaper.toml:3:1: unknown key `comand`",
            "hint: did you mean `command`?",
        ],
    );
}

#[test]
fn unknown_top_level_table() {
    config_error(
        "[service.api]\ncommand = \"sleep 1\"\n",
        &[
            "reaper.toml:1:2: unknown key `service`",
            "did you mean `services`?",
        ],
    );
}

#[test]
fn missing_command() {
    config_error(
        "[services.api]\ncwd = \".\"\n",
        &[
            "reaper.toml:1:",
            "missing `command`",
            "hint: add command = ",
        ],
    );
}

#[test]
fn dependency_cycle() {
    config_error(
        "[services.a]\ncommand = \"sleep 1\"\ndepends_on = [\"b\"]\n\n[services.b]\ncommand = \"sleep 1\"\ndepends_on = [\"a\"]\n",
        &[
            "reaper.toml:7:15: dependency cycle: a → b → a",
            "hint: remove one of these depends_on entries",
        ],
    );
}

#[test]
fn unknown_dependency() {
    config_error(
        "[services.db]\ncommand = \"sleep 1\"\n\n[services.api]\ncommand = \"sleep 1\"\ndepends_on = [\"dbb\"]\n",
        &[
            "reaper.toml:6:15: service `api` depends on unknown service `dbb`",
            "did you mean `db`?",
        ],
    );
}

#[test]
fn duplicate_port() {
    config_error(
        "[services.a]\ncommand = \"sleep 1\"\nport = 40001\n\n[services.b]\ncommand = \"sleep 1\"\nport = 40001\n",
        &[
            "reaper.toml:7:8: service `b`: port 40001 is also the port of service `a` (line 3)",
            "hint: give each service its own port",
        ],
    );
}

#[test]
fn bad_duration() {
    config_error(
        "[services.a]\ncommand = \"sleep 1\"\nstop_timeout = \"10x\"\n",
        &[
            "reaper.toml:3:16: service `a`: invalid duration `10x` for `stop_timeout`",
            "hint: use a number of seconds or a unit",
        ],
    );
}

#[test]
fn unreadable_env_file() {
    config_error(
        "[services.a]\ncommand = \"sleep 1\"\nenv_file = [\"backend/.env\"]\n",
        &[
            "reaper.toml:3:12: service `a`: env file `backend/.env`: no such file",
            "create the file or remove it from env_file",
        ],
    );
}

#[test]
fn bad_signal_regex_url_and_cwd_are_all_reported_at_once() {
    config_error(
        "[services.a]\ncommand = \"sleep 1\"\nstop_signal = \"SIGFOO\"\ncwd = \"nowhere\"\n\n[services.b]\ncommand = \"sleep 1\"\nready = { log = \"([\" }\n\n[services.c]\ncommand = \"sleep 1\"\nready = { http = \"https://x/\" }\n",
        &[
            "reaper.toml:3:15: service `a`: `SIGFOO` is not a usable stop signal",
            "reaper.toml:4:7: service `a`: working directory `nowhere` does not exist",
            "reaper.toml:8:9: service `b`: ready.log is not a valid regular expression",
            "reaper.toml:12:9: service `c`: ready.http `https://x/` is not usable",
            "https is not supported",
        ],
    );
}

#[test]
fn toml_syntax_error() {
    config_error("[services.a]\ncommand = \"sleep 1\n", &["reaper.toml:2:"]);
}

#[test]
fn missing_configuration_is_bad_input() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .arg("check")
        .assert()
        .code(2)
        .stderr(contains("no reaper.toml"))
        .stderr(contains("no Procfile"));
    sandbox
        .reaper()
        .args(["up", "-f", "missing.toml"])
        .assert()
        .code(2)
        .stderr(contains("missing.toml does not exist"));
}

#[test]
fn unknown_service_on_the_command_line() {
    let sandbox = Sandbox::new();
    write_config(&sandbox, "[services.api]\ncommand = \"sleep 1\"\n");
    sandbox
        .reaper()
        .args(["up", "apj"])
        .assert()
        .code(2)
        .stderr(contains(
            "no service `apj` in the stack (did you mean `api`?)",
        ));
    assert!(sandbox.token_processes().is_empty());
}

#[test]
fn a_valid_configuration_passes_check() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        "[services.db]\ncommand = [\"sleep\", \"1\"]\nport = 40002\n\n[services.api]\ncommand = \"sleep 1\"\ndepends_on = [\"db\"]\nready = { log = \"ready\" }\nrestart = \"on-failure\"\nstop_timeout = 3\n\n[doctor]\norphan_patterns = [\"uvicorn\"]\n",
    );
    sandbox
        .reaper()
        .arg("check")
        .assert()
        .success()
        .stdout(contains("ok: reaper.toml: 2 services, 0 checks passed"));
    // doctor still reads its [doctor] table from the same file.
    sandbox
        .reaper()
        .args(["doctor", "--sample", "0", "--scope", "project"])
        .assert()
        .code(predicates::ord::lt(2));
}

#[test]
fn the_example_stack_is_valid() {
    let sandbox = Sandbox::new();
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/devstack/reaper.toml");
    sandbox
        .reaper()
        .args(["check", "-f"])
        .arg(&example)
        .assert()
        .success()
        .stdout(contains("3 services, 5 checks passed"));
}

#[test]
fn shipped_schema_matches_the_config_types() {
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reaper.schema.json"),
    )
    .expect("reaper.schema.json ships at the repository root");
    let sandbox = Sandbox::new();
    let generated = sandbox.reaper().arg("schema").assert().success();
    let generated = String::from_utf8_lossy(&generated.get_output().stdout).into_owned();
    assert!(
        generated == shipped,
        "reaper.schema.json is out of date: regenerate it with `cargo run -- schema > reaper.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&shipped).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(
        schema["$defs"]["ServiceConfig"]["required"],
        serde_json::json!(["command"])
    );
}

#[test]
fn every_stack_command_has_help_with_examples() {
    let sandbox = Sandbox::new();
    for command in ["up", "down", "ps", "check", "schema", "import"] {
        sandbox
            .reaper()
            .args([command, "--help"])
            .assert()
            .success()
            .stdout(contains("Examples:"))
            .stdout(contains(format!("reaper {command}")));
    }
}
