//! Entry points for the fuzz targets under `fuzz/` (cargo-fuzz) and for the replay of their
//! corpora in `tests/fuzz_corpus.rs` (stable, every platform).
//!
//! Each function takes arbitrary bytes, runs one parser exactly as reaper runs it on a file or a
//! kernel answer, and panics only when the parser panics or breaks a promise it makes: a value it
//! accepts survives a write and a re-read unchanged, and an error it reports names a line and a
//! column inside the text.

use std::path::Path;

use crate::stack::ConfigError;
use crate::state::{self, ExitRecord, PidFileError};

/// A pid file in any encoding reaper reads (UTF-8, UTF-8 with a byte-order mark, UTF-16LE with
/// one): an accepted pid is in range and reads back the same from the file reaper writes.
pub fn pid_file(data: &[u8]) {
    match state::parse_pid_file(data) {
        Ok(pid) => {
            assert!(pid >= 2, "pid {pid} accepted");
            let written = format!("{pid}\n");
            assert_eq!(state::parse_pid_file(written.as_bytes()), Ok(pid));
        }
        Err(PidFileError::NotANumber(text) | PidFileError::OutOfRange(text)) => {
            // The error quotes the file: it must stay one line.
            assert!(!text.contains('\n'), "multi-line error text {text:?}");
        }
        Err(_) => {}
    }
}

/// A Windows pid file: the bytes are UTF-16LE text after PowerShell's byte-order mark.
pub fn utf16_pid_file(data: &[u8]) {
    let mut file = vec![0xFF, 0xFE];
    file.extend_from_slice(data);
    pid_file(&file);
}

/// `NAME.json`: a record that parses is written as reaper writes it and reads back equal.
pub fn record(data: &[u8]) {
    let path = Path::new("fuzz.json");
    if let Ok(record) = state::parse_record(path, data) {
        let written = serde_json::to_vec_pretty(&record).expect("records serialise");
        let again = state::parse_record(path, &written).expect("a written record reads back");
        assert_eq!(again, record);
    }
}

/// `NAME.exit.json`: an exit record that parses is written as the keeper writes it and reads
/// back equal.
pub fn exit_record(data: &[u8]) {
    if let Some(exit) = state::parse_exit_record(data) {
        let written = serde_json::to_vec(&exit).expect("exit records serialise");
        let again: Option<ExitRecord> = state::parse_exit_record(&written);
        assert_eq!(again, Some(exit));
    }
}

/// `reaper.toml`: parsed, then validated as `reaper up` does; every error has a position in the
/// text.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let shown = "reaper.toml";
    // A directory that does not exist: `env_file` and `cwd` checks find nothing there.
    let path = Path::new("/nonexistent-reaper-fuzz/reaper.toml");
    let root = path.parent().expect("the path has a directory");
    let result = crate::stack::config::parse_file(shown, text, root)
        .and_then(|file| crate::stack::config::validate(file, path, shown, text));
    if let Err(errors) = result {
        check_positions(text, &errors);
    }
}

/// A Procfile: every error has a position in the text, every entry a valid name.
pub fn procfile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match crate::stack::procfile::parse("Procfile", text) {
        Ok(entries) => {
            for (name, command, _) in entries {
                assert!(state::validate_new_name(&name).is_ok(), "name {name:?}");
                assert!(!command.trim().is_empty());
            }
        }
        Err(errors) => check_positions(text, &errors),
    }
}

/// A `.env` file: a line that cannot be parsed is reported by a position in the text.
pub fn dotenv(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(crate::dotenv::DotenvError::Parse { line, column }) = crate::dotenv::parse(text) {
        assert!(line >= 1 && column >= 1, "line {line} column {column}");
        assert!(
            line <= text.lines().count().max(1),
            "line {line} past the end"
        );
    }
}

/// Durations, sizes, signal names and port numbers as typed on the command line or in
/// `reaper.toml`: what parses formats back to text that parses to the same value.
pub fn units(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(duration) = crate::units::parse_duration(text) {
        assert!(duration <= crate::units::MAX_DURATION);
        let written = humantime::format_duration(duration).to_string();
        assert_eq!(crate::units::parse_duration(&written).ok(), Some(duration));
    }
    if let Ok(size) = crate::units::parse_size(text) {
        assert!(size <= crate::units::MAX_SIZE);
        assert_eq!(crate::units::parse_size(&size.to_string()).ok(), Some(size));
    }
    if let Ok(signal) = text.parse::<crate::signal::Signal>() {
        assert_eq!(
            signal.to_string().parse::<crate::signal::Signal>().ok(),
            Some(signal)
        );
    }
    if let Ok(port) = crate::ports::parse_port(text) {
        assert!(port != 0);
        assert_eq!(crate::ports::parse_port(&port.to_string()).ok(), Some(port));
    }
}

/// `/proc/PID/stat`: a parsed entry has its pid and the command name between the outer
/// parentheses.
#[cfg(target_os = "linux")]
pub fn proc_stat(data: &[u8]) {
    if let Some(info) = crate::os::parse_stat(data) {
        let open = data.iter().position(|b| *b == b'(').expect("a name");
        let close = data.iter().rposition(|b| *b == b')').expect("a name");
        assert!(open < close);
        assert_eq!(info.name, String::from_utf8_lossy(&data[open + 1..close]));
    }
}

/// `/proc/PID/environ`: the value of the marker variable, if set.
#[cfg(target_os = "linux")]
pub fn proc_environ(data: &[u8]) {
    if let Some(value) = crate::os::find_var(data, crate::containment::MARKER_VAR) {
        assert!(!value.contains('\0'));
    }
}

/// One datagram of a sock_diag netlink dump (the first byte chooses TCP or UDP): never reads
/// past the datagram, never yields more sockets than whole messages in it.
#[cfg(target_os = "linux")]
pub fn sock_diag(data: &[u8]) {
    let Some((&choice, datagram)) = data.split_first() else {
        return;
    };
    let protocol = if choice & 1 == 0 {
        crate::os::Protocol::Tcp
    } else {
        crate::os::Protocol::Udp
    };
    let mut sockets = Vec::new();
    let _ = crate::os::parse_diag_datagram(datagram, 1, protocol, &mut sockets);
    assert!(sockets.len() <= datagram.len() / (16 + 72));
}

fn check_positions(text: &str, errors: &[ConfigError]) {
    assert!(!errors.is_empty(), "an error list without an error");
    // A position may sit just past the last line (a missing closing bracket at the end).
    let lines = text.split('\n').count();
    for error in errors {
        assert!(
            error.line >= 1 && error.column >= 1,
            "no position: {error:?}"
        );
        assert!(error.line <= lines, "line past the end: {error:?}");
    }
}
