//! Reporters: the human listing, JSON (schema [`JSON_SCHEMA_VERSION`]) and SARIF 2.1.0. Each
//! writes to any writer, so tests read them from memory.

use std::io::{self, Write};
use std::path::Path;

use serde_json::{Value, json};

use super::{Finding, JSON_SCHEMA_VERSION, Outcome, RULES, RuleInfo, Severity};

/// `path:line:col: ID message`, the source line and a caret under the column.
pub fn human(out: &mut dyn Write, outcome: &Outcome) -> io::Result<()> {
    for finding in &outcome.findings {
        let level = match finding.severity {
            Severity::Warning => "",
            Severity::Info => " (info)",
        };
        writeln!(
            out,
            "{}:{}:{}: {}{level} {}",
            finding.path.display(),
            finding.line,
            finding.column,
            finding.rule.id,
            finding.message
        )?;
        // Tabs before the column are kept so the caret lines up in a terminal.
        let indent: String = finding
            .source_line
            .chars()
            .take(finding.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(out, "    {}", finding.source_line)?;
        writeln!(out, "    {indent}^")?;
    }
    Ok(())
}

/// One line for stderr: how many findings of each severity in how many files.
pub fn summary(outcome: &Outcome) -> String {
    let warnings = outcome
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let infos = outcome.findings.len() - warnings;
    format!(
        "{warnings} warning(s), {infos} info finding(s) in {} file(s)",
        outcome.files
    )
}

/// The JSON document of `--format json`.
pub fn json(outcome: &Outcome) -> Value {
    let findings: Vec<Value> = outcome
        .findings
        .iter()
        .map(|f| {
            json!({
                "id": f.rule.id,
                "name": f.rule.name,
                "severity": f.severity,
                "path": f.path.display().to_string(),
                "line": f.line,
                "column": f.column,
                "message": f.message,
                "why": f.rule.why,
                "fix": f.rule.fix,
            })
        })
        .collect();
    json!({
        "schema": JSON_SCHEMA_VERSION,
        "files": outcome.files,
        "findings": findings,
        "errors": outcome.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
    })
}

/// A SARIF 2.1.0 log (for GitHub code scanning) with every rule of the catalogue.
pub fn sarif(outcome: &Outcome) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "name": rule.name,
                "shortDescription": { "text": rule.message },
                "fullDescription": { "text": rule.why },
                "help": { "text": rule.fix },
                "defaultConfiguration": { "level": sarif_level(rule.severity) },
            })
        })
        .collect();
    let results: Vec<Value> = outcome.findings.iter().map(sarif_result).collect();
    let notifications: Vec<Value> = outcome
        .errors
        .iter()
        .map(|e| json!({ "level": "error", "message": { "text": e.to_string() } }))
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "reaper",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://docs.rs/reaper-pm",
                    "rules": rules,
                }
            },
            "invocations": [{
                "executionSuccessful": outcome.errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn sarif_result(finding: &Finding) -> Value {
    let index = RULES
        .iter()
        .position(|r| r.id == finding.rule.id)
        .expect("findings come from the catalogue");
    json!({
        "ruleId": finding.rule.id,
        "ruleIndex": index,
        "level": sarif_level(finding.severity),
        "message": { "text": finding.message },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": uri(&finding.path) },
                "region": { "startLine": finding.line, "startColumn": finding.column },
            }
        }],
    })
}

/// A relative URI reference with `/` separators (what code scanning resolves against the
/// repository root), or a `file://` URI for an absolute path.
fn uri(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let text = text.strip_prefix("./").unwrap_or(&text);
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' | b':' => {
                encoded.push(char::from(byte));
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    if path.is_absolute() {
        format!(
            "file://{}{encoded}",
            if encoded.starts_with('/') { "" } else { "/" }
        )
    } else {
        encoded
    }
}

/// `--explain ID`: the rule's message, why and fix.
pub fn explain(out: &mut dyn Write, rule: &RuleInfo) -> io::Result<()> {
    let severity = match rule.severity {
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    writeln!(out, "{} ({}, {severity})", rule.id, rule.name)?;
    writeln!(out, "  {}", rule.message)?;
    writeln!(out, "Why: {}", rule.why)?;
    writeln!(out, "Fix: {}", rule.fix)?;
    writeln!(
        out,
        "Suppress one line with a comment `reaper: ignore[{}]` on it or alone on the line above.",
        rule.id
    )
}

#[cfg(test)]
mod tests {
    use super::uri;
    use std::path::Path;

    #[test]
    fn uris_are_encoded_references() {
        assert_eq!(uri(Path::new("./a b/c.py")), "a%20b/c.py");
        #[cfg(unix)]
        assert_eq!(uri(Path::new("/x/100%.sh")), "file:///x/100%25.sh");
        #[cfg(windows)]
        assert_eq!(uri(Path::new(r"C:\x\100%.sh")), "file:///C:/x/100%25.sh");
    }
}
