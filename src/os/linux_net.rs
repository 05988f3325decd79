//! Linux sockets: the kernel's TCP and UDP tables, and which processes hold a socket.
//!
//! Tables come from sock_diag netlink: the kernel walks its hash tables and, given a port, runs
//! a small filter program on each socket, so only the sockets on that port are copied out (no
//! text formatting of every socket, as `/proc/net/tcp` does). Where netlink is unavailable
//! (seccomp, a module that cannot load), `/proc/net/{tcp,tcp6,udp,udp6}` are read instead.
//!
//! No kernel interface maps a socket to the processes holding it: the only way is to read every
//! process's fd table. That scan is done with raw `getdents64` into a stack buffer and
//! `readlinkat` relative to each `/proc/PID/fd` directory (no path walk and no allocation per
//! fd), and on two threads when there are many processes.

use std::collections::HashSet;
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use rustix::fs::{Mode, OFlags, RawDir, openat, readlinkat_raw};
use rustix::io::Errno;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use crate::os::Protocol;
use crate::ports::{Holder, OwnerScan, Socket, SocketState, TcpScope};
use crate::process::Pid;

const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// The older `inet_diag` request: with it the kernel dumps IPv4 and IPv6 TCP sockets in one
/// walk of its hash tables (family `AF_UNSPEC`), where `SOCK_DIAG_BY_FAMILY` needs one walk per
/// family. The walk of the established-connections table is what a dump of every state costs
/// (its size grows with the host's memory: ~1 ms here for 262,144 buckets), so this halves it.
const TCPDIAG_GETSOCK: u16 = 18;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_HEADER: usize = 16;
const INET_DIAG_REQ_BYTECODE: u16 = 1;
const INET_DIAG_BC_S_GE: u8 = 2;
const INET_DIAG_BC_S_LE: u8 = 3;
/// Size of `struct inet_diag_msg`.
const INET_DIAG_MSG: usize = 72;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const TCP_LISTEN: u8 = 10;
/// Every TCP state [`tcp_state`] knows (1 to 12). Asking for state 13 as well
/// (`TCP_BOUND_INACTIVE`, Linux 6.5+: bound, neither listening nor connected) makes the kernel
/// walk its whole bind hash table too, about a quarter more time per dump here, for sockets
/// that would be dropped.
const TCP_KNOWN_STATES: u32 = (1 << 13) - 2;

fn tcp_state(code: u8) -> Option<SocketState> {
    Some(match code {
        1 => SocketState::Established,
        2 => SocketState::SynSent,
        // 12 is TCP_NEW_SYN_RECV: a connection request not yet accepted.
        3 | 12 => SocketState::SynRecv,
        4 => SocketState::FinWait1,
        5 => SocketState::FinWait2,
        6 => SocketState::TimeWait,
        7 => SocketState::Close,
        8 => SocketState::CloseWait,
        9 => SocketState::LastAck,
        10 => SocketState::Listen,
        11 => SocketState::Closing,
        _ => return None,
    })
}

fn udp_state(code: u8) -> SocketState {
    // UDP sockets use TCP_ESTABLISHED once connect()ed and TCP_CLOSE otherwise.
    if code == 1 {
        SocketState::Established
    } else {
        SocketState::Unconnected
    }
}

