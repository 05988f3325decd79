//! Linux: `/proc`, pidfds, `PR_SET_CHILD_SUBREAPER`.

use std::collections::HashSet;
use std::ffi::{CStr, OsStr};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use procfs::process::Process;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid as RawPid, PidfdFlags, pidfd_open, pidfd_send_signal};

use super::unix::raw_signal;
use super::{ListeningSocket, PinError};
use crate::process::{Pid, ProcessInfo, ProcessState, Snapshot};
use crate::signal::Signal;

// Socket tables, socket owners, bind checks.
#[path = "linux_net.rs"]
mod net;
pub use net::*;

// Containment by cgroup v2.
#[path = "linux_cgroup.rs"]
mod cgroup;
pub use cgroup::*;

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

/// Reads a file under `/proc` (path relative to it) into `buf` (grown as needed) with one open,
/// usually one read, and a close; returns the bytes read. `None` when the file cannot be read
/// (the process is gone); running out of file descriptors is not that, and is recorded in
/// [`DESCRIPTORS_EXHAUSTED`] so a scan that missed processes for it fails instead.
fn read_proc_file<'b>(relative: &CStr, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    use rustix::fs::{Mode, OFlags, openat};
    let dir = proc_dir()?;
    let fd = match openat(
        dir,
        relative,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::MFILE | rustix::io::Errno::NFILE) => {
            DESCRIPTORS_EXHAUSTED.store(true, std::sync::atomic::Ordering::Relaxed);
            return None;
        }
        Err(_) => return None,
    };
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

/// Set when a `/proc` read failed for lack of file descriptors (see [`snapshot`]).
static DESCRIPTORS_EXHAUSTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Parses `/proc/PID/stat` (the command name may contain spaces and parentheses, so fields are
/// counted from the last `)`).
pub(crate) fn parse_stat(text: &[u8]) -> Option<ProcessInfo> {
    let open = text.iter().position(|b| *b == b'(')?;
    let close = text.iter().rposition(|b| *b == b')')?;
    let pid: u32 = std::str::from_utf8(&text[..open])
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let name = String::from_utf8_lossy(&text[open + 1..close]).into_owned();
    let rest = std::str::from_utf8(text.get(close + 2..)?).ok()?;
    // fields[0] is field 3 of proc(5); field 24 (rss) is the last one read. A fixed array, not a
    // Vec: this runs for every process of every scan.
    let mut fields = [""; 22];
    let mut count = 0;
    for (slot, field) in fields.iter_mut().zip(rest.split_ascii_whitespace()) {
        *slot = field;
        count += 1;
    }
    let field = |n: usize| fields[..count].get(n - 3).copied();
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
        // Saturating: no kernel writes times that overflow, but one bad line must not panic
        // and end a whole scan.
        cpu_time: ticks_to_duration(number(14)?.saturating_add(number(15)?)),
        rss_bytes: number(24)?.saturating_mul(procfs::page_size()),
        // PF_KTHREAD
        kernel_thread: number(9)? & 0x0020_0000 != 0,
    })
}

fn read_info(pid: Pid, buf: &mut Vec<u8>) -> Option<ProcessInfo> {
    parse_stat(read_proc_file(pid_path(pid, "stat", &mut [0; 32]), buf)?)
}

/// `PID/LEAF` (relative to `/proc`) as a C string in `buf`: scans open one or more per process,
/// without an allocation each. `leaf` is one of reaper's own short names (`fd`, `stat`, ...).
pub(crate) fn pid_path<'b>(pid: Pid, leaf: &str, buf: &'b mut [u8; 32]) -> &'b CStr {
    use std::io::Write;
    // A u32, a slash, a leaf of up to 20 bytes and the NUL fit; a longer leaf is cut short and
    // names no file, so the open fails rather than reading another one.
    let mut cursor = std::io::Cursor::new(&mut buf[..31]);
    let _ = write!(cursor, "{pid}/{leaf}");
    let end = usize::try_from(cursor.position()).unwrap_or(0);
    buf[end] = 0;
    CStr::from_bytes_until_nul(&buf[..=end]).unwrap_or_default()
}

/// The owner (real uid) of a process.
pub fn uid_of(pid: Pid) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}"))
        .ok()
        .map(|m| m.uid())
}

/// A fresh descriptor of `/proc` (a directory listing moves the descriptor's offset, so a
/// listing never shares one).
pub(crate) fn open_proc() -> io::Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    rustix::fs::open(
        "/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(Into::into)
}

/// `/proc`, opened once for the whole process: opening files relative to it never moves its
/// offset, so every thread shares it (a listing does move it: [`all_pids`] takes a fresh one).
pub(crate) fn proc_dir() -> Option<BorrowedFd<'static>> {
    static PROC: OnceLock<Option<OwnedFd>> = OnceLock::new();
    PROC.get_or_init(|| open_proc().ok())
        .as_ref()
        .map(AsFd::as_fd)
}

