//! `reaper import FILE`: a `process-compose.yaml`, a `Procfile` (with the `.env` beside it) or
//! a `package.json` (`scripts`) turned into the text of a `reaper.toml`. What has no equivalent
//! is listed as a comment at the place it belongs, so nothing is dropped silently.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::{ConfigError, LoadError};

/// Why a file could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file, as given.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The name says neither process-compose, Procfile nor package.json.
    #[error(
        "cannot tell what {0} is: import reads a process-compose .yaml/.yml file, a file named Procfile… or a package.json"
    )]
    UnknownFormat(String),
    /// The file does not parse, or holds nothing to import; every problem found.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigError>),
}

/// One service of the output.
#[derive(Debug, Default)]
struct Draft {
    name: String,
    /// Comment lines written above the table.
    about: Vec<String>,
    /// `key = value` lines, values already in TOML.
    keys: Vec<(String, String)>,
    /// What could not be translated, written below the keys.
    notes: Vec<String>,
}

impl Draft {
    fn new(wanted: &str) -> Draft {
        let name = service_name(wanted);
        let mut draft = Draft {
            name: name.clone(),
            ..Draft::default()
        };
        if name != wanted {
            draft.about.push(format!(
                "renamed from `{wanted}`: names have letters, digits, '.', '_' and '-'"
            ));
        }
        draft
    }

    fn set(&mut self, key: &str, value: impl Into<toml::Value>) {
        self.keys.push((key.into(), value.into().to_string()));
    }
}

/// A name reaper accepts, as close to `wanted` as it gets.
fn service_name(wanted: &str) -> String {
    let mut name: String = wanted
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.starts_with(['.', '-']) || name.is_empty() {
        name.insert(0, 's');
    }
    name.truncate(64);
    name
}

/// `key` as written in a TOML header: bare when it can be.
fn toml_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        key.to_string()
    } else {
        toml::Value::from(key).to_string()
    }
}

/// Keys in the order the README documents them.
const KEY_ORDER: &[&str] = &[
    "command",
    "cwd",
    "port",
    "env",
    "env_file",
    "depends_on",
    "ready",
    "restart",
    "max_restarts",
    "backoff",
    "stop_signal",
    "stop_timeout",
    "replicas",
    "profiles",
];

fn render(source: &str, remarks: &[String], notes: &[String], drafts: &[Draft]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# reaper.toml imported from {source} by `reaper import`; paths are relative to its\n# directory, so save this file there. `reaper check` validates it."
    );
    for remark in remarks {
        let _ = writeln!(out, "# {remark}");
    }
    for note in notes {
        let _ = writeln!(out, "# not translated: {note}");
    }
    for draft in drafts {
        out.push('\n');
        for line in &draft.about {
            let _ = writeln!(out, "# {line}");
        }
        let _ = writeln!(out, "[services.{}]", toml_key(&draft.name));
        let mut keys: Vec<&(String, String)> = draft.keys.iter().collect();
        keys.sort_by_key(|(key, _)| KEY_ORDER.iter().position(|k| k == key));
        for (key, value) in keys {
            let _ = writeln!(out, "{key} = {value}");
        }
        for note in &draft.notes {
            let _ = writeln!(out, "# not translated: {note}");
        }
    }
    out
}

/// Reads `path` (shown to the user as `shown`) and returns it as the text of a reaper.toml.
pub fn import(path: &Path, shown: &str) -> Result<String, ImportError> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let read = || {
        std::fs::read_to_string(path).map_err(|source| ImportError::Io {
            path: shown.to_string(),
            source,
        })
    };
    if file_name == "package.json" {
        return package_json(path, shown, &read()?);
    }
    if file_name.starts_with(super::PROCFILE) {
        return procfile(path, shown, &read()?);
    }
    if file_name.ends_with(".yaml") || file_name.ends_with(".yml") {
        return process_compose(shown, &read()?);
    }
    Err(ImportError::UnknownFormat(shown.to_string()))
}

fn invalid(shown: &str, line: usize, column: usize, message: String, hint: &str) -> ImportError {
    ImportError::Invalid(vec![ConfigError {
        file: shown.to_string(),
        line,
        column,
        message,
        hint: Some(hint.to_string()),
    }])
}

