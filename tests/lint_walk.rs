//! The walk of `reaper lint`: .gitignore honoured, languages by extension and by #! line, files
//! in other languages skipped, explicit files always read, unreadable files reported (exit 2).
#![cfg(feature = "lint")]

mod lint_common;

use std::path::Path;

use lint_common::{finding_path, project, reaper};
use serde_json::Value;

fn lint_json(dir: &Path, args: &[&str]) -> (Value, Option<i32>) {
    let output = reaper(dir)
        .args(["lint", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    (
        serde_json::from_slice(&output.stdout).expect("JSON"),
        output.status.code(),
    )
}

fn paths(report: &Value) -> Vec<String> {
    let mut paths: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(finding_path)
        .collect();
    paths.sort();
    paths
}

const FLAGGED_SH: &str = "nohup worker\n";

#[test]
fn gitignored_files_are_skipped_unless_named() {
    let dir = project(&[
        (".gitignore", "build/\n"),
        ("build/gen.sh", FLAGGED_SH),
        ("src/run.sh", FLAGGED_SH),
    ]);
    // The ignore crate reads .gitignore inside a git repository only.
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    let (report, code) = lint_json(dir.path(), &[]);
    assert_eq!(paths(&report), ["src/run.sh"]);
    assert_eq!(code, Some(1));
    let (report, _) = lint_json(dir.path(), &["build/gen.sh"]);
    assert_eq!(paths(&report), ["build/gen.sh"]);
}

#[test]
fn languages_by_extension_and_shebang() {
    let dir = project(&[
        ("bin/deploy", "#!/usr/bin/env bash\nnohup worker\n"),
        (
            "bin/tool",
            "#!/usr/bin/python3\nimport os\nos.system('x')\n",
        ),
        ("bin/notes", "nohup is just a word here\n"),
        (
            "web/a.mjs",
            "import { execSync } from 'child_process';\nexecSync('x');\n",
        ),
        (
            "web/b.tsx",
            "import { execSync } from 'child_process';\nexecSync('x');\n",
        ),
        ("ops/c.psm1", "Start-Process x\n"),
        ("docs/readme.md", "nohup worker &\n"),
        ("data/x.rb", "system('ls')\n"),
    ]);
    let (report, _) = lint_json(dir.path(), &[]);
    assert_eq!(
        paths(&report),
        [
            "bin/deploy",
            "bin/tool",
            "ops/c.psm1",
            "web/a.mjs",
            "web/b.tsx"
        ]
    );
    // bin/notes is read, found to be no script, and not counted.
    assert_eq!(report["files"], 5);
}

#[test]
fn many_files_in_parallel_are_all_seen() {
    let mut files = Vec::new();
    for i in 0..300 {
        files.push((format!("d{}/f{i}.sh", i % 7), FLAGGED_SH.to_string()));
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in &files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let (report, _) = lint_json(dir.path(), &[]);
    assert_eq!(report["files"], 300);
    let found = paths(&report);
    assert_eq!(found.len(), 300);
    let mut sorted = found.clone();
    sorted.sort();
    assert_eq!(found, sorted, "findings come sorted by path");
}

#[cfg(target_os = "linux")]
#[test]
fn unreadable_files_are_reported_with_exit_2() {
    use std::os::unix::fs::PermissionsExt;
    let dir = project(&[("ok.sh", FLAGGED_SH), ("secret.sh", FLAGGED_SH)]);
    let mode = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    mode(dir.path(), 0o755);
    mode(&dir.path().join("ok.sh"), 0o644);
    mode(&dir.path().join("secret.sh"), 0o000);
    // Root reads any file: run reaper as nobody then (setpriv, util-linux).
    let is_root = std::fs::read(dir.path().join("secret.sh")).is_ok();
    let reaper = assert_cmd::cargo::cargo_bin("reaper");
    let mut command = if is_root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&reaper);
        c
    } else {
        std::process::Command::new(&reaper)
    };
    let output = command
        .current_dir(dir.path())
        .env_remove("REAPER_STATE_DIR")
        .args(["lint", "--format", "json"])
        .output()
        .expect("reaper runs");
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(output.status.code(), Some(2), "{report}");
    assert_eq!(
        paths(&report),
        ["ok.sh"],
        "the readable file is still linted"
    );
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .as_str()
            .unwrap()
            .contains("secret.sh: cannot read")
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("secret.sh: cannot read"));
}
