//! macOS: libproc (`proc_listallpids`, `proc_pidinfo`), `sysctl(KERN_PROCARGS2)` for argv and
//! environment, kqueue `EVFILT_PROC` for event-driven waits, and the `listeners` crate for
//! sockets. Functions shared with Linux live in `unix.rs`.
//!
//! Gaps, stated in the README: no pidfd, so identity is checked immediately before each signal
//! (a small window for pid reuse remains); no subreaper, so an orphaned daemon is reparented to
//! launchd and found through its session and marker rather than through the keeper; sockets
//! report one owner pid each.

#![allow(unsafe_code)]

use std::collections::HashSet;
use std::ffi::c_void;
use std::io;
use std::mem::{size_of, zeroed};
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use super::{ListeningSocket, PinError, Protocol};
use crate::ports::{Holder, OwnerScan, Socket, SocketState, TcpScope};
use crate::process::{Pid, ProcessInfo, ProcessState, Snapshot};
use crate::signal::Signal;

/// Identifies the current boot: `kern.boottime`.
pub fn boot_id() -> io::Result<String> {
    static BOOT: OnceLock<String> = OnceLock::new();
    if let Some(id) = BOOT.get() {
        return Ok(id.clone());
    }
    let mut mib = [libc::CTL_KERN, libc::KERN_BOOTTIME];
    // SAFETY: a timeval out-buffer of the size passed; the mib array lives across the call.
    let boot = unsafe {
        let mut tv: libc::timeval = zeroed();
        let mut len = size_of::<libc::timeval>();
        if libc::sysctl(
            mib.as_mut_ptr(),
            2,
            (&mut tv as *mut libc::timeval).cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        tv
    };
    Ok(BOOT
        .get_or_init(|| format!("macos-boot-{}.{}", boot.tv_sec, boot.tv_usec))
        .clone())
}

fn bsd_info(pid: Pid) -> Option<libc::proc_bsdinfo> {
    // SAFETY: the out-buffer is a zeroed proc_bsdinfo of the size passed.
    unsafe {
        let mut info: libc::proc_bsdinfo = zeroed();
        let size = size_of::<libc::proc_bsdinfo>() as i32;
        let n = libc::proc_pidinfo(
            pid as i32,
            libc::PROC_PIDTBSDINFO,
            0,
            (&mut info as *mut libc::proc_bsdinfo).cast::<c_void>(),
            size,
        );
        (n == size).then_some(info)
    }
}

fn task_info(pid: Pid) -> Option<libc::proc_taskinfo> {
    // SAFETY: as bsd_info.
    unsafe {
        let mut info: libc::proc_taskinfo = zeroed();
        let size = size_of::<libc::proc_taskinfo>() as i32;
        let n = libc::proc_pidinfo(
            pid as i32,
            libc::PROC_PIDTASKINFO,
            0,
            (&mut info as *mut libc::proc_taskinfo).cast::<c_void>(),
            size,
        );
        (n == size).then_some(info)
    }
}

fn c_name(raw: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = raw
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn info_of(pid: Pid) -> Option<ProcessInfo> {
    let bsd = bsd_info(pid)?;
    let task = task_info(pid);
    // SAFETY: getsid has no memory arguments.
    let sid = unsafe { libc::getsid(pid as i32) };
    // SZOMB = 5, SSTOP = 4, SRUN = 2, SSLEEP = 3
    let state = match bsd.pbi_status {
        2 => ProcessState::Running,
        3 => ProcessState::Sleeping,
        4 => ProcessState::Stopped,
        5 => ProcessState::Zombie,
        _ => ProcessState::Other,
    };
    let start_us = bsd.pbi_start_tvsec * 1_000_000 + bsd.pbi_start_tvusec;
    let name = if bsd.pbi_name[0] != 0 {
        c_name(&bsd.pbi_name)
    } else {
        c_name(&bsd.pbi_comm)
    };
    Some(ProcessInfo {
        pid,
        ppid: bsd.pbi_ppid,
        pgid: bsd.pbi_pgid,
        sid: if sid < 0 { 0 } else { sid as Pid },
        state,
        start_time: start_us,
        started_at: UNIX_EPOCH + Duration::from_micros(start_us),
        name,
        cpu_time: task.map_or(Duration::ZERO, |t| {
            Duration::from_nanos(t.pti_total_user + t.pti_total_system)
        }),
        rss_bytes: task.map_or(0, |t| t.pti_resident_size),
        kernel_thread: pid == 0,
    })
}

/// Reads the whole process table.
pub fn snapshot() -> io::Result<Snapshot> {
    let mut pids: Vec<i32> = vec![0; 4096];
    loop {
        // SAFETY: the buffer is valid for its byte size.
        let n = unsafe {
            libc::proc_listallpids(
                pids.as_mut_ptr().cast::<c_void>(),
                (pids.len() * size_of::<i32>()) as i32,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if (n as usize) < pids.len() {
            pids.truncate(n as usize);
            break;
        }
        pids.resize(pids.len() * 2, 0);
    }
    Ok(Snapshot::from_processes(
        pids.into_iter().filter_map(|pid| info_of(pid as Pid)),
    ))
}

/// Reads one process, if it exists.
pub fn process_info(pid: Pid) -> Option<ProcessInfo> {
    info_of(pid)
}

/// `KERN_PROCARGS2`: argc, the executable path, then argv and the environment, NUL-separated.
fn procargs(pid: Pid) -> Option<(Vec<String>, Vec<String>)> {
    let mut mib = [libc::CTL_KERN, libc::KERN_PROCARGS2, pid as i32];
    let mut size: usize = 0;
    // SAFETY: first call asks the size; the second fills a buffer of that size.
    unsafe {
        if libc::sysctl(
            mib.as_mut_ptr(),
            3,
            std::ptr::null_mut(),
            &mut size,
            std::ptr::null_mut(),
            0,
        ) != 0
        {
            return None;
        }
        let mut buffer = vec![0u8; size];
        if libc::sysctl(
            mib.as_mut_ptr(),
            3,
            buffer.as_mut_ptr().cast(),
            &mut size,
            std::ptr::null_mut(),
            0,
        ) != 0
        {
            return None;
        }
        buffer.truncate(size);
        let argc = i32::from_ne_bytes(buffer.get(..4)?.try_into().ok()?) as usize;
        let mut fields = buffer[4..].split(|b| *b == 0).filter(|f| !f.is_empty());
        fields.next()?; // executable path
        let strings: Vec<String> = fields
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        let env = strings.get(argc..).unwrap_or_default().to_vec();
        let argv = strings.into_iter().take(argc).collect();
        Some((argv, env))
    }
}

/// The command line of a process.
pub fn command_line(pid: Pid) -> Option<Vec<String>> {
    procargs(pid).map(|(argv, _)| argv)
}

/// The value of one environment variable as the process was started with it (readable for the
/// user's own processes).
pub fn marker_of(pid: Pid, var: &str) -> Option<String> {
    let prefix = format!("{var}=");
    procargs(pid)?
        .1
        .into_iter()
        .find_map(|entry| entry.strip_prefix(&prefix).map(str::to_string))
}

/// macOS has no job objects; containment uses sessions, parent links and markers.
pub fn contained_processes(_run_id: &str) -> Vec<Pid> {
    Vec::new()
}

/// The owner (uid) of a process.
pub fn uid_of(pid: Pid) -> Option<u32> {
    bsd_info(pid).map(|b| b.pbi_uid)
}

/// A process whose identity was checked. Without pidfds the identity is checked again right
/// before every signal; a window for pid reuse remains between that check and the signal.
#[derive(Debug)]
pub struct Pinned {
    pid: Pid,
    start_time: u64,
}

impl Pinned {
    /// Verifies that `pid` started at `expected_start`.
    pub fn open(pid: Pid, expected_start: u64) -> Result<Pinned, PinError> {
        let found = info_of(pid).ok_or(PinError::Gone(pid))?.start_time;
        if found != expected_start {
            return Err(PinError::Reused {
                pid,
                expected: expected_start,
                found,
            });
        }
        Ok(Pinned {
            pid,
            start_time: expected_start,
        })
    }

    /// The pinned pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Sends `signal` after re-checking the identity. A process that already exited is not an
    /// error.
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        match info_of(self.pid) {
            Some(info) if info.start_time == self.start_time && info.state.is_alive() => {}
            _ => return Ok(()),
        }
        let raw = super::unix::raw_signal(signal).as_raw();
        // SAFETY: kill has no memory arguments.
        if unsafe { libc::kill(self.pid as i32, raw) } != 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::ESRCH) {
                return Err(error);
            }
        }
        Ok(())
    }

    /// True once the process has exited (it may still be a zombie).
    pub fn has_exited(&self) -> bool {
        info_of(self.pid)
            .is_none_or(|info| info.start_time != self.start_time || !info.state.is_alive())
    }
}

/// Blocks until at least one of `pinned` exits or `timeout` passes (kqueue `NOTE_EXIT`).
pub fn wait_for_exit(pinned: &[&Pinned], timeout: Duration) {
    // SAFETY: kqueue returns a descriptor we own and close; the change and event lists are
    // valid for the lengths passed.
    unsafe {
        let kq = libc::kqueue();
        if kq < 0 {
            std::thread::sleep(timeout.min(Duration::from_millis(10)));
            return;
        }
        let changes: Vec<libc::kevent> = pinned
            .iter()
            .map(|p| libc::kevent {
                ident: p.pid as usize,
                filter: libc::EVFILT_PROC,
                flags: libc::EV_ADD | libc::EV_ONESHOT,
                fflags: libc::NOTE_EXIT,
                data: 0,
                udata: std::ptr::null_mut(),
            })
            .collect();
        let mut events: Vec<libc::kevent> = vec![zeroed(); changes.len().max(1)];
        let spec = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: i64::from(timeout.subsec_nanos()) as libc::c_long,
        };
        // A process that exited before registration makes kevent report ESRCH for it at once.
        libc::kevent(
            kq,
            changes.as_ptr(),
            changes.len() as i32,
            events.as_mut_ptr(),
            events.len() as i32,
            &spec,
        );
        libc::close(kq);
    }
}

