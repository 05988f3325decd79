//! Which processes belong to a service. Strongest first:
//!
//! 1. A cgroup (Linux, where a cgroup v2 hierarchy is writable): its `cgroup.procs`, nothing
//!    else. No process inside can leave it, whatever it does.
//! 2. Otherwise (macOS, Linux without a usable cgroup; Windows adds its job object): the marker
//!    every managed process inherits, the keeper's descendants (it is a subreaper, so orphans
//!    come back to it), and the leader's session, closed over descendants. The session is
//!    trusted only while its leader is verified alive: a session id is a pid number, and once
//!    the leader and its session are gone a new process can get that number and lead a session
//!    of its own. A record from another boot has no members at all.

use std::collections::{BTreeSet, HashMap};
use std::io;
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
    /// Set for a cache built from known markers: processes it does not know carry none.
    closed: bool,
    /// Processes started before this carry no marker looked for (see [`MarkerFloor`]).
    lowest_start: u64,
}

impl MarkerCache {
    /// A cache that knows every marker there is (the processes not listed carry none) and never
    /// reads a process's environment: membership can then be computed on a snapshot built in
    /// memory.
    pub fn from_known(markers: impl IntoIterator<Item = ((Pid, u64), Marker)>) -> MarkerCache {
        MarkerCache {
            seen: markers
                .into_iter()
                .map(|(key, marker)| (key, Some(marker)))
                .collect(),
            closed: true,
            lowest_start: 0,
        }
    }

    /// A cache for a scan of `run_dir`'s services and this user's gone `reaper run`s: it does
    /// not read the environment of processes started before any of their markers was issued
    /// ([`marked_scope`]).
    pub fn for_scan(run_dir: &Path) -> MarkerCache {
        MarkerCache::from_lowest_start(marked_scope(run_dir).0)
    }

    /// A cache that takes processes started before `lowest_start` to carry no marker.
    pub fn from_lowest_start(lowest_start: u64) -> MarkerCache {
        MarkerCache {
            lowest_start,
            ..MarkerCache::default()
        }
    }

    fn read(&self, pid: Pid, start_time: u64) -> Option<Marker> {
        if start_time < self.lowest_start {
            return None;
        }
        os::marker_of(pid, MARKER_VAR).and_then(|v| Marker::decode(&v))
    }

