//! `reaper status`: one process-table scan for every record.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::containment::{Containment, MarkerCache};
use crate::os;
use crate::process::{Pid, Snapshot};
use crate::state::{Entry, ExitRecord, StateDir, StateError};

use super::live_members;

/// Version of the `status --json` document.
pub const STATUS_SCHEMA: u32 = 1;

/// Coarse state of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// At least one process of its tree is alive.
    Running,
    /// The whole tree is gone; `reaper clean` removes the record.
    Exited,
    /// The recorded pid now belongs to a different process; nothing of the service is alive.
    Stale,
    /// A pid file without a reaper record: identity unknown.
    Unverified,
    /// The record cannot be read.
    Broken,
}

/// Everything `status` shows about one service.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    /// Service name.
    pub name: String,
    /// Coarse state.
    pub state: ServiceState,
    /// Leader pid (the recorded pid for exited, stale and unverified entries).
    pub pid: Option<Pid>,
    /// Whether the leader itself is alive (a daemonizing service runs without it).
    pub leader_alive: bool,
    /// Keeper pid, if the keeper is alive.
    pub keeper_pid: Option<Pid>,
    /// Seconds since the service started.
    pub uptime_secs: Option<u64>,
    /// CPU use of the live tree, averaged over its lifetime, in percent of one core.
    pub cpu_percent: Option<f64>,
    /// Resident memory of the live tree, in bytes.
    pub rss_bytes: Option<u64>,
    /// Live processes in the tree.
    pub processes: usize,
    /// Ports the tree listens on (TCP listen and bound UDP), sorted.
    pub ports: Vec<u16>,
    /// The recorded port, if any.
    pub declared_port: Option<u16>,
    /// Log file.
    pub log: Option<PathBuf>,
    /// How the leader ended, if the keeper recorded it.
    pub exit: Option<ExitRecord>,
    /// Command line.
    pub command: Vec<String>,
    /// For stale, unverified and broken entries: what is wrong.
    pub problem: Option<String>,
    /// What holds the service's processes (absent for entries without a record).
    pub containment: Option<Containment>,
}

/// The `status --json` document.
#[derive(Debug, Serialize)]
pub struct StatusDocument {
    /// [`STATUS_SCHEMA`].
    pub schema: u32,
    /// One entry per service, sorted by name.
    pub services: Vec<ServiceStatus>,
}

/// Status of one service (`Some(name)`) or of all.
pub fn status(state: &StateDir, name: Option<&str>) -> Result<Vec<ServiceStatus>, StateError> {
    let entries = match name {
        Some(name) => state.load(name)?.into_iter().collect(),
        None => state.list()?,
    };
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let snapshot = os::snapshot().map_err(|source| StateError::Io {
        path: PathBuf::from("/proc"),
        source,
    })?;
    let mut markers = MarkerCache::default();
    let mut sockets: Option<HashMap<u64, u16>> = None;
    Ok(entries
        .into_iter()
        .map(|entry| describe(state, entry, &snapshot, &mut markers, &mut sockets))
        .collect())
}

fn blank(name: String, state: ServiceState) -> ServiceStatus {
    ServiceStatus {
        name,
        state,
        pid: None,
        leader_alive: false,
        keeper_pid: None,
        uptime_secs: None,
        cpu_percent: None,
        rss_bytes: None,
        processes: 0,
        ports: Vec::new(),
        declared_port: None,
        log: None,
        exit: None,
        command: Vec::new(),
        problem: None,
        containment: None,
    }
}

fn describe(
    state: &StateDir,
    entry: Entry,
    snapshot: &Snapshot,
    markers: &mut MarkerCache,
    sockets: &mut Option<HashMap<u64, u16>>,
) -> ServiceStatus {
    let record = match entry {
        Entry::Record(record) => record,
        Entry::PidOnly { name, pid } => {
            let mut status = blank(name, ServiceState::Unverified);
            match pid {
                Ok(pid) => {
                    status.pid = Some(pid);
                    let alive = snapshot.get(pid).is_some_and(|p| p.state.is_alive());
                    status.problem = Some(format!(
                        "pid file without a reaper record; pid {pid} is {}",
                        if alive {
                            "alive (identity unknown)"
                        } else {
                            "gone"
                        }
                    ));
                }
                Err(e) => status.problem = Some(format!("pid file: {e}")),
            }
            return status;
        }
        Entry::Broken { name, error } => {
            let mut status = blank(name, ServiceState::Broken);
            status.problem = Some(error.to_string());
            return status;
        }
    };
    let members = live_members(snapshot, &record, markers);
    let leader_info = snapshot.get(record.leader.pid);
    let leader_alive = leader_info.is_some_and(|p| record.leader.matches(p) && p.state.is_alive());
    let mut status = blank(record.name.clone(), ServiceState::Running);
    status.pid = Some(record.leader.pid);
    status.leader_alive = leader_alive;
    status.keeper_pid = record
        .keeper
        .as_ref()
        .filter(|k| {
            snapshot
                .get(k.pid)
                .is_some_and(|p| k.matches(p) && p.state.is_alive())
        })
        .map(|k| k.pid);
    status.declared_port = record.port;
    status.log = Some(record.log.clone());
    status.command = record.argv.clone();
    status.exit = state.load_exit(&record.name, &record.run_id);
    status.containment = Some(Containment::of(&record.anchor()));
    if os::boot_id().is_ok_and(|boot| boot != record.leader.boot_id) {
        status.state = ServiceState::Stale;
        status.problem = Some(
            "recorded during an earlier boot: nothing of it can be running (`reaper clean` removes it)"
                .into(),
        );
        return status;
    }
    if members.is_empty() {
        let reused = leader_info.filter(|p| !record.leader.matches(p));
        status.state = match reused {
            Some(other) => {
                status.problem = Some(format!(
                    "pid {} now belongs to another process ({})",
                    other.pid, other.name
                ));
                ServiceState::Stale
            }
            None => ServiceState::Exited,
        };
        return status;
    }
    let now = SystemTime::now();
    let started = snapshot
        .get(record.leader.pid)
        .filter(|_| leader_alive)
        .or_else(|| {
            members
                .iter()
                .filter_map(|pid| snapshot.get(*pid))
                .min_by_key(|p| p.started_at)
        })
        .map(|p| p.started_at)
        .unwrap_or(now);
    let age = now.duration_since(started).unwrap_or(Duration::ZERO);
    let cpu: Duration = members
        .iter()
        .filter_map(|pid| snapshot.get(*pid))
        .map(|p| p.cpu_time)
        .sum();
    status.uptime_secs = Some(age.as_secs());
    status.cpu_percent = Some(if age.is_zero() {
        0.0
    } else {
        (cpu.as_secs_f64() / age.as_secs_f64() * 1000.0).round() / 10.0
    });
    status.rss_bytes = Some(
        members
            .iter()
            .filter_map(|pid| snapshot.get(*pid))
            .map(|p| p.rss_bytes)
            .sum(),
    );
    status.processes = members.len();
    status.ports = listening_ports(&members, sockets);
    status
}

fn listening_ports(members: &BTreeSet<Pid>, sockets: &mut Option<HashMap<u64, u16>>) -> Vec<u16> {
    let by_inode = sockets.get_or_insert_with(|| {
        os::listening_sockets()
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.inode, s.local.port()))
            .collect()
    });
    let mut ports: Vec<u16> = members
        .iter()
        .flat_map(|pid| os::socket_inodes(*pid))
        .filter_map(|inode| by_inode.get(&inode).copied())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}