/// Listening TCP sockets and bound UDP sockets with their owner pid (the `listeners` crate, one
/// owner per socket: a socket shared by forked workers is reported under one of them). Other TCP
/// states are not listed on macOS.
fn owned() -> Vec<(Socket, Pid)> {
    use std::hash::{Hash, Hasher};
    let Ok(all) = listeners::get_all() else {
        return Vec::new();
    };
    all.into_iter()
        .map(|l| {
            let (protocol, state) = match l.protocol {
                listeners::Protocol::TCP => (Protocol::Tcp, SocketState::Listen),
                listeners::Protocol::UDP => (Protocol::Udp, SocketState::Unconnected),
            };
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            (protocol, l.socket, l.process.pid).hash(&mut hasher);
            let socket = Socket {
                protocol,
                local: l.socket,
                remote: None,
                state,
                inode: hasher.finish().max(1),
                uid: uid_of(l.process.pid).unwrap_or(u32::MAX),
            };
            (socket, l.process.pid)
        })
        .collect()
}

/// Sockets on `port` (all ports if `None`); macOS lists listeners and bound UDP sockets only.
pub fn sockets(port: Option<u16>, _listening: bool) -> io::Result<Vec<Socket>> {
    read_sockets(port, TcpScope::Listening, true)
}

/// Sockets on `port` (all if `None`): TCP listeners unless `tcp` is `None`, UDP with `udp`.
pub fn read_sockets(port: Option<u16>, tcp: TcpScope, udp: bool) -> io::Result<Vec<Socket>> {
    Ok(owned()
        .into_iter()
        .map(|(s, _)| s)
        .filter(|s| port.is_none_or(|p| s.local.port() == p))
        .filter(|s| match s.protocol {
            Protocol::Tcp => tcp != TcpScope::None,
            Protocol::Udp => udp,
        })
        .collect())
}