    /// Reads the markers of many processes at once (two threads when there are many), so later
    /// [`MarkerCache::marker`] calls are lookups.
    pub fn prefetch(&mut self, processes: &[(Pid, u64)]) {
        if self.closed {
            return;
        }
        let todo: Vec<(Pid, u64)> = processes
            .iter()
            .copied()
            .filter(|key| key.1 >= self.lowest_start && !self.seen.contains_key(key))
            .collect();
        let read = |chunk: &[(Pid, u64)]| -> Vec<((Pid, u64), Option<Marker>)> {
            chunk
                .iter()
                .map(|&(pid, start)| ((pid, start), self.read(pid, start)))
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
    // An entry would borrow `self.seen` across `self.read`, which needs all of `self`.
    #[allow(clippy::map_entry)]
    pub fn marker(&mut self, pid: Pid, start_time: u64) -> Option<&Marker> {
        let key = (pid, start_time);
        if !self.seen.contains_key(&key) {
            let found = if self.closed {
                None
            } else {
                self.read(pid, start_time)
            };
            self.seen.insert(key, found);
        }
        self.seen[&key].as_ref()
    }
}

/// Which processes may carry a marker a scan looks for: every process that gets one was started
/// after the reaper process that issued it, and each issuer records, before its first spawn of a
/// boot, its own start time in a floor file per state directory ([`service_marker_floor`]);
/// `reaper run`s and doctor hooks register in the [`run_registry`] and leave it when nothing
/// they started is left, so only the gone ones count. A process started before every floor
/// carries none of the markers a scan looks for, and its environment is not read (that read was
/// a third of a doctor scan's system calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerFloor {
    /// No marker of this kind was issued since boot: no process carries one.
    NoneIssued,
    /// Processes whose start time is at least this may carry one.
    Since(u64),
    /// The floor cannot be trusted (unreadable, not ours, half written, or not kept on this
    /// platform): any process may carry one.
    Unknown,
}

impl MarkerFloor {
    /// The lowest start time a marker carrier can have (`u64::MAX`: none can exist).
    pub fn lowest_start(self) -> u64 {
        match self {
            MarkerFloor::NoneIssued => u64::MAX,
            MarkerFloor::Since(start) => start,
            MarkerFloor::Unknown => 0,
        }
    }
}

/// The floor file for the markers of services of `run_dir`, for this boot (the boot id is in
/// the name, so a file never outlives the start times it compares with).
pub fn service_marker_floor(run_dir: &Path) -> io::Result<PathBuf> {
    Ok(run_dir.join(format!(".markers-since.{}", os::boot_id()?)))
}

/// Where this user's `reaper run`s and doctor hooks, whose markers have no state directory,
/// register while their processes may be left behind: one file `PID.START` each, in `/tmp`
/// (fixed, not `$TMPDIR`, so every reaper of the user finds it). `None` where start times are
/// not kept in one clock since boot (not Linux): scans there read every environment.
pub fn run_registry() -> io::Result<Option<PathBuf>> {
    if !cfg!(target_os = "linux") {
        return Ok(None);
    }
    Ok(Some(PathBuf::from(format!(
        "/tmp/reaper-runs.{}.{}",
        os::current_uid(),
        os::boot_id()?
    ))))
}

/// A `reaper run` or doctor hook in the [`run_registry`]. Dropped, it stays registered (what it
/// started may be left); [`RunRegistration::release`] once nothing it started is left.
#[derive(Debug)]
pub struct RunRegistration {
    entry: Option<PathBuf>,
}

impl RunRegistration {
    /// Registers this process before it issues a marker.
    pub fn new() -> io::Result<RunRegistration> {
        let Some(dir) = run_registry()? else {
            return Ok(RunRegistration { entry: None });
        };
        let own = os::process_info(std::process::id())
            .ok_or_else(|| io::Error::other("reaper is not in the process table"))?;
        let entry = dir.join(format!("{}.{}", own.pid, own.start_time));
        // A directory another user planted is not used (scans do not trust it either).
        if std::fs::symlink_metadata(&dir).is_ok() && !owned_by_us(&dir) {
            return Ok(RunRegistration { entry: None });
        }
        let written = crate::state::files::create_dir_all(&dir)
            .and_then(|()| crate::state::files::open_lock(&entry).map(drop));
        written.map_err(|e| {
            io::Error::new(e.kind(), format!("cannot write {}: {e}", entry.display()))
        })?;
        Ok(RunRegistration { entry: Some(entry) })
    }

    /// Leaves the registry: nothing this process started is left running.
    pub fn release(mut self) {
        if let Some(entry) = self.entry.take() {
            let _ = std::fs::remove_file(entry);
        }
    }
}

/// The `reaper run`s and hooks of the registry that are gone without leaving it: what they
/// started may be orphans. `None` when the registry cannot be trusted (not this user's, a name
/// that is not `PID.START`, unreadable): any process may then carry such a marker.
fn abandoned_runs(dir: &Path) -> Option<Vec<(Pid, u64)>> {
    let listing = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Some(Vec::new()),
        Err(_) => return None,
        Ok(listing) => listing,
    };
    if !owned_by_us(dir)
        || std::fs::symlink_metadata(dir)
            .ok()?
            .file_type()
            .is_symlink()
    {
        return None;
    }
    let mut gone = Vec::new();
    for entry in listing {
        let name = entry.ok()?.file_name();
        let (pid, start) = name.to_str()?.split_once('.')?;
        let (pid, start): (Pid, u64) = (pid.parse().ok()?, start.parse().ok()?);
        if os::process_info(pid)
            .is_none_or(|info| info.start_time != start || !info.state.is_alive())
        {
            gone.push((pid, start));
        }
    }
    Some(gone)
}

