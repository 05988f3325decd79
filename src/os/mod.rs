//! The platform layer. Every platform module offers the same function set:
//!
//! - [`boot_id`]: identifies the current boot, so identities from an earlier boot are stale.
//! - [`snapshot`] / [`process_info`]: the process table, or one process; [`ORPHAN_PPID`]: the
//!   parent pid of a process whose parent is gone; [`started_by`]: processes an exited process
//!   started, where the platform keeps that link.
//! - [`command_line`] / [`marker_of`]: a process's argv, and the reaper marker in its environment.
//! - [`is_console_host`]: processes that belong to a console rather than to a tree (Windows).
//! - [`Pinned`]: a process pinned after an identity check; the only way to signal or wait.
//! - [`wait_for_exit`]: event-driven wait on pinned processes.
//! - [`listening_sockets`] / [`socket_inodes`]: listening sockets and their owners.
//! - [`sockets`] / [`read_sockets`] / [`socket_owners`] / [`try_bind`]: the socket tables
//!   filtered by port, the processes holding given sockets (permission problems reported), and
//!   bind checks; [`user_name`], [`in_foreign_network_namespace`] for explanations.
//! - [`become_subreaper`] / [`spawn_in_new_session`] / [`contained_processes`]: containment
//!   primitives (Windows: job objects).
//! - [`cgroup_support`] / [`create_cgroup`] / [`spawn_in_cgroup`] / [`cgroup_processes`] /
//!   [`cgroup_is_populated`] / [`kill_cgroup`] / [`remove_cgroup`] / [`reaper_cgroups`] /
//!   [`CgroupWatch`] / [`wait_for_events`]: a cgroup v2 per run on Linux (`linux_cgroup.rs`);
//!   elsewhere (`no_cgroup.rs`) they say there is none.
//!
//! - [`Notifier`]: desktop notifications (`reaper watch --notify`): freedesktop notifications
//!   over the D-Bus session bus on Linux (`linux_notify.rs`), Notification Center through
//!   `osascript` on macOS (`macos_notify.rs`), toasts through WinRT on Windows
//!   (`windows_notify.rs`).
//!
//! - [`SignalWatch`] / [`adopt_child`] / [`reap_child_nonblocking`] / [`stdin_terminal`] and the
//!   terminal functions: foreground supervision (`reaper run`, `reaper up`); [`kill_self`]:
//!   die as SIGKILL would make us (testing-only fault points).
//!
//! `unix.rs` holds what Linux and macOS share (signals as events, terminals, reaping, locks);
//! `windows_console.rs` the Windows side of foreground supervision (console control events as
//! signals, child handles instead of reaping).
//!
//! No platform type leaks out of this module.

#[cfg_attr(target_os = "linux", path = "linux.rs")]
#[cfg_attr(target_os = "macos", path = "macos.rs")]
#[cfg_attr(windows, path = "windows.rs")]
mod platform;

pub use platform::*;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

#[cfg(not(target_os = "linux"))]
mod no_cgroup;
#[cfg(not(target_os = "linux"))]
pub use no_cgroup::*;

#[cfg_attr(target_os = "linux", path = "linux_notify.rs")]
#[cfg_attr(target_os = "macos", path = "macos_notify.rs")]
#[cfg_attr(windows, path = "windows_notify.rs")]
mod notify;
pub use notify::*;

#[cfg(windows)]
mod windows_console;
#[cfg(windows)]
pub use windows_console::*;

use std::ffi::{OsStr, OsString};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::process::Pid;

/// The argv that runs the command line `text` through the platform's shell: `sh -c` on Unix,
/// `cmd /C` on Windows (Procfile and reaper.toml shell strings).
pub fn shell_command(text: &str) -> Vec<String> {
    let (shell, flag) = if cfg!(windows) {
        ("cmd", "/C")
    } else {
        ("sh", "-c")
    };
    vec![shell.to_string(), flag.to_string(), text.to_string()]
}

/// The file a shell would run for `program`: with a path separator, `program` relative to
/// `cwd`; otherwise the first match in the directories of `path` (a PATH value). On Windows each
/// PATHEXT extension is tried too (`npm` is `npm.cmd`), as cmd.exe and PowerShell do. `None`
/// when there is no such executable file.
pub fn find_program(program: &str, cwd: &Path, path: Option<&OsStr>) -> Option<PathBuf> {
    let mut names = vec![program.to_string()];
    if cfg!(windows) {
        let extensions = std::env::var("PATHEXT").unwrap_or_else(|_| ".COM;.EXE;.BAT;.CMD".into());
        names.extend(
            extensions
                .split(';')
                .filter(|e| !e.is_empty())
                .map(|e| format!("{program}{e}")),
        );
    }
    let in_dir = |dir: &Path| {
        names
            .iter()
            .map(|name| dir.join(name))
            .find(|candidate| is_executable_file(candidate))
    };
    if names_a_path(program) {
        return in_dir(cwd);
    }
    std::env::split_paths(path?).find_map(|dir| in_dir(&dir))
}

/// True when `program` names a file by path (it has a separator) rather than a command looked
/// up in PATH.
pub fn names_a_path(program: &str) -> bool {
    program.contains('/') || (cfg!(windows) && program.contains('\\'))
}

/// Why a program could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrunnable {
    /// No such file or command.
    NotFound,
    /// The path names a directory.
    IsADirectory,
    /// The file exists but cannot be executed (permissions, a bad interpreter).
    NotExecutable,
}

