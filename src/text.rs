//! Text from outside shown to people: names, argv, command lines and paths may hold control
//! characters (an escape sequence that recolours or clears the terminal, a newline that forges an
//! extra line of output). Human output passes them through [`escape`]; JSON output keeps the raw
//! text, which the JSON encoder escapes itself. A service's own log content is printed as is.

use std::borrow::Cow;
use std::fmt::Write;

/// True for characters that must not reach a terminal raw: C0 and C1 controls and DEL, and the
/// bidirectional overrides and isolates, which reorder what is shown around them.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character escaped as Rust writes it (`\n`, `\t`, `\r`, `\u{1b}`);
/// everything else, backslashes included, is unchanged. Borrowed when there is nothing to escape.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The words of an argv joined by spaces, each escaped.
pub fn escape_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| escape(arg))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain text, ünïcode"), "plain text, ünïcode");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape("a\nb\tc\rd"), "a\\nb\\tc\\rd");
        assert_eq!(escape("\x1b[31mred"), "\\u{1b}[31mred");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("\x7f"), "\\u{7f}");
        assert_eq!(escape("abc\u{202E}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("C:\\dir"), "C:\\dir");
    }

    #[test]
    fn argv_words_are_escaped_and_joined() {
        let argv = vec![
            "echo".to_string(),
            "\x1b[2J".to_string(),
            "a\nb".to_string(),
        ];
        assert_eq!(escape_argv(&argv), "echo \\u{1b}[2J a\\nb");
    }
}
