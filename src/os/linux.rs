//! Linux: `/proc`, pidfds, `PR_SET_CHILD_SUBREAPER`.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use procfs::process::Process;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid as RawPid, PidfdFlags, pidfd_open, pidfd_send_signal};

use crate::process::{Pid, ProcessInfo, ProcessState, Snapshot};
use crate::signal::Signal;

// Socket tables, socket owners, bind checks.
#[path = "linux_net.rs"]
mod net;
pub use net::*;

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

// The process table is read by hand rather than through procfs's `Process`: one `open` + one
// `read` into a reused buffer + `close` for `stat`, relative to one `/proc` directory fd, instead of
// procfs's per-process directory fd, buffered reads, size probes and uid lookup. With 5,000
// processes this took a doctor scan from ~110 ms to the figure in scripts/bench/doctor.py.

/// Reads a file under `/proc` (path relative to it) into `buf` (grown as needed) with one open, usually one read, and a
/// close; returns the bytes read.
fn read_proc_file<'b>(relative: &str, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    use rustix::fs::{Mode, OFlags, openat};
    static PROC: OnceLock<Option<OwnedFd>> = OnceLock::new();
    let dir = PROC
        .get_or_init(|| {
            rustix::fs::open(
                "/proc",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()
        })
        .as_ref()?;
    let fd = openat(
        dir,
        relative,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len().max(4096) * 2, 0);
        }
        let room = buf.len() - len;
        match rustix::io::read(&fd, &mut buf[len..]) {
            Ok(0) => break,
            // /proc files hand over everything they have in one read when there is room, so a
            // short read is the end: this saves a second read per file.
            Ok(n) if n < room => {
                len += n;
                break;
            }
            Ok(n) => len += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
    Some(&buf[..len])
}

/// Parses `/proc/PID/stat` (the command name may contain spaces and parentheses, so fields are
/// counted from the last `)`).
fn parse_stat(text: &[u8]) -> Option<ProcessInfo> {
    let open = text.iter().position(|b| *b == b'(')?;
    let close = text.iter().rposition(|b| *b == b')')?;
    let pid: u32 = std::str::from_utf8(&text[..open])
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let name = String::from_utf8_lossy(&text[open + 1..close]).into_owned();
    let rest = std::str::from_utf8(text.get(close + 2..)?).ok()?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // fields[0] is field 3 of proc(5).
    let field = |n: usize| fields.get(n - 3).copied();
    let number = |n: usize| field(n).and_then(|f| f.parse::<u64>().ok());
    let start_time = number(22)?;
    Some(ProcessInfo {
        pid,
        ppid: number(4)? as Pid,
        pgid: number(5)? as Pid,
        sid: number(6)? as Pid,
        state: state_of(field(3)?.chars().next()?),
        start_time,
        started_at: boot_time() + ticks_to_duration(start_time),
        name,
        cpu_time: ticks_to_duration(number(14)? + number(15)?),
        rss_bytes: number(24)?.saturating_mul(procfs::page_size()),
        // PF_KTHREAD
        kernel_thread: number(9)? & 0x0020_0000 != 0,
    })
}

fn read_info(pid: Pid, buf: &mut Vec<u8>) -> Option<ProcessInfo> {
    parse_stat(read_proc_file(&format!("{pid}/stat"), buf)?)
}

/// The owner (real uid) of a process.
pub fn uid_of(pid: Pid) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}"))
        .ok()
        .map(|m| m.uid())
}

/// Above this many processes the table is read by two threads: the work is all system calls,
/// so it scales with cores.
const PARALLEL_SCAN: usize = 1000;

/// Reads the whole process table.
pub fn snapshot() -> io::Result<Snapshot> {
    let pids: Vec<Pid> = std::fs::read_dir("/proc")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let read = |chunk: &[Pid]| -> Vec<ProcessInfo> {
        let mut buf = vec![0; 4096];
        chunk
            .iter()
            .filter_map(|pid| read_info(*pid, &mut buf))
            .collect()
    };
    if pids.len() < PARALLEL_SCAN {
        return Ok(Snapshot::from_processes(read(&pids)));
    }
    let (first, second) = pids.split_at(pids.len() / 2);
    let (mut a, b) = std::thread::scope(|scope| {
        let other = scope.spawn(|| read(second));
        (read(first), other.join().expect("scan thread"))
    });
    a.extend(b);
    Ok(Snapshot::from_processes(a))
}