/// A dump request: `SOCK_DIAG_BY_FAMILY` for one family, or with `family` `None` the older
/// `TCPDIAG_GETSOCK` for TCP of both families. With `port`, a filter program the kernel runs on
/// each socket: `sport >= port && sport <= port` (the ops every kernel since 2.6 accepts).
fn diag_request(
    family: Option<u8>,
    protocol: u8,
    states: u32,
    port: Option<u16>,
    seq: u32,
) -> Vec<u8> {
    let mut bytecode = Vec::new();
    if let Some(port) = port {
        // struct inet_diag_bc_op { u8 code; u8 yes; u16 no; }, each comparison followed by a
        // second op whose `no` holds the port. Jumping exactly to the end accepts; jumping 4
        // bytes past it rejects.
        bytecode.extend([INET_DIAG_BC_S_GE, 8]);
        bytecode.extend(20u16.to_ne_bytes());
        bytecode.extend([0, 0]);
        bytecode.extend(port.to_ne_bytes());
        bytecode.extend([INET_DIAG_BC_S_LE, 8]);
        bytecode.extend(12u16.to_ne_bytes());
        bytecode.extend([0, 0]);
        bytecode.extend(port.to_ne_bytes());
    }
    let attribute = if bytecode.is_empty() {
        0
    } else {
        4 + bytecode.len()
    };
    let body = if family.is_some() { 56 } else { 60 };
    let total = NLMSG_HEADER + body + attribute;
    let mut msg = Vec::with_capacity(total);
    msg.extend((total as u32).to_ne_bytes());
    msg.extend(
        match family {
            Some(_) => SOCK_DIAG_BY_FAMILY,
            None => TCPDIAG_GETSOCK,
        }
        .to_ne_bytes(),
    );
    msg.extend((NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    msg.extend(seq.to_ne_bytes());
    msg.extend(0u32.to_ne_bytes());
    match family {
        Some(family) => {
            // struct inet_diag_req_v2: family, protocol, ext, pad, states, zeroed sockid.
            msg.extend([family, protocol, 0, 0]);
            msg.extend(states.to_ne_bytes());
            msg.extend([0u8; 48]);
        }
        None => {
            // struct inet_diag_req: family, src_len, dst_len, ext, zeroed sockid, states, dbs.
            msg.extend([0u8; 4]);
            msg.extend([0u8; 48]);
            msg.extend(states.to_ne_bytes());
            msg.extend(0u32.to_ne_bytes());
        }
    }
    if !bytecode.is_empty() {
        msg.extend((attribute as u16).to_ne_bytes());
        msg.extend(INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        msg.extend(bytecode);
    }
    msg
}

fn ne_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([bytes[at], bytes[at + 1]])
}

fn ne_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn address(family: u8, raw: &[u8], port: u16) -> SocketAddr {
    let ip = if family == AF_INET {
        IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
    } else {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&raw[..16]);
        IpAddr::V6(Ipv6Addr::from(octets))
    };
    SocketAddr::new(ip, port)
}

/// Parses one `struct inet_diag_msg`.
fn parse_diag_msg(protocol: Protocol, msg: &[u8]) -> Option<Socket> {
    if msg.len() < INET_DIAG_MSG {
        return None;
    }
    let family = msg[0];
    let state = match protocol {
        Protocol::Tcp => tcp_state(msg[1])?,
        Protocol::Udp => udp_state(msg[1]),
    };
    let sport = u16::from_be_bytes([msg[4], msg[5]]);
    let dport = u16::from_be_bytes([msg[6], msg[7]]);
    let local = address(family, &msg[8..24], sport);
    let remote = address(family, &msg[24..40], dport);
    Some(Socket {
        protocol,
        local,
        remote: (dport != 0 || !remote.ip().is_unspecified()).then_some(remote),
        state,
        uid: ne_u32(msg, 64),
        inode: u64::from(ne_u32(msg, 68)),
    })
}

/// Dumps one table over netlink into `out`: one family, or (`None`, TCP only) both.
fn diag_dump(
    socket: &OwnedFd,
    buf: &mut [u8],
    family: Option<u8>,
    protocol: Protocol,
    states: u32,
    port: Option<u16>,
    out: &mut Vec<Socket>,
) -> io::Result<()> {
    static SEQ: AtomicU32 = AtomicU32::new(1);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let number = match protocol {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
    };
    let request = diag_request(family, number, states, port, seq);
    rustix::net::send(socket, &request, SendFlags::empty())?;
    loop {
        let (received, _) = match rustix::net::recv(socket, &mut *buf, RecvFlags::empty()) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if received == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "sock_diag: end of stream",
            ));
        }
        if parse_diag_datagram(&buf[..received], seq, protocol, out)? {
            return Ok(());
        }
    }
}

/// Parses one datagram of a sock_diag dump that answers request `seq`, adding its sockets to
/// `out`: `Ok(true)` when the dump is complete, `Ok(false)` when more datagrams follow.
pub(crate) fn parse_diag_datagram(
    data: &[u8],
    seq: u32,
    protocol: Protocol,
    out: &mut Vec<Socket>,
) -> io::Result<bool> {
    let mut offset = 0;
    while offset + NLMSG_HEADER <= data.len() {
        let len = ne_u32(data, offset) as usize;
        if len < NLMSG_HEADER || offset + len > data.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "sock_diag: truncated message",
            ));
        }
        let kind = ne_u16(data, offset + 4);
        let body = &data[offset + NLMSG_HEADER..offset + len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let code = if body.len() >= 4 {
                    i32::from_ne_bytes([body[0], body[1], body[2], body[3]])
                } else {
                    0
                };
                return if code == 0 {
                    Ok(true)
                } else {
                    // Saturating: negating i32::MIN panicked (found by fuzzing; the kernel
                    // sends -errno, but a bad datagram must not panic).
                    Err(io::Error::from_raw_os_error(code.saturating_neg()))
                };
            }
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK if ne_u32(data, offset + 8) == seq => {
                if let Some(socket) = parse_diag_msg(protocol, body) {
                    out.push(socket);
                }
            }
            _ => {}
        }
        offset += (len + 3) & !3;
    }
    Ok(false)
}

