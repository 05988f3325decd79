//! Ports: which sockets use a port and which processes hold them ([`lookup`], [`listeners`]),
//! freeing a port without collateral damage ([`free`]), and finding a free one
//! ([`first_free`], [`choose`]).
//!
//! ## Where the time goes
//!
//! A lookup has two parts: the kernel's socket tables, and the map from a socket to the
//! processes holding it.
//!
//! *Tables.* On Linux they are read through sock_diag netlink with a filter program that the
//! kernel runs on each socket, so only the sockets of the port are copied out (`/proc/net/tcp`
//! makes the kernel format every socket as text). Listeners are cheap: the kernel walks its
//! small listening table. Every other TCP state (connections, TIME-WAIT) means a walk of the
//! whole established-connections hash table, whose size grows with the host's memory (about
//! 1 ms per walk here, 262,144 buckets, whatever the number of sockets); IPv4 and IPv6 are
//! read in one walk (the older `inet_diag` request), only the states reaper shows are asked
//! for (asking for all makes Linux 6.5+ walk its bind table too), and for a free port the walk
//! is skipped altogether: a plain bind (no `SO_REUSEADDR`) succeeding on the IPv4 and IPv6
//! wildcard addresses proves that no TCP socket of any state uses the port.
//!
//! *Owners.* No kernel interface maps a socket to its processes; the only way is every
//! process's fd table (`/proc/PID/fd`), and on a busy host that scan is nearly all of the time:
//! the kernel's own cost is about 8 µs per process (open, list, close) and 2.4 µs per fd
//! (`readlinkat`) here, as much as a C program doing only that takes (`fstatat` instead of
//! `readlinkat`, or probing fd numbers instead of listing them, cost the same). No process is
//! skipped by the socket's user: forked workers that changed user (nginx, sshd) and
//! processes handed the socket (systemd socket activation) hold it too. It is done only when the tables show a socket that can have an owner (never for a free port
//! or one with only TIME-WAIT sockets); it reads each fd table with raw `getdents64` and
//! `readlinkat` relative to the directory (no path walk, no allocation per fd), skips the
//! `getdents64` that would return nothing, stops reading a process's fds once it holds every
//! listener looked for (a server's listener comes before its connections), and runs on two
//! threads when there are many processes, while another thread walks the connections table.
//! The owners of connections are then looked for in the holders' own fd tables first.
//! Details (user, command line, service) are read for the owners only.
//!
//! ## Freeing a port
//!
//! [`free`] ends the processes holding a TCP listener or a bound UDP socket on exactly that
//! port — all of them, since one socket is often shared by forked workers — and nothing else:
//! not clients connected to the port, not processes on other ports, not the holders' other
//! children (a holder's child that does not hold the port may be serving another port; that is
//! why holders are ended one by one rather than as trees). A holder that belongs to a managed
//! service is the exception: that service is stopped through its record, whole tree, so
//! nothing of it is left and its record is removed. Each process gets the graceful signal,
//! then SIGKILL after the timeout; afterwards every address the holders used is bound to prove
//! that the port is free, and the whole round is repeated (a supervisor may restart what was
//! ended) up to the number of attempts asked for.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::containment::{MARKER_VAR, Marker};
use crate::identity::{ProcessRef, protection};
use crate::os::{self, Protocol};
use crate::process::{Pid, ProcessInfo};
use crate::service::{self, Selection, StopOptions};
use crate::state::{Entry, Record, StateDir};
use crate::terminate::{self, EndedProcess, Members, StopPolicy, StopReport, StopTarget};

/// Version of the JSON documents of `reaper port` and `reaper ports`.
pub const PORT_SCHEMA: u32 = 1;

/// A port number the user gave (on the command line or in `reaper.toml`) that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortNumberError {
    /// Port 0.
    #[error(
        "port 0 is not a port anything can hold: binding port 0 asks for any free port (ports \
         are 1-65535)"
    )]
    Zero,
    /// A negative number.
    #[error("{0} is not a port: ports are 1-65535")]
    Negative(String),
    /// A number above 65535.
    #[error("{0} is out of range: ports are 1-65535")]
    TooLarge(String),
    /// Not a number at all.
    #[error("'{0}' is not a port number: ports are 1-65535")]
    NotANumber(String),
}

/// Parses a port number (1-65535): the one parser behind every port option and key, so each
/// says the same thing about the same mistake.
pub fn parse_port(text: &str) -> Result<u16, PortNumberError> {
    let text = text.trim();
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PortNumberError::NotANumber(text.to_string()));
    }
    match text.parse::<i64>() {
        Ok(number) => port_from_integer(number),
        // Too many digits for an i64: far out of range either way.
        Err(_) if text.starts_with('-') => Err(PortNumberError::Negative(text.to_string())),
        Err(_) => Err(PortNumberError::TooLarge(text.to_string())),
    }
}

/// Checks that an integer (a TOML integer, for one) is a port number (1-65535).
pub fn port_from_integer(number: i64) -> Result<u16, PortNumberError> {
    match number {
        0 => Err(PortNumberError::Zero),
        ..0 => Err(PortNumberError::Negative(number.to_string())),
        _ => u16::try_from(number).map_err(|_| PortNumberError::TooLarge(number.to_string())),
    }
}

/// How long the kernel keeps a connection in TIME-WAIT on Linux.
const TIME_WAIT_SECS: u32 = 60;

/// State of a socket, as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketState {
    /// TCP, accepting connections.
    Listen,
    /// A connection (TCP), or a UDP socket with a fixed peer.
    Established,
    /// TCP, connecting.
    SynSent,
    /// TCP, a connection being set up (not accepted yet).
    SynRecv,
    /// TCP, closing (this side closed first).
    FinWait1,
    /// TCP, closing (this side closed first, peer acknowledged).
    FinWait2,
    /// TCP, closed by this side; the kernel keeps it for 60 s with no process attached.
    TimeWait,
    /// TCP, closed.
    Close,
    /// TCP, the peer closed; the process holding it has not.
    CloseWait,
    /// TCP, closing (the peer closed first).
    LastAck,
    /// TCP, both sides closing at once.
    Closing,
    /// UDP, bound without a fixed peer.
    Unconnected,
}

