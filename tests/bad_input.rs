//! Bad input: each case gets a clear one-line error or a safe skip with a reason, the right exit
//! code, no signal to anything not ours, and no record lost or corrupted.
#![cfg(target_os = "linux")]

mod common;

use common::{Sandbox, alive, bystander};
use predicates::str::contains;

fn write_pid_file(sandbox: &Sandbox, name: &str, contents: &str) {
    std::fs::create_dir_all(sandbox.path().join(".run")).unwrap();
    std::fs::write(sandbox.path().join(format!(".run/{name}.pid")), contents).unwrap();
}

#[test]
fn unusable_pid_files_are_refused_and_kept() {
    let sandbox = Sandbox::new();
    let own = std::process::id().to_string();
    let cases = [
        ("zero", "0\n", "not a usable pid"),
        ("minus", "-1\n", "is not a pid"),
        ("init", "1\n", "not a usable pid"),
        ("empty", "", "empty"),
        ("letters", "abc\n", "is not a pid"),
        (
            "huge",
            "1234567890123456789012345678901234567890\n",
            "not a usable pid",
        ),
        ("garbage", "123 garbage\n", "is not a pid"),
    ];
    for (name, contents, _) in &cases {
        write_pid_file(&sandbox, name, contents);
    }
    write_pid_file(&sandbox, "own", &format!("{own}\n"));
    std::os::unix::fs::symlink("/proc/self/stat", sandbox.path().join(".run/link.pid")).unwrap();

    for (name, _, why) in &cases {
        sandbox
            .reaper()
            .args(["stop", name])
            .assert()
            .code(1)
            .stderr(contains(*why))
            .stderr(contains("did not signal anything"));
    }
    sandbox
        .reaper()
        .args(["stop", "link"])
        .assert()
        .code(1)
        .stderr(contains("symbolic link"));
    sandbox
        .reaper()
        .args(["stop", "own"])
        .assert()
        .code(1)
        .stderr(contains("cannot be checked"));

    let out = sandbox.reaper().arg("clean").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    for (name, ..) in &cases {
        assert!(stdout.contains(&format!("{name}: kept")), "{stdout}");
        assert!(sandbox.path().join(format!(".run/{name}.pid")).exists());
    }
    assert!(sandbox.path().join(".run/link.pid").exists());
    assert!(
        sandbox.path().join(".run/own.pid").exists(),
        "own pid is alive: kept"
    );

    sandbox
        .reaper()
        .arg("status")
        .assert()
        .success()
        .stdout(contains("unverified"));
}

#[test]
fn truncated_and_newer_records_are_reported_and_left_intact() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.path().join(".run")).unwrap();
    let truncated = r#"{"schema": 1, "name": "cut", "run_id": "#;
    let newer = r#"{"schema": 2, "name": "future", "whatever": true}"#;
    std::fs::write(sandbox.record_path("cut"), truncated).unwrap();
    std::fs::write(sandbox.record_path("future"), newer).unwrap();

    sandbox
        .reaper()
        .args(["stop", "cut"])
        .assert()
        .code(1)
        .stderr(contains("unreadable"));
    sandbox
        .reaper()
        .args(["stop", "future"])
        .assert()
        .code(1)
        .stderr(contains("schema 2, newer than this reaper understands"));
    sandbox
        .reaper()
        .args(["start", "cut", "--", "sleep", "1"])
        .assert()
        .code(1)
        .stderr(contains("unreadable"));
    sandbox
        .reaper()
        .arg("clean")
        .assert()
        .success()
        .stdout(contains("cut: kept"));
    sandbox
        .reaper()
        .args(["stop", "--all"])
        .assert()
        .code(1)
        .stderr(contains("skipped future"));
    assert_eq!(
        std::fs::read_to_string(sandbox.record_path("cut")).unwrap(),
        truncated
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.record_path("future")).unwrap(),
        newer
    );
}

#[test]
fn bad_names_are_usage_errors() {
    let sandbox = Sandbox::new();
    for name in [
        "a/b",
        "..",
        "../escape",
        "with space",
        "",
        ".hidden",
        "-dash",
    ] {
        let mut cmd = sandbox.reaper();
        cmd.args(["start", name, "--", "sleep", "1"]);
        let assert = cmd.assert().code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(
            stderr.contains("invalid service name") || stderr.contains("error:"),
            "{name:?}: {stderr}"
        );
        sandbox.reaper().args(["stop", name]).assert().code(2);
    }
    assert!(!sandbox.path().join("escape.json").exists());
    assert!(
        !sandbox
            .path()
            .parent()
            .unwrap()
            .join("escape.json")
            .exists()
    );
}

