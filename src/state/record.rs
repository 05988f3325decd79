//! Records (`NAME.json` + `NAME.pid`), exit records, and strict pid-file parsing.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{StateDir, StateError, files, remove_if_present, validate_name, write_atomic};
use crate::identity::ProcessRef;
use crate::process::Pid;

/// Newest record schema this build reads and the one it writes.
pub const RECORD_SCHEMA: u32 = 1;

/// Everything reaper knows about one managed service run (`NAME.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Always [`RECORD_SCHEMA`] when written by this build.
    pub schema: u32,
    /// Service name.
    pub name: String,
    /// Random id of this run; also in the marker.
    pub run_id: String,
    /// The service's first process.
    pub leader: ProcessRef,
    /// The keeper that reaps the service's tree.
    pub keeper: Option<ProcessRef>,
    /// Command and arguments.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Names (never values) of variables set with `--env`.
    pub env_names: Vec<String>,
    /// Env files read at start, in order.
    pub env_files: Vec<PathBuf>,
    /// Port the service was started on, if any.
    pub port: Option<u16>,
    /// Log file receiving stdout and stderr.
    pub log: PathBuf,
    /// RFC 3339 time of the start.
    pub started_at: String,
    /// Marker value every member of the tree carries.
    pub marker: String,
    /// For a service of a stack (`reaper up`): the stack's configuration file. Absent in
    /// records of plain `reaper start` services and in records written before stacks existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// The cgroup holding the service's processes (Linux, where cgroup v2 is usable). Absent
    /// for session + marker containment and in records written before cgroups were used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<PathBuf>,
}

/// How the leader ended, written by the keeper (`NAME.exit.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Run this exit belongs to.
    pub run_id: String,
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal number, if a signal ended it.
    pub signal: Option<i32>,
    /// RFC 3339 time of the exit.
    pub at: String,
}

/// What a name in the state directory holds.
#[derive(Debug)]
pub enum Entry {
    /// A readable record.
    Record(Box<Record>),
    /// Only a `NAME.pid` written by another tool: no identity, so it is never signalled.
    PidOnly {
        /// Service name.
        name: String,
        /// The pid, or why the file is not a valid pid file.
        pid: Result<Pid, PidFileError>,
    },
    /// A record that cannot be read.
    Broken {
        /// Service name.
        name: String,
        /// What is wrong.
        error: StateError,
    },
}

impl Entry {
    /// The service name of this entry.
    pub fn name(&self) -> &str {
        match self {
            Entry::Record(record) => &record.name,
            Entry::PidOnly { name, .. } | Entry::Broken { name, .. } => name,
        }
    }
}

/// Why a pid file is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PidFileError {
    /// Could not be read.
    #[error("cannot read it: {0}")]
    Unreadable(String),
    /// A symbolic link, which reaper never follows for pid files.
    #[error("it is a symbolic link; reaper does not follow links for pid files")]
    Symlink,
    /// Empty.
    #[error("it is empty")]
    Empty,
    /// Not a plain decimal number.
    #[error("'{0}' is not a pid (expected digits, then an optional newline)")]
    NotANumber(String),
    /// 0, 1, or larger than any pid.
    #[error("{0} is not a usable pid (must be 2 to 4194304)")]
    OutOfRange(String),
}

/// Largest pid Linux can hand out (`PID_MAX_LIMIT`); other platforms are lower.
const PID_MAX: u64 = 4_194_304;

