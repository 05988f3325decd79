//! [checks]: files that must exist, FILE:VARIABLE groups that must match (values never
//! printed), programs on PATH; `reaper check` runs them alone, `reaper up` refuses to start
//! anything when one fails.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use common::Sandbox;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use stack_common::write_config;

const SECRET_A: &str = "s3cret-backend-value";
const SECRET_B: &str = "other-frontend-value";

fn stack(sandbox: &Sandbox, backend: Option<&str>, frontend: Option<&str>) {
    std::fs::create_dir_all(sandbox.path().join("backend")).unwrap();
    std::fs::create_dir_all(sandbox.path().join("frontend")).unwrap();
    if let Some(text) = backend {
        std::fs::write(sandbox.path().join("backend/.env"), text).unwrap();
    }
    if let Some(text) = frontend {
        std::fs::write(sandbox.path().join("frontend/.env.local"), text).unwrap();
    }
    write_config(
        sandbox,
        r#"[services.api]
command = "exec sleep 1000"

[checks]
files = ["backend/.env", "frontend/.env.local"]
same = [["backend/.env:API_TOKEN", "frontend/.env.local:NEXT_PUBLIC_API_TOKEN"]]
commands = ["sh"]
"#,
    );
}

#[test]
fn matching_tokens_pass() {
    let sandbox = Sandbox::new();
    stack(
        &sandbox,
        Some(&format!("API_TOKEN={SECRET_A}\n")),
        Some(&format!("NEXT_PUBLIC_API_TOKEN={SECRET_A}\n")),
    );
    sandbox
        .reaper()
        .arg("check")
        .assert()
        .success()
        .stdout(contains("ok: reaper.toml: 1 service, 4 checks passed"))
        .stdout(contains(SECRET_A).not());
}

#[test]
fn mismatched_tokens_fail_without_printing_them() {
    let sandbox = Sandbox::new();
    stack(
        &sandbox,
        Some(&format!("API_TOKEN={SECRET_A}\n")),
        Some(&format!("NEXT_PUBLIC_API_TOKEN={SECRET_B}\n")),
    );
    let assert = sandbox.reaper().arg("check").assert().code(1);
    let output = assert.get_output();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        all.contains("reaper.toml:6:1: frontend/.env.local:NEXT_PUBLIC_API_TOKEN does not match backend/.env:API_TOKEN (values not shown)"),
        "{all}"
    );
    assert!(!all.contains(SECRET_A) && !all.contains(SECRET_B), "{all}");
    assert!(all.contains("1 of 4 checks failed"), "{all}");
    // `up` runs the same checks and starts nothing.
    sandbox
        .reaper()
        .arg("up")
        .assert()
        .code(1)
        .stderr(contains("does not match"))
        .stderr(contains("nothing was started"))
        .stderr(contains(SECRET_A).not());
    assert!(!sandbox.record_path("api").exists());
    assert!(sandbox.token_processes().is_empty());
}

#[test]
fn missing_file_and_variable_each_get_a_line_and_a_hint() {
    let sandbox = Sandbox::new();
    stack(&sandbox, Some("OTHER=1\n"), None);
    std::fs::write(
        sandbox.path().join("frontend/.env.local.example"),
        "NEXT_PUBLIC_API_TOKEN=\n",
    )
    .unwrap();
    let assert = sandbox.reaper().arg("check").assert().code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.contains(&"reaper.toml:5:1: frontend/.env.local does not exist (hint: copy frontend/.env.local.example to frontend/.env.local and fill it in)"),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("reaper.toml:6:1: backend/.env does not set API_TOKEN (hint: add API_TOKEN=... to backend/.env")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("cannot check frontend/.env.local:NEXT_PUBLIC_API_TOKEN")),
        "{stdout}"
    );
}

#[test]
fn missing_program_fails() {
    let sandbox = Sandbox::new();
    write_config(
        &sandbox,
        "[services.api]\ncommand = \"sleep 1\"\n\n[checks]\ncommands = [\"sh\", \"no-such-program-for-reaper\"]\n",
    );
    sandbox
        .reaper()
        .arg("check")
        .assert()
        .code(1)
        .stdout(contains(
            "reaper.toml:5:1: `no-such-program-for-reaper` is not installed (not found on PATH)",
        ));
}
