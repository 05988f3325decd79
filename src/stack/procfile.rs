//! Procfile mode, as foreman and honcho read it: one `NAME: COMMAND` per line (blank lines and
//! `#` comments ignored), every command run by `sh -c` in the Procfile's directory, `.env` in
//! that directory (if there is one) read into every service, and `PORT` set to 5000 for the
//! first process, 5100 for the second, and so on (the base is `PORT` from the environment or
//! `.env` when set).

use std::path::Path;
use std::time::Duration;

use super::config::{
    DEFAULT_BACKOFF, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_RESTARTS, DEFAULT_STOP_TIMEOUT, Errors,
};
use super::{Checks, LoadError, Service, Source, Stack};
use crate::dotenv::DotenvError;
use crate::signal::Signal;
use crate::stack::config::{DoctorConfig, RestartPolicy};

/// Default first port, as foreman uses.
pub const BASE_PORT: u16 = 5000;
/// Port step between processes, as foreman uses.
pub const PORT_STEP: u16 = 100;

/// `(name, command, line)` for every entry of a Procfile, or every problem found.
pub fn parse(
    shown: &str,
    text: &str,
) -> Result<Vec<(String, String, usize)>, Vec<super::ConfigError>> {
    let mut errors = Errors::new(shown, text);
    let mut entries: Vec<(String, String, usize)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((name, command)) = trimmed.split_once(':') else {
            errors.line(
                line,
                "expected `NAME: COMMAND`".into(),
                Some("e.g. web: python3 -m http.server $PORT".into()),
            );
            continue;
        };
        let name = name.trim();
        let command = command.trim();
        if let Err(error) = crate::state::validate_new_name(name) {
            errors.line(
                line,
                format!("invalid process name `{}`", crate::text::escape(name)),
                Some(error.to_string()),
            );
            continue;
        }
        if command.is_empty() {
            errors.line(
                line,
                format!("process `{name}` has no command"),
                Some("write the command after the colon".into()),
            );
            continue;
        }
        if let Some((_, _, first)) = entries.iter().find(|(n, _, _)| n == name) {
            errors.line(
                line,
                format!("process `{name}` is already declared on line {first}"),
                Some("give each process its own name".into()),
            );
            continue;
        }
        entries.push((name.to_string(), command.to_string(), line));
    }
    if entries.is_empty() && errors.list.is_empty() {
        errors.line(
            1,
            "the Procfile declares no process".into(),
            Some("add lines of the form `NAME: COMMAND`".into()),
        );
    }
    if errors.list.is_empty() {
        Ok(entries)
    } else {
        Err(errors.list)
    }
}

/// Loads a Procfile (and the `.env` beside it) as a stack.
pub fn load(path: &Path, shown: &str, text: &str) -> Result<Stack, LoadError> {
    let entries = parse(shown, text).map_err(LoadError::Invalid)?;
    let root = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let dotenv = root.join(".env");
    let mut env_files = Vec::new();
    let mut base = std::env::var("PORT")
        .ok()
        .and_then(|p| crate::ports::parse_port(&p).ok());
    if dotenv.is_file() {
        let vars = crate::dotenv::read(&dotenv).map_err(|why| {
            let (line, column, message) = match why {
                DotenvError::Parse { line, column } => (
                    line,
                    column,
                    "cannot parse this line (expected KEY=VALUE)".into(),
                ),
                other => (1, 1, other.to_string()),
            };
            LoadError::Invalid(vec![super::ConfigError {
                file: super::config::shown_path(
                    &dotenv,
                    &std::env::current_dir().unwrap_or_default(),
                ),
                line,
                column,
                message,
                hint: Some("fix the file (KEY=VALUE lines) or remove it".into()),
            }])
        })?;
        if let Some((_, value)) = vars.iter().rev().find(|(key, _)| key == "PORT") {
            base = crate::ports::parse_port(value).ok().or(base);
        }
        env_files.push(dotenv);
    }
    let base = base.unwrap_or(BASE_PORT);
    let services = entries
        .into_iter()
        .enumerate()
        .map(|(index, (name, command, line))| {
            let port = u16::try_from(index)
                .ok()
                .and_then(|i| i.checked_mul(PORT_STEP))
                .and_then(|offset| base.checked_add(offset))
                .unwrap_or(base);
            Service {
                name,
                argv: crate::os::shell_command(&command),
                cwd: root.clone(),
                port: None,
                fallback: false,
                env: vec![("PORT".into(), port.to_string())],
                env_files: env_files.clone(),
                depends_on: Vec::new(),
                kind: super::ServiceKind::Service,
                conditions: Default::default(),
                watch: None,
                ready: None,
                ready_timeout: Duration::from_secs(30),
                restart: RestartPolicy::No,
                max_restarts: DEFAULT_MAX_RESTARTS,
                backoff: DEFAULT_BACKOFF,
                max_backoff: DEFAULT_MAX_BACKOFF,
                stop_signal: Signal::Term,
                stop_timeout: DEFAULT_STOP_TIMEOUT,
                log_timestamps: false,
                line,
                profiles: Vec::new(),
                replica_of: None,
            }
        })
        .collect();
    Ok(Stack {
        file: path.to_path_buf(),
        root,
        source: Source::Procfile,
        services,
        checks: Checks::default(),
        doctor: DoctorConfig::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_foreman() {
        let text = "# comment\nweb: python3 -m http.server $PORT\n\nworker:  sh -c 'echo hi'  \n";
        let entries = parse("Procfile", text).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0],
            ("web".into(), "python3 -m http.server $PORT".into(), 2)
        );
        assert_eq!(entries[1].1, "sh -c 'echo hi'");
    }

    #[test]
    fn reports_bad_lines_with_numbers() {
        let errors = parse("Procfile", "web: x\nnonsense\nweb: y\n").unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].line, 2);
        assert!(errors[1].message.contains("already declared on line 1"));
    }
}