/// Removes the registry entries of `runs` (gone, per [`abandoned_runs`]) that no orphan names:
/// the scan that found none read every environment that could carry their marker.
pub fn forget_abandoned_runs(runs: &[(Pid, u64)], orphan_names: &[&str]) {
    let Ok(Some(dir)) = run_registry() else {
        return;
    };
    for &(pid, start) in runs {
        if !orphan_names.contains(&run_owner_name(pid, start).as_str()) {
            let _ = std::fs::remove_file(dir.join(format!("{pid}.{start}")));
        }
    }
}

/// Records, before this process issues a marker, that processes started from now on may carry
/// one: creates `floor` with this process's start time unless it exists (an earlier issuer's
/// floor is lower, and what this process starts comes after it). A floor that exists but is not
/// this user's (planted in `/tmp`) is left alone: scans then do not trust it.
pub fn record_marker_floor(floor: &Path) -> io::Result<()> {
    write_marker_floor(floor)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", floor.display())))
}

fn write_marker_floor(floor: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(floor) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let own = os::process_info(std::process::id())
        .ok_or_else(|| io::Error::other("reaper is not in the process table"))?;
    match crate::state::files::create_new(floor) {
        Ok(mut file) => {
            use std::io::Write;
            file.write_all(format!("{}\n", own.start_time).as_bytes())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Reads a floor file written by [`record_marker_floor`].
pub fn read_marker_floor(floor: &Path) -> MarkerFloor {
    match crate::state::files::read(floor) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => MarkerFloor::NoneIssued,
        Err(_) => MarkerFloor::Unknown,
        Ok(bytes) => {
            let ours = owned_by_us(floor);
            match std::str::from_utf8(&bytes).ok().map(str::trim) {
                Some(text) if ours => text
                    .parse()
                    .map_or(MarkerFloor::Unknown, MarkerFloor::Since),
                _ => MarkerFloor::Unknown,
            }
        }
    }
}

#[cfg(unix)]
fn owned_by_us(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.uid() == os::current_uid())
}

#[cfg(not(unix))]
fn owned_by_us(_path: &Path) -> bool {
    false
}

/// What a scan of `run_dir` (its services' markers, and those of this user's `reaper run`s that
/// are gone) needs to read: the lowest start time a carrier can have, and the gone runs.
pub fn marked_scope(run_dir: &Path) -> (u64, Vec<(Pid, u64)>) {
    let services = match service_marker_floor(run_dir).map(|path| read_marker_floor(&path)) {
        // Services started this boot by a reaper that wrote no floor (an older version) would
        // be missed: without a floor, only a state directory that never ran anything is clean.
        Ok(MarkerFloor::NoneIssued) if run_dir.exists() => MarkerFloor::Unknown,
        Ok(floor) => floor,
        Err(_) => MarkerFloor::Unknown,
    };
    let (runs, gone) = match run_registry() {
        Ok(Some(dir)) => match abandoned_runs(&dir) {
            Some(gone) => {
                let lowest = gone.iter().map(|&(_, start)| start).min();
                (
                    lowest.map_or(MarkerFloor::NoneIssued, MarkerFloor::Since),
                    gone,
                )
            }
            None => (MarkerFloor::Unknown, Vec::new()),
        },
        _ => (MarkerFloor::Unknown, Vec::new()),
    };
    (services.lowest_start().min(runs.lowest_start()), gone)
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
    /// The run's cgroup, if it has one (Linux). Used only when it is a path reaper could have
    /// created for this run id ([`os::is_reaper_cgroup`]): records are files anyone able to
    /// write the state directory could forge.
    pub cgroup: Option<PathBuf>,
}

impl Anchor {
    /// The run's cgroup, when it has one that may be trusted.
    pub fn trusted_cgroup(&self) -> Option<&Path> {
        self.cgroup
            .as_deref()
            .filter(|path| os::is_reaper_cgroup(path, &self.run_id))
    }

    /// The anchor of a tree reaper did not start (a pid given on the command line, a port
    /// holder, a marker carrier): the tree is whatever is found around `leader`.
    pub fn adopted(leader: ProcessRef, run_id: String) -> Anchor {
        Anchor {
            leader,
            keeper: None,
            run_id,
            cgroup: None,
        }
    }
}

/// What holds a run's processes, for `status` and `ps`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Containment {
    /// A cgroup v2 of its own.
    Cgroup {
        /// The cgroup's directory.
        path: PathBuf,
    },
    /// A Windows job object named after the run.
    Job,
    /// A session of its own, the marker, and the keeper as subreaper.
    SessionMarker,
}