/// Why `program` (relative to `cwd`) could not be started, after a PATH search found nothing
/// (`error` None) or a spawn failed with `error`. A path is judged by the file it names, since
/// the error alone cannot tell: exec gives EACCES for a directory as for a file without the
/// execute bit, and ENOENT for a script whose interpreter is missing. `None` for a spawn error
/// that is about neither the program nor its permissions.
pub fn unrunnable(program: &str, cwd: &Path, error: Option<io::ErrorKind>) -> Option<Unrunnable> {
    use io::ErrorKind as K;
    if !matches!(
        error,
        None | Some(K::NotFound | K::PermissionDenied | K::IsADirectory)
    ) {
        return None;
    }
    if names_a_path(program) {
        return Some(match std::fs::metadata(cwd.join(program)) {
            Ok(meta) if meta.is_dir() => Unrunnable::IsADirectory,
            Ok(_) => Unrunnable::NotExecutable,
            Err(_) => Unrunnable::NotFound,
        });
    }
    Some(match error {
        Some(K::PermissionDenied) => Unrunnable::NotExecutable,
        Some(K::IsADirectory) => Unrunnable::IsADirectory,
        _ => Unrunnable::NotFound,
    })
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| {
        #[cfg(unix)]
        let runnable = {
            use std::os::unix::fs::PermissionsExt;
            m.permissions().mode() & 0o111 != 0
        };
        #[cfg(not(unix))]
        let runnable = true;
        m.is_file() && runnable
    })
}

/// What to hand `std::process::Command::new` for `program` (searched on `path`, as the child's
/// PATH): the program itself on Unix, where `execvp` searches like a shell; on Windows the file
/// [`find_program`] finds, because `Command` only tries `.exe` (a `.cmd` such as `npm` would be
/// "not found"). Unchanged when nothing is found, so the spawn reports it.
pub fn spawnable_program(program: &str, cwd: &Path, path: Option<&OsStr>) -> OsString {
    if cfg!(windows) {
        if let Some(found) = find_program(program, cwd, path) {
            return found.into_os_string();
        }
    }
    program.into()
}

/// What the keeper starts: everything a spawn needs, so each platform can start it its own way
/// (Linux starts it straight into its cgroup; see [`spawn_service`]).
#[derive(Debug)]
pub struct ServiceLaunch<'a> {
    /// The program, as [`spawnable_program`] gives it.
    pub program: OsString,
    /// Its arguments.
    pub args: &'a [String],
    /// Working directory.
    pub cwd: &'a Path,
    /// The complete environment (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// The write end of the pipe stdout goes to (the keeper reads the other end).
    pub stdout: os_pipe::PipeWriter,
    /// The write end of the pipe stderr goes to; stdin is the null device.
    pub stderr: os_pipe::PipeWriter,
    /// The cgroup the service must start in, if it has one.
    pub cgroup: Option<&'a Path>,
}

impl ServiceLaunch<'_> {
    /// The same launch as a `std` command: a new session, the environment replaced, stdio set
    /// (without the cgroup, which the platform adds its own way).
    pub fn command(&self) -> io::Result<std::process::Command> {
        let mut command = std::process::Command::new(&self.program);
        command
            .args(self.args)
            .current_dir(self.cwd)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(self.stdout.try_clone()?)
            .stderr(self.stderr.try_clone()?);
        spawn_in_new_session(&mut command);
        Ok(command)
    }
}

/// Transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (listening sockets only).
    Tcp,
    /// UDP (bound sockets).
    Udp,
}

/// A listening TCP socket or a bound UDP socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListeningSocket {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Local address and port.
    pub local: SocketAddr,
    /// Kernel socket inode, which links the socket to its owners' file descriptors.
    pub inode: u64,
}

/// Why a process could not be pinned.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// No process has that pid now.
    #[error("process {0} is gone")]
    Gone(Pid),
    /// A process has that pid but it is not the one we knew (pid reuse).
    #[error(
        "pid {pid} now belongs to a different process (started at {found}, expected {expected})"
    )]
    Reused {
        /// The pid.
        pid: Pid,
        /// Start-time token that was expected.
        expected: u64,
        /// Start-time token found.
        found: u64,
    },
    /// The OS refused (permissions, pid out of range).
    #[error("cannot open process {pid}: {source}")]
    Os {
        /// The pid.
        pid: Pid,
        /// The OS error.
        source: io::Error,
    },
}

/// What happened to one child, as reported by [`reap_child_nonblocking`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildEvent {
    /// A child exited and has been reaped.
    Exited {
        /// Its pid.
        pid: Pid,
        /// Exit code, if it exited normally.
        code: Option<i32>,
        /// Signal number, if a signal killed it.
        signal: Option<i32>,
    },
    /// A child was stopped (Ctrl-Z, SIGSTOP, or terminal input from the background).
    Stopped {
        /// Its pid.
        pid: Pid,
    },
    /// Children exist, but none has anything to report now.
    NothingReady,
    /// The calling process has no children at all.
    NoChildren,
}

/// How standard input relates to the calling process's controlling terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinTerminal {
    /// Standard input is not the controlling terminal (a pipe, a file, /dev/null, no terminal).
    NotATerminal,
    /// It is, and the calling process's group is the terminal's foreground group.
    Foreground,
    /// It is, but another group holds the foreground (we run as a background job).
    Background,
}

/// Why a desktop notification could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// No session bus could be reached (no `DBUS_SESSION_BUS_ADDRESS`, nothing listening).
    #[error("no D-Bus session bus: {0}")]
    NoBus(String),
    /// The bus was reached but no notification service answered.
    #[error("no notification service answered on the session bus: {0}")]
    NoService(String),
    /// The platform's notification service refused or failed (macOS, Windows).
    #[error("the notification could not be shown: {0}")]
    NotShown(String),
}
