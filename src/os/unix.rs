//! Unix functions shared by Linux and macOS: signals, sessions and process groups, reaping,
//! terminals, signal delivery as events, file locks, users.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::Pid as RawPid;

use std::net::SocketAddr;

use super::{ChildEvent, Pinned, Protocol, StdinTerminal};
use crate::process::Pid;
use crate::signal::Signal;

/// The parent pid of a process whose parent exited: init adopts it (a subreaper, when one
/// is set, adopts it instead and is then its parent).
pub const ORPHAN_PPID: Pid = 1;

/// Unix moves the children of an exited process to a reaper, so no process still names it as
/// parent: `None`. (A socket inherited from it is found in its holders' own descriptor tables.)
pub fn started_by(_pid: Pid) -> Option<Vec<Pid>> {
    None
}

/// The platform's number for `signal`.
pub(crate) fn raw_signal(signal: Signal) -> rustix::process::Signal {
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

/// Nothing to do on Unix: children get their standard streams explicitly and every other
/// descriptor reaper opens is close-on-exec (see the Windows version for why it exists).
pub fn keep_stdio_private() {}

/// Arranges for `command`'s child to start in a new session, with every signal at its default
/// action and none blocked (see [`reset_signals`]).
pub fn spawn_in_new_session(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls sigaction(2),
    // sigprocmask(2) and setsid(2), which are async-signal-safe, on its own locals.
    unsafe {
        command.pre_exec(|| {
            reset_signals()?;
            rustix::process::setsid().map(drop).map_err(Into::into)
        });
    }
}

/// A service the keeper started. Unix keepers reap by `wait(-1)`, so only the pid is kept (a
/// service started straight into its cgroup has no `std` handle at all).
#[derive(Debug)]
pub struct Spawned {
    pid: Pid,
}

impl Spawned {
    /// The service's pid.
    pub fn id(&self) -> Pid {
        self.pid
    }
}

impl From<std::process::Child> for Spawned {
    fn from(child: std::process::Child) -> Spawned {
        Spawned { pid: child.id() }
    }
}

impl From<Pid> for Spawned {
    fn from(pid: Pid) -> Spawned {
        Spawned { pid }
    }
}

/// The highest signal number (Linux's SIGRTMAX); other Unixes have fewer.
const MAX_SIGNAL: libc::c_int = 64;

/// Run between fork and exec: puts every signal back to its default action and unblocks all.
/// A process inherits ignored signals and its mask across exec, so a service started from a
/// shell running `trap '' TERM`, from `nohup` or from a supervisor that blocks signals would
/// otherwise ignore the graceful stop. Only async-signal-safe calls.
pub(crate) fn reset_signals() -> io::Result<()> {
    // SAFETY: sigaction_t and sigset_t are plain data, zeroed then filled by sigemptyset; the
    // calls change only this (forked, single-threaded) process's dispositions and mask.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut default.sa_mask);
        for signal in 1..=MAX_SIGNAL {
            // EINVAL, skipped: numbers the platform lacks, SIGKILL, SIGSTOP, and the C library's
            // own (glibc's 32 and 33, which it sets up itself in every program that uses them).
            libc::sigaction(signal, &default, std::ptr::null_mut());
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        if libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The keeper's loop: reaps the service `leader` and every descendant reparented to the keeper
/// (a subreaper), calling `on_leader_exit` with the leader's (code, signal); returns once the
/// keeper has no children left. Reaps with `wait(-1)`.
pub fn supervise_service(
    leader: Spawned,
    mut on_leader_exit: impl FnMut(Option<i32>, Option<i32>),
) {
    let leader = leader.id();
    while let Some((pid, code, signal)) = reap_any_child() {
        if pid == leader {
            on_leader_exit(code, signal);
        }
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

/// Hours, minutes and seconds of `unix_secs` in the local time zone.
pub fn local_time_of_day(unix_secs: u64) -> Option<(u64, u64, u64)> {
    // The libc crate marks the name `time_t` deprecated on musl (its 32-bit targets move to a
    // 64-bit time_t); try_from handles either width, so the warning is not for this use.
    #[allow(deprecated)]
    let secs = libc::time_t::try_from(unix_secs).ok()?;
    // SAFETY: `tm` is plain data that localtime_r fully writes on success; both pointers are
    // valid for the duration of the call, and localtime_r is the thread-safe variant.
    let (ok, tm) = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let ok = !libc::localtime_r(&secs, &mut tm).is_null();
        (ok, tm)
    };
    ok.then_some((tm.tm_hour as u64, tm.tm_min as u64, tm.tm_sec as u64))
}

/// Unix has no console host processes.
pub fn is_console_host(_info: &crate::process::ProcessInfo) -> bool {
    false
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

/// Hands a spawned child to the supervisor's bookkeeping. Nothing to keep on Unix: the
/// `waitpid(-1)` of [`reap_child_nonblocking`] sees every child, and the `Child` is dropped
/// without waiting (dropping it neither waits for nor kills the process).
pub fn adopt_child(child: std::process::Child) {
    drop(child);
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
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe calls
    // (see `reset_signals`). It runs before the terminal is taken, which blocks SIGTTOU itself.
    unsafe {
        command.pre_exec(reset_signals);
    }
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

/// Ends the calling process with SIGKILL, at once: no destructor, no flush, no exit handler runs
/// (the testing-only fault points of `REAPER_FAULT` use it to die as `kill -9` would make them).
pub fn kill_self() -> ! {
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    // SIGKILL cannot be caught: the process is gone before the call returns.
    std::process::abort()
}

impl Pinned {
    /// Like [`Pinned::signal`]: on Unix every member of a tree is signalled one by one, so a
    /// process group leader gets nothing more (the Windows version also reaches its group).
    pub fn signal_group(&self, signal: Signal) -> io::Result<()> {
        self.signal(signal)
    }
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
        let (read, write) = nonblocking_pipe()?;
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

/// Raises this process's soft limit on open files to its hard limit (a stop holds a pidfd per
/// live member) and returns the limit now in force.
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
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

/// Opens `path` with `options` without following a symbolic link in its last component
/// (`O_NOFOLLOW`: a link gives `ELOOP`), creating it (where `options` create) with mode 0600.
/// `O_NONBLOCK` during the open keeps a planted FIFO from blocking it; it is cleared again.
pub fn open_no_follow(
    path: &std::path::Path,
    options: &mut std::fs::OpenOptions,
) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .mode(0o600)
        .open(path)?;
    let flags = rustix::fs::fcntl_getfl(&file)?;
    rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK)?;
    Ok(file)
}

/// True when an error from [`open_no_follow`] means the last component is a symbolic link.
pub fn is_symlink_error(error: &io::Error) -> bool {
    error.raw_os_error() == Some(libc::ELOOP)
}

/// Creates `path` and its missing parents with mode 0700 (before the umask).
pub fn create_private_dir_all(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// Why a directory or file with metadata `meta` may have been planted by someone else: it
/// belongs to another user (root excepted: nobody else could have planted what root owns), or
/// group or others may write it. `None` when only we (or root) could have written it.
pub fn untrusted_because(meta: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        let owner = user_name(meta.uid()).unwrap_or_else(|| format!("uid {}", meta.uid()));
        return Some(format!(
            "it belongs to {owner}, not to the user running reaper"
        ));
    }
    let writable = meta.mode() & 0o022;
    if writable != 0 {
        let who = match writable {
            0o020 => "its group",
            0o002 => "others",
            _ => "its group and others",
        };
        return Some(format!(
            "{who} may write it (mode {:o})",
            meta.mode() & 0o7777
        ));
    }
    None
}

/// Binds (without listening) a socket of `protocol` to `addr` and closes it again: whether a
/// server could bind that address now. With `reuse_addr`, sets `SO_REUSEADDR` first, as most
/// servers do (it lets a bind succeed over connections left in TIME-WAIT). IPv6 sockets are
/// IPv6-only. A host without the address family gives [`io::ErrorKind::Unsupported`].
pub fn try_bind(protocol: Protocol, addr: SocketAddr, reuse_addr: bool) -> io::Result<()> {
    let family = if addr.is_ipv4() {
        rustix::net::AddressFamily::INET
    } else {
        rustix::net::AddressFamily::INET6
    };
    let kind = match protocol {
        Protocol::Tcp => rustix::net::SocketType::STREAM,
        Protocol::Udp => rustix::net::SocketType::DGRAM,
    };
    let socket = match rustix::net::socket(family, kind, None) {
        Ok(socket) => socket,
        Err(rustix::io::Errno::AFNOSUPPORT) => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this host has no IPv6",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if reuse_addr {
        rustix::net::sockopt::set_socket_reuseaddr(&socket, true)?;
    }
    if addr.is_ipv6() {
        rustix::net::sockopt::set_ipv6_v6only(&socket, true)?;
    }
    rustix::net::bind(&socket, &addr)?;
    Ok(())
}

/// The name of user `uid` from `/etc/passwd`, if it has one there.
pub fn user_name(uid: u32) -> Option<String> {
    static USERS: std::sync::OnceLock<std::collections::HashMap<u32, String>> =
        std::sync::OnceLock::new();
    USERS
        .get_or_init(|| {
            std::fs::read_to_string("/etc/passwd")
                .unwrap_or_default()
                .lines()
                .filter_map(|line| {
                    let mut fields = line.split(':');
                    let name = fields.next()?;
                    let uid = fields.nth(1)?.parse().ok()?;
                    Some((uid, name.to_string()))
                })
                .collect()
        })
        .get(&uid)
        .cloned()
}

/// A pipe whose ends are close-on-exec and non-blocking (`pipe2` is not on every Unix).
fn nonblocking_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    use rustix::io::{FdFlags, fcntl_setfd};
    let (read, write) = rustix::pipe::pipe()?;
    for end in [&read, &write] {
        fcntl_setfd(end, FdFlags::CLOEXEC)?;
        fcntl_setfl(end, fcntl_getfl(end)? | OFlags::NONBLOCK)?;
    }
    Ok((read, write))
}
