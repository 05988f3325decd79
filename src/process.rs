//! Platform-neutral view of the process table: [`ProcessInfo`], [`ProcessState`] and
//! [`Snapshot`] with the tree queries the rest of reaper needs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

/// A process id. Platform-neutral (non-negative on every platform reaper supports).
pub type Pid = u32;

/// What the operating system says a process is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    /// On a CPU or ready to run.
    Running,
    /// Waiting for an event (interruptible).
    Sleeping,
    /// Uninterruptible sleep, usually I/O (`D`).
    DiskSleep,
    /// Stopped by a signal or a tracer.
    Stopped,
    /// Exited, waiting for its parent to reap it.
    Zombie,
    /// Being torn down.
    Dead,
    /// Idle kernel thread or anything else.
    Other,
}

impl ProcessState {
    /// A zombie or dead process is not alive, whatever `kill(pid, 0)` says.
    pub fn is_alive(self) -> bool {
        !matches!(self, ProcessState::Zombie | ProcessState::Dead)
    }

    /// The one-letter code `ps` uses.
    pub fn letter(self) -> char {
        match self {
            ProcessState::Running => 'R',
            ProcessState::Sleeping => 'S',
            ProcessState::DiskSleep => 'D',
            ProcessState::Stopped => 'T',
            ProcessState::Zombie => 'Z',
            ProcessState::Dead => 'X',
            ProcessState::Other => '?',
        }
    }
}

/// One process as seen in one scan.
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: Pid,
    /// Parent process id (0 when there is none).
    pub ppid: Pid,
    /// Process group id.
    pub pgid: Pid,
    /// Session id.
    pub sid: Pid,
    /// Scheduling state.
    pub state: ProcessState,
    /// Opaque start-time token, stable for the life of the process and part of its identity
    /// (Linux: clock ticks since boot).
    pub start_time: u64,
    /// Wall-clock start time.
    pub started_at: SystemTime,
    /// Short name (`comm` on Linux).
    pub name: String,
    /// User + system CPU time consumed so far.
    pub cpu_time: Duration,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// True for kernel threads, which are never targets.
    pub kernel_thread: bool,
}

impl ProcessInfo {
    /// True when the process outlived its parent: its parent pid is
    /// [`ORPHAN_PPID`](crate::os::ORPHAN_PPID), what the platform gives a process whose parent
    /// is gone.
    pub fn outlived_parent(&self) -> bool {
        self.ppid == crate::os::ORPHAN_PPID && !self.kernel_thread
    }
}

/// A consistent-enough picture of the process table at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    processes: BTreeMap<Pid, ProcessInfo>,
    children: HashMap<Pid, Vec<Pid>>,
}

impl Snapshot {
    /// Builds a snapshot from a list of processes.
    pub fn from_processes(list: impl IntoIterator<Item = ProcessInfo>) -> Snapshot {
        let mut processes = BTreeMap::new();
        let mut children: HashMap<Pid, Vec<Pid>> = HashMap::new();
        for info in list {
            children.entry(info.ppid).or_default().push(info.pid);
            processes.insert(info.pid, info);
        }
        Snapshot {
            processes,
            children,
        }
    }

    /// The process with this pid, if it was in the table.
    pub fn get(&self, pid: Pid) -> Option<&ProcessInfo> {
        self.processes.get(&pid)
    }

    /// Every process, by ascending pid.
    pub fn iter(&self) -> impl Iterator<Item = &ProcessInfo> {
        self.processes.values()
    }

    /// Number of processes in the snapshot.
    pub fn len(&self) -> usize {
        self.processes.len()
    }

    /// True when the snapshot holds no process.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    /// Direct children of `pid`.
    pub fn children(&self, pid: Pid) -> &[Pid] {
        self.children.get(&pid).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Adds every descendant of every pid in `set` to `set` (by parent links).
    pub fn close_over_descendants(&self, set: &mut BTreeSet<Pid>) {
        let mut stack: Vec<Pid> = set.iter().copied().collect();
        while let Some(pid) = stack.pop() {
            for &child in self.children(pid) {
                if set.insert(child) {
                    stack.push(child);
                }
            }
        }
    }

    /// The chain of ancestors of `pid`, nearest first (not including `pid`).
    pub fn ancestors(&self, pid: Pid) -> Vec<Pid> {
        let mut out = Vec::new();
        let mut current = pid;
        while let Some(info) = self.get(current) {
            if info.ppid == 0 || info.ppid == current || out.contains(&info.ppid) {
                break;
            }
            out.push(info.ppid);
            current = info.ppid;
        }
        out
    }
}