impl SocketState {
    /// The label `ss` uses (`LISTEN`, `ESTAB`, `TIME-WAIT`, …).
    pub fn label(self) -> &'static str {
        match self {
            SocketState::Listen => "LISTEN",
            SocketState::Established => "ESTAB",
            SocketState::SynSent => "SYN-SENT",
            SocketState::SynRecv => "SYN-RECV",
            SocketState::FinWait1 => "FIN-WAIT-1",
            SocketState::FinWait2 => "FIN-WAIT-2",
            SocketState::TimeWait => "TIME-WAIT",
            SocketState::Close => "CLOSE",
            SocketState::CloseWait => "CLOSE-WAIT",
            SocketState::LastAck => "LAST-ACK",
            SocketState::Closing => "CLOSING",
            SocketState::Unconnected => "UNCONN",
        }
    }
}

/// One TCP or UDP socket from the kernel's tables (platform-neutral).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Local address and port.
    pub local: SocketAddr,
    /// Peer address, for connections.
    pub remote: Option<SocketAddr>,
    /// Kernel state.
    pub state: SocketState,
    /// Kernel socket inode (0 for sockets no process can hold: TIME-WAIT, half-open requests).
    pub inode: u64,
    /// User that created the socket.
    pub uid: u32,
}

impl Socket {
    /// True when the socket holds its port the way a server does: a TCP listener, or a UDP
    /// socket bound to a port without a fixed peer (a connected UDP socket is a client's).
    pub fn holds_port(&self) -> bool {
        match self.protocol {
            Protocol::Tcp => self.state == SocketState::Listen,
            Protocol::Udp => self.local.port() != 0 && self.state == SocketState::Unconnected,
        }
    }
}

/// Which TCP sockets a read of the socket tables returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpScope {
    /// No TCP sockets.
    None,
    /// Listeners only: cheap, the kernel walks its listening table only.
    Listening,
    /// Every state: the kernel walks its whole established-connections table too.
    All,
}

/// A process a scan saw holding a socket, with the identity it had then: everything done to
/// it later (details, signals) is for that process only, never for another one that got its
/// pid meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Holder {
    /// Process id.
    pub pid: Pid,
    /// Its start time (see [`ProcessInfo::start_time`]) when the scan saw it hold the socket;
    /// `None` when it had exited by then (a socket table may name an owner that is gone).
    pub start_time: Option<u64>,
}

impl Holder {
    /// A holder named by a socket table (which carries pids only), with the identity read
    /// right now. Linux reads it through the fd table the socket was found in instead.
    pub fn seen_now(pid: Pid) -> Holder {
        Holder {
            pid,
            start_time: os::process_info(pid)
                .filter(|info| info.state.is_alive())
                .map(|info| info.start_time),
        }
    }
}

/// Result of scanning process fd tables for some socket inodes.
#[derive(Debug, Default)]
pub struct OwnerScan {
    /// Inode → processes holding it (sorted).
    pub owners: HashMap<u64, Vec<Holder>>,
    /// Processes whose fd table could not be read (permission denied).
    pub denied: Vec<Pid>,
    /// Processes looked at.
    pub scanned: usize,
}

/// A process holding a socket.
#[derive(Debug, Clone, Serialize)]
pub struct Owner {
    /// Process id.
    pub pid: Pid,
    /// Real user id.
    pub uid: u32,
    /// User name, when the user database has one.
    pub user: Option<String>,
    /// Short name (`comm`).
    pub name: String,
    /// Full command line (empty if it could not be read).
    pub command: Vec<String>,
    /// Start time, RFC 3339 (UTC).
    pub started_at: String,
    /// The managed service it belongs to, if reaper started it.
    pub service: Option<String>,
    /// The project root holding that service's record (`.run/` is under it).
    pub state_dir: Option<PathBuf>,
    /// Why reaper will never signal it (pid 1, reaper itself, an ancestor of reaper).
    pub protected: Option<String>,
    /// Identity, for signalling exactly this process.
    #[serde(skip)]
    pub identity: ProcessRef,
}

impl Owner {
    /// The command line joined by spaces, or the short name when there is none.
    pub fn command_line(&self) -> String {
        if self.command.is_empty() {
            self.name.clone()
        } else {
            self.command.join(" ")
        }
    }
}

/// One socket on a port, with the processes holding it.
#[derive(Debug, Clone, Serialize)]
pub struct SocketReport {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Local address and port.
    pub local: SocketAddr,
    /// Peer, for connections.
    pub remote: Option<SocketAddr>,
    /// Kernel state.
    pub state: SocketState,
    /// Kernel socket inode (0: no process can hold it).
    pub inode: u64,
    /// User that created the socket.
    pub uid: u32,
    /// Its name, when the user database has one.
    pub user: Option<String>,
    /// True for a TCP listener or a bound UDP socket: it keeps servers from binding the port.
    pub holds_port: bool,
    /// Processes holding it (several when it was inherited by forked processes).
    pub owners: Vec<Owner>,
    /// Why no owner is listed, when none is.
    pub unseen: Option<String>,
}

/// Whether a server could bind a port right now (IPv4 and IPv6 wildcard addresses, TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BindCheck {
    /// A bind with `SO_REUSEADDR`, as most servers do, succeeds.
    pub reuse_addr: bool,
    /// A bind without it succeeds (fails while connections of the port are in TIME-WAIT).
    pub plain: bool,
}

/// Everything known about one port.
#[derive(Debug, Clone, Serialize)]
pub struct PortReport {
    /// The port.
    pub port: u16,
    /// In use: a listener or bound UDP socket exists, or a server could not bind it now.
    pub held: bool,
    /// Every socket whose local port is this one.
    pub sockets: Vec<SocketReport>,
    /// Bind test, done when nothing listens on the port.
    pub bind: Option<BindCheck>,
    /// Explanations (TIME-WAIT, CLOSE-WAIT, namespaces, permissions).
    pub notes: Vec<String>,
}

