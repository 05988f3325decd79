//! A `reaper.toml` or Procfile with any mistake in it gets errors, never a panic, and every
//! error names a line and a column inside the file: the text is a valid file with random bytes
//! inserted, removed or replaced, or any text at all.

use std::path::Path;

use proptest::prelude::*;
use reaper::stack::ConfigError;
use reaper::stack::config::{parse_file, validate};

const VALID: &str = r#"[services.db]
command = ["sleep", "1000"]
ready = { log = "ready" }
stop_timeout = 5

[services.api]
command = "python3 -m http.server $PORT"
port = 8001
depends_on = ["db"]
env = { MODE = "dev" }
ready = { http = "http://127.0.0.1:8001/health" }
ready_timeout = "30s"
restart = "on-failure"
"#;

const PROCFILE: &str = "web: python3 -m http.server $PORT\nworker: sleep 100\n# a comment\n";

/// Insert, delete or replace a few bytes of `base` (kept UTF-8: a file reaper reads is text).
fn edited(base: &'static str) -> impl Strategy<Value = String> {
    let edit = (any::<prop::sample::Index>(), 0usize..4, any::<String>());
    proptest::collection::vec(edit, 1..6).prop_map(move |edits| {
        let mut text = base.to_string();
        for (at, removed, inserted) in edits {
            let mut start = at.index(text.len() + 1);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + removed).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            let inserted: String = inserted.chars().take(3).collect();
            text.replace_range(start..end, &inserted);
        }
        text
    })
}

fn assert_positioned(text: &str, errors: &[ConfigError]) -> Result<(), TestCaseError> {
    prop_assert!(!errors.is_empty());
    // A missing bracket at the very end is reported just after the last line.
    let lines = text.split('\n').count();
    for error in errors {
        prop_assert!(error.line >= 1 && error.column >= 1, "{:?}", error);
        prop_assert!(
            error.line <= lines,
            "{:?} in a file of {} lines",
            error,
            lines
        );
        prop_assert!(!error.message.is_empty());
    }
    Ok(())
}

fn check_config(text: &str) -> Result<(), TestCaseError> {
    let path = Path::new("/nonexistent-reaper-test/reaper.toml");
    let root = Path::new("/nonexistent-reaper-test");
    let result = parse_file("reaper.toml", text, root)
        .and_then(|file| validate(file, path, "reaper.toml", text));
    if let Err(errors) = result {
        assert_positioned(text, &errors)?;
    }
    Ok(())
}

proptest! {
    #[test]
    fn an_edited_config_gets_positioned_errors(text in edited(VALID)) {
        check_config(&text)?;
    }

    #[test]
    fn any_text_as_a_config_gets_positioned_errors(text in any::<String>()) {
        check_config(&text)?;
    }

    #[test]
    fn an_edited_procfile_gets_positioned_errors(text in edited(PROCFILE)) {
        if let Err(errors) = reaper::stack::procfile::parse("Procfile", &text) {
            assert_positioned(&text, &errors)?;
        }
    }
}
