//! The exported Compose files are valid against the Compose Specification's JSON Schema
//! (tests/data/compose-spec.json), read back with a YAML parser.
#![cfg(unix)]

mod export_common;

use export_common::fixtures;

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/compose-spec.json"),
    )
    .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).expect("the Compose schema compiles")
}

fn errors(validator: &jsonschema::Validator, yaml: &str) -> Vec<String> {
    let document: serde_json::Value = serde_saphyr::from_str(yaml).expect("valid YAML");
    validator
        .iter_errors(&document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn compose_files_match_the_compose_schema() {
    let validator = schema();
    for (name, fixture) in fixtures() {
        let export = export_common::compose(&fixture, name);
        let yaml = &export.files[0].contents;
        let problems = errors(&validator, yaml);
        assert!(
            problems.is_empty(),
            "{name}:\n{}\n{yaml}",
            problems.join("\n")
        );
        // Values read back as written: `$` doubled for Compose, ports as numbers.
        let document: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
        let with_port = fixture.stack.services.iter().find(|s| s.port.is_some());
        let first = &document["services"][&with_port.unwrap().name];
        assert_eq!(first["image"], "python:3.12-slim");
        assert!(first["ports"][0]["published"].is_u64(), "{first}");
    }
}

/// The schema catches what Compose would refuse: the test above can fail.
#[test]
fn the_schema_rejects_a_broken_file() {
    let validator = schema();
    let problems = errors(
        &validator,
        "services:\n  web:\n    image: x\n    depends_on:\n      db:\n        condition: when_ready\n",
    );
    assert!(!problems.is_empty());
}
