//! State directory discovery, records, per-name locks and atomic writes.
//!
//! Layout under the project root (the nearest ancestor holding `reaper.toml`, else the current
//! directory, else `--state-dir`):
//! ```text
//! .run/NAME.pid        the bare pid and a newline, for every tool that reads pid files
//! .run/NAME.json       the record: identity, argv, cwd, env names, port, log, marker
//! .run/NAME.exit.json  written by the keeper when the leader exits: code or signal
//! .run/NAME.env        --env values (mode 0600), needed by `restart`; never printed
//! .run/.locks/NAME     lock files serialising commands on one name
//! .logs/NAME.log       the service's stdout and stderr
//! .logs/reaper.log     every action reaper took, with a timestamp
//! ```
//!
//! Everything here is input: files are opened through [`files`] (no symbolic links, regular
//! files only, created 0600 in directories created 0700), and [`StateDir::check_trusted`]
//! refuses a state directory someone else could have written to.

pub mod files;
mod record;

pub use record::*;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// File name that marks a project root.
pub const PROJECT_FILE: &str = "reaper.toml";

/// Problems with the state directory or a record in it.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The service name cannot be used as a file name.
    #[error(
        "invalid service name '{}': use 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'",
        crate::text::escape(.0)
    )]
    InvalidName(String),
    /// The service name would collide with one of reaper's own files.
    #[error("the service name '{name}' is reserved: {why}; choose another name")]
    ReservedName {
        /// The name.
        name: String,
        /// Which file of reaper's it would collide with.
        why: String,
    },
    /// The state directory, or a file reaper would trust in it, may have been written by
    /// someone else.
    #[error(
        "not trusting {path}: {why}; fix its owner or mode (e.g. chmod go-w), or set {TRUST_ENV}=1 if it is safe"
    )]
    Untrusted {
        /// The directory or file.
        path: PathBuf,
        /// Who else could have written it.
        why: String,
    },
    /// The state directory could not be created or written.
    #[error("state directory {path} is not usable: {source} (pass a writable --state-dir)")]
    Unusable {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Reading or writing one state file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A record that cannot be read; it is left untouched.
    #[error(
        "record {path} is unreadable ({why}); it was left as is: inspect it, then remove it by hand"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A record written by a newer reaper; it is left untouched.
    #[error(
        "record {path} has schema {found}, newer than this reaper understands ({supported}); upgrade reaper"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Schema found.
        found: u64,
        /// Newest schema this build reads.
        supported: u32,
    },
}

/// Name of the action log under `.logs/`.
pub const ACTION_LOG: &str = "reaper.log";
/// Name of `reaper watch`'s log under `.logs/`.
pub const WATCH_LOG: &str = "zombie-detection.log";
/// Name of the supervisor's own record when it runs detached (`reaper up -d`); `reaper status`,
/// `stop` and `logs` accept it, but no service may be started under it.
pub const SUPERVISOR_NAME: &str = "_stack";
/// Set to `1` to use a state directory or `reaper.toml` that [`StateDir::check_trusted`] would
/// refuse.
pub const TRUST_ENV: &str = "REAPER_TRUST_STATE_DIR";

/// Checks that `name` is usable as a service name: usable as a file name (1-64 ASCII letters,
/// digits, `.`, `_`, `-`, not starting with `.` or `-`), and not one whose files would be
/// reaper's own (compared without case, as on case-insensitive file systems):
/// - ending in `.exit`: `.run/NAME.exit.json` is where the keeper of service `NAME` minus
///   `.exit` writes its exit status, so the record would be mistaken for (and removed as) one;
/// - `reaper` and `zombie-detection`: `.logs/NAME.log` is the action log or `reaper watch`'s log.
///
/// The other files (`NAME.json`, `NAME.pid`, `NAME.env`, `.locks/NAME`, `NAME.log.N`,
/// `NAME.log.removed-PID-NANOS` (a discarded generation on its way out),
/// dot-files such as `.stack.json`) cannot collide: no name starts with a dot, and each
/// suffix is distinct.
pub fn validate_name(name: &str) -> Result<(), StateError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let ok = !name.is_empty()
        && name.len() <= 64
        && ok_chars
        && !name.starts_with('.')
        && !name.starts_with('-');
    if !ok {
        return Err(StateError::InvalidName(name.to_string()));
    }
    let lower = name.to_ascii_lowercase();
    let reserved = |why: String| {
        Err(StateError::ReservedName {
            name: name.to_string(),
            why,
        })
    };
    if let Some(other) = lower.strip_suffix(".exit") {
        return reserved(format!(
            "its record .run/{name}.json would be taken for the exit status of service '{other}' (names may not end in '.exit')"
        ));
    }
    let log = format!("{lower}.log");
    if [ACTION_LOG, WATCH_LOG].contains(&log.as_str()) {
        return reserved(format!("its log would be reaper's own .logs/{log}"));
    }
    Ok(())
}

