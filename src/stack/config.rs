//! `reaper.toml`: the serde types (which also generate the JSON Schema shipped as
//! `reaper.schema.json`) and their validation into a [`Stack`].
//!
//! Parsing reports every problem it can find at once, each with the file, line and column, and a
//! hint: a syntax error comes alone (the TOML parser stops there); type errors (wrong type,
//! unknown key, missing `command`) are all collected, the entry of each left out and the rest read
//! again ([`parse_file`]); then semantic errors (unknown dependency, cycle, duplicate port, port
//! out of range, bad duration, unreadable env file, …) are collected together. Each list is in
//! file order. Semantic checks wait for the types to be right: on a file with entries left out,
//! they would report what the type errors already explain.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::{Checks, ConfigError, Readiness, Service, Source, Stack, VarRef, Watch, closest};
use crate::signal::Signal;
use crate::units::UnitError;

pub use crate::state::SUPERVISOR_NAME;

/// Default time a service gets to become ready.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default first restart delay.
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);
/// Default longest restart delay.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Default number of consecutive restarts before a service is given up.
pub const DEFAULT_MAX_RESTARTS: u32 = 10;
/// Default quiet time after a file change before a watched service restarts.
pub const DEFAULT_WATCH_DEBOUNCE: Duration = Duration::from_millis(200);
/// Default time a service gets after its stop signal before SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The whole `reaper.toml`. Point an editor at `reaper.schema.json` (for example with a first
/// line `#:schema ./reaper.schema.json`) to get completion and validation.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "reaper.toml",
    description = "Configuration of a reaper project: the services `reaper up` starts, the checks \
                   `reaper check` and `reaper up` run first, and settings of `reaper doctor`. \
                   String values may use ${VAR}, ${VAR:-default} and ${VAR:?message} (from the \
                   environment, the service's env_file and .env); $${ writes a literal ${, and \
                   ${PORT}, ${REAPER_REPLICA} and ${NAME_PORT} are left for the service."
)]
pub struct ConfigFile {
    /// The services of the stack, by name (letters, digits, '.', '_' or '-').
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, ServiceConfig>")]
    pub services: BTreeMap<Spanned<String>, Spanned<ServiceConfig>>,
    /// Environment checks run by `reaper check` and before `reaper up` starts anything.
    #[serde(default)]
    pub checks: ChecksConfig,
    /// Settings of `reaper doctor`.
    #[serde(default)]
    pub doctor: DoctorConfig,
    /// Settings of `reaper lint`.
    #[serde(default)]
    pub lint: LintConfig,
}

/// One service of the stack.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// What to run: a string is run by `sh -c` (so `$PORT`, `&&` and pipes work); an array is
    /// the program and its arguments, run without a shell.
    #[schemars(with = "CommandLine")]
    pub command: Spanned<CommandLine>,
    /// Working directory, relative to the directory of reaper.toml (default: that directory).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cwd: Option<Spanned<String>>,
    /// Port the service listens on: exported as PORT, probed for readiness (unless `ready` says
    /// otherwise), shown by `reaper ps` and checked by `reaper doctor`.
    #[serde(default)]
    // Read as any integer so that a port out of range is reported with the other semantic
    // errors, in the words every port option uses.
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535))]
    pub port: Option<Spanned<i64>>,
    /// With `port`: if the port is in use, take the next free port instead (exported as PORT;
    /// readiness probes that name the port follow it).
    #[serde(default)]
    pub fallback: bool,
    /// Environment variables (applied after `env_file`).
    #[serde(default)]
    pub env: BTreeMap<String, EnvValue>,
    /// Dotenv file(s) to read, relative to the directory of reaper.toml; each must exist.
    #[serde(default)]
    #[schemars(with = "Option<EnvFiles>")]
    pub env_file: Option<Spanned<EnvFiles>>,
    /// Services that must be ready before this one starts (and that stop after it): a list of
    /// names (each must be healthy, where it has a readiness probe, else started; a task must
    /// have completed successfully), or a table of name = condition.
    #[serde(default)]
    pub depends_on: DependsOn,
    /// "service" (default: runs until stopped) or "task": a one-shot job (migration, seeding,
    /// code generation) that runs to completion; exit 0 is done, anything else fails `up`.
    #[serde(default)]
    pub kind: ServiceKind,
    /// Restart the service when a file matching one of these globs changes (relative to the
    /// directory of reaper.toml; `**` crosses directories), e.g. ["src/**/*.py",
    /// "pyproject.toml"]. Files ignored by the .gitignore beside reaper.toml, and .git/, .run/
    /// and .logs/, never trigger a restart. `reaper up --no-watch` turns watching off.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub watch: Vec<Spanned<String>>,
    /// Globs of files that never trigger a restart, even when `watch` matches them.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub watch_ignore: Vec<Spanned<String>>,
    /// How long changes must stop before the restart (default 200ms): a burst of writes is one
    /// restart.
    #[serde(default)]
    #[schemars(with = "Option<DurationValue>")]
    pub watch_debounce: Option<Spanned<DurationValue>>,
    /// After a restart on a file change, also restart the services that depend on this one.
    #[serde(default)]
    pub restart_dependents: bool,
    /// When the service counts as ready (default: its `port` accepts connections; without a
    /// port, as soon as it runs).
    #[serde(default)]
    #[schemars(with = "Option<ReadyConfig>")]
    pub ready: Option<Spanned<ReadyConfig>>,
    /// How long the service gets to become ready (default 30s).
    #[serde(default)]
    #[schemars(with = "Option<DurationValue>")]
    pub ready_timeout: Option<Spanned<DurationValue>>,
    /// When to restart the service after it exits: "no" (default), "on-failure" (non-zero exit
    /// or killed by a signal) or "always".
    #[serde(default)]
    pub restart: RestartPolicy,
    /// Consecutive restarts before the service is given up (default 10). The count starts again
    /// once the service has stayed up for `max_backoff`.
    #[serde(default)]
    pub max_restarts: Option<u32>,
    /// Delay before the first restart; it doubles with every consecutive restart (default 100ms).
    #[serde(default)]
    #[schemars(with = "Option<DurationValue>")]
    pub backoff: Option<Spanned<DurationValue>>,
    /// Longest delay between restarts (default 10s).
    #[serde(default)]
    #[schemars(with = "Option<DurationValue>")]
    pub max_backoff: Option<Spanned<DurationValue>>,
    /// Graceful stop signal sent to every process of the service (default "SIGTERM").
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub stop_signal: Option<Spanned<String>>,
    /// Time the service gets after the stop signal before SIGKILL (default 10s).
    #[serde(default)]
    #[schemars(with = "Option<DurationValue>")]
    pub stop_timeout: Option<Spanned<DurationValue>>,
    /// Profiles the service belongs to: it starts only when one of them is active (`reaper up
    /// --profile NAME`), when it is named on the command line, or when an active service depends
    /// on it. A service without profiles always starts.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub profiles: Vec<Spanned<String>>,
    /// Number of copies to run (default 1). Copies are named NAME.1 … NAME.N, each with its own
    /// record and log, REAPER_REPLICA=N, and (with `port`) port + N - 1 as PORT; a service that
    /// depends on NAME depends on every copy.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 100))]
    pub replicas: Option<Spanned<i64>>,
    /// Start each line of the service's log with its time (default false).
    #[serde(default)]
    pub log_timestamps: bool,
}