/// The non-empty map under `key`, or an error saying there is nothing to import.
fn entries<'a>(
    document: &'a Value,
    key: &str,
    shown: &str,
    message: &str,
    hint: &str,
) -> Result<&'a serde_json::Map<String, Value>, ImportError> {
    document
        .get(key)
        .and_then(Value::as_object)
        .filter(|map| !map.is_empty())
        .ok_or_else(|| invalid(shown, 1, 1, message.into(), hint))
}

fn procfile(path: &Path, shown: &str, text: &str) -> Result<String, ImportError> {
    // Procfile mode's own reading (and its PORT numbering) is what the output must reproduce.
    let stack = super::procfile::load(path, shown, text).map_err(|e| match e {
        LoadError::Invalid(problems) => ImportError::Invalid(problems),
        other => ImportError::Invalid(vec![ConfigError {
            file: shown.to_string(),
            line: 1,
            column: 1,
            message: other.to_string(),
            hint: None,
        }]),
    })?;
    let entries = super::procfile::parse(shown, text).map_err(ImportError::Invalid)?;
    let drafts = stack
        .services
        .iter()
        .zip(entries)
        .map(|(service, (_, command, _))| {
            let mut draft = Draft::new(&service.name);
            draft.set("command", command);
            let env: toml::Table = service
                .env
                .iter()
                .map(|(k, v)| (k.clone(), toml::Value::from(v.as_str())))
                .collect();
            draft.set("env", toml::Value::Table(env));
            if !service.env_files.is_empty() {
                draft.set("env_file", ".env");
            }
            draft
        })
        .collect::<Vec<_>>();
    Ok(render(shown, &[], &[], &drafts))
}

/// npm's lifecycle scripts: npm runs them itself around install, publish and pack.
const LIFECYCLE: &[&str] = &[
    "preinstall",
    "install",
    "postinstall",
    "preuninstall",
    "uninstall",
    "postuninstall",
    "prepublish",
    "preprepare",
    "prepare",
    "postprepare",
    "prepublishOnly",
    "prepack",
    "postpack",
    "publish",
    "postpublish",
    "dependencies",
];

fn package_json(path: &Path, shown: &str, text: &str) -> Result<String, ImportError> {
    let document: Value = serde_json::from_str(text).map_err(|e| {
        invalid(
            shown,
            e.line(),
            e.column(),
            format!("not valid JSON: {e}"),
            "fix the file; import reads its \"scripts\"",
        )
    })?;
    let scripts = entries(
        &document,
        "scripts",
        shown,
        "package.json has no \"scripts\" to import",
        "add scripts such as \"dev\": \"vite\"",
    )?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let runner = [
        ("pnpm-lock.yaml", "pnpm"),
        ("yarn.lock", "yarn"),
        ("bun.lockb", "bun"),
        ("bun.lock", "bun"),
    ]
    .iter()
    .find(|(lock, _)| dir.join(lock).is_file())
    .map_or("npm", |(_, runner)| *runner);
    let mut notes = Vec::new();
    let mut drafts = Vec::new();
    for (name, script) in scripts {
        let hook_of = |prefix: &str| {
            name.strip_prefix(prefix)
                .filter(|rest| scripts.contains_key(*rest))
        };
        if LIFECYCLE.contains(&name.as_str()) {
            notes.push(format!(
                "script `{name}`: an npm lifecycle script, run by {runner} itself"
            ));
            continue;
        }
        if let Some(main) = hook_of("pre").or_else(|| hook_of("post")) {
            notes.push(format!(
                "script `{name}`: runs with `{main}` under `{runner} run {main}`"
            ));
            continue;
        }
        let mut draft = Draft::new(name);
        if let Some(text) = script.as_str() {
            draft
                .about
                .push(format!("script: {}", text.replace('\n', " ")));
        }
        draft.set("command", format!("{runner} run {name}"));
        drafts.push(draft);
    }
    let remarks = ["every other script is a service; remove those `reaper up` should not start (build, test, lint)".to_string()];
    Ok(render(shown, &remarks, &notes, &drafts))
}

