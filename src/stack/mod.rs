//! Stacks: the services of a project, declared in `reaper.toml` (or, without one, a `Procfile`
//! and `.env` as foreman reads them), resolved into [`Service`]s with dependencies, readiness
//! probes, restart policies and stop settings; the environment [`checks`] that must pass before
//! anything starts; and the supervisor's status file ([`status`]) that `reaper ps`, `reaper up
//! -d` and `reaper down` read ([`control`]).
//!
//! Stack services are ordinary managed services: each has a record (with [`Record::stack`]
//! set), a keeper, a marker and a log, so `status`, `stop`, `restart`, `logs`, `doctor` and
//! recovery after the supervisor is killed all work through the same records.
//!
//! [`Record::stack`]: crate::state::Record::stack

pub mod checks;
pub mod config;
pub mod control;
pub mod import;
pub mod interpolate;
pub mod probe;
pub mod procfile;
pub mod profiles;
pub mod replicas;
pub mod status;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use config::{
    DependencyCondition, DoctorConfig, RestartPolicy, SUPERVISOR_NAME, ServiceKind, json_schema,
};

use crate::signal::Signal;

/// Where a stack was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `reaper.toml`.
    Toml,
    /// A `Procfile` (with `.env`), as foreman and honcho read it.
    Procfile,
}

/// A validated stack.
#[derive(Debug)]
pub struct Stack {
    /// Absolute path of `reaper.toml` or the `Procfile`.
    pub file: PathBuf,
    /// The directory holding it: relative paths are resolved against it.
    pub root: PathBuf,
    /// What kind of file it is.
    pub source: Source,
    /// Services, in the order they are declared.
    pub services: Vec<Service>,
    /// `[checks]`.
    pub checks: Checks,
    /// `[doctor]`.
    pub doctor: DoctorConfig,
}

/// One service of a stack, resolved.
#[derive(Debug, Clone)]
pub struct Service {
    /// Name (also the record's name).
    pub name: String,
    /// Program and arguments (a shell string becomes `sh -c STRING`).
    pub argv: Vec<String>,
    /// Working directory (absolute).
    pub cwd: PathBuf,
    /// Declared port.
    pub port: Option<u16>,
    /// Take the next free port when `port` is in use.
    pub fallback: bool,
    /// `env` values, applied after the env files.
    pub env: Vec<(String, String)>,
    /// Env files (absolute), read in order.
    pub env_files: Vec<PathBuf>,
    /// Services that must be ready first.
    pub depends_on: Vec<String>,
    /// Readiness probe (`None`: the port if there is one, else ready once running).
    pub ready: Option<Readiness>,
    /// Time allowed to become ready.
    pub ready_timeout: Duration,
    /// Restart policy.
    pub restart: RestartPolicy,
    /// Consecutive restarts allowed.
    pub max_restarts: u32,
    /// First restart delay.
    pub backoff: Duration,
    /// Longest restart delay; also the uptime after which the restart count starts again.
    pub max_backoff: Duration,
    /// Graceful stop signal.
    pub stop_signal: Signal,
    /// Time before SIGKILL.
    pub stop_timeout: Duration,
    /// Start each log line with its time.
    pub log_timestamps: bool,
    /// Line of the declaration, for messages.
    pub line: usize,
    /// Profiles the service belongs to (empty: it always starts).
    pub profiles: Vec<String>,
    /// For a copy of a service with `replicas`, the name of that service (`web` for `web.2`).
    pub replica_of: Option<String>,
    /// A service or a one-shot task.
    pub kind: ServiceKind,
    /// The condition each of `depends_on` must meet before this one starts.
    pub conditions: BTreeMap<String, DependencyCondition>,
    /// Files whose change restarts it.
    pub watch: Option<Watch>,
}

/// `watch` of a service, compiled.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The globs as written, relative to the stack's root.
    pub patterns: Vec<String>,
    /// The `watch_ignore` globs as written.
    pub ignore_patterns: Vec<String>,
    /// `watch`.
    pub include: globset::GlobSet,
    /// `watch_ignore`.
    pub exclude: globset::GlobSet,
    /// Quiet time before the restart.
    pub debounce: Duration,
    /// Restart the dependents too.
    pub restart_dependents: bool,
}

