//! The action log, `.logs/reaper.log`: one timestamped line per thing reaper did.

use std::io::Write;
use std::time::SystemTime;

use crate::state::{StateDir, files};

/// Current time in RFC 3339 (UTC, milliseconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Appends `message` to `.logs/reaper.log` (never through a symbolic link; created 0600). Logging never fails the command: a log that cannot
/// be written is reported on stderr once and otherwise ignored.
pub fn record(state: &StateDir, message: &str) {
    let path = state.log_dir().join(crate::state::ACTION_LOG);
    let line = format!("{} [{}] {}\n", now_rfc3339(), std::process::id(), message);
    let written = files::open_append(&path).and_then(|mut file| file.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("reaper: warning: cannot write {}: {e}", path.display());
    }
}
