//! `reaper import FILE`: sample process-compose.yaml, Procfile (+ .env) and package.json files
//! written here, printed as reaper.toml (golden output), each accepted by `reaper check` once
//! saved; what has no equivalent appears as `# not translated:` comments; bad files exit 2 with
//! the line and column.
#![cfg(target_os = "linux")]

mod common;

use common::Sandbox;

fn import(sandbox: &Sandbox, file: &str) -> String {
    let assert = sandbox.reaper().args(["import", file]).assert().success();
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

/// Saves `toml` as the sandbox's reaper.toml and runs `reaper check` on it.
fn check_accepts(sandbox: &Sandbox, toml: &str) {
    std::fs::write(sandbox.path().join("reaper.toml"), toml).unwrap();
    sandbox
        .reaper()
        .arg("check")
        .assert()
        .success()
        .stdout(predicates::str::contains("ok: reaper.toml"));
}

const PROCESS_COMPOSE: &str = r#"version: "0.5"
log_level: debug
environment:
  - "GLOBAL=1"
processes:
  db:
    command: "postgres -D data"
    description: the database
    readiness_probe:
      http_get:
        host: 127.0.0.1
        port: 5432
        path: /health
      initial_delay_seconds: 2
    shutdown:
      signal: 2
      timeout_seconds: 5
  api:
    command: "uvicorn app:app --port 8001"
    working_dir: ./backend
    environment:
      - "LOG=debug"
    depends_on:
      db:
        condition: process_healthy
      migrate:
        condition: process_completed_successfully
    availability:
      restart: on_failure
      backoff_seconds: 2
      max_restarts: 5
    replicas: 2
    ready_log_line: "Application startup complete."
    is_daemon: false
  worker:
    command: "python3 worker.py"
    depends_on:
      api:
        condition: process_log_ready
      db:
        condition: process_started
  migrate:
    command: "alembic upgrade head"
    disabled: true
    liveness_probe:
      exec:
        command: "true"
"#;

#[test]
fn process_compose_yaml() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path().join("process-compose.yaml"), PROCESS_COMPOSE).unwrap();
    std::fs::create_dir(sandbox.path().join("backend")).unwrap();
    let toml = import(&sandbox, "process-compose.yaml");
    insta::assert_snapshot!(toml);
    check_accepts(&sandbox, &toml);
}

#[test]
fn procfile_with_dotenv() {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.path().join("Procfile"),
        "# web and worker\nweb: python3 -m http.server $PORT\nworker: sh -c 'echo \"working\"; sleep 1'\n",
    )
    .unwrap();
    std::fs::write(sandbox.path().join(".env"), "PORT=7000\nSECRET=x\n").unwrap();
    let toml = import(&sandbox, "Procfile");
    insta::assert_snapshot!(toml);
    check_accepts(&sandbox, &toml);
}

#[test]
fn package_json_scripts_with_yarn() {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.path().join("package.json"),
        r#"{
  "name": "web",
  "scripts": {
    "dev": "vite --port 5173",
    "build:css": "tailwindcss -o dist/app.css",
    "predev": "node scripts/check.js",
    "postinstall": "patch-package",
    "test": "vitest run"
  },
  "workspaces": ["packages/*"]
}
"#,
    )
    .unwrap();
    std::fs::write(sandbox.path().join("yarn.lock"), "").unwrap();
    let toml = import(&sandbox, "package.json");
    insta::assert_snapshot!(toml);
    check_accepts(&sandbox, &toml);
}

#[test]
fn bad_files_are_reported_with_line_and_column() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path().join("broken.yaml"), "processes:\n  web: [\n").unwrap();
    sandbox
        .reaper()
        .args(["import", "broken.yaml"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicates::str::is_match(r"reaper: broken\.yaml:\d+:\d+: not valid YAML: ").unwrap(),
        );
    std::fs::write(sandbox.path().join("empty.yml"), "version: \"0.5\"\n").unwrap();
    sandbox
        .reaper()
        .args(["import", "empty.yml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "empty.yml:1:1: no `processes` to import",
        ));
    std::fs::write(sandbox.path().join("package.json"), "{\n  \"name\": 1,\n}").unwrap();
    sandbox
        .reaper()
        .args(["import", "package.json"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "package.json:3:1: not valid JSON",
        ));
    std::fs::write(sandbox.path().join("notes.txt"), "hello").unwrap();
    sandbox
        .reaper()
        .args(["import", "notes.txt"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cannot tell what notes.txt is"));
    sandbox
        .reaper()
        .args(["import", "missing.yaml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cannot read missing.yaml"));
}