impl Service {
    /// The probe that decides readiness, with the port the service actually got (`port`, which
    /// differs from the declared one after a fallback): a probe that names the declared port
    /// follows the service to its actual port.
    pub fn probe(&self, port: Option<u16>) -> Option<Readiness> {
        let follow = |p: u16| match (self.port, port) {
            (Some(declared), Some(actual)) if declared == p => actual,
            _ => p,
        };
        match &self.ready {
            Some(Readiness::Tcp(p)) => Some(Readiness::Tcp(follow(*p))),
            Some(Readiness::Http(url)) => {
                let mut url = url.clone();
                if let Some(actual) = port {
                    url = url
                        .replace("${PORT}", &actual.to_string())
                        .replace("$PORT", &actual.to_string());
                    if let Some(target) =
                        HttpTarget::parse(&url).filter(|t| Some(t.port) == self.port)
                    {
                        url = target.with_port(actual);
                    }
                }
                Some(Readiness::Http(url))
            }
            Some(Readiness::Log(regex)) => Some(Readiness::Log(regex.clone())),
            None => port.map(Readiness::Tcp),
        }
    }
}

/// When a service counts as ready.
#[derive(Debug, Clone)]
pub enum Readiness {
    /// The port accepts TCP connections on 127.0.0.1 or ::1.
    Tcp(u16),
    /// An HTTP GET of the URL answers 2xx or 3xx.
    Http(String),
    /// A line of the service's output matches.
    Log(regex::Regex),
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Readiness::Tcp(port) => write!(f, "tcp {port}"),
            Readiness::Http(url) => write!(f, "http {url}"),
            Readiness::Log(regex) => write!(f, "log /{}/", regex.as_str()),
        }
    }
}

/// `[checks]`, resolved.
#[derive(Debug, Default, Clone)]
pub struct Checks {
    /// Files that must exist (as written, relative to the root) and the line declaring them.
    pub files: Vec<(String, usize)>,
    /// Groups of variables that must be set and equal, and the line declaring each group.
    pub same: Vec<(Vec<VarRef>, usize)>,
    /// Programs that must be found, and the line declaring them.
    pub commands: Vec<(String, usize)>,
}

/// `FILE:VARIABLE` in `[checks] same`.
#[derive(Debug, Clone)]
pub struct VarRef {
    /// The file as written.
    pub file: String,
    /// The file, absolute.
    pub path: PathBuf,
    /// The variable.
    pub var: String,
}

impl fmt::Display for VarRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.var)
    }
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as shown to the user.
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Why a stack could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Neither `reaper.toml` nor a `Procfile` was found, or the file named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration is invalid; every problem found.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigError>),
}

/// A configuration file that was found (not yet read).
#[derive(Debug, Clone)]
pub struct Located {
    /// Absolute path.
    pub path: PathBuf,
    /// Path as shown to the user (relative to the current directory when below it).
    pub shown: String,
    /// `reaper.toml` or `Procfile`.
    pub source: Source,
}

impl Located {
    /// The project root: the directory holding the file.
    pub fn root(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("/"))
    }
}

/// File name of a Procfile.
pub const PROCFILE: &str = "Procfile";

/// Finds the stack's file: `file` if given (a file named `Procfile…` is read as a Procfile),
/// else `reaper.toml` in `cwd` or its nearest ancestor that has one, else a `Procfile` in
/// `cwd`.
pub fn locate(file: Option<&Path>, cwd: &Path) -> Result<Located, LoadError> {
    let found = |path: PathBuf| {
        let source = match path.file_name().and_then(|n| n.to_str()) {
            Some(name) if name.starts_with(PROCFILE) => Source::Procfile,
            _ => Source::Toml,
        };
        Located {
            shown: config::shown_path(&path, cwd),
            path,
            source,
        }
    };
    if let Some(file) = file {
        let path = cwd.join(file);
        if path.is_file() {
            return Ok(found(path));
        }
        return Err(LoadError::NotFound(format!(
            "{} does not exist (or is not a file)",
            file.display()
        )));
    }
    if let Some(dir) = cwd
        .ancestors()
        .find(|dir| dir.join(crate::state::PROJECT_FILE).is_file())
    {
        return Ok(found(dir.join(crate::state::PROJECT_FILE)));
    }
    let procfile = cwd.join(PROCFILE);
    if procfile.is_file() {
        return Ok(found(procfile));
    }
    Err(LoadError::NotFound(format!(
        "no reaper.toml in {} or any parent directory, and no Procfile in it (create one, or pass -f FILE)",
        cwd.display()
    )))
}