impl PortReport {
    /// Distinct processes holding a listener or bound UDP socket on the port.
    pub fn holders(&self) -> Vec<&Owner> {
        distinct_owners(self.sockets.iter().filter(|s| s.holds_port))
    }
}

/// Every listening socket on the host, with owners.
#[derive(Debug, Clone, Serialize)]
pub struct ListenerReport {
    /// Sockets sorted by port, protocol and address.
    pub sockets: Vec<SocketReport>,
    /// Explanations (permissions, namespaces).
    pub notes: Vec<String>,
}

fn distinct_owners<'a>(sockets: impl Iterator<Item = &'a SocketReport>) -> Vec<&'a Owner> {
    let mut seen = BTreeSet::new();
    sockets
        .flat_map(|s| &s.owners)
        .filter(|o| seen.insert(o.pid))
        .collect()
}

/// Finds which managed service a process belongs to: by its marker (which names the record's
/// directory and run), else by the records of the current state directory (session, keeper or
/// leader among its ancestors).
struct Services<'a> {
    state: &'a StateDir,
    records: Option<Vec<Record>>,
}

impl<'a> Services<'a> {
    fn new(state: &'a StateDir) -> Services<'a> {
        Services {
            state,
            records: None,
        }
    }

    fn of(&mut self, info: &ProcessInfo) -> Option<(String, PathBuf)> {
        if let Some(marker) = os::marker_of(info.pid, MARKER_VAR).and_then(|v| Marker::decode(&v)) {
            let root = marker.run_dir.parent()?.to_path_buf();
            let dir = StateDir { root: root.clone() };
            return match dir.load(&marker.name) {
                Ok(Some(Entry::Record(record))) if record.run_id == marker.run_id => {
                    Some((marker.name, root))
                }
                // The marker of a run whose record is gone: an orphan, not a service.
                _ => None,
            };
        }
        let records = self.records.get_or_insert_with(|| {
            self.state
                .list()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|entry| match entry {
                    Entry::Record(record) => Some(*record),
                    _ => None,
                })
                .collect()
        });
        if records.is_empty() {
            return None;
        }
        let mut chain = vec![info.clone()];
        let mut current = info.ppid;
        while current > 1 && chain.len() < 64 {
            let Some(parent) = os::process_info(current) else {
                break;
            };
            current = parent.ppid;
            chain.push(parent);
        }
        records
            .iter()
            .find(|record| {
                info.sid == record.leader.pid
                    || chain.iter().any(|p| {
                        record.leader.matches(p)
                            || record.keeper.as_ref().is_some_and(|k| k.matches(p))
                    })
            })
            .map(|record| (record.name.clone(), self.state.root.clone()))
    }
}

/// The details of `holder`, if it is still the process the scan saw (same start time).
fn owner_of(holder: Holder, services: &mut Services<'_>) -> Option<Owner> {
    let pid = holder.pid;
    let info = os::process_info(pid)?;
    if !info.state.is_alive() || Some(info.start_time) != holder.start_time {
        return None;
    }
    let identity = ProcessRef::of(&info).ok()?;
    let (service, state_dir) = services.of(&info).unzip();
    let uid = os::uid_of(pid).unwrap_or(u32::MAX);
    Some(Owner {
        pid,
        uid,
        user: os::user_name(uid),
        name: info.name.clone(),
        command: os::command_line(pid).unwrap_or_default(),
        started_at: humantime::format_rfc3339_seconds(info.started_at).to_string(),
        service,
        state_dir,
        protected: protection(pid).map(str::to_string),
        identity,
    })
}

/// What to do about open-file tables the kernel would not let reaper read: `sudo command` for
/// a user; for root, what limits it instead (sudo would change nothing).
fn denied_remedy(command: &str) -> String {
    if os::current_uid() == 0 {
        format!(
            "reaper already runs as root, so the kernel refuses for another reason: the \
             processes belong to another user namespace or container, or a security module \
             (Yama, SELinux, AppArmor) or a missing CAP_SYS_PTRACE forbids it; run `{command}` \
             where they were started (e.g. on the host)"
        )
    } else {
        format!("`sudo {command}` shows them")
    }
}

fn user_label(uid: u32) -> String {
    match os::user_name(uid) {
        Some(name) => format!("uid {uid} ({name})"),
        None => format!("uid {uid}"),
    }
}

