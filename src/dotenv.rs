//! Dotenv files (`--env-file`, `env_file` in `reaper.toml`, the `.env` beside a Procfile,
//! `[checks] same`): parsed by dotenvy, with a line that cannot be parsed reported by its line and
//! column in the file. Never by its text: the line may hold a secret.

use std::io;
use std::path::Path;

/// Why a dotenv file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DotenvError {
    /// The file does not exist.
    #[error("no such file")]
    NotFound,
    /// The file could not be read.
    #[error("{0}")]
    Io(io::Error),
    /// A line is not `KEY=VALUE`.
    #[error("cannot parse line {line}, column {column} (expected KEY=VALUE)")]
    Parse {
        /// Line in the file, from 1.
        line: usize,
        /// Column in that line, from 1.
        column: usize,
    },
    /// A value grew past what an environment can hold through `$VAR` references (each line
    /// can double the one before it: a few hundred bytes would otherwise take gigabytes).
    #[error(
        "line {line}: {key} expands to more than {limit} bytes through its $VAR references \
         (an environment variable holds at most {VALUE_LIMIT} bytes, all together \
         {TOTAL_LIMIT}); check the references"
    )]
    TooLarge {
        /// Line of the variable, from 1.
        line: usize,
        /// The variable's name (never its value: it may be a secret).
        key: String,
        /// The limit it went past.
        limit: usize,
    },
}

/// The most one value may hold: Linux refuses a larger `KEY=VALUE` string at exec
/// (`MAX_ARG_STRLEN`, 32 pages).
pub const VALUE_LIMIT: usize = 128 * 1024;
/// The most all values of one file may hold together: the usual `ARG_MAX` share of the
/// environment (a quarter of an 8 MiB stack).
pub const TOTAL_LIMIT: usize = 2 * 1024 * 1024;

/// Reads the dotenv file at `path`: its variables, in file order.
pub fn read(path: &Path) -> Result<Vec<(String, String)>, DotenvError> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => DotenvError::NotFound,
        _ => DotenvError::Io(e),
    })?;
    parse(&text)
}

/// Parses the text of a dotenv file: its variables, in file order.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, DotenvError> {
    // dotenvy skips a byte-order mark itself; positions are counted without it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut total = 0usize;
    // Each item comes with its `$VAR` references already expanded: checking sizes item by
    // item stops a doubling chain at the first value past the limit.
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        let (key, value) = item.map_err(|error| match error {
            dotenvy::Error::LineParse(fragment, index) => {
                let (line, column) = position(text, &fragment, index);
                DotenvError::Parse { line, column }
            }
            dotenvy::Error::Io(e) => DotenvError::Io(e),
            other => DotenvError::Io(io::Error::other(other.to_string())),
        })?;
        total = total.saturating_add(key.len() + value.len());
        let limit = if value.len() > VALUE_LIMIT {
            Some(VALUE_LIMIT)
        } else {
            (total > TOTAL_LIMIT).then_some(TOTAL_LIMIT)
        };
        if let Some(limit) = limit {
            let earlier = vars.iter().filter(|(k, _)| *k == key).count();
            return Err(DotenvError::TooLarge {
                line: line_of_key(text, &key, earlier),
                key,
                limit,
            });
        }
        vars.push((key, value));
    }
    Ok(vars)
}

/// The line of the `occurrence`-th (from 0) assignment of `key`; 1 when it cannot be told.
fn line_of_key(text: &str, key: &str, occurrence: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim_start();
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .nth(occurrence)
        .map_or(1, |(index, _)| index + 1)
}

/// Line and column of a parse error in `text`. dotenvy reports the text it was parsing (the whole
/// line, or only the value after `=`) and a byte index into it, not where that text is; it is the
/// first occurrence that ends a line (trailing blanks aside) outside a comment.
fn position(text: &str, fragment: &str, index: usize) -> (usize, usize) {
    let ends_a_line = |end: usize| {
        text[end..]
            .split('\n')
            .next()
            .is_some_and(|rest| rest.trim().is_empty())
    };
    let in_comment = |start: usize| {
        let line_start = text[..start].rfind('\n').map_or(0, |nl| nl + 1);
        text[line_start..start].trim_start().starts_with('#')
    };
    let start = text
        .match_indices(fragment)
        .map(|(start, _)| start)
        .find(|&start| ends_a_line(start + fragment.len()) && !in_comment(start));
    // dotenvy counts the index in characters (bytes only in the key, which is ASCII); taken as
    // bytes it split a character after non-ASCII text and panicked (found by fuzzing). A quote
    // still open at the end of the file comes with an index past its text: point at where that
    // text begins.
    let offset = fragment.char_indices().nth(index).map_or(0, |(at, _)| at);
    match start {
        Some(start) => crate::stack::config::line_col(text, start + offset),
        None => (1, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_at(text: &str) -> (usize, usize) {
        match parse(text) {
            Err(DotenvError::Parse { line, column }) => (line, column),
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn a_bad_line_is_reported_at_its_own_line_and_column() {
        assert_eq!(error_at("A=1\nB=2\nC D\n"), (3, 3));
        assert_eq!(error_at("# note\n\nA=1\n  -X=1\n"), (4, 3));
        // A quote left open: where its text begins.
        assert_eq!(error_at("A=1\nB=\"x y\"\nC=\"x y\n"), (3, 1));
        // An error inside the value: dotenvy reports only the value.
        assert_eq!(error_at("A='ok'\nB=a\\qb\n"), (2, 5));
    }

    #[test]
    fn good_files_parse_in_order() {
        let vars = parse("\u{feff}A=1\n# c\nexport B='two words'\n").unwrap();
        assert_eq!(
            vars,
            vec![
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "two words".to_string())
            ]
        );
    }

    #[test]
    fn a_doubling_chain_stops_at_the_limit_and_names_its_line() {
        let mut text = String::from("# comment\nA=0123456789abcdef\n");
        for _ in 0..40 {
            text.push_str("A=z$A$A\n");
        }
        match parse(&text) {
            Err(DotenvError::TooLarge { line, key, limit }) => {
                assert_eq!((key.as_str(), limit), ("A", VALUE_LIMIT));
                // 16 bytes doubled: past 128 KiB at the 13th doubling, line 2 + 13.
                assert_eq!(line, 15);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn many_values_under_the_value_limit_stop_at_the_total() {
        let value = "x".repeat(100 * 1024);
        let text = (0..30)
            .map(|i| format!("K{i}={value}"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(matches!(
            parse(&text),
            Err(DotenvError::TooLarge {
                limit: TOTAL_LIMIT,
                line: 21,
                ..
            })
        ));
    }
}