/// Reads and validates the stack at `located`.
pub fn load(located: &Located) -> Result<Stack, LoadError> {
    let text = std::fs::read_to_string(&located.path).map_err(|source| LoadError::Io {
        path: located.shown.clone(),
        source,
    })?;
    match located.source {
        Source::Toml => {
            let file = config::parse_file(&located.shown, &text, located.root())
                .map_err(LoadError::Invalid)?;
            config::validate(file, &located.path, &located.shown, &text).map_err(LoadError::Invalid)
        }
        Source::Procfile => procfile::load(&located.path, &located.shown, &text),
    }
}

impl Stack {
    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The copies of a service declared with `replicas` (empty for any other name).
    pub fn copies_of(&self, name: &str) -> Vec<String> {
        self.services
            .iter()
            .filter(|s| s.replica_of.as_deref() == Some(name))
            .map(|s| s.name.clone())
            .collect()
    }

    /// The services to start for `requested` (every service when empty): those named (a service
    /// with replicas: all its copies) and, transitively, their dependencies, in declaration
    /// order.
    pub fn selection(&self, requested: &[String]) -> Result<Vec<String>, String> {
        if requested.is_empty() {
            return Ok(self.services.iter().map(|s| s.name.clone()).collect());
        }
        let mut wanted: Vec<String> = Vec::new();
        let mut stack: Vec<String> = Vec::new();
        for name in requested {
            let copies = self.copies_of(name);
            if !copies.is_empty() {
                stack.extend(copies);
                continue;
            }
            if self.service(name).is_none() {
                let names: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
                let hint = match closest(name, names.iter().copied()) {
                    Some(near) => format!(" (did you mean `{near}`?)"),
                    None => String::new(),
                };
                return Err(format!(
                    "no service `{name}` in the stack{hint}; services: {}",
                    names.join(", ")
                ));
            }
            stack.push(name.clone());
        }
        while let Some(name) = stack.pop() {
            if wanted.contains(&name) {
                continue;
            }
            if let Some(service) = self.service(&name) {
                stack.extend(service.depends_on.iter().cloned());
            }
            wanted.push(name);
        }
        Ok(self
            .services
            .iter()
            .filter(|s| wanted.contains(&s.name))
            .map(|s| s.name.clone())
            .collect())
    }

    /// `selected` (closed over dependencies) grouped into levels: every service's dependencies
    /// are in earlier levels. Services of one level start in parallel; levels stop in reverse.
    pub fn levels(&self, selected: &[String]) -> Vec<Vec<String>> {
        let deps: HashMap<&str, Vec<&str>> = self
            .services
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.depends_on.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        levels_of(selected, |name| deps.get(name).cloned().unwrap_or_default())
    }
}

/// Groups `names` into dependency levels given each name's dependencies (which are ignored when
/// not among `names`; cycles are broken arbitrarily).
pub fn levels_of<'a>(
    names: &'a [String],
    deps_of: impl Fn(&str) -> Vec<&'a str>,
) -> Vec<Vec<String>> {
    fn level<'a>(
        name: &'a str,
        names: &'a [String],
        deps_of: &dyn Fn(&str) -> Vec<&'a str>,
        memo: &mut HashMap<&'a str, usize>,
        visiting: &mut Vec<&'a str>,
    ) -> usize {
        if let Some(level) = memo.get(name) {
            return *level;
        }
        if visiting.contains(&name) {
            return 0;
        }
        visiting.push(name);
        let mut result = 0;
        for dep in deps_of(name) {
            if names.iter().any(|n| n == dep) {
                result = result.max(level(dep, names, deps_of, memo, visiting) + 1);
            }
        }
        visiting.pop();
        memo.insert(name, result);
        result
    }
    let mut memo = HashMap::new();
    let mut out: Vec<Vec<String>> = Vec::new();
    for name in names {
        let l = level(name, names, &deps_of, &mut memo, &mut Vec::new());
        if out.len() <= l {
            out.resize(l + 1, Vec::new());
        }
        out[l].push(name.clone());
    }
    out.retain(|level| !level.is_empty());
    out
}

