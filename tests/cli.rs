//! The command-line surface: every command has --help with examples, exit codes are documented,
//! completions and the man page render.

use assert_cmd::Command;
use predicates::str::contains;

fn reaper() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("reaper"))
}

#[test]
fn every_command_has_help_with_examples() {
    let mut commands = vec![
        "start",
        "stop",
        "restart",
        "status",
        "logs",
        "clean",
        "doctor",
        "kill",
        "emergency",
        "watch",
        "port",
        "ports",
        "down",
        "ps",
        "check",
        "schema",
        "import",
        "completions",
        "man",
    ];
    if cfg!(unix) {
        commands.extend(["run", "up"]);
    }
    for command in commands {
        reaper()
            .args([command, "--help"])
            .assert()
            .success()
            .stdout(contains("Examples:"))
            .stdout(contains("reaper "));
    }
}

#[test]
fn top_level_help_documents_exit_codes() {
    reaper()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("Exit codes:"))
        .stdout(contains("3  no managed service by that name"))
        .stdout(contains("4  the service is already running"));
}

#[test]
fn completions_and_man_page_render() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        reaper()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(contains("reaper"));
    }
    reaper()
        .arg("man")
        .assert()
        .success()
        .stdout(contains(".TH reaper"));
    reaper().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn broken_pipe_exits_zero() {
    // `reaper man | head -1`: the reader goes away after one line.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("reaper"))
        .arg("man")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
