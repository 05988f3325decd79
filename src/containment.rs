//! Which processes belong to a service: the marker every managed process inherits, and the
//! membership rule `session ∪ descendants(keeper, leader) ∪ marker carriers`, closed over
//! descendants.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::identity::{ProcessRef, protection};
use crate::os;
use crate::process::{Pid, Snapshot};

/// Environment variable every managed process and its descendants carry.
pub const MARKER_VAR: &str = "REAPER_MARKER";

/// The marker value: which run of which service, under which state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// Random id of this run of the service.
    pub run_id: String,
    /// Service name.
    pub name: String,
    /// Absolute path of the `.run` directory holding the service's record.
    pub run_dir: PathBuf,
}

impl Marker {
    /// Encodes as `v1:RUN_ID:NAME:RUN_DIR` (names never contain `:`; the directory comes last
    /// so it may).
    pub fn encode(&self) -> String {
        format!(
            "v1:{}:{}:{}",
            self.run_id,
            self.name,
            self.run_dir.display()
        )
    }

    /// Decodes a marker value; `None` if it is not one.
    pub fn decode(value: &str) -> Option<Marker> {
        let mut parts = value.splitn(4, ':');
        if parts.next()? != "v1" {
            return None;
        }
        Some(Marker {
            run_id: parts.next()?.to_string(),
            name: parts.next()?.to_string(),
            run_dir: PathBuf::from(parts.next()?),
        })
    }

    /// True when the marker belongs to a service recorded under `run_dir`.
    pub fn is_under(&self, run_dir: &Path) -> bool {
        self.run_dir == run_dir
    }
}

/// Reads markers from process environments, once per process.
#[derive(Debug, Default)]
pub struct MarkerCache {
    seen: HashMap<(Pid, u64), Option<Marker>>,
}

impl MarkerCache {
    /// Reads the markers of many processes at once (two threads when there are many), so later
    /// [`MarkerCache::marker`] calls are lookups.
    pub fn prefetch(&mut self, processes: &[(Pid, u64)]) {
        let todo: Vec<(Pid, u64)> = processes
            .iter()
            .copied()
            .filter(|key| !self.seen.contains_key(key))
            .collect();
        let read = |chunk: &[(Pid, u64)]| -> Vec<((Pid, u64), Option<Marker>)> {
            chunk
                .iter()
                .map(|&(pid, start)| {
                    let marker = os::marker_of(pid, MARKER_VAR).and_then(|v| Marker::decode(&v));
                    ((pid, start), marker)
                })
                .collect()
        };
        let found = if todo.len() < 1000 {
            read(&todo)
        } else {
            let (first, second) = todo.split_at(todo.len() / 2);
            std::thread::scope(|scope| {
                let other = scope.spawn(|| read(second));
                let mut found = read(first);
                found.extend(other.join().expect("marker thread"));
                found
            })
        };
        self.seen.extend(found);
    }

    /// The marker of the process `(pid, start_time)`, if it carries one.
    pub fn marker(&mut self, pid: Pid, start_time: u64) -> Option<&Marker> {
        self.seen
            .entry((pid, start_time))
            .or_insert_with(|| os::marker_of(pid, MARKER_VAR).and_then(|v| Marker::decode(&v)))
            .as_ref()
    }
}

/// What identifies one service's tree.
#[derive(Debug, Clone)]
pub struct Anchor {
    /// The service's first process.
    pub leader: ProcessRef,
    /// The keeper that adopted and reaps the service's orphans, if any.
    pub keeper: Option<ProcessRef>,
    /// The run id in the marker every member inherits.
    pub run_id: String,
}

/// The processes of one tree.
#[derive(Debug, Default)]
pub struct Membership {
    /// Every live-or-zombie member, excluding the keeper.
    pub pids: BTreeSet<Pid>,
    /// Processes that would be members but are never targets (pid ≤ 1, reaper itself, its
    /// ancestors). A tree that contains one must not be stopped: its record points at us.
    pub protected: Vec<Pid>,
}

/// The members of the tree anchored at `anchor`: its session, the keeper's and the leader's
/// descendants, and marker carriers, closed over descendants. Protected processes are neither
/// members nor expanded. Marker lookups are limited to processes started no earlier than the
/// leader (an older process cannot have inherited the marker), which keeps a stop cheap on busy
/// hosts.
pub fn members(snapshot: &Snapshot, anchor: &Anchor, markers: &mut MarkerCache) -> Membership {
    let mut seeds = BTreeSet::new();
    let leader = &anchor.leader;
    let leader_info = snapshot.get(leader.pid);
    let leader_is_ours = leader_info.is_some_and(|info| leader.matches(info));
    // A session id cannot be reused while any process is in that session, so when no process
    // holds the leader's pid, the session's remaining members are still ours.
    let session_is_ours = leader_is_ours || leader_info.is_none();
    if leader_is_ours {
        seeds.insert(leader.pid);
    }
    let keeper = anchor
        .keeper
        .as_ref()
        .filter(|k| snapshot.get(k.pid).is_some_and(|info| k.matches(info)));
    if let Some(keeper) = keeper {
        seeds.extend(snapshot.children(keeper.pid));
    }
    seeds.extend(os::contained_processes(&anchor.run_id));
    for info in snapshot.iter() {
        if info.kernel_thread || info.start_time < leader.start_time {
            continue;
        }
        let in_session = session_is_ours && info.sid == leader.pid;
        if in_session
            || markers
                .marker(info.pid, info.start_time)
                .is_some_and(|m| m.run_id == anchor.run_id)
        {
            seeds.insert(info.pid);
        }
    }
    let mut membership = Membership::default();
    let mut stack: Vec<Pid> = seeds.into_iter().collect();
    while let Some(pid) = stack.pop() {
        if keeper.is_some_and(|k| k.pid == pid) || membership.pids.contains(&pid) {
            continue;
        }
        // A console host belongs to its console, not to the tree: it exits by itself once the
        // last process attached to the console is gone (and closing its window would end them).
        if snapshot.get(pid).is_some_and(os::is_console_host) {
            continue;
        }
        if protection(pid).is_some() {
            if !membership.protected.contains(&pid) {
                membership.protected.push(pid);
            }
            continue;
        }
        membership.pids.insert(pid);
        stack.extend(snapshot.children(pid));
    }
    membership
}
