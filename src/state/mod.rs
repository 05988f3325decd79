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

mod record;

pub use record::*;

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// File name that marks a project root.
pub const PROJECT_FILE: &str = "reaper.toml";

/// Problems with the state directory or a record in it.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The service name cannot be used as a file name.
    #[error(
        "invalid service name '{0}': use 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
    )]
    InvalidName(String),
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

/// Checks that `name` is usable as a service name (and so as a file name).
pub fn validate_name(name: &str) -> Result<(), StateError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let ok = !name.is_empty()
        && name.len() <= 64
        && ok_chars
        && !name.starts_with('.')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidName(name.to_string()))
    }
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
            fs::create_dir_all(&dir).map_err(|source| StateError::Unusable {
                path: dir.clone(),
                source,
            })?;
            // Unique per call: threads of one process may check the same directory at once.
            static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let probe = dir.join(format!(".probe-{}-{n}", std::process::id()));
            File::create(&probe)
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
        let dir = self.run_dir().join(".locks");
        fs::create_dir_all(&dir).map_err(|source| StateError::Io {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(name);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StateError::Io {
                path: path.clone(),
                source,
            })?;
        crate::os::lock_exclusive(&file).map_err(|source| StateError::Io { path, source })?;
        Ok(NameLock { _file: file })
    }
}

/// Held while a command works on one name; released on drop.
#[derive(Debug)]
pub struct NameLock {
    _file: File,
}

/// Writes `contents` to `path` atomically (temporary file, fsync, rename), with `mode` on Unix.
pub fn write_atomic(path: &Path, contents: &[u8], private: bool) -> Result<(), StateError> {
    let io_err = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = atomic_write_file::AtomicWriteFile::open(path).map_err(io_err)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io_err)?;
    }
    #[cfg(not(unix))]
    let _ = private;
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