/// [`validate_name`] for a service about to be created: [`SUPERVISOR_NAME`] is refused too, since
/// `reaper up -d` and `reaper down` would take the service for the stack's supervisor.
pub fn validate_new_name(name: &str) -> Result<(), StateError> {
    validate_name(name)?;
    if name.eq_ignore_ascii_case(SUPERVISOR_NAME) {
        return Err(StateError::ReservedName {
            name: name.to_string(),
            why: "it is the record of the stack supervisor `reaper up -d` runs".into(),
        });
    }
    Ok(())
}

/// Where records and logs live.
#[derive(Debug, Clone)]
pub struct StateDir {
    /// The project root that holds `.run/` and `.logs/`.
    pub root: PathBuf,
}

impl StateDir {
    /// `explicit` if given, else the nearest ancestor of `cwd` holding `reaper.toml`, else `cwd`.
    pub fn discover(explicit: Option<&Path>, cwd: &Path) -> StateDir {
        let root = match explicit {
            Some(dir) if dir.is_absolute() => dir.to_path_buf(),
            Some(dir) => cwd.join(dir),
            None => cwd
                .ancestors()
                .find(|dir| dir.join(PROJECT_FILE).is_file())
                .unwrap_or(cwd)
                .to_path_buf(),
        };
        StateDir { root }
    }

    /// Refuses a state directory that someone else could have written to (as git refuses a
    /// repository owned by another user): the root, `.run/`, `.run/.locks/`, `.logs/` and
    /// `reaper.toml` in the root, those that exist, must belong to the user running reaper (or
    /// to root) and not be writable by group or others. Records there name processes to signal
    /// and logs to write; a `reaper.toml` names commands to run. Windows relies on ACLs.
    pub fn check_trusted(&self) -> Result<(), StateError> {
        for path in [
            self.root.clone(),
            self.run_dir(),
            self.run_dir().join(".locks"),
            self.log_dir(),
            self.root.join(PROJECT_FILE),
        ] {
            check_trusted(&path)?;
        }
        Ok(())
    }