#[test]
fn missing_or_unwritable_state_dir() {
    let sandbox = Sandbox::new();
    let file = sandbox.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    sandbox
        .reaper()
        .args(["--state-dir"])
        .arg(&file)
        .args(["start", "x", "--", "sleep", "1"])
        .assert()
        .code(2)
        .stderr(contains("is not usable"));
    // A missing directory is created on start; stop in it finds nothing.
    let missing = sandbox.path().join("fresh/nested");
    sandbox
        .reaper()
        .arg("--state-dir")
        .arg(&missing)
        .args(["stop", "x"])
        .assert()
        .code(3);
    sandbox
        .reaper()
        .arg("--state-dir")
        .arg(&missing)
        .args(["start", "x", "--min-uptime", "0", "--", "sleep", "1000"])
        .assert()
        .success();
    sandbox.note_tree();
    sandbox
        .reaper()
        .arg("--state-dir")
        .arg(&missing)
        .args(["stop", "x"])
        .assert()
        .success();
    sandbox.assert_nothing_left();
}

#[test]
fn read_only_state_dir_is_a_clear_error() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path().join("ro");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
    std::fs::set_permissions(
        sandbox.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let reaper = assert_cmd::cargo::cargo_bin("reaper");
    // Root writes anywhere: run reaper as `nobody` then (setpriv, util-linux), so the case is
    // exercised under CI, which runs as root.
    let mut command = if rustix::process::geteuid().is_root() {
        let mut c = assert_cmd::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(reaper);
        c
    } else {
        assert_cmd::Command::new(reaper)
    };
    command
        .current_dir(sandbox.path())
        .arg("--state-dir")
        .arg(&dir)
        .args(["start", "x", "--", "sleep", "1"])
        .assert()
        .code(2)
        .stderr(contains("is not usable"));
}

#[test]
fn commands_that_cannot_run_or_die_at_once() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["start", "nope", "--", "definitely-not-a-command-xyz"])
        .assert()
        .code(2)
        .stderr(contains("command not found: definitely-not-a-command-xyz"));
    let script = sandbox.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    sandbox
        .reaper()
        .args(["start", "noexec", "--"])
        .arg(&script)
        .assert()
        .code(2)
        .stderr(contains("permission denied"));
    sandbox
        .reaper()
        .args([
            "start",
            "dies",
            "--",
            "sh",
            "-c",
            "echo booting; echo 'fatal: no config' >&2; exit 3",
        ])
        .assert()
        .code(1)
        .stderr(contains("exited during start-up (exit code 3)"))
        .stderr(contains("fatal: no config"));
    for name in ["nope", "noexec", "dies"] {
        assert!(!sandbox.record_path(name).exists(), "{name} left a record");
    }
    sandbox
        .reaper()
        .args(["start", "empty", "--", ""])
        .assert()
        .code(2);
    sandbox.assert_nothing_left();
}

#[test]
fn missing_cwd_and_env_file() {
    let sandbox = Sandbox::new();
    sandbox
        .reaper()
        .args(["start", "x", "--cwd", "no/such/dir", "--", "sleep", "1"])
        .assert()
        .code(2)
        .stderr(contains("does not exist"));
    sandbox
        .reaper()
        .args([
            "start",
            "x",
            "--env-file",
            "missing.env",
            "--",
            "sleep",
            "1",
        ])
        .assert()
        .code(2)
        .stderr(contains("missing.env"))
        .stderr(contains("no such file"));
    sandbox
        .reaper()
        .args(["start", "x", "--env", "NOEQUALS", "--", "sleep", "1"])
        .assert()
        .code(2)
        .stderr(contains("is not K=V"));
    for bad in ["--timeout=abc", "--timeout=-1", "--signal=FOO"] {
        sandbox.reaper().args(["stop", "x", bad]).assert().code(2);
    }
    sandbox
        .reaper()
        .args(["start", "x", "--port", "0", "--", "true"])
        .assert()
        .code(2);
    sandbox
        .reaper()
        .args(["start", "x", "--port", "70000", "--", "true"])
        .assert()
        .code(2);
    sandbox
        .reaper()
        .args(["stop", "ghost"])
        .assert()
        .code(3)
        .stderr(contains("no managed service"));
    sandbox.reaper().args(["status", "ghost"]).assert().code(3);
    sandbox.reaper().args(["logs", "ghost"]).assert().code(3);
}

#[test]
fn already_running_names_pid_and_uptime() {
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh("api", "exec sleep 1000");
    let pid = record["leader"]["pid"].as_u64().unwrap();
    sandbox
        .reaper()
        .args(["start", "api", "--", "sleep", "1"])
        .assert()
        .code(4)
        .stderr(contains(format!("api is already running (pid {pid}, up ")));
    sandbox.reaper().args(["stop", "api"]).assert().success();
    sandbox.assert_nothing_left();
}

#[test]
fn unrelated_process_named_in_a_pid_file_is_never_touched() {
    let sandbox = Sandbox::new();
    let bystander = bystander();
    write_pid_file(&sandbox, "other", &format!("{}\n", bystander.0.id()));
    sandbox.reaper().args(["stop", "other"]).assert().code(1);
    sandbox
        .reaper()
        .args(["clean", "--kill"])
        .assert()
        .success();
    sandbox.reaper().args(["stop", "--all"]).assert().code(1);
    assert!(alive(bystander.0.id()));
}
