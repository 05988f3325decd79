//! Control characters in argv, commands and paths reach the terminal escaped (`\u{1b}`, `\n`) in
//! human output, so a service cannot recolour, clear or forge lines of `status` and `stop`.
#![cfg(target_os = "linux")]

mod common;

use common::Sandbox;

const RED: &str = "\x1b[31mred";
const TWO_LINES: &str = "one\nforged line";

fn assert_escaped(output: &[u8]) -> String {
    let text = String::from_utf8_lossy(output).to_string();
    assert!(!text.contains('\x1b'), "raw escape in {text:?}");
    assert!(!text.contains(TWO_LINES), "raw newline in {text:?}");
    text
}

#[test]
fn control_characters_in_argv_and_log_path_are_escaped_in_status_and_stop() {
    let sandbox = Sandbox::new();
    let log = sandbox.path().join(format!("{RED}.log"));
    sandbox
        .reaper()
        .args(["start", "web", "--log"])
        .arg(&log)
        .args(["--", "sh", "-c", "sleep 30; :", RED, TWO_LINES])
        .assert()
        .success();
    sandbox.note_tree();
    let status = sandbox.reaper().args(["status"]).assert().success();
    let text = assert_escaped(&status.get_output().stdout);
    assert!(text.contains("\\u{1b}[31mred.log"), "{text}");
    let stop = sandbox.reaper().args(["stop", "web"]).assert().success();
    let text = assert_escaped(&stop.get_output().stdout);
    assert!(text.contains("\\u{1b}[31mred one\\nforged line"), "{text}");
    sandbox.assert_nothing_left();
}

#[test]
fn control_characters_in_a_refused_name_are_escaped_in_the_error() {
    let sandbox = Sandbox::new();
    let name = format!("{RED}\n");
    let refused = sandbox
        .reaper()
        .args(["start", &name, "--", "sleep", "30"])
        .assert()
        .code(2);
    let text = assert_escaped(&refused.get_output().stderr);
    assert!(text.contains("\\u{1b}[31mred\\n"), "{text}");
    sandbox.assert_nothing_left();
}