/// A command line: a shell string or an argument vector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "a string (run by sh -c) or an array of strings (program and arguments)"
)]
pub enum CommandLine {
    /// Run by `sh -c`.
    Shell(String),
    /// Program and arguments, no shell.
    Argv(Vec<String>),
}

/// One env file or several.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged, expecting = "a file name or an array of file names")]
pub enum EnvFiles {
    /// One file.
    One(String),
    /// Several files, read in order.
    Many(Vec<String>),
}

/// The value of an environment variable; numbers and booleans are written as TOML writes them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged, expecting = "a string, a number or a boolean")]
pub enum EnvValue {
    /// A string.
    Text(String),
    /// An integer.
    Integer(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl EnvValue {
    fn render(&self) -> String {
        match self {
            EnvValue::Text(text) => text.clone(),
            EnvValue::Integer(n) => n.to_string(),
            EnvValue::Float(x) => x.to_string(),
            EnvValue::Bool(b) => b.to_string(),
        }
    }
}

/// A duration: seconds as a number, or text such as "10s", "500ms", "2m", "1m30s".
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "a duration: a number of seconds, or a string like \"10s\", \"500ms\", \"2m\""
)]
pub enum DurationValue {
    /// Whole seconds.
    Seconds(u64),
    /// Text with a unit.
    Text(String),
}

/// Readiness probe: exactly one of `tcp`, `http` or `log`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum ReadyConfig {
    /// Ready when this port accepts TCP connections on 127.0.0.1 or ::1.
    Tcp(#[schemars(with = "u16", range(min = 1, max = 65535))] i64),
    /// Ready when a GET of this http:// URL answers with a 2xx or 3xx status. `$PORT` in the
    /// URL is replaced by the service's port.
    Http(String),
    /// Ready when a line of the service's output matches this regular expression.
    Log(String),
}

/// When a service is restarted after it exits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RestartPolicy {
    /// Never.
    #[default]
    #[serde(rename = "no")]
    No,
    /// After a non-zero exit or a fatal signal.
    #[serde(rename = "on-failure")]
    OnFailure,
    /// After every exit.
    #[serde(rename = "always")]
    Always,
}

/// What a service is: a long-running service or a one-shot task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// Runs until it is stopped; ready per its readiness probe.
    #[default]
    Service,
    /// Runs to completion: exit 0 is done (`reaper ps` shows it `completed`), anything else
    /// fails `up` with its log's last lines. Restarted only with `restart = "on-failure"`.
    Task,
}

/// When a dependency counts as met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DependencyCondition {
    /// Its process was started.
    Started,
    /// Its readiness probe (`ready`, else its `port`) passed.
    Healthy,
    /// It is a task and exited 0.
    CompletedSuccessfully,
    /// A line of its output matched its `ready = { log = ... }`.
    LogReady,
}

impl DependencyCondition {
    /// The name used in reaper.toml.
    pub fn label(self) -> &'static str {
        match self {
            DependencyCondition::Started => "started",
            DependencyCondition::Healthy => "healthy",
            DependencyCondition::CompletedSuccessfully => "completed_successfully",
            DependencyCondition::LogReady => "log_ready",
        }
    }
}

/// `depends_on` as written: each dependency with the condition given in the table form (none in
/// the list form). Read by hand (not an untagged enum) so that every name and condition keeps
/// its position for error messages.
#[derive(Debug, Default)]
pub struct DependsOn(pub Vec<(Spanned<String>, Option<Spanned<DependencyCondition>>)>);

impl<'de> Deserialize<'de> for DependsOn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = DependsOn;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a list of service names, or a table of name = \"started\" | \"healthy\" | \"completed_successfully\" | \"log_ready\"",
                )
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<DependsOn, A::Error> {
                let mut entries = Vec::new();
                while let Some(name) = seq.next_element()? {
                    entries.push((name, None));
                }
                Ok(DependsOn(entries))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<DependsOn, A::Error> {
                let mut entries = Vec::new();
                while let Some(name) = map.next_key()? {
                    entries.push((name, Some(map.next_value()?)));
                }
                Ok(DependsOn(entries))
            }
        }
        deserializer.deserialize_any(Entries)
    }
}

impl JsonSchema for DependsOn {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DependsOn".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let condition = generator.subschema_for::<DependencyCondition>();
        schemars::json_schema!({
            "anyOf": [
                {
                    "description": "Names: each must be healthy (or started, without a readiness probe); a task must have completed successfully.",
                    "type": "array",
                    "items": { "type": "string" }
                },
                {
                    "description": "Name = condition.",
                    "type": "object",
                    "additionalProperties": condition
                }
            ]
        })
    }
}

