//! Every rule on its fixtures: each line of tests/data/lint/ marked `# expect: ID` (or
//! `// expect: ID`, `ID(info)` for an info finding) gets exactly those findings, and every other
//! line none; files named `*near_misses*` hold the cases that must not be flagged.
#![cfg(feature = "lint")]

mod lint_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lint_common::reaper;

use serde_json::Value;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/lint");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/data/lint")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// (line, id, severity) the fixture's `expect:` comments announce.
fn expected(path: &Path) -> BTreeSet<(u64, String, String)> {
    let text = std::fs::read_to_string(path).expect("fixture");
    let mut out = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        let marker = ["# expect: ", "// expect: "]
            .iter()
            .find_map(|m| line.find(m).map(|at| &line[at + m.len()..]));
        for token in marker.unwrap_or("").split_whitespace() {
            let (id, severity) = match token.strip_suffix("(info)") {
                Some(id) => (id, "info"),
                None => (token, "warning"),
            };
            out.insert((index as u64 + 1, id.to_string(), severity.to_string()));
        }
    }
    out
}

fn found(path: &Path) -> Vec<(u64, String, String)> {
    let output = reaper(Path::new(env!("CARGO_MANIFEST_DIR")))
        .args(["lint", "--format", "json"])
        .arg(path)
        .output()
        .expect("reaper lint runs");
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["schema"], 1);
    assert_eq!(report["files"], 1, "{} was not linted", path.display());
    let findings = report["findings"].as_array().expect("findings").clone();
    let warned = findings.iter().any(|f| f["severity"] == "warning");
    assert_eq!(
        output.status.code(),
        Some(if warned { 1 } else { 0 }),
        "exit code for {}",
        path.display()
    );
    findings
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().expect("line"),
                f["id"].as_str().expect("id").to_string(),
                f["severity"].as_str().expect("severity").to_string(),
            )
        })
        .collect()
}

#[test]
fn every_fixture_gets_exactly_its_expected_findings() {
    let files = fixtures();
    assert!(files.len() >= 10, "fixtures missing: {files:?}");
    let mut failures = Vec::new();
    for path in &files {
        let expected = expected(path);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.contains("near_misses") {
            assert!(expected.is_empty(), "{name}: near misses expect nothing");
        } else if name.contains("flagged") {
            assert!(
                !expected.is_empty(),
                "{name}: flagged fixture expects nothing"
            );
        }
        let reported = found(path);
        let found: BTreeSet<_> = reported.iter().cloned().collect();
        if found.len() != reported.len() {
            failures.push(format!("{name}: a finding reported twice: {reported:?}"));
        }
        if found != expected {
            failures.push(format!(
                "{name}:\n  missing: {:?}\n  unexpected: {:?}",
                expected.difference(&found).collect::<Vec<_>>(),
                found.difference(&expected).collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_has_a_flagged_fixture() {
    let mut ids = BTreeSet::new();
    for path in fixtures() {
        ids.extend(expected(&path).into_iter().map(|(_, id, _)| id));
    }
    let explained = reaper(Path::new(env!("CARGO_MANIFEST_DIR")))
        .args(["lint", "--explain", "all"])
        .output()
        .expect("reaper lint --explain all");
    let listing = String::from_utf8(explained.stdout).expect("UTF-8");
    let rules: BTreeSet<String> = listing
        .lines()
        .filter_map(|l| l.split_once(" ("))
        .map(|(id, _)| id)
        .filter(|id| id.len() == 5 && id[2..].bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
        .collect();
    assert_eq!(rules.len(), 16, "{listing}");
    assert_eq!(ids, rules);
}