impl Containment {
    /// The containment of the tree anchored at `anchor`.
    pub fn of(anchor: &Anchor) -> Containment {
        match anchor.trusted_cgroup() {
            Some(path) => Containment::Cgroup {
                path: path.to_path_buf(),
            },
            None if cfg!(windows) => Containment::Job,
            None => Containment::SessionMarker,
        }
    }
}

impl Containment {
    /// One word for tables: `cgroup`, `job` or `session`.
    pub fn label(&self) -> &'static str {
        match self {
            Containment::Cgroup { .. } => "cgroup",
            Containment::Job => "job",
            Containment::SessionMarker => "session",
        }
    }
}

impl std::fmt::Display for Containment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Containment::Cgroup { path } => write!(f, "cgroup {}", path.display()),
            Containment::Job => f.write_str("job object"),
            Containment::SessionMarker => f.write_str("session+marker"),
        }
    }
}

/// The cgroup name for run `run_id` of service `name` under the state directory `run_dir`:
/// `svc.PROJECT.NAME.RUN_ID`, PROJECT being a hash of `run_dir` (so `clean` can tell its own
/// leftovers apart).
pub fn service_cgroup_leaf(run_dir: &Path, name: &str, run_id: &str) -> String {
    format!("svc.{}.{name}.{run_id}", project_hash(run_dir))
}

/// How a `reaper run` (pid `pid`, start time `start_time`) is named in its marker and its
/// cgroup: `run.PID.START`, so a tree whose `reaper run` is gone can be recognised.
pub fn run_owner_name(pid: Pid, start_time: u64) -> String {
    format!("run.{pid}.{start_time}")
}

/// The `reaper run` a marker or cgroup name names (see [`run_owner_name`]), if it names one
/// that is gone now; `None` for other names and for a `reaper run` that is still running.
pub fn abandoning_run(name: &str) -> Option<Pid> {
    let (pid, start) = name.strip_prefix("run.")?.split_once('.')?;
    let (pid, start): (Pid, u64) = (pid.parse().ok()?, start.parse().ok()?);
    os::process_info(pid)
        .is_none_or(|info| info.start_time != start)
        .then_some(pid)
}

/// The cgroup name for a `reaper run` (see [`run_owner_name`]) of run `run_id`:
/// `run.PID.START.RUN_ID`.
pub fn run_cgroup_leaf(pid: Pid, start_time: u64, run_id: &str) -> String {
    format!("{}.{run_id}", run_owner_name(pid, start_time))
}

/// A leftover reaper cgroup: one whose owner is gone while processes remain in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupOwner {
    /// A service of the state directory whose `run_dir` hashes to `project`.
    Service {
        /// Hash of the state directory (see [`service_cgroup_leaf`]).
        project: String,
        /// Service name.
        name: String,
        /// Run id.
        run_id: String,
    },
    /// A `reaper run` process.
    Run {
        /// Its name (see [`run_owner_name`]).
        supervisor: String,
        /// Run id.
        run_id: String,
    },
}

impl CgroupOwner {
    /// Reads the owner from a cgroup's name; `None` for names reaper does not give.
    pub fn parse(leaf: &str) -> Option<CgroupOwner> {
        let (rest, run_id) = leaf.rsplit_once('.')?;
        let run_id = run_id.to_string();
        if let Some(rest) = rest.strip_prefix("svc.") {
            let (project, name) = rest.split_once('.')?;
            return Some(CgroupOwner::Service {
                project: project.to_string(),
                name: name.to_string(),
                run_id,
            });
        }
        rest.strip_prefix("run.")?;
        Some(CgroupOwner::Run {
            supervisor: rest.to_string(),
            run_id,
        })
    }
}