/// Which processes hold the sockets `inodes` (all if `None`).
pub fn socket_owners(inodes: Option<&HashSet<u64>>) -> OwnerScan {
    let mut scan = OwnerScan::default();
    for (socket, pid) in owned() {
        if inodes.is_none_or(|set| set.contains(&socket.inode)) {
            scan.owners
                .entry(socket.inode)
                .or_default()
                .push(Holder::seen_now(pid));
        }
    }
    scan
}

/// Every listening TCP socket and bound UDP socket.
pub fn listening_sockets() -> io::Result<Vec<ListeningSocket>> {
    Ok(owned()
        .into_iter()
        .map(|(s, _)| ListeningSocket {
            protocol: s.protocol,
            local: s.local,
            inode: s.inode,
        })
        .collect())
}

/// Identifiers of the listening sockets a process owns.
pub fn socket_inodes(pid: Pid) -> HashSet<u64> {
    owned()
        .into_iter()
        .filter(|(_, owner)| *owner == pid)
        .map(|(s, _)| s.inode)
        .collect()
}

/// Network namespaces do not exist on macOS.
pub fn in_foreign_network_namespace() -> Option<bool> {
    None
}

/// Containment of a keeper's run: nothing to set up on macOS (no subreaper, no job objects); the
/// service's session and marker identify its tree.
pub fn contain_run(_run_id: &str) -> io::Result<()> {
    Ok(())
}

/// macOS has no child subreaper (always `Unsupported`): orphans go to launchd, which reaps
/// them, and containment relies on sessions and markers instead.
pub fn become_subreaper() -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "macOS has no subreaper; sessions and markers contain the tree",
    ))
}

/// This machine's host name.
pub fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}