/// Why a socket has no visible owner. `named` are the pids the scan gave as its holders, which
/// turned out to be gone.
fn unseen_reason(socket: &Socket, named: &[Pid], port: u16, scan: &OwnerScan) -> String {
    if !named.is_empty() {
        let started: Option<Vec<(Pid, String)>> = named
            .iter()
            .map(|pid| os::started_by(*pid))
            .collect::<Option<Vec<Vec<Pid>>>>()
            .map(|lists| {
                lists
                    .into_iter()
                    .flatten()
                    .filter_map(|pid| {
                        let info = os::process_info(pid)?;
                        let command = os::command_line(pid)
                            .filter(|argv| !argv.is_empty())
                            .map_or(info.name, |argv| argv.join(" "));
                        Some((pid, command))
                    })
                    .collect()
            });
        return exited_holder_reason(named, started.as_deref(), port);
    }
    if socket.inode == 0 {
        return match socket.state {
            _ if socket.holds_port() => format!(
                "the socket table names no process for it (owner pid 0), so its holder cannot be \
                 shown (wine reports pid 0 for every socket). If a server that held it has \
                 exited, a process it started may keep an inherited copy open. {INHERITED_ADVICE}"
            ),
            SocketState::TimeWait => format!(
                "no process: a connection closed on this side, kept by the kernel for up to \
                 {TIME_WAIT_SECS} s (TIME-WAIT)"
            ),
            SocketState::SynRecv => {
                "no process yet: a connection being set up (handshake not complete)".to_string()
            }
            SocketState::Established | SocketState::CloseWait => {
                "no process yet: a connection the listener has not accepted (it waits in the \
                 listener's accept queue)"
                    .to_string()
            }
            _ => "no process: a connection its process closed, which the kernel is finishing"
                .to_string(),
        };
    }
    let inode = socket.inode;
    if !scan.denied.is_empty() {
        let mut users: BTreeSet<String> = BTreeSet::new();
        for pid in &scan.denied {
            if let Some(uid) = os::uid_of(*pid) {
                users.insert(user_label(uid));
            }
        }
        let users: Vec<String> = users.into_iter().collect();
        let count = scan.denied.len();
        return format!(
            "socket inode {inode} (created by {}) is held by a process reaper may not inspect: \
             permission denied reading the open files of {count} process{} of {}; {}",
            user_label(socket.uid),
            if count == 1 { "" } else { "es" },
            if users.is_empty() {
                "other users".to_string()
            } else {
                users.join(", ")
            },
            denied_remedy(&format!("reaper port {port}")),
        );
    }
    format!(
        "no process visible here holds socket inode {inode} (created by {}), and every open-file \
         table could be read, so its owner is outside this PID namespace: reaper runs in a \
         container (or another PID namespace) that shares its network with the host or with \
         another container. Run `reaper port {port}` on the host, where every process is \
         visible. Rarer: a socket of the kernel itself (NFS, RPC) or one in flight between \
         processes over a Unix socket",
        user_label(socket.uid)
    )
}

/// What frees a port held through a socket inherited from an exited process.
const INHERITED_ADVICE: &str = "The port is free once every process holding a copy has \
     exited: end the processes the old server started (their command lines usually name it; \
     `reaper kill --dry-run PATTERN` lists them), or log off or restart the program that \
     started the server";