fn process_compose(shown: &str, text: &str) -> Result<String, ImportError> {
    let document: Value = serde_saphyr::from_str(text).map_err(|e| {
        let message = e.to_string();
        let first = message.lines().next().unwrap_or_default().to_string();
        let (line, column) = e
            .location()
            .map_or((1, 1), |at| (at.line() as usize, at.column() as usize));
        invalid(
            shown,
            line,
            column,
            format!("not valid YAML: {first}"),
            "fix the YAML syntax here",
        )
    })?;
    let processes = entries(
        &document,
        "processes",
        shown,
        "no `processes` to import",
        "a process-compose file declares processes: {NAME: {command: ...}}",
    )?;
    let mut notes = Vec::new();
    let mut global_env: Vec<(String, String)> = Vec::new();
    if let Some(top) = document.as_object() {
        for (key, value) in top {
            match key.as_str() {
                "processes" | "version" => {}
                "environment" => global_env = environment(value, &mut notes, "environment"),
                other => notes.push(format!("`{other}` ({})", brief(value))),
            }
        }
    }
    // reaper accepts `completed_successfully` only on a task.
    let tasks: Vec<&str> = processes
        .values()
        .filter_map(|process| process.get("depends_on")?.as_object())
        .flat_map(|deps| deps.iter())
        .filter(|(_, dep)| {
            dep.get("condition").and_then(Value::as_str) == Some("process_completed_successfully")
        })
        .map(|(name, _)| name.as_str())
        .collect();
    let mut drafts = Vec::new();
    for (name, process) in processes {
        let mut draft = translate_process(name, process, &global_env);
        if tasks.contains(&name.as_str()) {
            draft.set("kind", "task");
        }
        drafts.push(draft);
    }
    Ok(render(shown, &[], &notes, &drafts))
}