/// A cgroup reaper created whose owner is gone while processes remain in it: a keeper or a
/// `reaper run` that was SIGKILLed, a record deleted by hand.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LeftoverCgroup {
    /// The cgroup's directory.
    pub path: PathBuf,
    /// Who created it, in words (`service api (run …)`, `reaper run pid 42`).
    pub owner: String,
    /// The run id in its name.
    pub run_id: String,
    /// The processes in it.
    pub pids: Vec<Pid>,
}

/// The leftover cgroups of the state directory `run_dir` (service cgroups whose run is not one
/// of `known_runs`) and of every `reaper run` that is gone. With `remove_empty`, leftovers that
/// hold no process are removed on the way (nothing is left to find in them).
pub fn leftover_cgroups(
    run_dir: &Path,
    known_runs: &[String],
    remove_empty: bool,
) -> Vec<LeftoverCgroup> {
    let project = project_hash(run_dir);
    let mut found = Vec::new();
    for path in os::reaper_cgroups() {
        let Some(owner) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(CgroupOwner::parse)
        else {
            continue;
        };
        let pids = os::cgroup_processes(&path).unwrap_or_default();
        let (owner, run_id) = match owner {
            CgroupOwner::Service {
                project: p,
                name,
                run_id,
            } if p == project && !known_runs.contains(&run_id) => {
                (format!("service {name} (run {run_id})"), run_id)
            }
            CgroupOwner::Run { supervisor, run_id } => match abandoning_run(&supervisor) {
                // Another user's `reaper run` left these: not ours to end.
                _ if pids
                    .iter()
                    .any(|pid| os::uid_of(*pid) != Some(os::current_uid())) =>
                {
                    continue;
                }
                Some(pid) => (format!("`reaper run` pid {pid}, which is gone"), run_id),
                None => continue,
            },
            _ => continue,
        };
        if pids.is_empty() {
            if remove_empty {
                let _ = os::remove_cgroup(&path);
            }
            continue;
        }
        found.push(LeftoverCgroup {
            path,
            owner,
            run_id,
            pids,
        });
    }
    found
}

