//! Interpolation of `${VAR}` in the string values of `reaper.toml`, before the values are read:
//! `${VAR}`, `${VAR:-default}` (when VAR is unset or empty) and `${VAR:?message}` (an error
//! naming the message when VAR is unset or empty); `$${` writes a literal `${`.
//!
//! Variables come from the environment of `reaper`, then (for a value inside `[services.NAME]`)
//! that service's `env_file` files, then the `.env` beside reaper.toml; the first that sets the
//! variable wins (the environment overrides files, as in docker compose).
//!
//! Only the braced form is interpolated: `$VAR` is left for the shell. So are the variables
//! reaper sets for each service at run time (`PORT`, `REAPER_REPLICA` and each service's
//! `NAME_PORT`), even when the environment has them: `--port ${PORT}` means the service's port.
//!
//! Written by hand: the crates that expand variables (shellexpand, subst) also expand `$VAR`
//! and `~`, have no `:?`, or cannot leave the run-time names alone or report where an
//! expression is.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::ConfigError;
use super::config::Errors;
use crate::dotenv::DotenvError;

/// Variable set for each replica of a service: its number, from 1.
pub const REPLICA_VARIABLE: &str = "REAPER_REPLICA";

/// Why an expression could not be interpolated, and where in the value it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpressionError {
    /// Byte offset of the `${` in the value.
    pub offset: usize,
    /// The expression as written (up to its `}` when it has one).
    pub expression: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

/// Interpolates `value`. `lookup` gives a variable's value; names in `reserved` are left as
/// written.
pub fn interpolate(
    value: &str,
    reserved: &HashSet<String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpressionError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let offset = value.len() - tail.len();
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            continue;
        }
        let Some(body_and_more) = tail.strip_prefix("${") else {
            out.push('$');
            rest = &tail[1..];
            continue;
        };
        let Some(close) = body_and_more.find('}') else {
            return Err(ExpressionError {
                offset,
                expression: tail.to_string(),
                message: format!("`{tail}` has no closing `}}`"),
                hint: "write ${VAR}, ${VAR:-default} or ${VAR:?message}; $${ writes a literal ${"
                    .into(),
            });
        };
        let body = &body_and_more[..close];
        let expression = &tail[..close + 3];
        rest = &body_and_more[close + 1..];
        let (name, modifier) = match body.find(':') {
            Some(colon) => (&body[..colon], Some(&body[colon..])),
            None => (body, None),
        };
        if !super::config::valid_env_name(name) {
            return Err(ExpressionError {
                offset,
                expression: expression.into(),
                message: format!("`{expression}` does not name a variable"),
                hint: "a name has letters, digits and '_', not starting with a digit, e.g. ${DATABASE_URL}".into(),
            });
        }
        if let Some(m) = modifier.filter(|m| !m.starts_with(":-") && !m.starts_with(":?")) {
            return Err(ExpressionError {
                offset,
                expression: expression.into(),
                message: format!("`{expression}`: unknown modifier `{m}` after `{name}`"),
                hint: "use ${VAR:-default} or ${VAR:?message}".into(),
            });
        }
        if reserved.contains(name) {
            out.push_str(expression);
            continue;
        }
        // With a modifier an empty value counts as unset (as in POSIX sh and docker compose);
        // a plain ${VAR} set to "" is "".
        let set = lookup(name).filter(|v| modifier.is_none() || !v.is_empty());
        match (set, modifier) {
            (Some(found), _) => out.push_str(&found),
            (None, Some(m)) if m.starts_with(":-") => out.push_str(&m[2..]),
            (None, Some(m)) if m.starts_with(":?") => {
                let text = m[2..].trim();
                return Err(ExpressionError {
                    offset,
                    expression: expression.into(),
                    message: if text.is_empty() {
                        format!("{name} is not set")
                    } else {
                        format!("{name} is not set: {text}")
                    },
                    hint: format!("set {name} in the environment or in .env"),
                });
            }
            (None, _) => {
                return Err(ExpressionError {
                    offset,
                    expression: expression.into(),
                    message: format!("{name} is not set (used as `{expression}`)"),
                    hint: format!(
                        "set {name} in the environment or in .env, give a default with ${{{name}:-default}}, or write $${{{name}}} to leave it to the shell"
                    ),
                });
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Where variables come from, lowest priority first: `.env` beside reaper.toml (read only when
/// something is interpolated), then a service's env files, then the environment.
struct Sources<'a> {
    root: &'a Path,
    project: Option<Vec<(String, String)>>,
}

impl Sources<'_> {
    fn project(&mut self, errors: &mut Vec<ConfigError>) -> &[(String, String)] {
        if self.project.is_none() {
            let path = self.root.join(".env");
            let vars = match crate::dotenv::read(&path) {
                Ok(vars) => vars,
                Err(DotenvError::NotFound) => Vec::new(),
                Err(why) => {
                    let (line, column) = match why {
                        DotenvError::Parse { line, column } => (line, column),
                        _ => (1, 1),
                    };
                    errors.push(ConfigError {
                        file: super::config::shown_path(
                            &path,
                            &std::env::current_dir().unwrap_or_default(),
                        ),
                        line,
                        column,
                        message: format!("cannot read it for ${{…}} in reaper.toml: {why}"),
                        hint: Some("fix the file (KEY=VALUE lines) or remove it".into()),
                    });
                    Vec::new()
                }
            };
            self.project = Some(vars);
        }
        self.project.as_deref().unwrap_or_default()
    }
}

fn find(vars: &[(String, String)], name: &str) -> Option<String> {
    vars.iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
}

/// Interpolates every string value of `document` (the parsed text of `reaper.toml` in `root`);
/// every expression that cannot be interpolated is reported at its line and column.
pub(crate) fn apply(
    document: &mut DeTable<'_>,
    shown: &str,
    text: &str,
    root: &Path,
) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    if !text.contains("${") {
        return problems;
    }
    let mut reserved: HashSet<String> = ["PORT", REPLICA_VARIABLE]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut sources = Sources {
        root,
        project: None,
    };
    let mut errors = Errors::new(shown, text);
    if let Some(DeValue::Table(services)) = document.get("services").map(|v| v.get_ref()) {
        reserved.extend(
            services
                .keys()
                .map(|name| crate::supervisor::up::port_variable(name.get_ref())),
        );
    }
    for (key, value) in document.iter_mut() {
        if key.get_ref() != "services" {
            let project = sources.project(&mut problems).to_vec();
            let lookup = |name: &str| std::env::var(name).ok().or_else(|| find(&project, name));
            walk(value, text, &reserved, &lookup, &mut errors);
            continue;
        }
        let DeValue::Table(services) = value.get_mut() else {
            continue;
        };
        for (_, service) in services.iter_mut() {
            let DeValue::Table(table) = service.get_mut() else {
                continue;
            };
            let mut vars = sources.project(&mut problems).to_vec();
            // The env files named by the service (themselves interpolated first) add to `.env`;
            // one that cannot be read is reported when the service is checked.
            if let Some(files) = table.get_mut("env_file") {
                let project = vars.clone();
                let lookup = |name: &str| std::env::var(name).ok().or_else(|| find(&project, name));
                walk(files, text, &reserved, &lookup, &mut errors);
                let names: Vec<String> = match files.get_ref() {
                    DeValue::String(one) => vec![one.to_string()],
                    DeValue::Array(many) => many
                        .iter()
                        .filter_map(|v| v.get_ref().as_str().map(str::to_string))
                        .collect(),
                    _ => Vec::new(),
                };
                for name in names {
                    vars.extend(crate::dotenv::read(&root.join(name)).unwrap_or_default());
                }
            }
            let lookup = |name: &str| std::env::var(name).ok().or_else(|| find(&vars, name));
            for (key, value) in table.iter_mut() {
                if key.get_ref() != "env_file" {
                    walk(value, text, &reserved, &lookup, &mut errors);
                }
            }
        }
    }
    problems.extend(errors.list);
    problems.sort_by_key(|e| (e.line, e.column));
    problems
}

