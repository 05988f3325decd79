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
//!
//! - [`SignalWatch`] / [`adopt_child`] / [`reap_child_nonblocking`] / [`stdin_terminal`] and the
//!   terminal functions: foreground supervision (`reaper run`, `reaper up`).
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

#[cfg(windows)]
mod windows_console;
#[cfg(windows)]
pub use windows_console::*;

use std::io;
use std::net::SocketAddr;

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