/// Why a socket whose named holders (`exited`) have all exited is still there. `started` are
/// the running processes the exited ones started (pid, command line), or `None` where the
/// platform does not keep that link (Unix: a holder is found through its own descriptors, so
/// the socket was only caught while its last holder exited).
fn exited_holder_reason(exited: &[Pid], started: Option<&[(Pid, String)]>, port: u16) -> String {
    let pids = exited
        .iter()
        .map(Pid::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    match started {
        None => format!(
            "pid {pids}, which held it, exited during the lookup; `reaper port {port}` again \
             shows what is left"
        ),
        Some([]) => format!(
            "the socket table names pid {pids} as its owner, which has exited, and no running \
             process was started by it: a process further down its tree (or one it handed the \
             socket to) still holds an inherited copy. {INHERITED_ADVICE}"
        ),
        Some(started) => {
            let list = started
                .iter()
                .map(|(pid, command)| format!("pid {pid} ({command})"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "the socket table names pid {pids} as its owner, which has exited; a process it \
                 started can inherit the socket (Windows sockets are inheritable unless created \
                 otherwise), and these still run: {list}. The port is free once the ones holding \
                 a copy exit: ending them (and what they started) frees port {port}"
            )
        }
    }
}

fn namespace_note(port: u16) -> Option<String> {
    os::in_foreign_network_namespace()
        .filter(|foreign| *foreign)
        .map(|_| {
            format!(
                "reaper runs in a network namespace of its own (not the one of pid 1 or of the \
                 process that started it: a container, `ip netns exec`, `unshare -n`): sockets \
                 of the host and of other namespaces are not visible here; to look in another \
                 one: `sudo nsenter --net=/proc/PID/ns/net reaper port {port}`"
            )
        })
}

/// Pairs sockets with their owners (one fd scan for all of them).
fn attribute(
    sockets: Vec<Socket>,
    port_for_advice: impl Fn(&Socket) -> u16,
    state: &StateDir,
) -> (Vec<SocketReport>, OwnerScan) {
    let inodes: HashSet<u64> = sockets
        .iter()
        .map(|s| s.inode)
        .filter(|i| *i != 0)
        .collect();
    let scan = os::socket_owners(Some(&inodes));
    let reports = describe(sockets, &scan, port_for_advice, state);
    (reports, scan)
}

/// Sockets with the owners a scan found, and why there are none where there are none.
fn describe(
    sockets: Vec<Socket>,
    scan: &OwnerScan,
    port_for_advice: impl Fn(&Socket) -> u16,
    state: &StateDir,
) -> Vec<SocketReport> {
    let mut services = Services::new(state);
    let mut owners: BTreeMap<Holder, Option<Owner>> = BTreeMap::new();
    sockets
        .into_iter()
        .map(|socket| {
            let holders = scan.owners.get(&socket.inode).cloned().unwrap_or_default();
            let found: Vec<Owner> = holders
                .iter()
                .filter_map(|holder| {
                    owners
                        .entry(*holder)
                        .or_insert_with(|| owner_of(*holder, &mut services))
                        .clone()
                })
                .collect();
            let pids: Vec<Pid> = holders.iter().map(|h| h.pid).collect();
            let unseen = found
                .is_empty()
                .then(|| unseen_reason(&socket, &pids, port_for_advice(&socket), scan));
            SocketReport {
                protocol: socket.protocol,
                local: socket.local,
                remote: socket.remote,
                holds_port: socket.holds_port(),
                state: socket.state,
                inode: socket.inode,
                uid: socket.uid,
                user: os::user_name(socket.uid),
                owners: found,
                unseen,
            }
        })
        .collect()
}

fn sort_sockets(sockets: &mut [SocketReport]) {
    sockets.sort_by(|a, b| {
        (
            a.local.port(),
            !a.holds_port,
            a.protocol,
            a.state,
            a.local,
            a.remote,
        )
            .cmp(&(
                b.local.port(),
                !b.holds_port,
                b.protocol,
                b.state,
                b.local,
                b.remote,
            ))
    });
}

/// Finds the owners of the sockets `scan` has none for (connections of the port): first in
/// the fd tables of the processes already found (a server holds its accepted connections),
/// then, for whatever is left, in every process.
fn attribute_connections(sockets: &[Socket], scan: &mut OwnerScan) {
    let mut missing: HashSet<u64> = sockets
        .iter()
        .map(|s| s.inode)
        .filter(|i| *i != 0 && !scan.owners.contains_key(i))
        .collect();
    if missing.is_empty() {
        return;
    }
    let known: BTreeSet<Holder> = scan.owners.values().flatten().copied().collect();
    for holder in known {
        for inode in os::socket_inodes(holder.pid) {
            if missing.contains(&inode) {
                scan.owners.entry(inode).or_default().push(holder);
            }
        }
    }
    missing.retain(|inode| !scan.owners.contains_key(inode));
    if missing.is_empty() {
        return;
    }
    let rest = os::socket_owners(Some(&missing));
    scan.owners.extend(rest.owners);
    scan.denied = rest.denied;
}

/// True for a bind error that says the host lacks the address family or address (no IPv6),
/// which says nothing about the port.
fn no_such_family(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::Unsupported | io::ErrorKind::AddrNotAvailable
    )
}

/// Whether a TCP server could bind `port` on every address now, with and without
/// `SO_REUSEADDR`. IPv6 counts only where the host has IPv6.
pub fn bind_check(port: u16) -> BindCheck {
    let ok = |reuse: bool| {
        let v4 = os::try_bind(
            Protocol::Tcp,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
            reuse,
        )
        .is_ok();
        let v6 = match os::try_bind(
            Protocol::Tcp,
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
            reuse,
        ) {
            Ok(()) => true,
            Err(e) => no_such_family(&e),
        };
        v4 && v6
    };
    BindCheck {
        reuse_addr: ok(true),
        plain: ok(false),
    }
}

/// Everything about `port`: every socket bound to it (TCP and UDP, IPv4 and IPv6, any state),
/// each owner, and whether it is in use. Processes are only scanned when a socket on the port
/// can have an owner.
pub fn lookup(port: u16, state: &StateDir) -> io::Result<PortReport> {
    // Listeners and UDP first: cheap (the kernel's listening table only).
    let quick = os::read_sockets(Some(port), TcpScope::Listening, true)?;
    let listening = quick.iter().any(Socket::holds_port);
    let bind = (!listening).then(|| bind_check(port));
    // A plain bind succeeding on every address proves that no TCP socket of any state uses the
    // port, so the walk of the established-connections table is skipped (the common case of a
    // free port).
    let no_tcp = bind.is_some_and(|b| b.plain);
    let (sockets, scan) = if listening {
        // Overlap that walk with the fd scan for the listeners (which stops reading a process's
        // fds once it has them all: a server's listener usually comes before its connections).
        let wanted: HashSet<u64> = quick.iter().map(|s| s.inode).filter(|i| *i != 0).collect();
        let (connections, mut scan) = std::thread::scope(|scope| {
            let walk = scope.spawn(|| os::read_sockets(Some(port), TcpScope::All, false));
            let scan = os::socket_owners(Some(&wanted));
            (walk.join().expect("socket table thread"), scan)
        });
        let mut sockets: Vec<Socket> = quick
            .into_iter()
            .filter(|s| s.protocol == Protocol::Udp)
            .collect();
        sockets.extend(connections?);
        attribute_connections(&sockets, &mut scan);
        (sockets, scan)
    } else {
        let mut sockets = quick;
        if !no_tcp {
            sockets.extend(os::read_sockets(Some(port), TcpScope::All, false)?);
        }
        let inodes: HashSet<u64> = sockets
            .iter()
            .map(|s| s.inode)
            .filter(|i| *i != 0)
            .collect();
        let scan = os::socket_owners(Some(&inodes));
        (sockets, scan)
    };
    let mut sockets = describe(sockets, &scan, |_| port, state);
    sort_sockets(&mut sockets);
    let mut notes = Vec::new();
    let listening = sockets.iter().any(|s| s.holds_port);
    let time_wait = sockets
        .iter()
        .filter(|s| s.state == SocketState::TimeWait)
        .count();
    if time_wait > 0 {
        notes.push(format!(
            "{time_wait} connection(s) in TIME-WAIT: closed on this side; no process holds them \
             and the kernel drops them within {TIME_WAIT_SECS} s"
        ));
    }
    let close_wait: Vec<&SocketReport> = sockets
        .iter()
        .filter(|s| s.state == SocketState::CloseWait && !s.owners.is_empty())
        .collect();
    if !close_wait.is_empty() {
        let pids: Vec<String> = distinct_owners(close_wait.iter().copied())
            .iter()
            .map(|o| format!("pid {} ({})", o.pid, o.name))
            .collect();
        notes.push(format!(
            "{} connection(s) in CLOSE-WAIT: the peer closed them and {} has not yet; they end \
             when it closes them or exits",
            close_wait.len(),
            pids.join(", ")
        ));
    }
    let unaccepted = sockets
        .iter()
        .filter(|s| {
            s.inode == 0
                && matches!(
                    s.state,
                    SocketState::Established | SocketState::CloseWait | SocketState::SynRecv
                )
        })
        .count();
    if unaccepted > 0 {
        notes.push(format!(
            "{unaccepted} connection(s) not accepted yet: they wait in the listener's queue and \
             belong to no process"
        ));
    }
    let mut held = listening;
    if let (false, Some(check)) = (listening, bind) {
        held = !check.reuse_addr;
        let connections = sockets.iter().filter(|s| !s.owners.is_empty()).count();
        let mut why = if sockets.is_empty() {
            format!("no socket uses port {port}")
        } else if connections == 0 {
            format!("no process holds port {port}")
        } else {
            format!(
                "no process listens on port {port} ({connections} connection(s) of it are \
                 still open)"
            )
        };
        why.push_str(&match (check.reuse_addr, check.plain) {
            (true, true) => "; a server can bind it now".to_string(),
            (true, false) => format!(
                "; a server that sets SO_REUSEADDR (most do) can bind it now, a plain bind \
                 fails until the TIME-WAIT connections expire (at most {TIME_WAIT_SECS} s)"
            ),
            (false, _) => "; but a bind fails now: the sockets above still use it".to_string(),
        });
        notes.push(why);
    }
    let unseen_owner = sockets.iter().any(|s| s.inode != 0 && s.owners.is_empty());
    if sockets.is_empty() || unseen_owner {
        notes.extend(namespace_note(port));
    }
    Ok(PortReport {
        port,
        held,
        sockets,
        bind,
        notes,
    })
}

/// Every listening TCP socket and bound UDP socket with its owners; with `all`, every socket
/// (connections and TIME-WAIT too).
pub fn listeners(all: bool, state: &StateDir) -> io::Result<ListenerReport> {
    let sockets = os::sockets(None, !all)?;
    let (mut sockets, scan) = attribute(sockets, |s| s.local.port(), state);
    sort_sockets(&mut sockets);
    let mut notes = Vec::new();
    if !scan.denied.is_empty() {
        let count = scan.denied.len();
        notes.push(format!(
            "the open files of {count} process{} could not be read (permission denied), so \
             some owners are unknown; {}",
            if count == 1 { "" } else { "es" },
            denied_remedy("reaper ports")
        ));
    }
    if let Some(note) = namespace_note(0) {
        notes.push(note.replace("reaper port 0", "reaper ports"));
    }
    Ok(ListenerReport { sockets, notes })
}

/// The first `count` ports at or after `from` that are free: a TCP bind without
/// `SO_REUSEADDR` on the IPv4 and the IPv6 wildcard address succeeds, which means that no TCP
/// socket of any state (listener, connection, TIME-WAIT) uses the port. Fewer are returned when
/// the port range ends first.
pub fn first_free(from: u16, count: usize) -> io::Result<Vec<u16>> {
    let mut free = Vec::new();
    if count == 0 {
        return Ok(free);
    }
    for port in from.max(1)..=u16::MAX {
        if bind_check(port).plain {
            free.push(port);
            if free.len() == count {
                break;
            }
        }
    }
    Ok(free)
}

/// What [`choose`] decided.
#[derive(Debug, Clone)]
pub struct PortChoice {
    /// The port to use.
    pub port: u16,
    /// When the wanted port was in use: what holds it.
    pub wanted_in_use: Option<PortReport>,
}

/// `wanted` if it is not in use, else the first free port after it.
pub fn choose(wanted: u16, state: &StateDir) -> Result<PortChoice, PortError> {
    let report = lookup(wanted, state)?;
    if !report.held {
        return Ok(PortChoice {
            port: wanted,
            wanted_in_use: None,
        });
    }
    let next = wanted.checked_add(1).ok_or(PortError::NoFreePort(wanted))?;
    let port = *first_free(next, 1)?
        .first()
        .ok_or(PortError::NoFreePort(wanted))?;
    Ok(PortChoice {
        port,
        wanted_in_use: Some(report),
    })
}

/// Why a port operation could not be done at all.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The socket tables could not be read.
    #[error("cannot read the socket tables: {0}")]
    Tables(#[from] io::Error),
    /// No free port from the wanted one to 65535.
    #[error("no free port after {0}")]
    NoFreePort(u16),
    /// The process table could not be read to end the holders.
    #[error("cannot read the process table: {0}")]
    Scan(io::Error),
}

/// How to free a port.
#[derive(Debug, Clone, Copy)]
pub struct FreeOptions {
    /// How holders (and the trees of managed holders) are ended.
    pub policy: StopPolicy,
    /// Rounds of end-and-verify (at least 1).
    pub attempts: u32,
}

/// A managed service stopped because it held the port.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceStopped {
    /// Project root holding its record.
    pub state_dir: PathBuf,
    /// How its tree was stopped.
    #[serde(flatten)]
    pub report: StopReport,
}