/// Reads a pid file strictly: a regular file holding only decimal digits and an optional
/// line ending (`\n` or `\r\n`), with a pid from 2 to `PID_MAX`. Text encodings Windows tools
/// write are accepted: UTF-8 with a byte-order mark, and UTF-16LE with one (PowerShell 5's
/// `Out-File` and `>`).
pub fn read_pid_file(path: &Path) -> Result<Pid, PidFileError> {
    let unreadable = |e: io::Error| match files::Refused::of(&e) {
        Some(files::Refused::Symlink) => PidFileError::Symlink,
        _ => PidFileError::Unreadable(e.to_string()),
    };
    let file = files::open_read(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(65).read_to_end(&mut bytes).map_err(unreadable)?;
    parse_pid_file(&bytes)
}

/// The pid in the bytes of a pid file, by the rules of [`read_pid_file`].
pub fn parse_pid_file(bytes: &[u8]) -> Result<Pid, PidFileError> {
    if bytes.len() > 64 {
        return Err(PidFileError::NotANumber("(more than 64 bytes)".into()));
    }
    let text = decode_pid_file(bytes)?;
    let digits = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if digits.is_empty() {
        return Err(PidFileError::Empty);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PidFileError::NotANumber(digits.escape_debug().to_string()));
    }
    match digits.parse::<u64>() {
        Ok(pid) if (2..=PID_MAX).contains(&pid) => Ok(pid as Pid),
        _ => Err(PidFileError::OutOfRange(digits.to_string())),
    }
}

/// The text of a pid file: UTF-8 (a byte-order mark is skipped) or UTF-16LE with its mark.
fn decode_pid_file(bytes: &[u8]) -> Result<String, PidFileError> {
    let not_text = || PidFileError::NotANumber("(not UTF-8 or UTF-16 text)".into());
    if let Some(utf16) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        if utf16.len() % 2 != 0 {
            return Err(not_text());
        }
        let units: Vec<u16> = utf16
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect();
        return String::from_utf16(&units).map_err(|_| not_text());
    }
    let utf8 = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    String::from_utf8(utf8.to_vec()).map_err(|_| not_text())
}

/// The file a temporary file named `file` was about to replace, if `file` has the shape
/// `atomic_write_file` gives them (`.` + target + `.` + six ASCII letters or digits).
fn temporary_target(file: &str) -> Option<&str> {
    let (target, suffix) = file.strip_prefix('.')?.rsplit_once('.')?;
    (suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(target)
}

/// The service name whose `NAME.json`, `NAME.pid` or `NAME.env` is `target`, if it is one.
fn name_written_to(target: &str) -> Option<&str> {
    let name = [".json", ".pid", ".env"]
        .iter()
        .find_map(|ext| target.strip_suffix(ext))?;
    (!name.ends_with(".exit") && validate_name(name).is_ok()).then_some(name)
}

/// Parses the bytes of `NAME.json` (read from `path`, named in errors).
pub fn parse_record(path: &Path, bytes: &[u8]) -> Result<Record, StateError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    let schema = value.get("schema").and_then(serde_json::Value::as_u64);
    match schema {
        Some(found) if found > u64::from(RECORD_SCHEMA) => Err(StateError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: RECORD_SCHEMA,
        }),
        _ => serde_json::from_value(value).map_err(|e| StateError::Corrupt {
            path: path.to_path_buf(),
            why: e.to_string(),
        }),
    }
}

/// Parses the bytes of `NAME.exit.json`; `None` when they are not an exit record.
pub fn parse_exit_record(bytes: &[u8]) -> Option<ExitRecord> {
    serde_json::from_slice(bytes).ok()
}

