//! `reaper lint` options: --select/--ignore, `[lint]` in reaper.toml, inline suppressions,
//! --explain, the human format, and exit codes 0 (no warnings), 1 (warnings), 2 (bad input).
#![cfg(feature = "lint")]

mod lint_common;

use lint_common::{finding_path, project, reaper};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

const SCRIPT: &str = "import subprocess, os\nsubprocess.run(['make'])\nos.system('ls')\n";

#[test]
fn human_format_shows_position_rule_line_and_caret() {
    let dir = project(&[(
        "tool.py",
        "import subprocess\nx = 1;  y = subprocess.call(['a'])\n",
    )]);
    reaper(dir.path())
        .args(["lint", "tool.py"])
        .assert()
        .code(1)
        .stdout(
            "tool.py:2:13: PY001 subprocess call without timeout=: subprocess.call()\n\
             \x20   x = 1;  y = subprocess.call(['a'])\n\
             \x20               ^\n",
        )
        .stderr(contains("1 warning(s), 0 info finding(s) in 1 file(s)"));
}

#[test]
fn select_and_ignore_pick_rules_by_id_or_prefix() {
    let dir = project(&[("a.py", SCRIPT), ("b.sh", "nohup x\n")]);
    let ids = |args: &[&str]| {
        let output = reaper(dir.path())
            .args(["lint", "--format", "json"])
            .args(args)
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let mut ids: Vec<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        (ids, output.status.code())
    };
    assert_eq!(ids(&[]).0, ["PY001", "PY004", "SH002"]);
    assert_eq!(ids(&["--select", "PY"]).0, ["PY001", "PY004"]);
    assert_eq!(ids(&["--select", "py004,SH"]).0, ["PY004", "SH002"]);
    assert_eq!(ids(&["--ignore", "PY001", "--ignore", "SH"]).0, ["PY004"]);
    assert_eq!(ids(&["--ignore", "PY,SH"]), (vec![], Some(0)));
    reaper(dir.path())
        .args(["lint", "--select", "PY999"])
        .assert()
        .code(2)
        .stderr(contains("unknown rule or prefix \"PY999\""));
}

#[test]
fn config_table_selects_ignores_and_excludes() {
    let dir = project(&[
        ("a.py", SCRIPT),
        ("vendor/b.py", SCRIPT),
        ("c.sh", "nohup x\n"),
        (
            "reaper.toml",
            "[services.web]\ncommand = \"true\"\n\n[lint]\nignore = [\"PY004\"]\nexclude = [\"vendor/\"]\n",
        ),
    ]);
    let output = reaper(dir.path())
        .args(["lint", "--format", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let found: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (finding_path(f), f["id"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        found,
        [
            ("a.py".to_string(), "PY001".to_string()),
            ("c.sh".into(), "SH002".into())
        ]
    );
    // --select replaces the file's select; the file's ignore still applies.
    reaper(dir.path())
        .args(["lint", "--select", "PY004"])
        .assert()
        .code(0);
    // A bad [lint] table is bad input.
    std::fs::write(dir.path().join("reaper.toml"), "[lint]\nselect = \"PY\"\n").unwrap();
    reaper(dir.path())
        .args(["lint"])
        .assert()
        .code(2)
        .stderr(contains("[lint] in reaper.toml"));
    std::fs::write(
        dir.path().join("reaper.toml"),
        "[lint]\nignore = [\"NOPE\"]\n",
    )
    .unwrap();
    reaper(dir.path())
        .args(["lint"])
        .assert()
        .code(2)
        .stderr(contains("\"NOPE\""));
}

#[test]
fn inline_suppressions_cover_their_line_or_the_next() {
    let dir = project(&[(
        "s.py",
        "import subprocess, os\n\
         subprocess.run(['a'])  # reaper: ignore[PY001]\n\
         # reaper: ignore[PY004]\n\
         os.system('b')\n\
         os.system('c')  # reaper: ignore[PY001]\n\
         os.system('d')  # reaper: ignore\n",
    )]);
    reaper(dir.path())
        .args(["lint", "s.py"])
        .assert()
        .code(1)
        .stdout(contains("s.py:5:1: PY004"))
        .stdout(contains("s.py:2").not())
        .stdout(contains("s.py:4").not())
        .stdout(contains("s.py:6").not());
}

#[test]
fn infos_alone_exit_zero() {
    let dir = project(&[("d.py", "import subprocess\nsubprocess.run(['a'], **kw)\n")]);
    reaper(dir.path())
        .args(["lint"])
        .assert()
        .code(0)
        .stdout(contains("PY001 (info) cannot tell"));
}

#[test]
fn explain_prints_why_and_fix() {
    let dir = project(&[]);
    reaper(dir.path())
        .args(["lint", "--explain", "sh001"])
        .assert()
        .code(0)
        .stdout(contains("SH001 (untracked-background-job, warning)"))
        .stdout(contains("Why: "))
        .stdout(contains("Fix: "));
    reaper(dir.path())
        .args(["lint", "--explain", "XX001"])
        .assert()
        .code(2)
        .stderr(contains("unknown rule \"XX001\""));
}

#[test]
fn missing_paths_are_bad_input() {
    let dir = project(&[("a.py", SCRIPT)]);
    reaper(dir.path())
        .args(["lint", "a.py", "no-such-dir"])
        .assert()
        .code(2)
        .stderr(contains("no-such-dir: no such file or directory"));
}