/// A stable 8-hex-digit hash of a state directory (FNV-1a: the same in every reaper process,
/// unlike std's randomly keyed hasher).
pub fn project_hash(run_dir: &Path) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in run_dir.as_os_str().as_encoded_bytes() {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", hash as u32)
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

/// The members of the tree anchored at `anchor`. With a cgroup: every process in it. Otherwise
/// the marker carriers, the keeper's descendants and (while the leader is verified alive) its
/// session, closed over descendants. Protected processes are neither members nor expanded.
/// Marker lookups are limited to processes started no earlier than the leader (an older process
/// cannot have inherited the marker), which keeps a stop cheap on busy hosts.
pub fn members(snapshot: &Snapshot, anchor: &Anchor, markers: &mut MarkerCache) -> Membership {
    if anchor.leader.boot_id != os::boot_id().unwrap_or_default() {
        // Nothing from another boot is alive; whatever has its pids now is someone else.
        return Membership::default();
    }
    if let Some(cgroup) = anchor.trusted_cgroup() {
        match os::cgroup_processes(cgroup) {
            Ok(pids) => return close(snapshot, pids, None, false),
            // A cgroup cannot be removed while a process is in it: gone means empty.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Membership::default(),
            // Unreadable (a permission change, an unmounted hierarchy): the fallback still
            // finds the tree.
            Err(_) => {}
        }
    }
    let mut seeds = BTreeSet::new();
    let leader = &anchor.leader;
    // The session is the leader's only while the leader is: a session id is a pid number,
    // reusable once the leader and every member of its session are gone.
    let session_is_ours = snapshot
        .get(leader.pid)
        .is_some_and(|info| leader.matches(info));
    if session_is_ours {
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
    close(snapshot, seeds, keeper.map(|k| k.pid), true)
}

/// `seeds` and (with `descend`) their descendants, without the keeper, console hosts and
/// protected processes.
fn close(
    snapshot: &Snapshot,
    seeds: impl IntoIterator<Item = Pid>,
    keeper: Option<Pid>,
    descend: bool,
) -> Membership {
    let mut membership = Membership::default();
    let mut stack: Vec<Pid> = seeds.into_iter().collect();
    while let Some(pid) = stack.pop() {
        if keeper == Some(pid) || membership.pids.contains(&pid) {
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
        if descend {
            stack.extend(snapshot.children(pid));
        }
    }
    membership
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::process::{ProcessInfo, ProcessState};

    /// Only a floor this user wrote, whole, is trusted; a missing one means no marker was issued.
    #[cfg(unix)]
    #[test]
    fn a_floor_is_trusted_only_when_written_whole_by_this_user() {
        let dir = tempfile::tempdir().unwrap();
        let floor = dir.path().join("floor");
        assert_eq!(read_marker_floor(&floor), MarkerFloor::NoneIssued);
        record_marker_floor(&floor).unwrap();
        let own = os::process_info(std::process::id()).unwrap().start_time;
        assert_eq!(read_marker_floor(&floor), MarkerFloor::Since(own));
        // A second issuer keeps the earlier floor.
        std::fs::write(&floor, "5\n").unwrap();
        record_marker_floor(&floor).unwrap();
        assert_eq!(read_marker_floor(&floor), MarkerFloor::Since(5));
        std::fs::write(&floor, "").unwrap();
        assert_eq!(read_marker_floor(&floor), MarkerFloor::Unknown);
        if os::current_uid() == 0 {
            std::fs::write(&floor, "5\n").unwrap();
            std::os::unix::fs::chown(&floor, Some(65534), None).unwrap();
            assert_eq!(read_marker_floor(&floor), MarkerFloor::Unknown);
        }
    }

    /// Pids far above any this machine hands out, so `protection` never applies to them.
    const BASE: Pid = 3_000_000;

    fn process(pid: Pid, ppid: Pid, sid: Pid, start_time: u64) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid,
            pgid: sid,
            sid,
            state: ProcessState::Sleeping,
            start_time,
            started_at: SystemTime::UNIX_EPOCH,
            name: format!("p{pid}"),
            cpu_time: Duration::ZERO,
            rss_bytes: 0,
            kernel_thread: false,
        }
    }

    fn identity(pid: Pid, start_time: u64) -> ProcessRef {
        ProcessRef {
            pid,
            start_time,
            boot_id: os::boot_id().expect("boot id"),
        }
    }

    fn anchor(leader: ProcessRef, keeper: Option<ProcessRef>) -> Anchor {
        Anchor {
            leader,
            keeper,
            run_id: "00ff00ff00ff00ff".into(),
            cgroup: None,
        }
    }

    fn marker() -> Marker {
        Marker {
            run_id: "00ff00ff00ff00ff".into(),
            name: "api".into(),
            run_dir: PathBuf::from("/project/.run"),
        }
    }

    fn pids(membership: &Membership) -> Vec<Pid> {
        membership.pids.iter().map(|pid| pid - BASE).collect()
    }

    #[test]
    fn a_live_leaders_session_and_descendants_are_members() {
        let (leader, child, grandchild) = (BASE + 10, BASE + 11, BASE + 12);
        let snapshot = Snapshot::from_processes([
            process(leader, 1, leader, 100),
            process(child, leader, leader, 101),
            process(grandchild, child, BASE + 12, 102),
            process(BASE + 50, 1, BASE + 50, 50),
        ]);
        let mut markers = MarkerCache::from_known([]);
        let found = members(
            &snapshot,
            &anchor(identity(leader, 100), None),
            &mut markers,
        );
        assert_eq!(pids(&found), [10, 11, 12]);
    }

    #[test]
    fn session_of_a_reused_leader_pid_is_not_trusted() {
        // The leader (pid 10, started at 100) and its session are gone. pid 10 went to an
        // unrelated program that called setsid and left a daemon (pid 20) in session 10.
        let (reused, daemon) = (BASE + 10, BASE + 20);
        let snapshot = Snapshot::from_processes([process(daemon, 1, reused, 300)]);
        let mut markers = MarkerCache::from_known([]);
        let found = members(
            &snapshot,
            &anchor(identity(reused, 100), None),
            &mut markers,
        );
        assert!(found.pids.is_empty(), "adopted {:?}", pids(&found));

        // Same while the new owner of pid 10 is alive: it is not the leader either.
        let snapshot = Snapshot::from_processes([
            process(reused, 1, reused, 250),
            process(daemon, reused, reused, 300),
        ]);
        let found = members(
            &snapshot,
            &anchor(identity(reused, 100), None),
            &mut markers,
        );
        assert!(found.pids.is_empty(), "adopted {:?}", pids(&found));
    }

    #[test]
    fn without_a_live_leader_marker_carriers_and_the_keepers_orphans_remain_members() {
        let (keeper, leader, marked, orphan, stranger) =
            (BASE + 5, BASE + 10, BASE + 11, BASE + 12, BASE + 13);
        let snapshot = Snapshot::from_processes([
            process(keeper, 1, keeper, 90),
            // The leader is gone; its marked child lives on in its session.
            process(marked, 1, leader, 110),
            // A child that cleared its environment and called setsid, reparented to the keeper.
            process(orphan, keeper, orphan, 120),
            // Same session number, no marker, not the keeper's: not ours.
            process(stranger, 1, leader, 130),
        ]);
        let mut markers = MarkerCache::from_known([((marked, 110), marker())]);
        let found = members(
            &snapshot,
            &anchor(identity(leader, 100), Some(identity(keeper, 90))),
            &mut markers,
        );
        assert_eq!(pids(&found), [11, 12]);
    }

    #[test]
    fn a_record_from_another_boot_has_no_members() {
        let leader = BASE + 10;
        let snapshot = Snapshot::from_processes([process(leader, 1, leader, 100)]);
        let mut markers = MarkerCache::from_known([((leader, 100), marker())]);
        let mut other_boot = anchor(identity(leader, 100), None);
        other_boot.leader.boot_id = "00000000-0000-0000-0000-000000000000".into();
        assert!(
            members(&snapshot, &other_boot, &mut markers)
                .pids
                .is_empty()
        );
    }

    #[test]
    fn a_keeper_with_a_reused_pid_adopts_nothing() {
        let (keeper, child) = (BASE + 5, BASE + 6);
        let snapshot = Snapshot::from_processes([
            process(keeper, 1, keeper, 500),
            process(child, keeper, keeper, 501),
        ]);
        let mut markers = MarkerCache::from_known([]);
        let found = members(
            &snapshot,
            &anchor(identity(BASE + 10, 100), Some(identity(keeper, 90))),
            &mut markers,
        );
        assert!(found.pids.is_empty(), "adopted {:?}", pids(&found));
    }

    #[test]
    fn cgroup_names_round_trip() {
        let leaf = service_cgroup_leaf(Path::new("/p/.run"), "api.v2", "00ff");
        assert_eq!(
            CgroupOwner::parse(&leaf),
            Some(CgroupOwner::Service {
                project: project_hash(Path::new("/p/.run")),
                name: "api.v2".into(),
                run_id: "00ff".into(),
            })
        );
        assert_eq!(
            CgroupOwner::parse(&run_cgroup_leaf(42, 7, "00ff")),
            Some(CgroupOwner::Run {
                supervisor: run_owner_name(42, 7),
                run_id: "00ff".into(),
            })
        );
        // This test process is alive: its run is not abandoned; a made-up start time is.
        let me = os::process_info(std::process::id()).expect("self");
        assert_eq!(abandoning_run(&run_owner_name(me.pid, me.start_time)), None);
        assert_eq!(
            abandoning_run(&run_owner_name(me.pid, me.start_time + 1)),
            Some(me.pid)
        );
        assert_eq!(abandoning_run("api"), None);
        assert_eq!(CgroupOwner::parse("system.slice"), None);
        assert_ne!(
            project_hash(Path::new("/a/.run")),
            project_hash(Path::new("/b/.run"))
        );
    }
}