/// Reads one process, if it exists.
pub fn process_info(pid: Pid) -> Option<ProcessInfo> {
    read_info(pid, &mut vec![0; 1024])
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
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 16 * 1024]);
    }
    BUF.with_borrow_mut(|buf| {
        let raw = read_proc_file(&format!("{pid}/environ"), buf)?;
        find_var(raw, var)
    })
}

fn find_var(raw: &[u8], var: &str) -> Option<String> {
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
        Signal::Tstp => S::TSTP,
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
    Ok(net::sockets(None, true)?
        .into_iter()
        .map(|s| ListeningSocket {
            protocol: s.protocol,
            local: s.local,
            inode: s.inode,
        })
        .collect())
}

/// Inodes of the sockets a process has open (empty if its fds cannot be read).
pub fn socket_inodes(pid: Pid) -> HashSet<u64> {
    net::sockets_of(pid)
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

// --- Foreground supervision (`reaper run`) -------------------------------------------------

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

/// Reaps one exited child of the calling process, or reports one that stopped, without
/// blocking. Only for a process that owns all of its children: nothing else may be waiting on
/// them (a `std::process::Child::wait`, an async runtime), or their statuses are stolen.
pub fn reap_child_nonblocking() -> ChildEvent {
    use rustix::process::{WaitOptions, wait};
    loop {
        // wait(2) means any child; rustix's waitpid(None) would mean our process group only.
        match wait(WaitOptions::NOHANG | WaitOptions::UNTRACED) {
            Ok(Some((pid, status))) => {
                let pid = pid.as_raw_nonzero().get() as Pid;
                return if status.stopped() {
                    ChildEvent::Stopped { pid }
                } else {
                    ChildEvent::Exited {
                        pid,
                        code: status.exit_status(),
                        signal: status.terminating_signal(),
                    }
                };
            }
            Ok(None) => return ChildEvent::NothingReady,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return ChildEvent::NoChildren,
        }
    }
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

/// Whether standard input is our controlling terminal, and whether we hold its foreground.
pub fn stdin_terminal() -> StdinTerminal {
    match rustix::termios::tcgetpgrp(rustix::stdio::stdin()) {
        Ok(group) if group == rustix::process::getpgrp() => StdinTerminal::Foreground,
        Ok(_) => StdinTerminal::Background,
        Err(_) => StdinTerminal::NotATerminal,
    }
}

/// The foreground process group of the terminal on standard input, if it is our controlling
/// terminal.
pub fn terminal_foreground_group() -> Option<Pid> {
    rustix::termios::tcgetpgrp(rustix::stdio::stdin())
        .ok()
        .map(|group| group.as_raw_nonzero().get() as Pid)
}

/// The process group of the calling process.
pub fn own_process_group() -> Pid {
    rustix::process::getpgrp().as_raw_nonzero().get() as Pid
}

/// Runs `f` with SIGTTOU blocked in the calling thread: `tcsetpgrp` from a background group is
/// then allowed instead of stopping the caller. Async-signal-safe (used between fork and exec).
fn with_sigttou_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigset_t is plain data that sigemptyset/sigaddset fully initialise; the calls only
    // touch the two local sets and this thread's signal mask, which is restored before returning.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGTTOU);
        let blocked = libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old) == 0;
        let result = f();
        if blocked {
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
        result
    }
}

/// Makes process group `group` the foreground group of the terminal on standard input (works
/// from a background group too).
pub fn give_terminal_to(group: Pid) -> io::Result<()> {
    let group = i32::try_from(group)
        .ok()
        .and_then(RawPid::from_raw)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    with_sigttou_blocked(|| rustix::termios::tcsetpgrp(rustix::stdio::stdin(), group))
        .map_err(Into::into)
}

/// Arranges for `command`'s child to start as leader of a new process group in the caller's
/// session; with `take_terminal`, that group also becomes the foreground group of the terminal
/// on standard input before the command runs (so it can read the terminal at once and receives
/// Ctrl-C and Ctrl-Z from it), as shells do for a foreground job.
pub fn spawn_in_new_group(command: &mut std::process::Command, take_terminal: bool) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    if take_terminal {
        // SAFETY: the closure runs between fork and exec (after std's setpgid) and only makes
        // raw system calls (sigprocmask, getpid, tcsetpgrp), which are async-signal-safe and
        // touch no memory of the parent. Failing to take the terminal is not fatal: the command
        // then runs as a background job would.
        unsafe {
            command.pre_exec(|| {
                let _ = with_sigttou_blocked(|| {
                    rustix::termios::tcsetpgrp(rustix::stdio::stdin(), rustix::process::getpid())
                });
                Ok(())
            });
        }
    }
}