impl StateDir {
    /// Loads the record for `name`: `Ok(None)` when there is neither a record nor a pid file.
    pub fn load(&self, name: &str) -> Result<Option<Entry>, StateError> {
        validate_name(name)?;
        let path = self.record_path(name);
        match files::read(&path) {
            Ok(bytes) => Ok(Some(match parse_record(&path, &bytes) {
                Ok(record) if record.name == name => Entry::Record(Box::new(record)),
                Ok(record) => Entry::Broken {
                    name: name.to_string(),
                    error: StateError::Corrupt {
                        path,
                        why: format!("it names service '{}'", record.name),
                    },
                },
                Err(error) => Entry::Broken {
                    name: name.to_string(),
                    error,
                },
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let pid_path = self.pid_path(name);
                if fs::symlink_metadata(&pid_path).is_ok() {
                    Ok(Some(Entry::PidOnly {
                        name: name.to_string(),
                        pid: read_pid_file(&pid_path),
                    }))
                } else {
                    Ok(None)
                }
            }
            // A planted link or FIFO is shown as a broken record, not a reason to fail a listing.
            Err(e) if files::Refused::of(&e).is_some() => Ok(Some(Entry::Broken {
                name: name.to_string(),
                error: StateError::Corrupt {
                    why: e.to_string(),
                    path,
                },
            })),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    /// Every entry in `.run/`, sorted by name. Files whose names are not valid service names
    /// are ignored.
    pub fn list(&self) -> Result<Vec<Entry>, StateError> {
        let dir = self.run_dir();
        let read = match fs::read_dir(&dir) {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StateError::Io { path: dir, source }),
        };
        let mut names: Vec<String> = read
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter_map(|file| {
                let stem = file
                    .strip_suffix(".json")
                    .or_else(|| file.strip_suffix(".pid"))?;
                (!stem.ends_with(".exit") && validate_name(stem).is_ok()).then(|| stem.to_string())
            })
            .collect();
        names.sort();
        names.dedup();
        let mut out = Vec::new();
        for name in names {
            if let Some(entry) = self.load(&name)? {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Temporary files an atomic write of `NAME.json`, `NAME.pid` or `NAME.env` left in `.run/`
    /// when its writer was killed between creating and renaming it (`.NAME.json.XXXXXX`, the
    /// name `atomic_write_file` gives them), as (NAME, path), sorted. Those three files are
    /// written only under NAME's lock: once the caller holds it, such a file has no live writer.
    pub fn interrupted_writes(&self) -> Result<Vec<(String, PathBuf)>, StateError> {
        let mut found: Vec<(String, PathBuf)> = self
            .temporary_files()?
            .into_iter()
            .filter_map(|(target, path)| Some((name_written_to(&target)?.to_string(), path)))
            .collect();
        found.sort();
        Ok(found)
    }

    /// Every temporary file of an atomic write in `.run/` (`.TARGET.XXXXXX`), as (TARGET, path).
    pub(crate) fn temporary_files(&self) -> Result<Vec<(String, PathBuf)>, StateError> {
        let dir = self.run_dir();
        let read = match fs::read_dir(&dir) {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StateError::Io { path: dir, source }),
        };
        Ok(read
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let file = entry.file_name().into_string().ok()?;
                Some((temporary_target(&file)?.to_string(), entry.path()))
            })
            .collect())
    }

    /// Writes `NAME.json` then `NAME.pid`, each atomically.
    pub fn save(&self, record: &Record) -> Result<(), StateError> {
        let json = serde_json::to_vec_pretty(record).expect("records serialise");
        write_atomic(&self.record_path(&record.name), &json)?;
        let pid_line = format!("{}\n", record.leader.pid);
        write_atomic(&self.pid_path(&record.name), pid_line.as_bytes())
    }

    /// Removes every state file of `name` (record, pid file, exit record, env values).
    pub fn remove(&self, name: &str) -> Result<(), StateError> {
        validate_name(name)?;
        for path in [
            self.pid_path(name),
            self.record_path(name),
            self.exit_path(name),
            self.env_path(name),
        ] {
            remove_if_present(&path)?;
        }
        Ok(())
    }

    /// The keeper's exit record for `name`, if it belongs to run `run_id`.
    pub fn load_exit(&self, name: &str, run_id: &str) -> Option<ExitRecord> {
        let bytes = files::read(&self.exit_path(name)).ok()?;
        parse_exit_record(&bytes).filter(|exit| exit.run_id == run_id)
    }

    /// Writes the keeper's exit record.
    pub fn save_exit(&self, name: &str, exit: &ExitRecord) -> Result<(), StateError> {
        let json = serde_json::to_vec(exit).expect("exit records serialise");
        write_atomic(&self.exit_path(name), &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::validate_new_name;

    #[test]
    fn interrupted_writes_are_named_after_their_target() {
        fn interrupted_write_of(file: &str) -> Option<&str> {
            temporary_target(file).and_then(name_written_to)
        }
        assert_eq!(interrupted_write_of(".web.json.Ab12Cd"), Some("web"));
        assert_eq!(interrupted_write_of(".web.pid.000000"), Some("web"));
        assert_eq!(interrupted_write_of(".a.b.env.zzzzzz"), Some("a.b"));
        // The keeper writes exit records without the lock; the stack status file has no name.
        assert_eq!(interrupted_write_of(".web.exit.json.Ab12Cd"), None);
        assert_eq!(interrupted_write_of("..stack.json.Ab12Cd"), None);
        assert_eq!(temporary_target("..stack.json.Ab12Cd"), Some(".stack.json"));
        // Not the crate's shape: a wrong suffix length or character, or no leading dot.
        assert_eq!(interrupted_write_of(".web.json.Ab12C"), None);
        assert_eq!(interrupted_write_of(".web.json.Ab12C-"), None);
        assert_eq!(interrupted_write_of("web.json.Ab12Cd"), None);
        assert_eq!(interrupted_write_of(".web.log.Ab12Cd"), None);
    }

    fn pid_file(contents: &str) -> Result<Pid, PidFileError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid");
        fs::write(&path, contents).unwrap();
        read_pid_file(&path)
    }

    #[test]
    fn powershell_utf16_pid_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pid");
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend("4321\r\n".encode_utf16().flat_map(u16::to_le_bytes));
        fs::write(&path, &bytes).unwrap();
        assert_eq!(read_pid_file(&path), Ok(4321));
        bytes.push(0);
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            read_pid_file(&path),
            Err(PidFileError::NotANumber(_))
        ));
    }

    #[test]
    fn pid_files_are_parsed_strictly() {
        assert_eq!(pid_file("1234\n"), Ok(1234));
        assert_eq!(pid_file("1234"), Ok(1234));
        assert_eq!(pid_file("1234\r\n"), Ok(1234));
        assert_eq!(pid_file("\u{feff}1234\r\n"), Ok(1234));
        assert!(matches!(
            pid_file("1234\r"),
            Err(PidFileError::NotANumber(_))
        ));
        assert!(matches!(
            pid_file("1234\n\n"),
            Err(PidFileError::NotANumber(_))
        ));
        assert_eq!(pid_file(""), Err(PidFileError::Empty));
        assert!(matches!(pid_file("0\n"), Err(PidFileError::OutOfRange(_))));
        assert!(matches!(pid_file("1\n"), Err(PidFileError::OutOfRange(_))));
        assert!(matches!(pid_file("-1\n"), Err(PidFileError::NotANumber(_))));
        assert!(matches!(pid_file("abc"), Err(PidFileError::NotANumber(_))));
        assert!(matches!(
            pid_file("12 34"),
            Err(PidFileError::NotANumber(_))
        ));
        assert!(matches!(
            pid_file("1234\nxyz"),
            Err(PidFileError::NotANumber(_))
        ));
        assert!(matches!(
            pid_file(" 1234"),
            Err(PidFileError::NotANumber(_))
        ));
        assert!(matches!(
            pid_file("1234567890123456789012345678901234567890"),
            Err(PidFileError::OutOfRange(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_pid_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("real"), "1234\n").unwrap();
        let link = dir.path().join("x.pid");
        std::os::unix::fs::symlink(dir.path().join("real"), &link).unwrap();
        assert_eq!(read_pid_file(&link), Err(PidFileError::Symlink));
    }

    #[test]
    fn names_are_validated() {
        for good in ["api", "web-1", "worker_2", "a.b"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a/b",
            "..",
            ".hidden",
            "-x",
            "with space",
            &"x".repeat(65),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_that_collide_with_reapers_files_are_refused() {
        for reserved in [
            "x.exit",
            "x.EXIT",
            "a.b.exit",
            "reaper",
            "Reaper",
            "zombie-detection",
        ] {
            assert!(
                matches!(
                    validate_name(reserved),
                    Err(StateError::ReservedName { .. })
                ),
                "{reserved}"
            );
        }
        for fine in [
            "x.env", "x.json", "x.pid", "exit", "x.exited", "reaper2", "x.log.1",
        ] {
            assert!(validate_new_name(fine).is_ok(), "{fine}");
        }
        assert!(validate_name(crate::state::SUPERVISOR_NAME).is_ok());
        for supervisor in ["_stack", "_STACK"] {
            assert!(matches!(
                validate_new_name(supervisor),
                Err(StateError::ReservedName { .. })
            ));
        }
    }
}