fn netlink_socket() -> io::Result<OwnedFd> {
    rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        Some(rustix::net::netlink::SOCK_DIAG),
    )
    .map_err(Into::into)
}

/// Reads one table from `/proc/net` (the fallback when netlink is not available).
fn proc_table(
    protocol: Protocol,
    family: u8,
    port: Option<u16>,
    out: &mut Vec<Socket>,
) -> io::Result<()> {
    let wanted = |addr: &SocketAddr| port.is_none_or(|p| addr.port() == p);
    let remote_of =
        |addr: SocketAddr| (addr.port() != 0 || !addr.ip().is_unspecified()).then_some(addr);
    match protocol {
        Protocol::Tcp => {
            let table = if family == AF_INET {
                procfs::net::tcp()
            } else {
                procfs::net::tcp6()
            }
            .map_err(io::Error::other)?;
            for entry in table.into_iter().filter(|e| wanted(&e.local_address)) {
                let Some(state) = tcp_state(entry.state as u8) else {
                    continue;
                };
                out.push(Socket {
                    protocol,
                    local: entry.local_address,
                    remote: remote_of(entry.remote_address),
                    state,
                    inode: entry.inode,
                    uid: entry.uid,
                });
            }
        }
        Protocol::Udp => {
            let table = if family == AF_INET {
                procfs::net::udp()
            } else {
                procfs::net::udp6()
            }
            .map_err(io::Error::other)?;
            for entry in table.into_iter().filter(|e| wanted(&e.local_address)) {
                out.push(Socket {
                    protocol,
                    local: entry.local_address,
                    remote: remote_of(entry.remote_address),
                    state: udp_state(entry.state as u8),
                    inode: entry.inode,
                    uid: entry.uid,
                });
            }
        }
    }
    Ok(())
}

/// Every TCP and UDP socket (IPv4 and IPv6) in this network namespace whose local port is
/// `port` (every port with `None`). With `listening`, only the sockets that hold a port: TCP in
/// LISTEN state and UDP sockets bound to a port without a peer.
pub fn sockets(port: Option<u16>, listening: bool) -> io::Result<Vec<Socket>> {
    let tcp = if listening {
        TcpScope::Listening
    } else {
        TcpScope::All
    };
    let mut out = read_sockets(port, tcp, true)?;
    if listening {
        out.retain(Socket::holds_port);
    }
    Ok(out)
}

/// The TCP sockets in `tcp` and, with `udp`, every UDP socket, whose local port is `port`
/// (every port with `None`). Listeners alone are cheap to read; every TCP state means a walk
/// of the kernel's whole established-connections table.
pub fn read_sockets(port: Option<u16>, tcp: TcpScope, udp: bool) -> io::Result<Vec<Socket>> {
    sockets_from(true, port, tcp, udp)
}