/// Stops the calling process (SIGSTOP) until something sends it SIGCONT (a shell's `fg`).
pub fn stop_self() {
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::STOP);
}

/// Signals delivered to this process, turned into events a loop can wait for with a timeout.
/// A signal handler writes one byte per delivery into a non-blocking pipe (the self-pipe
/// trick), so nothing is lost between waits and nothing unsafe runs in the handler.
#[derive(Debug)]
pub struct SignalWatch {
    signals: Vec<Signal>,
    read: OwnedFd,
    write: std::sync::Arc<OwnedFd>,
    ids: Vec<signal_hook::SigId>,
}

/// Wakes a [`SignalWatch::wait`] from another thread.
#[derive(Debug, Clone)]
pub struct Waker(std::sync::Arc<OwnedFd>);

/// Byte a [`Waker`] writes; signal deliveries write their index in the watch list.
const WAKE_BYTE: u8 = u8::MAX;

impl Waker {
    /// Makes the current or next [`SignalWatch::wait`] return.
    pub fn wake(&self) {
        let _ = rustix::io::write(&*self.0, &[WAKE_BYTE]);
    }
}

impl SignalWatch {
    /// Installs handlers for `signals`: from now on they no longer have their default effect
    /// (SIGTSTP no longer stops us, SIGTERM no longer ends us); they are reported instead.
    /// Dropping the watch unregisters the handlers, after which these signals are ignored, not
    /// restored to their defaults (the handler library stays installed), so keep the watch for
    /// as long as the process should react to them.
    pub fn new(signals: &[Signal]) -> io::Result<SignalWatch> {
        use rustix::pipe::{PipeFlags, pipe_with};
        let (read, write) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        let write = std::sync::Arc::new(write);
        let mut watch = SignalWatch {
            signals: signals.to_vec(),
            read,
            write: write.clone(),
            ids: Vec::new(),
        };
        for (index, signal) in signals.iter().enumerate() {
            let byte = u8::try_from(index)
                .ok()
                .filter(|b| *b != WAKE_BYTE)
                .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
            let fd = write.clone();
            let number = raw_signal(*signal).as_raw();
            // SAFETY: the action only calls write(2) on a pipe it keeps open (the Arc lives as
            // long as the registration), which is async-signal-safe; it allocates nothing and
            // takes no lock. A full pipe just drops the byte (many deliveries are pending).
            let id = unsafe {
                signal_hook::low_level::register(number, move || {
                    let _ = rustix::io::write(&*fd, &[byte]);
                })
            }?;
            watch.ids.push(id);
        }
        Ok(watch)
    }

    /// A handle that wakes [`SignalWatch::wait`] from another thread.
    pub fn waker(&self) -> Waker {
        Waker(self.write.clone())
    }

    /// Waits until a watched signal arrives, a [`Waker`] wakes us, or `timeout` passes (`None`:
    /// no limit). Returns the signals delivered since the last call, in order (empty after a
    /// timeout or a wake-up).
    pub fn wait(&self, timeout: Option<Duration>) -> Vec<Signal> {
        let spec = timeout.map(|t| Timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        let mut fds = [PollFd::new(&self.read, PollFlags::IN)];
        // EINTR (a signal arrived) is exactly what we wait for; the byte is read below.
        let _ = poll(&mut fds, spec.as_ref());
        let mut delivered = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match rustix::io::read(&self.read, &mut buf) {
                Ok(0) => break,
                Ok(n) => delivered.extend(
                    buf[..n]
                        .iter()
                        .filter_map(|b| self.signals.get(usize::from(*b)).copied()),
                ),
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break,
            }
        }
        delivered
    }
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Takes an exclusive advisory lock on `file`, waiting for other holders (`flock`); released
/// when the file is closed.
pub fn lock_exclusive(file: &std::fs::File) -> io::Result<()> {
    loop {
        match rustix::fs::flock(file, rustix::fs::FlockOperation::LockExclusive) {
            Err(rustix::io::Errno::INTR) => continue,
            other => return other.map_err(Into::into),
        }
    }
}
