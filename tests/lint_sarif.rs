//! `reaper lint --format sarif` is valid SARIF 2.1.0: validated against the OASIS schema
//! (tests/data/sarif-2.1.0-rtm.5.json, as shipped in the MIT-licensed npm package
//! @microsoft/jest-sarif, with one fix: the language patterns (run, artifact) `^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$`
//! has a stray `]` no regex engine but JavaScript's accepts; it reads `^[a-zA-Z]{2}(-[a-zA-Z]{2})?$`
//! as in the final schema). reaper writes neither.
#![cfg(feature = "lint")]

mod lint_common;

use std::path::Path;

use lint_common::reaper;

use serde_json::Value;

fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sarif-2.1.0-rtm.5.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("schema JSON")
}

fn sarif_of(args: &[&str]) -> Value {
    let output = reaper(Path::new(env!("CARGO_MANIFEST_DIR")))
        .args(["lint", "--format", "sarif"])
        .args(args)
        .output()
        .expect("reaper lint runs");
    serde_json::from_slice(&output.stdout).expect("SARIF is JSON")
}

fn assert_valid(log: &Value) {
    let validator = jsonschema::validator_for(&schema()).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "invalid SARIF:\n{}", errors.join("\n"));
}

#[test]
fn sarif_with_findings_of_every_language_matches_the_schema() {
    let log = sarif_of(&["tests/data/lint"]);
    assert_valid(&log);
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    let results = run["results"].as_array().expect("results");
    for prefix in ["PY", "SH", "JS", "PS"] {
        assert!(
            results
                .iter()
                .any(|r| r["ruleId"].as_str().unwrap().starts_with(prefix)),
            "no {prefix} result"
        );
    }
    for result in results {
        // ruleIndex points at the rule's entry, as code scanning expects.
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        let uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap();
        assert!(uri.starts_with("tests/data/lint/"), "{uri}");
        assert!(matches!(result["level"].as_str(), Some("warning" | "note")));
    }
    // A clean run is valid too, with an empty result list.
    let clean = sarif_of(&["tests/data/lint/shell_wait_tracked.sh"]);
    assert_valid(&clean);
    assert_eq!(
        clean["runs"][0]["results"].as_array().map(Vec::len),
        Some(0)
    );
}

#[test]
fn the_validation_can_fail() {
    // The schema really is applied: a result without a message is refused.
    let mut log = sarif_of(&["tests/data/lint/shell_flagged.sh"]);
    log["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    let validator = jsonschema::validator_for(&schema()).expect("the schema compiles");
    assert!(!validator.is_valid(&log));
}
