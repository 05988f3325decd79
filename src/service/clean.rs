//! `reaper clean`: remove records whose tree is gone or whose pid was reused, and find (and
//! with `--kill`, end) processes that carry this state directory's marker but have no record.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::actionlog;
use crate::containment::{Anchor, MarkerCache};
use crate::identity::ProcessRef;
use crate::os;
use crate::process::Pid;
use crate::state::{Entry, StateDir, StateError, read_pid_file};
use crate::terminate::{self, StopReport, StopTarget};

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
    /// With `--kill`: how each orphan tree was stopped.
    pub stopped: Vec<StopReport>,
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
    let snapshot = os::snapshot().map_err(scan_error)?;
    let mut markers = MarkerCache::default();
    let mut report = CleanReport::default();
    let mut live_runs = Vec::new();
    for entry in state.list()? {
        let name = entry.name().to_string();
        let _lock = state.lock(&name)?;
        // Re-read under the lock: a concurrent start may have replaced the entry.
        let Some(entry) = state.load(&name)? else {
            continue;
        };
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
    let run_dir = state.run_dir();
    let mut groups: BTreeMap<String, Vec<&crate::process::ProcessInfo>> = BTreeMap::new();
    for info in snapshot
        .iter()
        .filter(|p| p.state.is_alive() && !p.kernel_thread)
    {
        if let Some(marker) = markers.marker(info.pid, info.start_time)
            && marker.is_under(&run_dir)
            && !live_runs.contains(&marker.run_id)
        {
            report.orphans.push(Orphan {
                name: marker.name.clone(),
                run_id: marker.run_id.clone(),
                pid: info.pid,
                command: os::command_line(info.pid)
                    .map(|argv| argv.join(" "))
                    .unwrap_or_else(|| info.name.clone()),
            });
            groups.entry(marker.run_id.clone()).or_default().push(info);
        }
    }
    if kill && !groups.is_empty() {
        let mut targets = Vec::new();
        for (run_id, members) in &groups {
            let oldest = members
                .iter()
                .min_by_key(|p| p.start_time)
                .expect("groups are never empty");
            let name = report
                .orphans
                .iter()
                .find(|o| &o.run_id == run_id)
                .map(|o| o.name.clone())
                .unwrap_or_default();
            targets.push(StopTarget {
                name,
                anchor: Anchor {
                    leader: ProcessRef::of(oldest).map_err(scan_error)?,
                    keeper: None,
                    run_id: run_id.clone(),
                },
                signal: options.signal,
                timeout: options.timeout,
            });
        }
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
