//! `reaper clean`: remove records whose tree is gone or whose pid was reused, and find (and
//! with `--kill`, end) processes that carry this state directory's marker but have no record.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::Serialize;

use crate::actionlog;
use crate::containment::{self, Anchor, LeftoverCgroup, Marker, MarkerCache};
use crate::identity::ProcessRef;
use crate::os;
use crate::process::{Pid, ProcessInfo, Snapshot};
use crate::state::{Entry, StateDir, StateError, read_pid_file, remove_if_present};
use crate::terminate::{self, StopPolicy, StopReport, StopTarget};

use super::{StopOptions, live_members};

/// One thing `clean` did or decided not to do.
#[derive(Debug, Clone, Serialize)]
pub struct CleanAction {
    /// Service name (for orphans: the name in their marker).
    pub name: String,
    /// `removed`, `kept` or `orphan`.
    pub action: &'static str,
    /// Why, in words.
    pub reason: String,
}

/// A process carrying this state directory's marker without a matching record.
#[derive(Debug, Clone, Serialize)]
pub struct Orphan {
    /// Service name from the marker.
    pub name: String,
    /// Run id from the marker.
    pub run_id: String,
    /// Its pid.
    pub pid: Pid,
    /// Its start-time token.
    pub start_time: u64,
    /// Its command line.
    pub command: String,
}

/// Everything `clean` found and did.
#[derive(Debug, Default, Serialize)]
pub struct CleanReport {
    /// Record actions.
    pub actions: Vec<CleanAction>,
    /// Orphans found.
    pub orphans: Vec<Orphan>,
    /// cgroups reaper created whose keeper or `reaper run` is gone, with processes in them.
    pub leftover_cgroups: Vec<LeftoverCgroup>,
    /// With `--kill`: how each orphan tree (and leftover cgroup) was stopped.
    pub stopped: Vec<StopReport>,
}

/// Logs and reports the removal of `path`, a temporary file of a write whose writer died.
fn interrupted_write_removed(state: &StateDir, name: String, path: &Path) -> CleanAction {
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    let reason = format!("{file} was left by a write that was interrupted (the writer died)");
    actionlog::record(state, &format!("clean {name}: removed: {reason}"));
    CleanAction {
        name,
        action: "removed",
        reason,
    }
}

/// Cleans the state directory; with `kill`, ends orphans using `options`.
pub fn clean(
    state: &StateDir,
    kill: bool,
    options: StopOptions,
) -> Result<CleanReport, StateError> {
    let scan_error = |source| StateError::Io {
        path: "/proc".into(),
        source,
    };
    let mut markers = MarkerCache::for_scan(&state.run_dir());
    let mut report = CleanReport::default();
    let mut live_runs = Vec::new();
    for entry in state.list()? {
        let name = entry.name().to_string();
        let _lock = state.lock(&name)?;
        // Re-read and judge under the lock: a concurrent restart may have replaced the entry,
        // and a process table read before the lock would not hold the new run's processes.
        let Some(entry) = state.load(&name)? else {
            continue;
        };
        let snapshot = os::snapshot().map_err(scan_error)?;
        let (action, reason) = match entry {
            Entry::Record(record) => {
                if !live_members(&snapshot, &record, &mut markers).is_empty() {
                    live_runs.push(record.run_id.clone());
                    continue;
                }
                state.remove(&name)?;
                let why = match snapshot.get(record.leader.pid) {
                    Some(other) if !record.leader.matches(other) => format!(
                        "pid {} now belongs to another process ({}); nothing of the service is alive",
                        other.pid, other.name
                    ),
                    _ => format!("its processes are gone (pid {})", record.leader.pid),
                };
                ("removed", why)
            }
            Entry::PidOnly { pid: Ok(pid), .. } => {
                if snapshot.get(pid).is_some_and(|p| p.state.is_alive()) {
                    (
                        "kept",
                        format!(
                            "pid file without a reaper record; pid {pid} is alive, identity unknown"
                        ),
                    )
                } else {
                    // Re-check the file is still that pid, then remove it.
                    if read_pid_file(&state.pid_path(&name)) == Ok(pid) {
                        state.remove(&name)?;
                    }
                    ("removed", format!("pid file for pid {pid}, which is gone"))
                }
            }
            Entry::PidOnly { pid: Err(e), .. } => (
                "kept",
                format!(
                    "{}.pid is not a valid pid file ({e}); remove it by hand",
                    name
                ),
            ),
            Entry::Broken { error, .. } => ("kept", error.to_string()),
        };
        actionlog::record(state, &format!("clean {name}: {action}: {reason}"));
        report.actions.push(CleanAction {
            name,
            action,
            reason,
        });
    }
    for (name, path) in state.interrupted_writes()? {
        // The writer of a record, pid file or env file holds the name's lock throughout; once
        // we hold it, the file is either already renamed into place or its writer died.
        let _lock = state.lock(&name)?;
        if !path.exists() {
            continue;
        }
        remove_if_present(&path)?;
        report
            .actions
            .push(interrupted_write_removed(state, name, &path));
    }
    // The stack status file belongs to no name: its writers hold the status lock instead.
    for path in crate::stack::status::remove_interrupted_writes(state)? {
        let name = crate::state::SUPERVISOR_NAME.to_string();
        report
            .actions
            .push(interrupted_write_removed(state, name, &path));
    }
    let snapshot = os::snapshot().map_err(scan_error)?;
    report.leftover_cgroups = containment::leftover_cgroups(&state.run_dir(), &live_runs, true);
    let candidates = find_orphans(&snapshot, &mut markers, &state.run_dir(), &live_runs);
    // A run being started now has processes before it has a record: judge every candidate
    // under its name's lock (a start holds it until the record is written), and keep the locks
    // while its orphans are ended so no start of that name slips in.
    let names = candidates
        .iter()
        .map(|orphan| orphan.name.as_str())
        .filter(|name| crate::state::validate_name(name).is_ok());
    let _locks = super::lock_names(state, names)?;
    report.orphans = candidates
        .into_iter()
        .filter(|orphan| !is_recorded_run(state, orphan))
        // A leftover cgroup is stopped as a whole: its marked processes are not listed twice.
        .filter(|orphan| {
            !report
                .leftover_cgroups
                .iter()
                .any(|leftover| leftover.pids.contains(&orphan.pid))
        })
        .collect();
    if kill && !(report.orphans.is_empty() && report.leftover_cgroups.is_empty()) {
        let mut targets = orphan_targets(&report.orphans, options.policy()).map_err(scan_error)?;
        targets.extend(leftover_targets(
            &report.leftover_cgroups,
            &snapshot,
            options.policy(),
        ));
        report.stopped = terminate::stop_trees(&targets).map_err(scan_error)?;
        for stopped in &report.stopped {
            actionlog::record(
                state,
                &format!(
                    "clean: ended orphans of {} ({} processes)",
                    stopped.name,
                    stopped.processes.len()
                ),
            );
        }
    }
    Ok(report)
}

