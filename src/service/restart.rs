//! `reaper restart NAME`: stop the tree (if any of it runs) and start the recorded command again,
//! holding the name's lock throughout so no other command slips in between.

use std::time::Duration;

use crate::state::{Entry, Record, StateDir};
use crate::terminate::StopReport;

use super::{
    StartError, StartRequest, Started, StopError, StopOptions, check_request, saved_env_values,
    start_locked, stop_records_locked,
};

/// Settings for the new run that the record does not hold.
#[derive(Debug, Clone, Copy)]
pub struct RestartOptions {
    /// How to stop the old run.
    pub stop: StopOptions,
    /// See [`StartRequest::min_uptime`].
    pub min_uptime: Duration,
    /// See [`StartRequest::ready_timeout`].
    pub ready_timeout: Duration,
    /// See [`StartRequest::log_max_bytes`].
    pub log_max_bytes: u64,
    /// See [`StartRequest::log_keep`].
    pub log_keep: u32,
    /// See [`StartRequest::log_timestamps`].
    pub log_timestamps: bool,
}

impl Default for RestartOptions {
    /// What `reaper restart` does without options.
    fn default() -> RestartOptions {
        RestartOptions {
            stop: StopOptions::default(),
            min_uptime: Duration::from_millis(200),
            ready_timeout: Duration::from_secs(30),
            log_max_bytes: 10 * 1024 * 1024,
            log_keep: 3,
            log_timestamps: false,
        }
    }
}

/// Why a restart failed.
#[derive(Debug, thiserror::Error)]
pub enum RestartError {
    /// Stopping the old run failed (or there is nothing to restart).
    #[error(transparent)]
    Stop(#[from] StopError),
    /// Starting the new run failed.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The new run could not start (its cwd, an env file or its program is gone); the old run
    /// was left alone.
    #[error("{name} was not restarted and keeps running: {source}")]
    CannotStart {
        /// Service name.
        name: String,
        /// What the start would have failed on.
        source: Box<StartError>,
    },
    /// The old run did not die completely; the new one was not started.
    #[error("{0}: some processes of the old run survived SIGKILL; not starting a second copy")]
    Survivors(String),
}

/// The request that starts `record`'s command again, as `reaper restart` does: its argv, cwd,
/// env files, saved `--env` values, port and log.
pub fn request_from_record(
    state: &StateDir,
    record: &Record,
    options: &RestartOptions,
) -> Result<StartRequest, StartError> {
    Ok(StartRequest {
        name: record.name.clone(),
        argv: record.argv.clone(),
        cwd: record.cwd.clone(),
        env: saved_env_values(state, &record.name)?,
        env_files: record.env_files.clone(),
        port: record.port,
        log: Some(record.log.clone()),
        min_uptime: options.min_uptime,
        ready_timeout: options.ready_timeout,
        log_max_bytes: options.log_max_bytes,
        log_keep: options.log_keep,
        log_timestamps: options.log_timestamps,
        stack: record.stack.clone(),
        wait_for_port: true,
    })
}

/// Restarts `name` from its record.
pub fn restart(
    state: &StateDir,
    name: &str,
    options: RestartOptions,
) -> Result<(Option<StopReport>, Started), RestartError> {
    crate::state::validate_name(name).map_err(StopError::from)?;
    if !state.run_dir().is_dir() {
        return Err(StopError::NotFound(name.to_string()).into());
    }
    let lock = state.lock(name).map_err(StopError::from)?;
    let record = match state.load(name).map_err(StopError::from)? {
        Some(Entry::Record(record)) => *record,
        None => return Err(StopError::NotFound(name.to_string()).into()),
        Some(Entry::PidOnly { pid, .. }) => return Err(StopError::from_pid_file(name, pid).into()),
        Some(Entry::Broken { error, .. }) => return Err(StopError::from(error).into()),
    };
    let request = request_from_record(state, &record, &options)?;
    // A new run that cannot start (cwd or env file gone, program removed) must not cost the
    // running one.
    check_request(&request).map_err(|source| RestartError::CannotStart {
        name: name.to_string(),
        source: Box::new(source),
    })?;
    let locks = [lock];
    let mut stopped =
        stop_records_locked(state, std::slice::from_ref(&record), options.stop, &locks)?;
    if let Some((_, error)) = stopped.unremoved.pop() {
        return Err(StopError::State(error).into());
    }
    let report = stopped.reports.pop();
    if report.as_ref().is_some_and(|r| !r.complete()) {
        return Err(RestartError::Survivors(name.to_string()));
    }
    let started = start_locked(state, &request, &locks[0])?;
    Ok((report.filter(|r| !r.processes.is_empty()), started))
}