/// [`read_sockets`] through netlink (falling back to `/proc/net` per table), or through
/// `/proc/net` only.
pub(crate) fn sockets_from(
    use_netlink: bool,
    port: Option<u16>,
    tcp: TcpScope,
    udp: bool,
) -> io::Result<Vec<Socket>> {
    let netlink = if use_netlink {
        netlink_socket().ok()
    } else {
        None
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    let tcp_states = match tcp {
        TcpScope::None => None,
        TcpScope::Listening => Some(1u32 << TCP_LISTEN),
        TcpScope::All => Some(TCP_KNOWN_STATES),
    };
    let mut tables: Vec<(Protocol, u32)> = Vec::new();
    if let Some(states) = tcp_states {
        // Both families in one walk; per family if the old request is refused.
        let both = netlink.as_ref().is_some_and(|socket| {
            diag_dump(
                socket,
                &mut buf,
                None,
                Protocol::Tcp,
                states,
                port,
                &mut out,
            )
            .is_ok()
        });
        if !both {
            out.clear();
            tables.push((Protocol::Tcp, states));
        }
    }
    if udp {
        tables.push((Protocol::Udp, u32::MAX));
    }
    for (protocol, states) in tables {
        for family in [AF_INET, AF_INET6] {
            let before = out.len();
            let dumped = netlink.as_ref().is_some_and(|socket| {
                diag_dump(
                    socket,
                    &mut buf,
                    Some(family),
                    protocol,
                    states,
                    port,
                    &mut out,
                )
                .is_ok()
            });
            if !dumped {
                out.truncate(before);
                proc_table(protocol, family, port, &mut out)?;
                if protocol == Protocol::Tcp && tcp == TcpScope::Listening {
                    out.retain(|s| s.protocol != Protocol::Tcp || s.state == SocketState::Listen);
                }
            }
        }
    }
    // /proc/net tables are read in pages while sockets come and go, and the kernel may then
    // show one socket twice (it resumes its walk by position): one entry per socket.
    let mut seen = HashSet::new();
    out.retain(|s| s.inode == 0 || seen.insert((s.protocol, s.inode)));
    Ok(out)
}

/// Buffer for one `getdents64` of an fd directory (about 340 descriptors).
const FD_DIR_BUF: usize = 8192;

/// Calls `found` with the inode of every socket `pid` has open, until it returns false, and
/// returns the fd directory it read (see [`start_time_behind`]). Returns `Err(EACCES)` when the
/// fd table may not be read, other errors when the process is gone.
fn for_each_socket(
    proc_dir: BorrowedFd<'_>,
    pid: Pid,
    mut found: impl FnMut(u64) -> bool,
) -> Result<OwnedFd, Errno> {
    let dir = openat(
        proc_dir,
        super::pid_path(pid, "fd", &mut [0; 32]),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut entries = [MaybeUninit::<u8>::uninit(); FD_DIR_BUF];
    let mut link = [0u8; 40];
    let mut iter = RawDir::new(&dir, &mut entries);
    let mut batch = 0;
    loop {
        if iter.is_buffer_empty() && batch > 0 {
            // procfs lists an fd directory into the buffer as far as it fits, so a batch that
            // left ample room was the whole directory: skip the getdents64 that would return 0
            // (one system call of about six per process).
            if batch + 1024 < FD_DIR_BUF {
                break;
            }
            batch = 0;
        }
        let Some(Ok(entry)) = iter.next() else { break };
        let name = entry.file_name();
        // d_reclen of a linux_dirent64: the 19-byte header and the name with its NUL, 8-aligned.
        batch += (19 + name.to_bytes().len() + 1 + 7) & !7;
        if name.to_bytes().first() == Some(&b'.') {
            continue;
        }
        // Links longer than the buffer are truncated, which is fine: only "socket:[N]" matters.
        let len = match readlinkat_raw(&dir, name, &mut link[..]) {
            Ok(len) => len,
            // The directory opened but its links may not be read (another user namespace, a
            // security module): every link will fail the same way.
            Err(e @ (Errno::ACCESS | Errno::PERM)) => return Err(e),
            Err(_) => continue,
        };
        if socket_inode(&link[..len]).is_some_and(|inode| !found(inode)) {
            break;
        }
    }
    Ok(dir)
}

/// The start time of the process whose fd directory `fd_dir` is, read through that directory
/// (`../stat`): a procfs directory stays bound to the process it was opened for, so once that
/// process has exited this fails, even if its pid now belongs to another process. `None` when
/// it has exited.
fn start_time_behind(fd_dir: BorrowedFd<'_>) -> Option<u64> {
    let stat = openat(
        fd_dir,
        "../stat",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut buf = [0u8; 1024];
    let len = rustix::io::read(&stat, &mut buf).ok()?;
    super::parse_stat(&buf[..len])
        .filter(|info| info.state.is_alive())
        .map(|info| info.start_time)
}

/// The inode of an fd link `socket:[N]`.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Above this many processes the fd scan runs on two threads (it is all system calls).
const PARALLEL_FD_SCAN: usize = 400;
/// Pids a scan thread takes at a time.
const FD_SCAN_BATCH: usize = 32;

/// Finds the processes that hold each of `inodes` (`None`: every socket) by reading every
/// process's fd table, with the start time of each holder read through the very fd directory
/// that showed the socket (so a pid reused meanwhile is never taken for the holder). A process
/// whose fd table may not be read (another user's, without privileges) is listed in
/// [`OwnerScan::denied`] rather than skipped silently.
pub fn socket_owners(inodes: Option<&HashSet<u64>>) -> OwnerScan {
    let mut scan = OwnerScan::default();
    if inodes.is_some_and(HashSet::is_empty) {
        return scan;
    }
    let Ok(proc_dir) = super::open_proc() else {
        return scan;
    };
    let Ok(pids) = super::all_pids(proc_dir.as_fd()) else {
        return scan;
    };
    scan.scanned = pids.len();
    let next = AtomicUsize::new(0);
    let work = || {
        let mut found: Vec<(u64, Holder)> = Vec::new();
        let mut denied = Vec::new();
        loop {
            let start = next.fetch_add(FD_SCAN_BATCH, Ordering::Relaxed);
            if start >= pids.len() {
                break;
            }
            for &pid in &pids[start..(start + FD_SCAN_BATCH).min(pids.len())] {
                let mut held: Vec<u64> = Vec::new();
                let result = for_each_socket(proc_dir.as_fd(), pid, |inode| {
                    if inodes.is_none_or(|wanted| wanted.contains(&inode)) {
                        held.push(inode);
                    }
                    // Within one process, stop once it holds every inode looked for.
                    inodes.is_none_or(|wanted| held.len() < wanted.len())
                });
                match result {
                    Ok(fd_dir) if !held.is_empty() => {
                        let holder = Holder {
                            pid,
                            start_time: start_time_behind(fd_dir.as_fd()),
                        };
                        found.extend(held.into_iter().map(|inode| (inode, holder)));
                    }
                    Err(Errno::ACCESS | Errno::PERM) => denied.push(pid),
                    _ => {}
                }
            }
        }
        (found, denied)
    };
    let parallel = pids.len() >= PARALLEL_FD_SCAN
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let parts = if parallel {
        std::thread::scope(|scope| {
            let other = scope.spawn(work);
            let mine = work();
            vec![mine, other.join().expect("fd scan thread")]
        })
    } else {
        vec![work()]
    };
    for (found, denied) in parts {
        for (inode, holder) in found {
            let owners = scan.owners.entry(inode).or_default();
            if !owners.contains(&holder) {
                owners.push(holder);
            }
        }
        scan.denied.extend(denied);
    }
    for owners in scan.owners.values_mut() {
        owners.sort_unstable();
    }
    scan.denied.sort_unstable();
    scan
}

/// Inodes of the sockets one process has open (empty if its fds cannot be read).
pub(crate) fn sockets_of(pid: Pid) -> HashSet<u64> {
    let mut inodes = HashSet::new();
    if let Some(proc_dir) = super::proc_dir() {
        let _ = for_each_socket(proc_dir, pid, |inode| {
            inodes.insert(inode);
            true
        });
    }
    inodes
}

/// Whether this process runs in a network namespace of its own: not the one of pid 1 (a
/// container, where the host's namespace is pid 1's) or, when pid 1's cannot be read, not the
/// one of an ancestor (`ip netns exec`, `unshare -n`). Sockets of other namespaces are then not
/// in the tables. `None` when no namespace but ours can be read.
pub fn in_foreign_network_namespace() -> Option<bool> {
    let netns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
    let mine = netns("self")?;
    if let Some(init) = netns("1") {
        return Some(init != mine);
    }
    let mut seen_any = false;
    let mut pid = super::process_info(std::process::id()).map(|p| p.ppid);
    while let Some(current) = pid.filter(|p| *p > 1) {
        if let Some(theirs) = netns(&current.to_string()) {
            if theirs != mine {
                return Some(true);
            }
            seen_any = true;
        }
        pid = super::process_info(current).map(|p| p.ppid);
    }
    seen_any.then_some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_socket_links() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
        assert_eq!(socket_inode(b"socket:[12"), None);
    }

    #[test]
    fn netlink_and_proc_net_agree() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for (port, protocol) in [
            (listener.local_addr().unwrap().port(), Protocol::Tcp),
            (udp.local_addr().unwrap().port(), Protocol::Udp),
        ] {
            let mut netlink = sockets(Some(port), true).unwrap();
            let mut proc_net = sockets_from(false, Some(port), TcpScope::Listening, true).unwrap();
            proc_net.retain(Socket::holds_port);
            netlink.retain(|s| s.protocol == protocol);
            proc_net.retain(|s| s.protocol == protocol);
            assert_eq!(netlink.len(), 1, "{netlink:?}");
            assert_eq!(netlink, proc_net);
            let owners = socket_owners(Some(&HashSet::from([netlink[0].inode])));
            let me = super::super::process_info(std::process::id()).unwrap();
            assert_eq!(
                owners.owners[&netlink[0].inode],
                vec![Holder {
                    pid: me.pid,
                    start_time: Some(me.start_time),
                }],
                "{owners:?}"
            );
        }
    }

    #[test]
    fn port_filter_keeps_only_that_port() {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        let found = sockets(Some(port), false).unwrap();
        assert!(!found.is_empty());
        assert!(found.iter().all(|s| s.local.port() == port), "{found:?}");
    }
}