/// Every pid in `/proc` (read with `getdents64` into one stack buffer: no allocation per entry).
pub(crate) fn all_pids(proc_dir: BorrowedFd<'_>) -> io::Result<Vec<Pid>> {
    use rustix::fs::RawDir;
    let mut entries = [std::mem::MaybeUninit::<u8>::uninit(); 16384];
    let mut iter = RawDir::new(proc_dir, &mut entries);
    let mut pids = Vec::with_capacity(1024);
    while let Some(entry) = iter.next() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        let pid = name
            .first()
            .filter(|b| b.is_ascii_digit())
            .and_then(|_| std::str::from_utf8(name).ok()?.parse().ok());
        if let Some(pid) = pid {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// Above this many processes the table is read by two threads: the work is all system calls,
/// so it scales with cores.
const PARALLEL_SCAN: usize = 1000;

/// Reads the whole process table. Fails, rather than leaving processes out, when file
/// descriptors ran out during the scan.
pub fn snapshot() -> io::Result<Snapshot> {
    use std::sync::atomic::Ordering;
    DESCRIPTORS_EXHAUSTED.store(false, Ordering::Relaxed);
    let table = scan_table()?;
    if DESCRIPTORS_EXHAUSTED.swap(false, Ordering::Relaxed) {
        return Err(io::Error::other(
            "out of file descriptors while reading /proc: the process table would be incomplete",
        ));
    }
    Ok(table)
}

fn scan_table() -> io::Result<Snapshot> {
    let pids = all_pids(open_proc()?.as_fd())?;
    let read = |chunk: &[Pid]| -> Vec<ProcessInfo> {
        let mut buf = vec![0; 4096];
        let mut infos = Vec::with_capacity(chunk.len());
        infos.extend(chunk.iter().filter_map(|pid| read_info(*pid, &mut buf)));
        infos
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
        let raw = read_proc_file(pid_path(pid, "environ", &mut [0; 32]), buf)?;
        find_var(raw, var)
    })
}

/// The value of `var` in the bytes of a `/proc/PID/environ`.
pub(crate) fn find_var(raw: &[u8], var: &str) -> Option<String> {
    let prefix = format!("{var}=");
    raw.split(|b| *b == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .map(|value| OsStr::from_bytes(value).to_string_lossy().into_owned())
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
    /// Kernels before 5.3 have no pidfd: the identity (this start time) is checked again right
    /// before every signal, and a window for pid reuse exists between that check and the signal.
    CheckedPid {
        /// The start time the process had when it was pinned.
        start_time: u64,
    },
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
            Err(rustix::io::Errno::NOSYS) => PinnedHandle::CheckedPid {
                start_time: expected_start,
            },
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
            PinnedHandle::CheckedPid { start_time } => {
                // Only what still has the pinned start time is signalled; a process that now
                // has the pid is someone else, and the pinned one is gone.
                match process_info(self.pid) {
                    Some(info) if info.start_time == *start_time && info.state.is_alive() => {
                        let raw =
                            RawPid::from_raw(self.pid as i32).expect("pinned pid is positive");
                        rustix::process::kill_process(raw, sig)
                    }
                    _ => Ok(()),
                }
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
            PinnedHandle::CheckedPid { start_time } => process_info(self.pid)
                .is_none_or(|info| info.start_time != *start_time || !info.state.is_alive()),
        }
    }
}

/// Blocks until at least one of `pinned` exits or `timeout` passes. Event-driven through
/// pidfds; without pidfds it polls every 10 ms.
pub fn wait_for_exit(pinned: &[&Pinned], timeout: Duration) {
    wait_for_events(pinned, &[], timeout);
}

/// Blocks until one of `pinned` exits, one of `cgroups` changes (see [`CgroupWatch`]), or
/// `timeout` passes.
pub fn wait_for_events(pinned: &[&Pinned], cgroups: &[&CgroupWatch], timeout: Duration) {
    let fds: Vec<_> = pinned
        .iter()
        .filter_map(|p| match &p.handle {
            PinnedHandle::Pidfd(fd) => Some((fd.as_fd(), PollFlags::IN)),
            PinnedHandle::CheckedPid { .. } => None,
        })
        .chain(cgroups.iter().map(|watch| (watch.fd(), PollFlags::PRI)))
        .collect();
    let timeout = if fds.len() < pinned.len() + cgroups.len() {
        timeout.min(Duration::from_millis(10))
    } else {
        timeout
    };
    let mut poll_fds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|(fd, flags)| PollFd::new(fd, *flags))
        .collect();
    let spec = Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    // EINTR just means we look again sooner.
    let _ = poll(&mut poll_fds, Some(&spec));
    for watch in cgroups {
        watch.drain();
    }
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

/// Containment of a keeper's run: on Linux the keeper becomes a child subreaper, so every
/// descendant of the service that gets orphaned is reparented to it.
pub fn contain_run(_run_id: &str) -> io::Result<()> {
    become_subreaper()
}

/// Processes contained by run `run_id` beyond what sessions, parent links and markers show:
/// none on Linux without a cgroup (a run's cgroup is named in its record, see
/// [`cgroup_processes`]).
pub fn contained_processes(_run_id: &str) -> Vec<Pid> {
    Vec::new()
}

/// Starts the keeper's service in a session of its own and, with a cgroup, straight into it
/// (`clone3` with `CLONE_INTO_CGROUP`: no migration, which costs the kernel an RCU grace period,
/// 5 to 17 ms here); kernels before 5.7 get the service moved in before it execs.
pub fn spawn_service(launch: &super::ServiceLaunch<'_>) -> io::Result<super::Spawned> {
    if let Some(cgroup) = launch.cgroup {
        if let Some(pid) = cgroup::spawn_into_cgroup(launch, cgroup)? {
            return Ok(pid.into());
        }
    }
    let mut command = launch.command()?;
    if let Some(cgroup) = launch.cgroup {
        spawn_in_cgroup(&mut command, cgroup)?;
    }
    command.spawn().map(Into::into)
}

/// Makes the calling process a child subreaper: orphaned descendants are reparented to it
/// instead of to init, so it can find and reap them.
pub fn become_subreaper() -> io::Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).map_err(Into::into)
}

