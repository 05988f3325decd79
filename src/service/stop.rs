//! `reaper stop NAME…` and `reaper stop --all`.

use std::time::Duration;

use crate::actionlog;
use crate::os;
use crate::signal::Signal;
use crate::state::{Entry, NameLock, StateDir, StateError};
use crate::terminate::{self, Outcome, StopPolicy, StopReport, StopTarget};

/// How long to wait for a keeper to exit once its tree is gone.
const KEEPER_EXIT_GRACE: Duration = Duration::from_secs(2);

/// Why a stop could not be done.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// State directory or record problem.
    #[error(transparent)]
    State(#[from] StateError),
    /// No such service.
    #[error("no managed service named '{0}' (see `reaper status`)")]
    NotFound(String),
    /// Only a foreign pid file: no identity to verify, so nothing is signalled.
    #[error(
        ".run/{name}.pid has no reaper record, so the identity of pid {pid} cannot be checked; reaper did not signal it"
    )]
    Unverified {
        /// Service name.
        name: String,
        /// The pid in the file.
        pid: u32,
    },
    /// A foreign pid file that does not even hold a usable pid.
    #[error(
        ".run/{name}.pid is not a valid pid file ({error}) and has no reaper record; reaper did not signal anything (remove the file by hand)"
    )]
    BadPidFile {
        /// Service name.
        name: String,
        /// What is wrong with it.
        error: crate::state::PidFileError,
    },
    /// The process table could not be read.
    #[error("cannot read the process table: {0}")]
    Scan(#[from] std::io::Error),
}

impl StopError {
    /// The error for a name that has only a pid file written by another tool.
    pub fn from_pid_file(name: &str, pid: Result<u32, crate::state::PidFileError>) -> StopError {
        match pid {
            Ok(pid) => StopError::Unverified {
                name: name.to_string(),
                pid,
            },
            Err(error) => StopError::BadPidFile {
                name: name.to_string(),
                error,
            },
        }
    }
}

/// Options shared by every tree in one stop.
#[derive(Debug, Clone, Copy)]
pub struct StopOptions {
    /// Graceful signal.
    pub signal: Signal,
    /// Time before SIGKILL.
    pub timeout: Duration,
}

impl Default for StopOptions {
    /// What `reaper stop` does without options: SIGTERM, SIGKILL after 10 s.
    fn default() -> StopOptions {
        StopOptions {
            signal: Signal::Term,
            timeout: Duration::from_secs(10),
        }
    }
}

impl StopOptions {
    /// A forced stop: SIGKILL at once ([`StopPolicy::forced`]).
    pub fn forced() -> StopOptions {
        let forced = StopPolicy::forced();
        StopOptions {
            signal: forced.signal,
            timeout: forced.grace,
        }
    }

    /// The engine's policy for these options: the signal, then SIGKILL after the timeout (at
    /// once for SIGKILL, see [`StopPolicy::forced`]).
    pub fn policy(self) -> StopPolicy {
        StopPolicy::graceful(self.signal, self.timeout)
    }
}

/// What to stop.
#[derive(Debug, Clone)]
pub enum Selection {
    /// These names; each must exist.
    Names(Vec<String>),
    /// Every record in the state directory.
    All,
}

/// Result of a stop: one report per record stopped, entries skipped with the reason, and
/// records that could not be removed although their trees are gone.
#[derive(Debug, Default)]
pub struct StopSummary {
    /// One per stopped service.
    pub reports: Vec<StopReport>,
    /// Entries that were not stopped (with `--all`: broken or foreign records).
    pub skipped: Vec<(String, String)>,
    /// Services whose tree is gone but whose state files could not be removed (a read-only or
    /// immutable state directory), with the error naming the file.
    pub unremoved: Vec<(String, StateError)>,
}

impl StopSummary {
    /// True when every tree is completely gone.
    pub fn complete(&self) -> bool {
        self.reports.iter().all(StopReport::complete)
    }
}

