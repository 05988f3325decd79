//! `${VAR}` in reaper.toml: from the environment, the service's env files and `.env` (the
//! environment wins), `${VAR:-default}`, `$${…}` and the run-time names (`${PORT}`) left for the
//! service; `${VAR:?message}` and an unset `${VAR}` are errors at their line and column.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use common::{Sandbox, wait_until};
use stack_common::write_config;
use std::time::Duration;

#[test]
fn values_come_from_the_environment_env_files_and_defaults() {
    let sandbox = Sandbox::new();
    let port = common::free_port();
    std::fs::write(
        sandbox.path().join(".env"),
        "GREETING=from-dotenv\nSHADOWED=from-dotenv\n",
    )
    .unwrap();
    std::fs::write(
        sandbox.path().join("svc.env"),
        "FROM_SERVICE_FILE=svc-file\n",
    )
    .unwrap();
    write_config(
        &sandbox,
        &format!(
            r#"[services.echo]
command = "echo values ${{GREETING}} ${{SHADOWED}} ${{FROM_SERVICE_FILE}} ${{UNSET_FOR_REAPER_TEST:-fallback}} $${{LITERAL}} port=${{PORT}}; exec sleep 1000"
env_file = "${{SERVICE_ENV_FILE:-svc.env}}"
port = {port}
ready = {{ log = "values" }}
env = {{ LITERAL = "the-shell-expanded-it" }}
"#
        ),
    );
    sandbox
        .reaper()
        .args(["up", "-d"])
        .env("SHADOWED", "from-environment")
        .env("PORT", "1")
        .env_remove("UNSET_FOR_REAPER_TEST")
        .assert()
        .success();
    let log = sandbox.path().join(".logs/echo.log");
    let expected = format!(
        "values from-dotenv from-environment svc-file fallback the-shell-expanded-it port={port}"
    );
    let found = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|text| text.contains(&expected))
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    sandbox.reaper().arg("down").assert().success();
    assert!(found, "expected {expected:?} in the log:\n{text}");
    sandbox.assert_nothing_left();
}

#[test]
fn unresolved_variables_are_reported_at_line_and_column() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        "[services.db]\ncommand = \"sleep 1\"\nenv = { URL = \"postgres://${DB_HOST_FOR_REAPER_TEST:?ask the team for the host}/app\" }\n\n[services.api]\ncommand = \"serve --token ${API_TOKEN_FOR_REAPER_TEST}\"\ncwd = \"${broken\"\n",
    );
    let assert = sandbox
        .reaper()
        .arg("check")
        .env_remove("DB_HOST_FOR_REAPER_TEST")
        .env_remove("API_TOKEN_FOR_REAPER_TEST")
        .assert()
        .code(2);
    let out = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with(
            "reaper.toml:3:27: DB_HOST_FOR_REAPER_TEST is not set: ask the team for the host (hint: set DB_HOST_FOR_REAPER_TEST in the environment or in .env)"
        ),
        "{out}"
    );
    assert!(
        lines[1].starts_with(
            "reaper.toml:6:26: API_TOKEN_FOR_REAPER_TEST is not set (used as `${API_TOKEN_FOR_REAPER_TEST}`)"
        ),
        "{out}"
    );
    assert!(
        lines[2].starts_with("reaper.toml:7:8: `${broken` has no closing `}`"),
        "{out}"
    );
    // `up` refuses the same file before starting anything.
    sandbox
        .reaper()
        .arg("up")
        .env_remove("DB_HOST_FOR_REAPER_TEST")
        .env_remove("API_TOKEN_FOR_REAPER_TEST")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("3 problems in reaper.toml"));
    sandbox.assert_nothing_left();
}

#[test]
fn a_broken_dotenv_is_reported_at_its_line_only_when_used() {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.path().join(".env"),
        "GOOD=1\nthis is not a variable\n",
    )
    .unwrap();
    // Without ${…} the project's .env is not read for interpolation.
    write_config(&sandbox, "[services.a]\ncommand = \"sleep 1\"\n");
    sandbox.reaper().arg("check").assert().success();
    write_config(&sandbox, "[services.a]\ncommand = \"sleep ${GOOD}\"\n");
    sandbox.reaper().arg("check").assert().code(2).stdout(
        predicates::str::is_match(r"(?m)^\.env:2:\d+: cannot read it for \$\{…\} in reaper.toml")
            .unwrap(),
    );
}
