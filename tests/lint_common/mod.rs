//! Helpers for the `reaper lint` tests: a project directory of given files, the binary run in
//! it, and a finding's path as the tests compare it.
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

/// `reaper` run in `dir`, outside any state directory. The binary itself, not through a cargo
/// runner: under wine a runner is a Unix program, which cannot take the Windows test's handles.
pub fn reaper(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(assert_cmd::cargo::cargo_bin("reaper"));
    cmd.current_dir(dir).env_remove("REAPER_STATE_DIR");
    cmd
}

/// A temporary directory holding `files` (path, text).
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// A finding's path with `/` separators and no leading `./`, on every platform.
pub fn finding_path(finding: &Value) -> String {
    finding["path"]
        .as_str()
        .unwrap()
        .replace('\\', "/")
        .trim_start_matches("./")
        .to_string()
}