/// A value shortened for a comment line.
fn brief(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let text = text.replace('\n', " ");
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// `["KEY=VALUE", …]` (or a map) as pairs.
fn environment(value: &Value, notes: &mut Vec<String>, at: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    match value {
        Value::Array(items) => {
            for item in items {
                match item.as_str().and_then(|s| s.split_once('=')) {
                    Some((k, v)) => pairs.push((k.to_string(), v.to_string())),
                    None => notes.push(format!("{at}: `{}` is not KEY=VALUE", brief(item))),
                }
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                pairs.push((
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                ));
            }
        }
        other => notes.push(format!("{at} ({})", brief(other))),
    }
    pairs
}

fn seconds(value: &Value) -> Option<toml::Value> {
    match value.as_u64() {
        Some(n) => Some(toml::Value::Integer(i64::try_from(n).ok()?)),
        None => value
            .as_f64()
            .filter(|f| *f >= 0.0)
            .map(|f| toml::Value::String(format!("{}ms", (f * 1000.0).round() as u64))),
    }
}

fn translate_process(name: &str, process: &Value, global_env: &[(String, String)]) -> Draft {
    let mut draft = Draft::new(name);
    let Some(fields) = process.as_object() else {
        draft
            .notes
            .push(format!("`{name}` is not a map ({})", brief(process)));
        return draft;
    };
    let mut env: Vec<(String, String)> = global_env.to_vec();
    let mut readiness: Option<toml::Value> = None;
    let mut port: Option<u64> = None;
    for (key, value) in fields {
        let note = |notes: &mut Vec<String>| notes.push(format!("`{key}` ({})", brief(value)));
        match (key.as_str(), value) {
            ("command", Value::String(command)) => draft.set("command", command.as_str()),
            ("working_dir", Value::String(dir)) => draft.set("cwd", dir.as_str()),
            ("description", Value::String(text)) => draft.about.push(text.replace('\n', " ")),
            ("environment", _) => {
                for (k, v) in environment(value, &mut draft.notes, "environment") {
                    env.retain(|(old, _)| *old != k);
                    env.push((k, v));
                }
            }
            ("replicas", Value::Number(n)) if n.as_u64().is_some_and(|n| n > 1) => {
                draft.set("replicas", n.as_i64().unwrap_or(1));
            }
            ("replicas", _) => {}
            ("disabled", Value::Bool(true)) => {
                draft.set("profiles", vec!["disabled"]);
                draft.about.push(
                    "disabled in process-compose: starts only with `reaper up --profile disabled` or by name"
                        .into(),
                );
            }
            ("disabled", Value::Bool(false)) => {}
            ("depends_on", Value::Object(deps)) => {
                let mut table = toml::Table::new();
                for (dep, condition) in deps {
                    let condition = condition
                        .get("condition")
                        .and_then(Value::as_str)
                        .unwrap_or("process_started");
                    let reaper_condition = match condition {
                        "process_started" => "started",
                        "process_healthy" => "healthy",
                        "process_completed_successfully" => "completed_successfully",
                        "process_log_ready" => "log_ready",
                        other => {
                            draft.notes.push(format!(
                                "depends_on.{dep}.condition = {other}: reaper waits until `{dep}` has started"
                            ));
                            "started"
                        }
                    };
                    table.insert(service_name(dep), reaper_condition.into());
                }
                draft.set("depends_on", toml::Value::Table(table));
            }
            ("availability", Value::Object(availability)) => {
                for (k, v) in availability {
                    match (k.as_str(), v.as_str()) {
                        ("restart", Some("on_failure")) => draft.set("restart", "on-failure"),
                        ("restart", Some(policy @ ("always" | "no"))) => {
                            draft.set("restart", policy)
                        }
                        ("backoff_seconds", _) => match seconds(v) {
                            Some(backoff) => draft.set("backoff", backoff),
                            None => draft.notes.push(format!("availability.{k} ({})", brief(v))),
                        },
                        ("max_restarts", _) => match v.as_i64().filter(|n| *n >= 0) {
                            Some(n) => draft.set("max_restarts", n),
                            None => draft.notes.push(format!("availability.{k} ({})", brief(v))),
                        },
                        _ => draft.notes.push(format!("availability.{k} ({})", brief(v))),
                    }
                }
            }
            ("shutdown", Value::Object(shutdown)) => {
                for (k, v) in shutdown {
                    let signal = v
                        .as_u64()
                        .and_then(|n| n.to_string().parse::<crate::signal::Signal>().ok());
                    match (k.as_str(), signal, seconds(v)) {
                        ("signal", Some(signal), _) => draft.set("stop_signal", signal.to_string()),
                        ("timeout_seconds", _, Some(timeout)) => draft.set("stop_timeout", timeout),
                        _ => draft.notes.push(format!("shutdown.{k} ({})", brief(v))),
                    }
                }
            }
            ("ready_log_line", Value::String(line)) if readiness.is_none() => {
                let mut ready = toml::Table::new();
                ready.insert("log".into(), regex::escape(line).into());
                readiness = Some(toml::Value::Table(ready));
            }
            ("readiness_probe", Value::Object(probe)) => {
                let http = probe.get("http_get").and_then(Value::as_object);
                let scheme = http
                    .and_then(|h| h.get("scheme"))
                    .and_then(Value::as_str)
                    .unwrap_or("http");
                match http {
                    Some(http) if scheme == "http" => {
                        let host = http
                            .get("host")
                            .and_then(Value::as_str)
                            .unwrap_or("127.0.0.1");
                        let path = http.get("path").and_then(Value::as_str).unwrap_or("/");
                        port = http.get("port").and_then(Value::as_u64);
                        let url = match port {
                            Some(p) => format!("http://{host}:{p}{path}"),
                            None => format!("http://{host}{path}"),
                        };
                        let mut ready = toml::Table::new();
                        ready.insert("http".into(), url.into());
                        readiness = Some(toml::Value::Table(ready));
                        for (k, v) in probe {
                            if k != "http_get" {
                                draft
                                    .notes
                                    .push(format!("readiness_probe.{k} ({})", brief(v)));
                            }
                        }
                    }
                    _ => note(&mut draft.notes),
                }
            }
            _ => note(&mut draft.notes),
        }
    }
    if !draft.keys.iter().any(|(key, _)| key == "command") {
        draft.notes.push(
            "no `command`: add command = \"...\" (process-compose's entrypoint has no equivalent)"
                .into(),
        );
    }
    if let Some(port) = port.and_then(|p| i64::try_from(p).ok()) {
        draft.set("port", port);
    }
    if !env.is_empty() {
        let table: toml::Table = env
            .into_iter()
            .map(|(k, v)| (k, toml::Value::from(v)))
            .collect();
        draft.set("env", toml::Value::Table(table));
    }
    if let Some(ready) = readiness {
        draft.set("ready", ready);
    }
    draft
}
