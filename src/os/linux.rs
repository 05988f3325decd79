//! Linux: `/proc`, pidfds, `PR_SET_CHILD_SUBREAPER`.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use procfs::process::{FDTarget, Process};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid as RawPid, PidfdFlags, pidfd_open, pidfd_send_signal};

use crate::process::{Pid, ProcessInfo, ProcessState, Snapshot};
use crate::signal::Signal;

/// Identifies the current boot (`/proc/sys/kernel/random/boot_id`).
pub fn boot_id() -> io::Result<String> {
    static BOOT_ID: OnceLock<String> = OnceLock::new();
    if let Some(id) = BOOT_ID.get() {
        return Ok(id.clone());
    }
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")?
        .trim()
        .to_string();
    Ok(BOOT_ID.get_or_init(|| id).clone())
}

/// Wall-clock time of boot, to 10 ms (`/proc/uptime`), unlike `btime` which is whole seconds.
fn boot_time() -> SystemTime {
    static BOOT: OnceLock<SystemTime> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let uptime = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse::<f64>().ok());
        match uptime {
            Some(secs) => SystemTime::now() - Duration::from_secs_f64(secs),
            None => UNIX_EPOCH + Duration::from_secs(procfs::boot_time_secs().unwrap_or(0)),
        }
    })
}

fn ticks_to_duration(ticks: u64) -> Duration {
    let hz = procfs::ticks_per_second().max(1);
    Duration::from_secs(ticks / hz) + Duration::from_nanos((ticks % hz) * 1_000_000_000 / hz)
}

fn state_of(letter: char) -> ProcessState {
    match letter {
        'R' => ProcessState::Running,
        'S' | 'I' => ProcessState::Sleeping,
        'D' => ProcessState::DiskSleep,
        'T' | 't' => ProcessState::Stopped,
        'Z' => ProcessState::Zombie,
        'X' | 'x' => ProcessState::Dead,
        _ => ProcessState::Other,
    }
}

fn info_of(process: &Process) -> Option<ProcessInfo> {
    let stat = process.stat().ok()?;
    let uid = process.uid().unwrap_or(u32::MAX);
    let page_size = procfs::page_size();
    Some(ProcessInfo {
        pid: u32::try_from(stat.pid).ok()?,
        ppid: u32::try_from(stat.ppid).unwrap_or(0),
        pgid: u32::try_from(stat.pgrp).unwrap_or(0),
        sid: u32::try_from(stat.session).unwrap_or(0),
        uid,
        state: state_of(stat.state),
        start_time: stat.starttime,
        started_at: boot_time() + ticks_to_duration(stat.starttime),
        name: stat.comm.clone(),
        cpu_time: ticks_to_duration(stat.utime + stat.stime),
        rss_bytes: stat.rss.saturating_mul(page_size),
        // PF_KTHREAD
        kernel_thread: stat.flags & 0x0020_0000 != 0,
    })
}

/// Reads the whole process table.
pub fn snapshot() -> io::Result<Snapshot> {
    let all = procfs::process::all_processes().map_err(io::Error::other)?;
    Ok(Snapshot::from_processes(
        all.filter_map(Result::ok).filter_map(|p| info_of(&p)),
    ))
}

/// Reads one process, if it exists.
pub fn process_info(pid: Pid) -> Option<ProcessInfo> {
    let process = Process::new(i32::try_from(pid).ok()?).ok()?;
    info_of(&process)
}

/// The command line of a process (empty for kernel threads and zombies).
pub fn command_line(pid: Pid) -> Option<Vec<String>> {
    Process::new(i32::try_from(pid).ok()?).ok()?.cmdline().ok()
}

/// The value of one environment variable as the process was started with it.
///
/// Reads `/proc/PID/environ` directly (not through a map of every variable) because this runs for
/// many processes during a stop.
pub fn marker_of(pid: Pid, var: &str) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{var}=");
    raw.split(|b| *b == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .map(|value| OsStr::from_bytes(value).to_string_lossy().into_owned())
}

/// Why a process could not be pinned.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// No process has that pid now.
    #[error("process {0} is gone")]
    Gone(Pid),
    /// A process has that pid but it is not the one we knew (pid reuse).
    #[error(
        "pid {pid} now belongs to a different process (started at tick {found}, expected {expected})"
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

/// A process pinned by a pidfd after its identity was checked: the pid cannot be reused while
/// this handle lives, so signals sent through it reach exactly the process that was checked.
#[derive(Debug)]
pub struct Pinned {
    pid: Pid,
    handle: PinnedHandle,
}

#[derive(Debug)]
enum PinnedHandle {
    Pidfd(OwnedFd),
    /// Kernels before 5.3 have no pidfd: the identity was checked right before use, and a
    /// window for pid reuse exists between that check and the signal.
    CheckedPid,
}

impl Pinned {
    /// Opens a pidfd for `pid`, then verifies its start time equals `expected_start`.
    pub fn open(pid: Pid, expected_start: u64) -> Result<Pinned, PinError> {
        let raw = i32::try_from(pid)
            .ok()
            .and_then(RawPid::from_raw)
            .ok_or(PinError::Gone(pid))?;
        let handle = match pidfd_open(raw, PidfdFlags::empty()) {
            Ok(fd) => PinnedHandle::Pidfd(fd),
            Err(rustix::io::Errno::SRCH) => return Err(PinError::Gone(pid)),
            Err(rustix::io::Errno::NOSYS) => PinnedHandle::CheckedPid,
            Err(e) => {
                return Err(PinError::Os {
                    pid,
                    source: e.into(),
                });
            }
        };
        let found = process_info(pid).ok_or(PinError::Gone(pid))?.start_time;
        if found != expected_start {
            return Err(PinError::Reused {
                pid,
                expected: expected_start,
                found,
            });
        }
        Ok(Pinned { pid, handle })
    }