/// What [`free`] did.
#[derive(Debug, Clone, Serialize)]
pub struct FreeReport {
    /// The port.
    pub port: u16,
    /// The port is free now (proved by binding every address the holders used).
    pub freed: bool,
    /// Rounds of ending holders that were needed (0: nothing held it).
    pub attempts: u32,
    /// Holders that are not part of a managed service, as they ended.
    pub ended: Vec<EndedProcess>,
    /// Managed services stopped through their records (whole trees).
    pub services: Vec<ServiceStopped>,
    /// Addresses bound to prove the port free.
    pub verified: Vec<String>,
    /// Why nothing was signalled, when that is so.
    pub refused: Option<String>,
    /// Why the port is not free, when it is not.
    pub problem: Option<String>,
    /// Sockets still using the port, when it is not free.
    pub remaining: Vec<SocketReport>,
    /// Time the whole operation took.
    #[serde(serialize_with = "millis", rename = "elapsed_ms")]
    pub elapsed: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// The listeners and bound UDP sockets of `port`, with owners.
fn holding_sockets(port: u16, state: &StateDir) -> io::Result<Vec<SocketReport>> {
    let sockets = os::sockets(Some(port), true)?;
    Ok(attribute(sockets, |_| port, state).0)
}

/// Binds every address in `addresses`; returns the ones that failed, with the error.
fn prove_free(addresses: &BTreeSet<(Protocol, SocketAddr)>) -> Vec<(SocketAddr, io::Error)> {
    addresses
        .iter()
        .filter_map(|(protocol, addr)| {
            os::try_bind(*protocol, *addr, true)
                .err()
                .map(|e| (*addr, e))
        })
        .collect()
}

fn protocol_label(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// Ends exactly these processes (not what they started) through the stop-plan engine: each is
/// pinned by the identity the socket scan saw, so a holder whose pid was reused meanwhile is
/// never signalled.
fn end_processes(owners: &[&Owner], policy: StopPolicy) -> Result<Vec<EndedProcess>, PortError> {
    let target = StopTarget {
        name: "port holders".to_string(),
        members: Members::Exact(owners.iter().map(|o| o.identity.clone()).collect()),
        policy,
    };
    let reports = terminate::stop_trees(std::slice::from_ref(&target)).map_err(PortError::Scan)?;
    Ok(reports
        .into_iter()
        .flat_map(|report| report.processes)
        .collect())
}

fn describe_owner(owner: &Owner) -> String {
    let command: String = owner
        .command_line()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let short: String = command.chars().take(80).collect();
    let ellipsis = if short.len() < command.len() {
        "…"
    } else {
        ""
    };
    format!("pid {} ({short}{ellipsis})", owner.pid)
}

/// Frees `port`: ends the processes holding a TCP listener or a bound UDP socket on it (managed
/// services through their records, whole trees), then proves the port free by binding every
/// address they used, repeating up to `options.attempts` rounds. Refuses, signalling nothing,
/// when a holder is pid 1, reaper itself or one of its ancestors.
pub fn free(port: u16, state: &StateDir, options: FreeOptions) -> Result<FreeReport, PortError> {
    let began = Instant::now();
    let mut report = FreeReport {
        port,
        freed: false,
        attempts: 0,
        ended: Vec::new(),
        services: Vec::new(),
        verified: Vec::new(),
        refused: None,
        problem: None,
        remaining: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let mut former: BTreeSet<(Protocol, SocketAddr)> = BTreeSet::new();
    let mut found = holding_sockets(port, state)?;
    loop {
        if found.is_empty() {
            finish_without_holders(&mut report, &former, state)?;
            break;
        }
        if report.attempts >= options.attempts.max(1) {
            let holders: Vec<String> = distinct_owners(found.iter())
                .into_iter()
                .map(describe_owner)
                .collect();
            report.problem = Some(format!(
                "port {port} is still held after {} attempt(s){}",
                report.attempts,
                if holders.is_empty() {
                    String::new()
                } else {
                    format!(": {} took it again or survived", holders.join(", "))
                }
            ));
            report.remaining = found;
            break;
        }
        let owners = distinct_owners(found.iter());
        let protected: Vec<String> = owners
            .iter()
            .filter_map(|o| {
                let why = o.protected.as_deref()?;
                Some(format!("{}, and {why}", describe_owner(o)))
            })
            .collect();
        if !protected.is_empty() {
            report.refused = Some(format!(
                "port {port} is held by {}; reaper never signals these, so nothing was \
                 signalled. Free the port from outside (not from a process holding it)",
                protected.join("; ")
            ));
            report.remaining = found;
            break;
        }
        if owners.is_empty() {
            let reasons: BTreeSet<&str> =
                found.iter().filter_map(|s| s.unseen.as_deref()).collect();
            report.problem = Some(format!(
                "port {port} is held, but by no process reaper can see, so nothing was \
                 signalled: {}",
                reasons.into_iter().collect::<Vec<_>>().join("; ")
            ));
            report.remaining = found;
            break;
        }
        report.attempts += 1;
        for socket in &found {
            former.insert((socket.protocol, socket.local));
        }
        end_round(&mut report, &owners, state, options)?;
        if prove_free(&former).is_empty() {
            report.freed = true;
            report.verified = verified_labels(&former);
            break;
        }
        found = holding_sockets(port, state)?;
    }
    report.elapsed = began.elapsed();
    if state.log_dir().is_dir() {
        crate::actionlog::record(
            state,
            &format!(
                "port {port} --kill: freed={} attempts={} ended={:?} services={:?}{}",
                report.freed,
                report.attempts,
                report.ended.iter().map(|p| p.pid).collect::<Vec<_>>(),
                report
                    .services
                    .iter()
                    .map(|s| s.report.name.as_str())
                    .collect::<Vec<_>>(),
                report
                    .refused
                    .as_deref()
                    .or(report.problem.as_deref())
                    .map(|why| format!(" ({why})"))
                    .unwrap_or_default()
            ),
        );
    }
    Ok(report)
}

fn verified_labels(addresses: &BTreeSet<(Protocol, SocketAddr)>) -> Vec<String> {
    addresses
        .iter()
        .map(|(protocol, addr)| format!("{} {addr}", protocol_label(*protocol)))
        .collect()
}

/// Nothing listens on the port (any more): prove it free, or say what still uses it.
fn finish_without_holders(
    report: &mut FreeReport,
    former: &BTreeSet<(Protocol, SocketAddr)>,
    state: &StateDir,
) -> io::Result<()> {
    let port = report.port;
    let addresses: BTreeSet<(Protocol, SocketAddr)> = if former.is_empty() {
        [
            (
                Protocol::Tcp,
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            ),
            (
                Protocol::Tcp,
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            ),
        ]
        .into_iter()
        .collect()
    } else {
        former.clone()
    };
    let failed: Vec<(SocketAddr, io::Error)> = prove_free(&addresses)
        .into_iter()
        .filter(|(addr, e)| {
            // A host without IPv6 cannot bind [::], which says nothing about the port.
            !(addr.is_ipv6() && former.is_empty() && no_such_family(e))
        })
        .collect();
    if failed.is_empty() {
        report.freed = true;
        report.verified = verified_labels(&addresses);
        return Ok(());
    }
    let lookup = lookup(port, state)?;
    let time_wait = lookup
        .sockets
        .iter()
        .filter(|s| s.state == SocketState::TimeWait)
        .count();
    let owned: Vec<String> = distinct_owners(lookup.sockets.iter())
        .into_iter()
        .map(describe_owner)
        .collect();
    let failures: Vec<String> = failed
        .iter()
        .map(|(addr, e)| format!("{addr}: {e}"))
        .collect();
    report.problem = Some(format!(
        "no process listens on port {port} any more, but a bind fails ({}){}{}",
        failures.join("; "),
        if owned.is_empty() {
            String::new()
        } else {
            format!(
                "; connections of the port are still open in {} (reaper ends listeners only, \
                 never connections)",
                owned.join(", ")
            )
        },
        if time_wait > 0 {
            format!(
                "; {time_wait} connection(s) in TIME-WAIT block it until they expire (at most \
                 {TIME_WAIT_SECS} s)"
            )
        } else {
            String::new()
        }
    ));
    report.remaining = lookup.sockets;
    Ok(())
}

/// One round: stop managed holders through their records, end the others.
fn end_round(
    report: &mut FreeReport,
    owners: &[&Owner],
    state: &StateDir,
    options: FreeOptions,
) -> Result<(), PortError> {
    let mut services: BTreeMap<(PathBuf, String), Vec<&Owner>> = BTreeMap::new();
    let mut plain: Vec<&Owner> = Vec::new();
    for owner in owners {
        match (&owner.service, &owner.state_dir) {
            (Some(name), Some(dir)) => services
                .entry((dir.clone(), name.clone()))
                .or_default()
                .push(owner),
            _ => plain.push(owner),
        }
    }
    let stop = StopOptions {
        signal: options.policy.signal,
        timeout: options.policy.grace,
    };
    for ((root, name), members) in services {
        let dir = if root == state.root {
            state.clone()
        } else {
            StateDir { root: root.clone() }
        };
        match service::stop(&dir, &Selection::Names(vec![name]), stop) {
            Ok(summary) if !summary.reports.is_empty() => {
                report
                    .services
                    .extend(summary.reports.into_iter().map(|report| ServiceStopped {
                        state_dir: root.clone(),
                        report,
                    }));
            }
            // The record went away or cannot be used: end the holders themselves.
            _ => plain.extend(members),
        }
    }
    if !plain.is_empty() {
        report.ended.extend(end_processes(&plain, options.policy)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_and_tcp_hold_ports_other_states_do_not() {
        let socket = |protocol, state, port| Socket {
            protocol,
            local: SocketAddr::from(([127, 0, 0, 1], port)),
            remote: None,
            state,
            inode: 1,
            uid: 0,
        };
        assert!(socket(Protocol::Tcp, SocketState::Listen, 80).holds_port());
        assert!(!socket(Protocol::Tcp, SocketState::Established, 80).holds_port());
        assert!(!socket(Protocol::Tcp, SocketState::TimeWait, 80).holds_port());
        assert!(socket(Protocol::Udp, SocketState::Unconnected, 53).holds_port());
        assert!(!socket(Protocol::Udp, SocketState::Unconnected, 0).holds_port());
    }

    /// A listener whose owner exited while a process it started kept an inherited copy cannot
    /// be made under wine (its socket table names pid 0 for every socket) nor on Linux (the
    /// holder is found by its own descriptors), so the explanation is checked from the inputs
    /// the Windows table and process list would give.
    #[test]
    fn listener_of_an_exited_server_names_the_processes_it_started() {
        let started = [(4120, "node.exe server.js --watch".to_string())];
        let reason = exited_holder_reason(&[3312], Some(&started), 8080);
        assert!(reason.contains("names pid 3312 as its owner, which has exited"));
        assert!(reason.contains("pid 4120 (node.exe server.js --watch)"));
        assert!(reason.contains("frees port 8080"));

        let reason = exited_holder_reason(&[3312], Some(&[]), 8080);
        assert!(reason.contains("no running process was started by it"));
        assert!(reason.contains("reaper kill --dry-run PATTERN"));
        assert!(!reason.contains("pid 4120"));

        // Unix keeps no link from an exited process to what it started.
        let reason = exited_holder_reason(&[3312], None, 8080);
        assert!(reason.contains("exited during the lookup"));
        assert!(reason.contains("`reaper port 8080` again"));
    }

    /// Case 2 of issue 11: the fd scan saw pid P hold the listener; P exited and its pid now
    /// belongs to an unrelated process (here the test's `sleep`, whose start time differs from
    /// the one the scan recorded). The old scan kept bare pids and read identities afterwards,
    /// so the newcomer was shown as the holder and `port --kill` ended it.
    #[cfg(unix)]
    #[test]
    fn a_holder_whose_pid_was_reused_is_neither_shown_nor_signalled() {
        /// Ends and reaps the child even when an assertion fails.
        struct Reaped(std::process::Child);
        impl Drop for Reaped {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let newcomer = Reaped(
            std::process::Command::new("sleep")
                .arg("1000")
                .spawn()
                .unwrap(),
        );
        let pid = newcomer.0.id();
        let now = os::process_info(pid).unwrap();
        let seen = Holder {
            pid,
            start_time: Some(now.start_time.wrapping_sub(1)),
        };
        let socket = Socket {
            protocol: Protocol::Tcp,
            local: SocketAddr::from(([127, 0, 0, 1], 9)),
            remote: None,
            state: SocketState::Listen,
            inode: 4242,
            uid: 0,
        };
        let scan = OwnerScan {
            owners: HashMap::from([(socket.inode, vec![seen])]),
            denied: Vec::new(),
            scanned: 1,
        };
        let root = tempfile::tempdir().unwrap();
        let state = StateDir {
            root: root.path().to_path_buf(),
        };
        let reports = describe(vec![socket], &scan, |_| 9, &state);
        assert!(reports[0].owners.is_empty(), "{:?}", reports[0].owners);
        assert!(reports[0].unseen.as_deref().unwrap().contains("exited"));

        // Even handed the scan's identity directly, the kill engine does not take the newcomer.
        let mut owner = owner_of(Holder::seen_now(pid), &mut Services::new(&state)).unwrap();
        owner.identity.start_time = seen.start_time.unwrap();
        let ended = end_processes(&[&owner], StopPolicy::forced()).unwrap();
        assert!(ended.is_empty(), "{ended:?}");
        assert!(
            os::process_info(pid).is_some_and(|p| p.state.is_alive()),
            "the newcomer was signalled"
        );
    }

    #[test]
    fn first_free_skips_a_port_in_use() {
        let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let free = first_free(port, 1).unwrap();
        assert_eq!(free.len(), 1);
        assert!(free[0] > port);
    }
}