/// This machine's host name.
pub fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_paths_fit_every_pid_and_ignore_what_the_buffer_held() {
        let mut buf = [b'x'; 32];
        assert_eq!(
            pid_path(u32::MAX, "environ", &mut buf),
            c"4294967295/environ"
        );
        assert_eq!(pid_path(1, "fd", &mut buf), c"1/fd");
        assert_eq!(pid_path(42, "stat", &mut buf), c"42/stat");
        // Cut short rather than spilling over: the open of a cut name fails.
        assert_eq!(
            pid_path(u32::MAX, "a-leaf-far-too-long-to-fit", &mut buf),
            c"4294967295/a-leaf-far-too-long-"
        );
    }

    #[test]
    fn a_stat_line_is_read_from_the_last_parenthesis_and_a_short_one_is_refused() {
        let line = b"4242 (a) (b) c) S 1 4242 4242 0 -1 4194560 0 0 0 0 7 3 0 0 20 0 1 0 12345 100 25 18446744073709551615";
        let info = parse_stat(line).expect("a full line");
        assert_eq!(info.pid, 4242);
        assert_eq!(info.name, "a) (b) c");
        assert_eq!((info.ppid, info.pgid, info.sid), (1, 4242, 4242));
        assert_eq!(info.start_time, 12345);
        assert_eq!(info.cpu_time, ticks_to_duration(10));
        assert_eq!(info.rss_bytes, 25 * procfs::page_size());
        assert!(!info.kernel_thread);
        // Cut before field 24 (rss): not a process to act on.
        assert!(
            parse_stat(b"4242 (a) S 1 4242 4242 0 -1 4194560 0 0 0 0 7 3 0 0 20 0 1 0 12345 100")
                .is_none()
        );
    }

    /// Regression (issue 11, case 3): without pidfds, a signal went to the bare pid checked
    /// seconds earlier. The start time is now checked again right before each signal: a pid
    /// that now shows another start time (another process) is not signalled.
    /// Kills and reaps the test's child even when an assertion fails.
    struct Reaped(std::process::Child);

    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn a_checked_pid_is_not_signalled_once_its_start_time_differs() {
        let mut child = Reaped(
            std::process::Command::new("sleep")
                .arg("1000")
                .spawn()
                .expect("sleep"),
        );
        let pid = child.0.id();
        let start_time = process_info(pid).expect("child in /proc").start_time;
        // As if the pinned process had been replaced by another with the same pid.
        let replaced = Pinned {
            pid,
            handle: PinnedHandle::CheckedPid {
                start_time: start_time + 1,
            },
        };
        assert!(replaced.has_exited());
        replaced.signal(Signal::Kill).expect("no error");
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            process_info(pid).is_some_and(|info| info.state.is_alive()),
            "a process with another start time was signalled"
        );
        let same = Pinned {
            pid,
            handle: PinnedHandle::CheckedPid { start_time },
        };
        same.signal(Signal::Kill).expect("signal");
        let status = child.0.wait().expect("wait");
        assert!(!status.success());
    }
}