/// Stop targets for leftover cgroups: each stopped through its cgroup (membership
/// `cgroup.procs`, `cgroup.kill` at the end), anchored at its oldest live process.
fn leftover_targets(
    leftovers: &[LeftoverCgroup],
    snapshot: &Snapshot,
    policy: StopPolicy,
) -> Vec<StopTarget> {
    leftovers
        .iter()
        .filter_map(|leftover| {
            let oldest = leftover
                .pids
                .iter()
                .filter_map(|pid| snapshot.get(*pid))
                .min_by_key(|info| info.start_time)?;
            let mut anchor = Anchor::adopted(ProcessRef::of(oldest).ok()?, leftover.run_id.clone());
            anchor.cgroup = Some(leftover.path.clone());
            Some(StopTarget::tree(
                format!("cgroup {}", leftover.path.display()),
                anchor,
                policy,
            ))
        })
        .collect()
}

/// Whether `orphan`'s run has a record now.
fn is_recorded_run(state: &StateDir, orphan: &Orphan) -> bool {
    crate::state::validate_name(&orphan.name).is_ok()
        && matches!(state.load(&orphan.name), Ok(Some(Entry::Record(record))) if record.run_id == orphan.run_id)
}

/// Live processes carrying a marker of `run_dir` whose run is not one of `known_runs` (the run
/// ids of the records that exist), and this user's processes left by a `reaper run` that is
/// gone (killed, so it could not end them).
pub fn find_orphans(
    snapshot: &Snapshot,
    markers: &mut MarkerCache,
    run_dir: &Path,
    known_runs: &[String],
) -> Vec<Orphan> {
    let mut orphans = Vec::new();
    // Console hosts inherit the marker but belong to their console: they exit with its last
    // process (see `containment::members`).
    let candidate =
        |p: &&ProcessInfo| p.state.is_alive() && !p.kernel_thread && !os::is_console_host(p);
    let candidates: Vec<(Pid, u64)> = snapshot
        .iter()
        .filter(candidate)
        .map(|p| (p.pid, p.start_time))
        .collect();
    markers.prefetch(&candidates);
    for info in snapshot.iter().filter(candidate) {
        let marker = markers.marker(info.pid, info.start_time);
        // This directory's services without a record, and the trees of a `reaper run` that is
        // gone (ours only: another user's are not ours to end).
        let orphaned = |m: &&Marker| {
            (m.is_under(run_dir) && !known_runs.contains(&m.run_id))
                || (m.run_dir.as_os_str().is_empty()
                    && containment::abandoning_run(&m.name).is_some()
                    && os::uid_of(info.pid) == Some(os::current_uid()))
        };
        if let Some(marker) = marker.filter(orphaned) {
            orphans.push(Orphan {
                name: marker.name.clone(),
                run_id: marker.run_id.clone(),
                pid: info.pid,
                start_time: info.start_time,
                command: os::command_line(info.pid)
                    .map(|argv| argv.join(" "))
                    .unwrap_or_else(|| info.name.clone()),
            });
        }
    }
    orphans
}

/// One stop target per orphaned run, anchored at its oldest process so the whole tree (every
/// marker carrier and their descendants) is ended.
pub fn orphan_targets(orphans: &[Orphan], policy: StopPolicy) -> io::Result<Vec<StopTarget>> {
    let mut oldest: BTreeMap<&str, &Orphan> = BTreeMap::new();
    for orphan in orphans {
        let entry = oldest.entry(&orphan.run_id).or_insert(orphan);
        if orphan.start_time < entry.start_time {
            *entry = orphan;
        }
    }
    let boot_id = os::boot_id()?;
    Ok(oldest
        .into_values()
        .map(|orphan| {
            let anchor = Anchor::adopted(
                ProcessRef {
                    pid: orphan.pid,
                    start_time: orphan.start_time,
                    boot_id: boot_id.clone(),
                },
                orphan.run_id.clone(),
            );
            StopTarget::tree(&orphan.name, anchor, policy)
        })
        .collect())
}