    /// Refuses a state directory reaper cannot use, before a command reads or writes in it: the
    /// root, `.run/`, `.run/.locks/` and `.logs/`, those that exist, must be directories, and
    /// `.run/` must be readable. (Missing ones are fine: [`StateDir::ensure`] creates them.)
    pub fn check_usable(&self) -> Result<(), StateError> {
        let unusable = |path: PathBuf, source| Err(StateError::Unusable { path, source });
        for path in [
            self.root.clone(),
            self.run_dir(),
            self.run_dir().join(".locks"),
            self.log_dir(),
        ] {
            match fs::metadata(&path) {
                Ok(meta) if !meta.is_dir() => {
                    return unusable(path, io::Error::from(io::ErrorKind::NotADirectory));
                }
                Err(e) if e.kind() != io::ErrorKind::NotFound => return unusable(path, e),
                _ => {}
            }
        }
        match fs::read_dir(self.run_dir()) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => unusable(self.run_dir(), e),
            _ => Ok(()),
        }
    }

    /// `.run/` under the root.
    pub fn run_dir(&self) -> PathBuf {
        self.root.join(".run")
    }

    /// `.logs/` under the root.
    pub fn log_dir(&self) -> PathBuf {
        self.root.join(".logs")
    }

    /// Creates `.run/` and `.logs/` if needed and checks they can be written.
    pub fn ensure(&self) -> Result<(), StateError> {
        for dir in [self.run_dir().join(".locks"), self.log_dir()] {
            files::create_dir_all(&dir).map_err(|source| StateError::Unusable {
                path: dir.clone(),
                source,
            })?;
            // Unique per call: threads of one process may check the same directory at once.
            static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let probe = dir.join(format!(".probe-{}-{n}", std::process::id()));
            files::create_new(&probe)
                .and_then(|_| fs::remove_file(&probe))
                .map_err(|source| StateError::Unusable {
                    path: dir.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// `.run/NAME.json`.
    pub fn record_path(&self, name: &str) -> PathBuf {
        self.run_dir().join(format!("{name}.json"))
    }

    /// `.run/NAME.pid`.
    pub fn pid_path(&self, name: &str) -> PathBuf {
        self.run_dir().join(format!("{name}.pid"))
    }

    /// `.run/NAME.exit.json`.
    pub fn exit_path(&self, name: &str) -> PathBuf {
        self.run_dir().join(format!("{name}.exit.json"))
    }

    /// `.run/NAME.env`.
    pub fn env_path(&self, name: &str) -> PathBuf {
        self.run_dir().join(format!("{name}.env"))
    }

    /// Default log file of a service: `.logs/NAME.log`.
    pub fn default_log_path(&self, name: &str) -> PathBuf {
        self.log_dir().join(format!("{name}.log"))
    }

    /// Takes the exclusive lock for `name`, waiting for other reaper commands on that name.
    pub fn lock(&self, name: &str) -> Result<NameLock, StateError> {
        validate_name(name)?;
        self.lock_file(name)
    }

    /// Takes the exclusive lock of the stack status file, held while it is written (a name
    /// cannot start with a dot, so its lock file cannot be a service's).
    pub fn lock_stack_status(&self) -> Result<NameLock, StateError> {
        self.lock_file(".stack.json")
    }

    fn lock_file(&self, name: &str) -> Result<NameLock, StateError> {
        let dir = self.run_dir().join(".locks");
        files::create_dir_all(&dir).map_err(|source| StateError::Io {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(name);
        let file = files::open_lock(&path).map_err(|source| {
            // Every command on a name takes its lock first, so on a read-only state directory
            // this is where it fails: name the directory as the problem, with the way out.
            if source.kind() == io::ErrorKind::ReadOnlyFilesystem {
                StateError::Unusable {
                    path: dir.clone(),
                    source,
                }
            } else {
                StateError::Io {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        crate::os::lock_exclusive(&file).map_err(|source| StateError::Io { path, source })?;
        Ok(NameLock { _file: file })
    }
}

/// Refuses `path` if someone other than the user running reaper (or root) could have written
/// it: see [`StateDir::check_trusted`]. A path that does not exist is fine (reaper creates it
/// private). The parent is not judged: a private state directory inside `/tmp` is trusted.
pub fn check_trusted(path: &Path) -> Result<(), StateError> {
    match fs::metadata(path) {
        Ok(meta) => match crate::os::untrusted_because(&meta) {
            Some(why) => Err(StateError::Untrusted {
                path: path.to_path_buf(),
                why,
            }),
            None => Ok(()),
        },
        Err(_) => Ok(()),
    }
}

/// Held while a command works on one name; released on drop.
#[derive(Debug)]
pub struct NameLock {
    _file: fs::File,
}

/// Writes `contents` to `path` atomically: a new temporary file beside it (created exclusively,
/// mode 0600 from the start on Unix), fsync, rename. The rename replaces whatever is at `path`,
/// a symbolic link included, without following it; the old file's mode and owner are not
/// carried over.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), StateError> {
    let io_err = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut options = atomic_write_file::AtomicWriteFile::options();
    #[cfg(unix)]
    {
        use atomic_write_file::unix::OpenOptionsExt as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        options
            .mode(0o600)
            .preserve_mode(false)
            .preserve_owner(false);
    }
    let mut file = options.open(path).map_err(io_err)?;
    file.write_all(contents).map_err(io_err)?;
    file.commit().map_err(io_err)
}

/// Removes a file; a file that is already gone is fine.
pub fn remove_if_present(path: &Path) -> Result<(), StateError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StateError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}