fn walk(
    value: &mut Spanned<DeValue<'_>>,
    text: &str,
    reserved: &HashSet<String>,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Errors<'_>,
) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(string) => match interpolate(string, reserved, lookup) {
            Ok(done) => {
                if done != **string {
                    *string = Cow::Owned(done);
                }
            }
            Err(error) => errors.at(
                expression_span(text, &span, &error),
                error.message,
                Some(error.hint),
            ),
        },
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                walk(item, text, reserved, lookup, errors);
            }
        }
        DeValue::Table(table) => {
            for (_, item) in table.iter_mut() {
                walk(item, text, reserved, lookup, errors);
            }
        }
        _ => {}
    }
}

/// Where the failed expression is written in the file: found in the literal's source text
/// (escapes can make the value differ from it; then the literal's start).
fn expression_span(text: &str, literal: &Range<usize>, error: &ExpressionError) -> Range<usize> {
    let source = text.get(literal.clone()).unwrap_or_default();
    let mut starts = source.match_indices(error.expression.as_str());
    match starts.next() {
        Some((at, _)) => literal.start + at..literal.start + at + error.expression.len(),
        None => literal.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(value: &str) -> Result<String, ExpressionError> {
        let reserved: HashSet<String> = ["PORT".to_string()].into();
        interpolate(value, &reserved, &|name| match name {
            "HOST" => Some("db.local".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        })
    }

    #[test]
    fn forms() {
        assert_eq!(
            run("postgres://${HOST}/x").unwrap(),
            "postgres://db.local/x"
        );
        assert_eq!(run("${MISSING:-5432}").unwrap(), "5432");
        assert_eq!(run("${EMPTY:-dflt}").unwrap(), "dflt");
        assert_eq!(run("[${EMPTY}]").unwrap(), "[]");
        assert!(run("${EMPTY:?needed}").is_err());
        assert_eq!(run("${HOST:-dflt}").unwrap(), "db.local");
        assert_eq!(
            run("--port ${PORT} $HOME $$ $${HOST}").unwrap(),
            "--port ${PORT} $HOME $$ ${HOST}"
        );
    }

    #[test]
    fn errors_say_where_and_why() {
        let e = run("x ${TOKEN:?ask the team}").unwrap_err();
        assert_eq!(e.offset, 2);
        assert_eq!(e.message, "TOKEN is not set: ask the team");
        assert_eq!(e.expression, "${TOKEN:?ask the team}");
        assert!(
            run("${MISSING}")
                .unwrap_err()
                .message
                .contains("MISSING is not set")
        );
        assert!(
            run("${1X}")
                .unwrap_err()
                .message
                .contains("does not name a variable")
        );
        assert!(run("${HOST").unwrap_err().message.contains("no closing"));
        assert!(
            run("${HOST:+x}")
                .unwrap_err()
                .message
                .contains("unknown modifier")
        );
    }
}