    /// The pinned pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Sends `signal`. A process that already exited is not an error.
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        let sig = raw_signal(signal);
        let result = match &self.handle {
            PinnedHandle::Pidfd(fd) => pidfd_send_signal(fd, sig),
            PinnedHandle::CheckedPid => {
                let raw = RawPid::from_raw(self.pid as i32).expect("pinned pid is positive");
                rustix::process::kill_process(raw, sig)
            }
        };
        match result {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// True once the process has exited (it may still be a zombie awaiting its parent).
    pub fn has_exited(&self) -> bool {
        match &self.handle {
            PinnedHandle::Pidfd(fd) => {
                let mut fds = [PollFd::new(fd, PollFlags::IN)];
                let zero = Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                matches!(poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
            }
            PinnedHandle::CheckedPid => {
                process_info(self.pid).is_none_or(|info| !info.state.is_alive())
            }
        }
    }
}

fn raw_signal(signal: Signal) -> rustix::process::Signal {
    use rustix::process::Signal as S;
    match signal {
        Signal::Hup => S::HUP,
        Signal::Int => S::INT,
        Signal::Quit => S::QUIT,
        Signal::Kill => S::KILL,
        Signal::Usr1 => S::USR1,
        Signal::Usr2 => S::USR2,
        Signal::Term => S::TERM,
        Signal::Cont => S::CONT,
        Signal::Stop => S::STOP,
        Signal::Chld => S::CHILD,
        Signal::Winch => S::WINCH,
    }
}

/// Blocks until at least one of `pinned` exits or `timeout` passes. Event-driven through
/// pidfds; without pidfds it polls every 10 ms.
pub fn wait_for_exit(pinned: &[&Pinned], timeout: Duration) {
    let fds: Vec<_> = pinned
        .iter()
        .filter_map(|p| match &p.handle {
            PinnedHandle::Pidfd(fd) => Some(fd.as_fd()),
            PinnedHandle::CheckedPid => None,
        })
        .collect();
    let timeout = if fds.len() < pinned.len() {
        timeout.min(Duration::from_millis(10))
    } else {
        timeout
    };
    let mut poll_fds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(fd, PollFlags::IN))
        .collect();
    let spec = Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    // EINTR just means we look again sooner.
    let _ = poll(&mut poll_fds, Some(&spec));
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

/// Every listening TCP socket and bound UDP socket in this network namespace.
pub fn listening_sockets() -> io::Result<Vec<ListeningSocket>> {
    let mut out = Vec::new();
    let tcp = procfs::net::tcp()
        .into_iter()
        .flatten()
        .chain(procfs::net::tcp6().into_iter().flatten());
    for entry in tcp {
        if entry.state == procfs::net::TcpState::Listen {
            out.push(ListeningSocket {
                protocol: Protocol::Tcp,
                local: entry.local_address,
                inode: entry.inode,
            });
        }
    }
    let udp = procfs::net::udp()
        .into_iter()
        .flatten()
        .chain(procfs::net::udp6().into_iter().flatten());
    for entry in udp {
        let bound = entry.local_address.port() != 0;
        let unconnected = entry.remote_address.ip() == IpAddr::from([0, 0, 0, 0])
            || entry.remote_address.ip() == IpAddr::from([0u16; 8]);
        if bound && unconnected {
            out.push(ListeningSocket {
                protocol: Protocol::Udp,
                local: entry.local_address,
                inode: entry.inode,
            });
        }
    }
    Ok(out)
}

/// Inodes of the sockets a process has open (empty if its fds cannot be read).
pub fn socket_inodes(pid: Pid) -> HashSet<u64> {
    let Ok(process) = Process::new(pid as i32) else {
        return HashSet::new();
    };
    let Ok(fds) = process.fd() else {
        return HashSet::new();
    };
    fds.filter_map(Result::ok)
        .filter_map(|fd| match fd.target {
            FDTarget::Socket(inode) => Some(inode),
            _ => None,
        })
        .collect()
}

/// Makes the calling process a child subreaper: orphaned descendants are reparented to it
/// instead of to init, so it can find and reap them.
pub fn become_subreaper() -> io::Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).map_err(Into::into)
}

/// Makes the calling process leader of a new session (and process group), detached from any
/// controlling terminal.
pub fn detach_into_new_session() -> io::Result<()> {
    rustix::process::setsid().map(drop).map_err(Into::into)
}

/// Arranges for `command`'s child to start in a new session.
pub fn spawn_in_new_session(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls setsid(2), which is
    // async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| rustix::process::setsid().map(drop).map_err(Into::into));
    }
}

/// Reaps any exited child of the calling process, blocking until one exits. Returns the pid and
/// its exit status as (code, signal), or `None` once there are no children left.
pub fn reap_any_child() -> Option<(Pid, Option<i32>, Option<i32>)> {
    loop {
        match rustix::process::wait(rustix::process::WaitOptions::empty()) {
            Ok(Some((pid, status))) => {
                return Some((
                    pid.as_raw_nonzero().get() as Pid,
                    status.exit_status(),
                    status.terminating_signal(),
                ));
            }
            Ok(None) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
}

/// The uid of a user name (from `/etc/passwd`), or of a numeric uid given as text.
pub fn uid_of_user(name: &str) -> Option<u32> {
    if let Ok(uid) = name.parse() {
        return Some(uid);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}

/// The real uid of this process.
pub fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}