/// `[checks]`: what must hold before `reaper up` starts anything.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecksConfig {
    /// Files that must exist, relative to the directory of reaper.toml.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub files: Vec<Spanned<String>>,
    /// Groups of "FILE:VARIABLE" (dotenv files) whose values must all be set and equal, e.g.
    /// [["backend/.env:API_TOKEN", "frontend/.env.local:NEXT_PUBLIC_API_TOKEN"]]. Values are
    /// never printed.
    #[serde(default)]
    #[schemars(with = "Vec<Vec<String>>")]
    pub same: Vec<Spanned<Vec<String>>>,
    /// Programs that must be found on PATH (or exist, when given with a '/').
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub commands: Vec<Spanned<String>>,
}

/// `[doctor]`: settings of `reaper doctor`.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DoctorConfig {
    /// Regexes of commands that count as orphans when their parent is gone.
    #[serde(default)]
    pub orphan_patterns: Vec<String>,
}

/// `[lint]`: settings of `reaper lint` (the command line's `--select`/`--ignore` add to these).
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LintConfig {
    /// Rule ids or prefixes to run (`["PY", "SH001"]`); empty: all.
    #[serde(default)]
    pub select: Vec<String>,
    /// Rule ids or prefixes to skip.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Gitignore-style patterns, relative to the project root, of paths not to lint.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// Reads only `[lint]` from `reaper.toml` in `root` (if there is one); other tables are ignored.
pub fn load_lint_config(root: &Path) -> Result<LintConfig, String> {
    #[derive(Deserialize)]
    struct LintOnly {
        #[serde(default)]
        lint: LintConfig,
    }
    let Some((shown, text)) = read_project_file(root)? else {
        return Ok(LintConfig::default());
    };
    toml::from_str::<LintOnly>(&text)
        .map(|file| file.lint)
        .map_err(|e| parse_error(&shown, &text, &e).to_string())
}

/// The path (as shown) and text of `reaper.toml` in `root`, or `None` if there is none.
fn read_project_file(root: &Path) -> Result<Option<(String, String)>, String> {
    let path = root.join(crate::state::PROJECT_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some((path.display().to_string(), text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The JSON Schema of `reaper.toml`, as shipped in `reaper.schema.json` (pretty-printed, with a
/// final newline).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(ConfigFile);
    let mut value = serde_json::to_value(&schema).expect("schemas serialise");
    drop_null(&mut value);
    let mut text = serde_json::to_string_pretty(&value).expect("schemas serialise");
    text.push('\n');
    text
}

/// TOML has no null: an optional key is absent, never `null`. Removes the `null` alternatives
/// and `"default": null` that schemars derives for `Option` fields.
fn drop_null(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(alternatives)) = map.get_mut("anyOf") {
                alternatives.retain(|a| a.get("type") != Some(&Value::from("null")));
                if alternatives.len() == 1 {
                    let only = alternatives.remove(0);
                    map.remove("anyOf");
                    if let Value::Object(inner) = only {
                        for (key, value) in inner {
                            map.entry(key).or_insert(value);
                        }
                    }
                }
            }
            map.values_mut().for_each(drop_null);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}

/// Line and column (both from 1) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    (line, column)
}

/// Collects errors against one file.
pub(crate) struct Errors<'a> {
    pub(crate) shown: &'a str,
    text: &'a str,
    pub(crate) list: Vec<ConfigError>,
}

impl<'a> Errors<'a> {
    pub(crate) fn new(shown: &'a str, text: &'a str) -> Errors<'a> {
        Errors {
            shown,
            text,
            list: Vec::new(),
        }
    }

    pub(crate) fn at(&mut self, span: Range<usize>, message: String, hint: Option<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.list.push(ConfigError {
            file: self.shown.to_string(),
            line,
            column,
            message,
            hint,
        });
    }

    pub(crate) fn line(&mut self, line: usize, message: String, hint: Option<String>) {
        self.list.push(ConfigError {
            file: self.shown.to_string(),
            line,
            column: 1,
            message,
            hint,
        });
    }

    pub(crate) fn line_of(&self, span: &Range<usize>) -> usize {
        line_col(self.text, span.start).0
    }
}

/// Turns the TOML parser's error into a [`ConfigError`] with a hint.
fn parse_error(shown: &str, text: &str, error: &toml::de::Error) -> ConfigError {
    let (line, column) = error
        .span()
        .map_or((1, 1), |span| line_col(text, span.start));
    let raw = error.message().trim().to_string();
    let backticked = |s: &str| -> Vec<String> {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let (message, hint) = if let Some(rest) = raw.strip_prefix("unknown field ") {
        let names = backticked(rest);
        let found = names.first().cloned().unwrap_or_default();
        let expected: Vec<&str> = names.iter().skip(1).map(String::as_str).collect();
        let hint = match closest(&found, expected.iter().copied()) {
            Some(near) => format!("did you mean `{near}`? valid keys: {}", expected.join(", ")),
            None => format!("valid keys: {}", expected.join(", ")),
        };
        (format!("unknown key `{found}`"), Some(hint))
    } else if let Some(rest) = raw.strip_prefix("unknown variant ") {
        let names = backticked(rest);
        let found = names.first().cloned().unwrap_or_default();
        let expected: Vec<&str> = names.iter().skip(1).map(String::as_str).collect();
        let hint = match closest(&found, expected.iter().copied()) {
            Some(near) => format!("did you mean `{near}`? one of: {}", expected.join(", ")),
            None => format!("one of: {}", expected.join(", ")),
        };
        (format!("unknown value `{found}`"), Some(hint))
    } else if let Some(rest) = raw.strip_prefix("missing field ") {
        let field = backticked(rest).first().cloned().unwrap_or_default();
        let hint = match field.as_str() {
            "command" => {
                "add command = \"...\": the program to run, e.g. command = \"python3 app.py\""
                    .to_string()
            }
            other => format!("add `{other} = ...`"),
        };
        (format!("missing `{field}`"), Some(hint))
    } else if raw.starts_with("invalid type") || raw.starts_with("invalid value") {
        (
            // Ports are read as any integer (see `ServiceConfig::port`).
            raw.replace("expected i64", "expected an integer"),
            Some("see reaper.schema.json for the type of each key".into()),
        )
    } else if raw.contains("expected") || raw.contains("invalid") || raw.contains("duplicate") {
        (raw, Some("check the TOML syntax here".into()))
    } else {
        (raw, None)
    };
    ConfigError {
        file: shown.to_string(),
        line,
        column,
        message,
        hint,
    }
}

/// Parses the text of a `reaper.toml` into the raw types (no validation beyond types). A syntax
/// error stops the parser, so it comes alone; type errors (a wrong type, an unknown key, a missing
/// `command`) are all reported, in file order: after each, the entry it is about is left out and
/// the rest is read again. Before that, `${VAR}` in string values is interpolated (see
/// [`super::interpolate`]); `root` is the directory of the file.
pub fn parse_file(shown: &str, text: &str, root: &Path) -> Result<ConfigFile, Vec<ConfigError>> {
    let mut document =
        toml::de::DeTable::parse(text).map_err(|e| vec![parse_error(shown, text, &e)])?;
    let unresolved = super::interpolate::apply(document.get_mut(), shown, text, root);
    if !unresolved.is_empty() {
        return Err(unresolved);
    }
    let mut errors: Vec<ConfigError> = Vec::new();
    // (table, key) pairs left out: a `missing field` error they cause is not the user's.
    let mut left_out: Vec<(Range<usize>, String)> = Vec::new();
    loop {
        let error = match ConfigFile::deserialize(toml::de::Deserializer::from(document.clone())) {
            Ok(file) if errors.is_empty() => return Ok(file),
            Ok(_) => break,
            Err(error) => error,
        };
        let caused_by_us = error.span().is_some_and(|span| {
            left_out.iter().any(|(table, key)| {
                *table == span && error.message().contains(&format!("missing field `{key}`"))
            })
        });
        if !caused_by_us {
            errors.push(parse_error(shown, text, &error));
        }
        let span = document.span();
        match error
            .span()
            .and_then(|at| leave_out(document.get_mut(), span, &at))
        {
            Some(removed) => left_out.push(removed),
            None => break,
        }
    }
    errors.sort_by_key(|e| (e.line, e.column));
    Err(errors)
}

/// Removes from `table` (whose span is `table_span`) the innermost entry whose key or value holds
/// `at`; returns the span of the table it was removed from and its key. Every sub-table is
/// searched: a table made by `[header]` lines spans only its header, not its keys.
fn leave_out(
    table: &mut toml::de::DeTable<'_>,
    table_span: Range<usize>,
    at: &Range<usize>,
) -> Option<(Range<usize>, String)> {
    let holds = |outer: Range<usize>| outer.start <= at.start && at.end <= outer.end;
    let mut found = None;
    for (key, value) in table.iter_mut() {
        let value_span = value.span();
        if let toml::de::DeValue::Table(inner) = value.get_mut() {
            if let Some(removed) = leave_out(inner, value_span.clone(), at) {
                return Some(removed);
            }
        }
        if found.is_none() && (holds(key.span()) || holds(value_span)) {
            found = Some(key.clone());
        }
    }
    let key = found?;
    table.remove(&key);
    Some((table_span, key.into_inner().into_owned()))
}

fn duration_of(value: &DurationValue) -> Result<Duration, UnitError> {
    match value {
        DurationValue::Seconds(secs) => crate::units::duration_from_secs(*secs),
        DurationValue::Text(text) => crate::units::parse_duration(text),
    }
}

fn duration_field(
    errors: &mut Errors<'_>,
    service: &str,
    key: &str,
    value: Option<&Spanned<DurationValue>>,
    default: Duration,
) -> Duration {
    let Some(value) = value else { return default };
    match duration_of(value.get_ref()) {
        Ok(duration) => duration,
        Err(UnitError::DurationTooLong(text)) => {
            errors.at(
                value.span(),
                format!("service `{service}`: duration `{text}` for `{key}` is too long"),
                Some("the maximum is 366 days, `366d`".into()),
            );
            default
        }
        Err(error) => {
            let text = match value.get_ref() {
                DurationValue::Seconds(secs) => secs.to_string(),
                DurationValue::Text(text) => text.clone(),
            };
            let hint = match error {
                UnitError::DurationUnitOrder(_) => {
                    "each unit may appear once, largest first: 1h30m, 2m30s"
                }
                _ => "use a number of seconds or a unit: 10, 10s, 500ms, 2m, 1m30s",
            };
            errors.at(
                value.span(),
                format!("service `{service}`: invalid duration `{text}` for `{key}`"),
                Some(hint.into()),
            );
            default
        }
    }
}

pub(crate) fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks an `http://HOST[:PORT]/PATH` URL (after `$PORT` substitution with a sample port).
pub(crate) fn check_http_url(url: &str) -> Result<(), String> {
    let sample = url.replace("${PORT}", "1").replace("$PORT", "1");
    match super::HttpTarget::parse(&sample) {
        Some(_) => Ok(()),
        None if sample.starts_with("https://") => {
            Err("https is not supported by the readiness probe; probe a plain http:// URL".into())
        }
        None => Err("expected http://HOST[:PORT][/PATH], e.g. http://127.0.0.1:8001/health".into()),
    }
}

/// Validates a parsed file and resolves it into a [`Stack`]; every problem found is returned.
pub fn validate(
    file: ConfigFile,
    path: &Path,
    shown: &str,
    text: &str,
) -> Result<Stack, Vec<ConfigError>> {
    let root = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut errors = Errors::new(shown, text);
    let mut entries: Vec<(Spanned<String>, Spanned<ServiceConfig>)> =
        file.services.into_iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    let names: Vec<String> = entries.iter().map(|(k, _)| k.get_ref().clone()).collect();
    let mut services = Vec::new();
    let mut ports: HashMap<u16, (String, usize)> = HashMap::new();
    let mut dependency_spans: HashMap<(String, String), Range<usize>> = HashMap::new();
    let mut replicated: Vec<(String, Spanned<i64>)> = Vec::new();
    let mut conditions_written = Vec::new();
    for (key, config) in entries {
        let name = key.get_ref().clone();
        let line = errors.line_of(&key.span());
        match crate::state::validate_new_name(&name) {
            Ok(()) => {}
            Err(crate::state::StateError::InvalidName(_)) => errors.at(
                key.span(),
                format!("invalid service name `{}`", crate::text::escape(&name)),
                Some(
                    "use 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
                        .into(),
                ),
            ),
            Err(reserved) => errors.at(key.span(), reserved.to_string(), None),
        }
        let config = config.into_inner();
        let argv = match config.command.get_ref() {
            CommandLine::Shell(text) if !text.trim().is_empty() => crate::os::shell_command(text),
            CommandLine::Argv(argv) if argv.first().is_some_and(|p| !p.is_empty()) => argv.clone(),
            _ => {
                errors.at(
                    config.command.span(),
                    format!("service `{name}`: `command` is empty"),
                    Some("give the program to run, e.g. command = \"python3 app.py\"".into()),
                );
                Vec::new()
            }
        };
        let cwd = match &config.cwd {
            None => root.clone(),
            Some(dir) => {
                let full = root.join(dir.get_ref());
                if !full.is_dir() {
                    errors.at(
                        dir.span(),
                        format!(
                            "service `{name}`: working directory `{}` does not exist",
                            dir.get_ref()
                        ),
                        Some(format!(
                            "paths are relative to {}; create the directory or fix the path",
                            root.display()
                        )),
                    );
                }
                full
            }
        };
        let port = config.port.as_ref().and_then(|port| {
            let value = match crate::ports::port_from_integer(*port.get_ref()) {
                Ok(value) => value,
                Err(error) => {
                    errors.at(
                        port.span(),
                        format!("service `{name}`: {error}"),
                        Some("give the port the service listens on".into()),
                    );
                    return None;
                }
            };
            if let Some((other, other_line)) = ports.get(&value) {
                errors.at(
                    port.span(),
                    format!(
                        "service `{name}`: port {value} is also the port of service `{other}` (line {other_line})"
                    ),
                    Some(
                        "give each service its own port (with fallback = true a busy port moves to the next free one)"
                            .into(),
                    ),
                );
            } else {
                ports.insert(value, (name.clone(), errors.line_of(&port.span())));
            }
            Some(value)
        });
        if config.fallback && config.port.is_none() {
            errors.line(
                line,
                format!("service `{name}`: `fallback = true` needs a `port`"),
                Some("add port = N, or remove fallback".into()),
            );
        }
        let mut env = Vec::new();
        for (key, value) in &config.env {
            if valid_env_name(key) {
                env.push((key.clone(), value.render()));
            } else {
                errors.line(
                    line,
                    format!("service `{name}`: `{key}` is not a valid environment variable name"),
                    Some("use letters, digits and '_', not starting with a digit".into()),
                );
            }
        }
        let mut env_files = Vec::new();
        if let Some(files) = &config.env_file {
            let list = match files.get_ref() {
                EnvFiles::One(one) => vec![one.clone()],
                EnvFiles::Many(many) => many.clone(),
            };
            for file in list {
                let full = root.join(&file);
                if let Err(why) = crate::dotenv::read(&full) {
                    errors.at(
                        files.span(),
                        format!("service `{name}`: env file `{file}`: {why}"),
                        Some(format!(
                            "paths are relative to {}; create the file or remove it from env_file",
                            root.display()
                        )),
                    );
                }
                env_files.push(full);
            }
        }
        let mut depends_on = Vec::new();
        for (dep, condition) in &config.depends_on.0 {
            let dep_name = dep.get_ref().clone();
            if !names.contains(&dep_name) {
                let hint = match closest(&dep_name, names.iter().map(String::as_str)) {
                    Some(near) => format!("did you mean `{near}`? services: {}", names.join(", ")),
                    None => format!("services: {}", names.join(", ")),
                };
                errors.at(
                    dep.span(),
                    format!("service `{name}` depends on unknown service `{dep_name}`"),
                    Some(hint),
                );
                continue;
            }
            if !depends_on.contains(&dep_name) {
                dependency_spans.insert((name.clone(), dep_name.clone()), dep.span());
                conditions_written.push((name.clone(), dep_name.clone(), condition.clone()));
                depends_on.push(dep_name);
            }
        }
        task_errors(&mut errors, &name, &config, line);
        let watch = watch_config(&mut errors, &name, &config, line);
        let ready =
            config
                .ready
                .as_ref()
                .and_then(|ready| match ready.get_ref() {
                    ReadyConfig::Tcp(port) => match crate::ports::port_from_integer(*port) {
                        Ok(port) => Some(Readiness::Tcp(port)),
                        Err(error) => {
                            errors.at(
                                ready.span(),
                                format!("service `{name}`: ready.tcp: {error}"),
                                Some("give the port that accepts when the service is ready".into()),
                            );
                            None
                        }
                    },
                    ReadyConfig::Http(url) => match check_http_url(url) {
                        Ok(()) => Some(Readiness::Http(url.clone())),
                        Err(why) => {
                            errors.at(
                                ready.span(),
                                format!("service `{name}`: ready.http `{url}` is not usable"),
                                Some(why),
                            );
                            None
                        }
                    },
                    ReadyConfig::Log(pattern) => {
                        match regex::Regex::new(pattern) {
                            Ok(regex) => Some(Readiness::Log(regex)),
                            Err(e) => {
                                errors.at(
                        ready.span(),
                        format!("service `{name}`: ready.log is not a valid regular expression"),
                        Some(e.to_string().lines().last().unwrap_or_default().trim().into()),
                    );
                                None
                            }
                        }
                    }
                });
        let ready_timeout = duration_field(
            &mut errors,
            &name,
            "ready_timeout",
            config.ready_timeout.as_ref(),
            DEFAULT_READY_TIMEOUT,
        );
        let backoff = duration_field(
            &mut errors,
            &name,
            "backoff",
            config.backoff.as_ref(),
            DEFAULT_BACKOFF,
        );
        let max_backoff = duration_field(
            &mut errors,
            &name,
            "max_backoff",
            config.max_backoff.as_ref(),
            DEFAULT_MAX_BACKOFF,
        );
        let stop_timeout = duration_field(
            &mut errors,
            &name,
            "stop_timeout",
            config.stop_timeout.as_ref(),
            DEFAULT_STOP_TIMEOUT,
        );
        let stop_signal = match &config.stop_signal {
            None => Signal::Term,
            Some(text) => match text.get_ref().parse::<Signal>() {
                Ok(Signal::Stop | Signal::Cont | Signal::Chld | Signal::Winch | Signal::Tstp)
                | Err(_) => {
                    errors.at(
                        text.span(),
                        format!(
                            "service `{name}`: `{}` is not a usable stop signal",
                            text.get_ref()
                        ),
                        Some(
                            "use SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 or SIGKILL"
                                .into(),
                        ),
                    );
                    Signal::Term
                }
                Ok(signal) => signal,
            },
        };
        let profiles = profiles_of(&mut errors, &name, &config.profiles);
        services.push(Service {
            name,
            argv,
            cwd,
            port,
            fallback: config.fallback,
            env,
            env_files,
            depends_on,
            ready,
            ready_timeout,
            restart: config.restart,
            max_restarts: config.max_restarts.unwrap_or(DEFAULT_MAX_RESTARTS),
            backoff: backoff.min(max_backoff),
            max_backoff,
            stop_signal,
            stop_timeout,
            log_timestamps: config.log_timestamps,
            line,
            profiles,
            replica_of: None,
            kind: config.kind,
            conditions: BTreeMap::new(),
            watch,
        });
        if let Some(count) = config.replicas {
            replicated.push((services[services.len() - 1].name.clone(), count));
        }
    }
    resolve_conditions(&mut errors, &mut services, conditions_written);
    for cycle in super::find_cycles(&services) {
        // Report at the edge that closes the cycle.
        let from = &cycle[cycle.len() - 2];
        let to = &cycle[cycle.len() - 1];
        let span = dependency_spans
            .get(&(from.clone(), to.clone()))
            .cloned()
            .unwrap_or(0..0);
        errors.at(
            span,
            format!("dependency cycle: {}", cycle.join(" → ")),
            Some("remove one of these depends_on entries".into()),
        );
    }
    let services = super::replicas::expand(services, &replicated, &mut errors);
    let checks = validate_checks(&mut errors, file.checks, &root);
    if !errors.list.is_empty() {
        let mut list = errors.list;
        list.sort_by_key(|e| (e.line, e.column));
        return Err(list);
    }
    Ok(Stack {
        file: path.to_path_buf(),
        root,
        source: Source::Toml,
        services,
        checks,
        doctor: file.doctor,
    })
}

fn profiles_of(errors: &mut Errors<'_>, service: &str, list: &[Spanned<String>]) -> Vec<String> {
    let mut profiles: Vec<String> = Vec::new();
    for profile in list {
        let name = profile.get_ref();
        if crate::state::validate_new_name(name).is_err() {
            errors.at(
                profile.span(),
                format!(
                    "service `{service}`: `{}` is not a usable profile name",
                    crate::text::escape(name)
                ),
                Some("use letters, digits, '.', '_' or '-', e.g. profiles = [\"test\"]".into()),
            );
        } else if !profiles.contains(name) {
            profiles.push(name.clone());
        }
    }
    profiles
}

/// A task is done when it exits: a readiness probe or `restart = "always"` contradicts that.
fn task_errors(errors: &mut Errors<'_>, name: &str, config: &ServiceConfig, line: usize) {
    if config.kind != ServiceKind::Task {
        return;
    }
    if let Some(ready) = &config.ready {
        errors.at(
            ready.span(),
            format!("service `{name}`: a task has no readiness probe: it is done when it exits 0"),
            Some("remove `ready`, or make it a service (remove kind = \"task\")".into()),
        );
    }
    if config.restart == RestartPolicy::Always {
        errors.line(
            line,
            format!("service `{name}`: restart = \"always\" would run the task forever"),
            Some("use restart = \"on-failure\" to retry a failed task, or \"no\"".into()),
        );
    }
}

/// `watch`, `watch_ignore`, `watch_debounce` and `restart_dependents`, compiled.
fn watch_config(
    errors: &mut Errors<'_>,
    name: &str,
    config: &ServiceConfig,
    line: usize,
) -> Option<Watch> {
    let mut globs = |key: &str, patterns: &[Spanned<String>]| {
        let mut set = globset::GlobSetBuilder::new();
        for pattern in patterns {
            let glob = globset::GlobBuilder::new(pattern.get_ref())
                .literal_separator(true)
                .build();
            match glob {
                Ok(glob) => {
                    set.add(glob);
                }
                Err(e) => errors.at(
                    pattern.span(),
                    format!(
                        "service `{name}`: {key}: `{}` is not a usable glob",
                        pattern.get_ref()
                    ),
                    Some(format!("{}; e.g. \"src/**/*.py\"", e.kind())),
                ),
            }
        }
        set.build().unwrap_or_else(|_| globset::GlobSet::empty())
    };
    let include = globs("watch", &config.watch);
    let exclude = globs("watch_ignore", &config.watch_ignore);
    let debounce = duration_field(
        errors,
        name,
        "watch_debounce",
        config.watch_debounce.as_ref(),
        DEFAULT_WATCH_DEBOUNCE,
    );
    if config.watch.is_empty() {
        if config.restart_dependents || !config.watch_ignore.is_empty() {
            errors.line(
                line,
                format!("service `{name}`: `watch_ignore` and `restart_dependents` need `watch`"),
                Some(
                    "add watch = [\"GLOB\", ...], the files whose change restarts the service"
                        .into(),
                ),
            );
        }
        return None;
    }
    Some(Watch {
        patterns: config.watch.iter().map(|p| p.get_ref().clone()).collect(),
        ignore_patterns: config
            .watch_ignore
            .iter()
            .map(|p| p.get_ref().clone())
            .collect(),
        include,
        exclude,
        debounce,
        restart_dependents: config.restart_dependents,
    })
}

/// Gives every dependency its condition (the list form's default: a task must have completed
/// successfully, a service must be healthy) and reports a condition its dependency cannot meet.
fn resolve_conditions(
    errors: &mut Errors<'_>,
    services: &mut [Service],
    written: Vec<(String, String, Option<Spanned<DependencyCondition>>)>,
) {
    for (name, dep_name, condition) in written {
        let Some(dep) = services.iter().find(|s| s.name == dep_name) else {
            continue;
        };
        let task = dep.kind == ServiceKind::Task;
        let resolved = match &condition {
            None if task => DependencyCondition::CompletedSuccessfully,
            None => DependencyCondition::Healthy,
            Some(condition) => *condition.get_ref(),
        };
        let problem = match resolved {
            DependencyCondition::CompletedSuccessfully if !task => Some(format!(
                "add kind = \"task\" to `{dep_name}` if it runs to completion, or use \"healthy\" or \"started\""
            )),
            DependencyCondition::Healthy if task => Some(format!(
                "`{dep_name}` is a task: use \"completed_successfully\" or \"started\""
            )),
            DependencyCondition::Healthy if dep.probe(dep.port).is_none() => Some(format!(
                "`{dep_name}` has no readiness probe: give it a `port` or `ready`, or use \"started\""
            )),
            DependencyCondition::LogReady if !matches!(dep.ready, Some(Readiness::Log(_))) => {
                Some(format!(
                    "give `{dep_name}` ready = {{ log = \"REGEX\" }}, or use \"healthy\" or \"started\""
                ))
            }
            _ => None,
        };
        if let (Some(hint), Some(condition)) = (problem, &condition) {
            errors.at(
                condition.span(),
                format!(
                    "service `{name}`: `{dep_name}` can never be {}",
                    resolved.label()
                ),
                Some(hint),
            );
        }
        if let Some(service) = services.iter_mut().find(|s| s.name == name) {
            service.conditions.insert(dep_name, resolved);
        }
    }
}

fn validate_checks(errors: &mut Errors<'_>, config: ChecksConfig, root: &Path) -> Checks {
    let mut checks = Checks::default();
    for file in config.files {
        let line = errors.line_of(&file.span());
        if file.get_ref().trim().is_empty() {
            errors.at(
                file.span(),
                "[checks] files: empty file name".into(),
                Some("give a path relative to the directory of reaper.toml".into()),
            );
            continue;
        }
        checks.files.push((file.get_ref().clone(), line));
    }
    for group in config.same {
        let line = errors.line_of(&group.span());
        let span = group.span();
        let items = group.into_inner();
        if items.len() < 2 {
            errors.at(
                span.clone(),
                "[checks] same: a group needs at least two FILE:VARIABLE entries".into(),
                Some("e.g. same = [[\"backend/.env:API_TOKEN\", \"frontend/.env.local:NEXT_PUBLIC_API_TOKEN\"]]".into()),
            );
            continue;
        }
        let mut refs = Vec::new();
        for item in items {
            match item.rsplit_once(':') {
                Some((file, var)) if !file.is_empty() && valid_env_name(var) => refs.push(VarRef {
                    file: file.to_string(),
                    path: root.join(file),
                    var: var.to_string(),
                }),
                _ => errors.at(
                    span.clone(),
                    format!("[checks] same: `{item}` is not FILE:VARIABLE"),
                    Some("write the dotenv file, a colon and the variable, e.g. backend/.env:API_TOKEN".into()),
                ),
            }
        }
        if refs.len() >= 2 {
            checks.same.push((refs, line));
        }
    }
    let mut seen = HashSet::new();
    for command in config.commands {
        let line = errors.line_of(&command.span());
        let name = command.get_ref().trim().to_string();
        if name.is_empty() {
            errors.at(
                command.span(),
                "[checks] commands: empty program name".into(),
                Some("give a program name such as \"node\" or \"python3\"".into()),
            );
        } else if seen.insert(name.clone()) {
            checks.commands.push((name, line));
        }
    }
    checks
}

/// Reads only `[doctor]` from `reaper.toml` in `root` (if there is one), leniently: other tables
/// and unknown keys are ignored, so an unfinished stack configuration never stops a doctor scan.
pub fn load_doctor_config(root: &Path) -> Result<DoctorConfig, String> {
    #[derive(Deserialize)]
    struct DoctorOnly {
        #[serde(default)]
        doctor: LenientDoctor,
    }
    #[derive(Deserialize, Default)]
    struct LenientDoctor {
        #[serde(default)]
        orphan_patterns: Vec<String>,
    }
    let Some((shown, text)) = read_project_file(root)? else {
        return Ok(DoctorConfig::default());
    };
    toml::from_str::<DoctorOnly>(&text)
        .map(|file| DoctorConfig {
            orphan_patterns: file.doctor.orphan_patterns,
        })
        .map_err(|e| parse_error(&shown, &text, &e).to_string())
}

/// Path of the config as people read it: relative to `cwd` when it is below it.
pub fn shown_path(path: &Path, cwd: &Path) -> String {
    path.strip_prefix(cwd)
        .map(PathBuf::from)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 4));
    }

    #[test]
    fn parses_the_documented_example() {
        let text = r#"
[services.db]
command = ["sleep", "100"]
port = 5432

[services.api]
command = "uvicorn app.main:app --reload --port $PORT"
port = 8001
fallback = true
env = { LOG_LEVEL = "debug", WORKERS = 2 }
depends_on = ["db"]
ready = { http = "http://127.0.0.1:$PORT/health" }
restart = "on-failure"
stop_signal = "SIGINT"
stop_timeout = "10s"

[checks]
files = ["x"]
same = [["a/.env:API_TOKEN", "b/.env:NEXT_PUBLIC_API_TOKEN"]]
"#;
        let file = parse_file("reaper.toml", text, Path::new("/nonexistent")).unwrap();
        assert_eq!(file.services.len(), 2);
        let dir = tempfile::tempdir().unwrap();
        let stack = validate(file, &dir.path().join("reaper.toml"), "reaper.toml", text).unwrap();
        let api = stack.service("api").unwrap();
        assert_eq!(api.argv, crate::os::shell_command(&api.argv[2]));
        assert_eq!(api.port, Some(8001));
        assert_eq!(api.stop_signal, Signal::Int);
        assert_eq!(api.restart, RestartPolicy::OnFailure);
        assert!(api.env.contains(&("WORKERS".into(), "2".into())));
        assert_eq!(stack.services[0].name, "db");
        assert_eq!(stack.checks.same.len(), 1);
    }

    #[test]
    fn unknown_keys_point_at_the_line_with_a_suggestion() {
        let text = "[services.api]\ncomand = \"x\"\n";
        let errors = parse_file("reaper.toml", text, Path::new("/nonexistent")).unwrap_err();
        // `command` is missing too, reported at the table's header (line 1).
        assert_eq!(errors.len(), 2, "{errors:?}");
        let error = &errors[1];
        assert_eq!(error.line, 2);
        assert!(error.message.contains("unknown key `comand`"), "{error}");
        assert!(
            error
                .hint
                .as_ref()
                .unwrap()
                .contains("did you mean `command`")
        );
    }

    fn validate_text(text: &str) -> Result<Stack, Vec<ConfigError>> {
        let dir = tempfile::tempdir().unwrap();
        let file = parse_file("reaper.toml", text, dir.path())?;
        validate(file, &dir.path().join("reaper.toml"), "reaper.toml", text)
    }

    #[test]
    fn a_condition_on_a_replicated_service_holds_for_each_copy() {
        let text = r#"
[services.web]
command = "web"
port = 8000
replicas = 3

[services.check]
command = "check"
depends_on = { web = "started" }
"#;
        let stack = validate_text(text).unwrap();
        let check = stack.services.iter().find(|s| s.name == "check").unwrap();
        let conditions: Vec<(&str, DependencyCondition)> = check
            .conditions
            .iter()
            .map(|(dep, condition)| (dep.as_str(), *condition))
            .collect();
        assert_eq!(
            conditions,
            [
                ("web.1", DependencyCondition::Started),
                ("web.2", DependencyCondition::Started),
                ("web.3", DependencyCondition::Started),
            ]
        );
    }

    #[test]
    fn depends_on_table_gives_each_dependency_its_condition() {
        let text = r#"
[services.db]
command = "db"
port = 5432
[services.migrate]
command = "migrate"
kind = "task"
depends_on = { db = "healthy" }
[services.cache]
command = "cache"
ready = { log = "ready" }
[services.api]
command = "api"
depends_on = { migrate = "completed_successfully", cache = "log_ready", db = "started" }
[services.worker]
command = "worker"
depends_on = ["migrate", "db", "cache"]
"#;
        let stack = validate_text(text).unwrap();
        let conditions = |name: &str| stack.service(name).unwrap().conditions.clone();
        use DependencyCondition::*;
        assert_eq!(conditions("migrate")["db"], Healthy);
        assert_eq!(conditions("api")["migrate"], CompletedSuccessfully);
        assert_eq!(conditions("api")["cache"], LogReady);
        assert_eq!(conditions("api")["db"], Started);
        // The list form: a task must complete, a service with a probe must be healthy.
        assert_eq!(conditions("worker")["migrate"], CompletedSuccessfully);
        assert_eq!(conditions("worker")["db"], Healthy);
        assert_eq!(stack.service("migrate").unwrap().kind, ServiceKind::Task);
    }

    #[test]
    fn unknown_condition_is_reported_at_its_value_with_the_nearest_one() {
        let text = "[services.db]\ncommand = \"db\"\n[services.api]\ncommand = \"api\"\ndepends_on = { db = \"healty\" }\n";
        let errors = validate_text(text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].line, errors[0].column), (5, 21), "{}", errors[0]);
        assert!(
            errors[0].message.contains("unknown value `healty`"),
            "{}",
            errors[0]
        );
        assert!(
            errors[0]
                .hint
                .as_ref()
                .unwrap()
                .contains("did you mean `healthy`")
        );
    }

    #[test]
    fn conditions_a_dependency_cannot_meet_are_errors() {
        let text = r#"[services.db]
command = "db"
[services.job]
command = "job"
kind = "task"
restart = "always"
ready = { log = "x" }
[services.api]
command = "api"
depends_on = { db = "healthy", job = "healthy" }
[services.web]
command = "web"
depends_on = { db = "completed_successfully", api = "log_ready" }
"#;
        let errors = validate_text(text).unwrap_err();
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 6, "{messages:#?}");
        assert!(
            messages[0].contains(":3:1: service `job`: restart = \"always\""),
            "{messages:#?}"
        );
        assert!(messages[1].contains(":7:9: service `job`: a task has no readiness probe"));
        assert!(messages[2].contains(":10:21: service `api`: `db` can never be healthy"));
        assert!(messages[2].contains("no readiness probe"));
        assert!(messages[3].contains("`job` can never be healthy"));
        assert!(messages[4].contains("`db` can never be completed_successfully"));
        assert!(messages[4].contains("add kind = \"task\" to `db`"));
        assert!(messages[5].contains("`api` can never be log_ready"));
    }

    #[test]
    fn schema_is_generated() {
        let schema = json_schema();
        assert!(schema.contains("\"services\""));
        assert!(schema.contains("orphan_patterns"));
    }
}