/// Stops the selected services in parallel.
pub fn stop(
    state: &StateDir,
    selection: &Selection,
    options: StopOptions,
) -> Result<StopSummary, StopError> {
    let mut names: Vec<String> = match selection {
        Selection::Names(names) => names.clone(),
        Selection::All => state.list()?.iter().map(|e| e.name().to_string()).collect(),
    };
    // A name given twice is stopped once.
    let mut seen = std::collections::HashSet::new();
    names.retain(|name| seen.insert(name.clone()));
    for name in &names {
        crate::state::validate_name(name)?;
    }
    if let Some(first) = names.first().filter(|_| !state.run_dir().is_dir()) {
        return Err(StopError::NotFound(first.clone()));
    }
    let mut held = super::lock_names(state, names.iter().map(String::as_str))?;
    let mut locks = Vec::new();
    let mut records = Vec::new();
    let mut summary = StopSummary::default();
    for name in &names {
        let Some(lock) = held.remove(name) else {
            continue;
        };
        let problem = match state.load(name)? {
            Some(Entry::Record(record)) => {
                locks.push(lock);
                records.push(*record);
                continue;
            }
            None => StopError::NotFound(name.clone()),
            Some(Entry::PidOnly { pid, .. }) => StopError::from_pid_file(name, pid),
            Some(Entry::Broken { error, .. }) => StopError::State(error),
        };
        match selection {
            Selection::Names(_) => return Err(problem),
            Selection::All => summary.skipped.push((name.clone(), problem.to_string())),
        }
    }
    let stopped = stop_records_locked(state, &records, options, &locks)?;
    summary.reports = stopped.reports;
    summary.unremoved = stopped.unremoved;
    Ok(summary)
}

/// Stops the trees of `records` (whose locks the caller holds), waits for their keepers, and
/// removes each record whose tree is completely gone. A record that cannot be removed does not
/// stop the others: it is listed in [`StopSummary::unremoved`].
pub(crate) fn stop_records_locked(
    state: &StateDir,
    records: &[crate::state::Record],
    options: StopOptions,
    _locks: &[NameLock],
) -> Result<StopSummary, StopError> {
    let targets: Vec<StopTarget> = records
        .iter()
        .map(|record| StopTarget::tree(&record.name, record.anchor(), options.policy()))
        .collect();
    let reports = terminate::stop_trees(&targets)?;
    let mut unremoved = Vec::new();
    for (record, report) in records.iter().zip(&reports) {
        // The keeper reaps what is left of an incomplete tree (and is a subreaper, so survivors'
        // orphans come back to it): only the keeper of a tree known to be gone may be told to go.
        if let Some(keeper) = record.keeper.as_ref().and_then(|k| k.pin().ok()) {
            os::wait_for_exit(&[&keeper], KEEPER_EXIT_GRACE);
            if report.complete() && !keeper.has_exited() {
                let _ = keeper.signal(Signal::Term);
            }
        }
        let forced = report
            .processes
            .iter()
            .filter(|p| p.outcome == Outcome::Forced)
            .count();
        if report.complete() {
            if let Err(error) = state.remove(&record.name) {
                actionlog::record(
                    state,
                    &format!(
                        "stop {}: stopped, but the record was kept: {error}",
                        record.name
                    ),
                );
                unremoved.push((record.name.clone(), error));
                continue;
            }
            actionlog::record(
                state,
                &format!(
                    "stop {} signal={} processes={} forced={} elapsed_ms={}",
                    record.name,
                    options.signal,
                    report.processes.len(),
                    forced,
                    report.elapsed.as_millis()
                ),
            );
        } else {
            actionlog::record(
                state,
                &format!(
                    "stop {}: some processes survived SIGKILL; record kept",
                    record.name
                ),
            );
        }
    }
    Ok(StopSummary {
        reports,
        skipped: Vec::new(),
        unremoved,
    })
}