/// Every dependency cycle, each as the path that closes it (`[a, b, a]`), found once.
pub(crate) fn find_cycles(services: &[Service]) -> Vec<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        index: usize,
        services: &[Service],
        marks: &mut [Mark],
        path: &mut Vec<usize>,
        cycles: &mut Vec<Vec<String>>,
    ) {
        marks[index] = Mark::Active;
        path.push(index);
        for dep in &services[index].depends_on {
            let Some(next) = services.iter().position(|s| &s.name == dep) else {
                continue;
            };
            match marks[next] {
                Mark::New => visit(next, services, marks, path, cycles),
                Mark::Active => {
                    let from = path.iter().position(|i| *i == next).unwrap_or(0);
                    let mut cycle: Vec<String> = path[from..]
                        .iter()
                        .map(|i| services[*i].name.clone())
                        .collect();
                    cycle.push(services[next].name.clone());
                    cycles.push(cycle);
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks[index] = Mark::Done;
    }
    let mut marks = vec![Mark::New; services.len()];
    let mut cycles = Vec::new();
    for index in 0..services.len() {
        if marks[index] == Mark::New {
            visit(index, services, &mut marks, &mut Vec::new(), &mut cycles);
        }
    }
    cycles
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut previous = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let current = row[j + 1];
                row[j + 1] = if ca == *cb {
                    previous
                } else {
                    1 + previous.min(row[j]).min(row[j + 1])
                };
                previous = current;
            }
        }
        row[b.len()]
    }
    candidates
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= (c.chars().count().max(word.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A parsed `http://HOST[:PORT][/PATH]` URL, as the readiness probe uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// Host as written (brackets kept for IPv6 literals).
    pub host: String,
    /// Port (80 when not given).
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

impl HttpTarget {
    /// Parses a plain-http URL; `None` for anything else.
    pub fn parse(url: &str) -> Option<HttpTarget> {
        let rest = url.strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = if let Some(end) = authority.strip_prefix('[').and_then(|a| a.find(']'))
        {
            let host = &authority[..end + 2];
            let port = authority[end + 2..].strip_prefix(':');
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host.contains('@') {
            return None;
        }
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0)?,
            None => 80,
        };
        Some(HttpTarget {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// The same URL with another port.
    pub fn with_port(&self, port: u16) -> String {
        format!("http://{}:{port}{}", self.host, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls() {
        let t = HttpTarget::parse("http://127.0.0.1:8001/health?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8001, "/health?x=1")
        );
        let t = HttpTarget::parse("http://[::1]:9/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("[::1]", 9));
        assert_eq!(HttpTarget::parse("http://localhost").unwrap().port, 80);
        assert!(HttpTarget::parse("https://x/").is_none());
        assert!(HttpTarget::parse("http://:80/").is_none());
    }

    #[test]
    fn suggestions() {
        let names = ["command", "cwd", "depends_on"];
        assert_eq!(closest("comand", names.iter().copied()), Some("command"));
        assert_eq!(closest("zzz", names.iter().copied()), None);
    }

    #[test]
    fn levels_follow_dependencies() {
        let names: Vec<String> = ["web", "api", "db", "cache"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let levels = levels_of(&names, |n| match n {
            "web" => vec!["api"],
            "api" => vec!["db", "cache"],
            _ => vec![],
        });
        assert_eq!(levels, vec![vec!["db", "cache"], vec!["api"], vec!["web"]]);
    }
}
