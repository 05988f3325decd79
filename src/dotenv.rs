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
}

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
    dotenvy::from_read_iter(text.as_bytes())
        .map(|item| {
            item.map_err(|error| match error {
                dotenvy::Error::LineParse(fragment, index) => {
                    let (line, column) = position(text, &fragment, index);
                    DotenvError::Parse { line, column }
                }
                dotenvy::Error::Io(e) => DotenvError::Io(e),
                other => DotenvError::Io(io::Error::other(other.to_string())),
            })
        })
        .collect()
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
}
