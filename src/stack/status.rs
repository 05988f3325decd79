//! The supervisor's status file, `.run/.stack.json`: which supervisor runs the stack, and each
//! service's state, pid, restarts, port and probe, plus what `reaper down` needs to stop the
//! services in reverse dependency order with their own signals even after the supervisor is
//! gone. Written atomically by the supervisor whenever something changes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::identity::ProcessRef;
use crate::process::Pid;
use crate::state::{StateDir, StateError, remove_if_present, write_atomic};

/// File name under `.run/` (a name no service can have, so `reaper status` never lists it).
pub const STATUS_FILE: &str = ".stack.json";
/// Version of the status document.
pub const STACK_SCHEMA: u32 = 1;

/// Phase of the whole stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StackPhase {
    /// Services are being started.
    Starting,
    /// Every service was started and became ready.
    Running,
    /// Stopping, in reverse dependency order.
    Stopping,
    /// Everything was stopped.
    Stopped,
    /// A service failed to start; everything was stopped (see `message`).
    Failed,
}

/// State of one service as the supervisor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServicePhase {
    /// Waiting for its dependencies.
    Waiting,
    /// Started, not ready yet.
    Starting,
    /// Ready.
    Ready,
    /// Exited; restarting after a delay.
    Restarting,
    /// Exited with a failure and is not restarted.
    Crashed,
    /// Could not be started or never became ready.
    Failed,
    /// Exited successfully and is not restarted.
    Exited,
    /// A task that ran to completion (exit 0).
    Completed,
    /// Being stopped.
    Stopping,
    /// Stopped.
    Stopped,
}

impl ServicePhase {
    /// The name used in output and JSON.
    pub fn label(self) -> &'static str {
        match self {
            ServicePhase::Waiting => "waiting",
            ServicePhase::Starting => "starting",
            ServicePhase::Ready => "ready",
            ServicePhase::Restarting => "restarting",
            ServicePhase::Crashed => "crashed",
            ServicePhase::Failed => "failed",
            ServicePhase::Exited => "exited",
            ServicePhase::Completed => "completed",
            ServicePhase::Stopping => "stopping",
            ServicePhase::Stopped => "stopped",
        }
    }
}

/// One service in the status file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceEntry {
    /// Service name.
    pub name: String,
    /// State.
    pub state: ServicePhase,
    /// Leader pid of the current run.
    pub pid: Option<Pid>,
    /// Run id of the current run.
    pub run_id: Option<String>,
    /// Restarts so far.
    pub restarts: u32,
    /// Port of the current run (after a fallback, the port it got).
    pub port: Option<u16>,
    /// The readiness probe, in words (`tcp 8001`, `http …`, `log /…/`).
    pub probe: Option<String>,
    /// Its dependencies.
    pub depends_on: Vec<String>,
    /// Graceful stop signal.
    pub stop_signal: String,
    /// Time before SIGKILL, in milliseconds.
    pub stop_timeout_ms: u64,
    /// RFC 3339 time of the last state change.
    pub since: String,
    /// Time from start to ready of the current run, in milliseconds.
    pub ready_after_ms: Option<u64>,
    /// How the last run ended, in words.
    pub last_exit: Option<String>,
    /// Why it failed, for failed and crashed services.
    pub message: Option<String>,
    /// The file whose change caused the last restart (`watch`).
    #[serde(default)]
    pub last_trigger: Option<String>,
}

/// The status document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackStatus {
    /// [`STACK_SCHEMA`].
    pub schema: u32,
    /// The configuration file.
    pub config: PathBuf,
    /// The supervisor process.
    pub supervisor: ProcessRef,
    /// True when it runs detached (`reaper up -d`).
    pub detached: bool,
    /// RFC 3339 time the supervisor started.
    pub started_at: String,
    /// Phase of the stack.
    pub phase: StackPhase,
    /// Why the stack failed, when it did.
    pub message: Option<String>,
    /// Services, in dependency order.
    pub services: Vec<ServiceEntry>,
}

impl StackStatus {
    /// True while the supervisor process is alive (same identity).
    pub fn supervisor_alive(&self) -> bool {
        if self.supervisor.pid == std::process::id() {
            return true;
        }
        self.supervisor.pin().is_ok_and(|p| !p.has_exited())
    }

    /// The entry of `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceEntry> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// `.run/.stack.json` of `state`.
pub fn path(state: &StateDir) -> PathBuf {
    state.run_dir().join(STATUS_FILE)
}

/// Reads the status file; `None` when it is missing or unreadable.
pub fn read(state: &StateDir) -> Option<StackStatus> {
    read_path(&path(state))
}

fn read_path(path: &Path) -> Option<StackStatus> {
    let bytes = crate::state::files::read(path).ok()?;
    serde_json::from_slice(&bytes)
        .ok()
        .filter(|s: &StackStatus| s.schema <= STACK_SCHEMA)
}

/// Writes the status file atomically, under its lock: a temporary file of the write that
/// `clean` finds while holding the lock was left by a writer that died.
pub fn write(state: &StateDir, status: &StackStatus) -> Result<(), StateError> {
    let json = serde_json::to_vec_pretty(status).expect("status serialises");
    let _lock = state.lock_stack_status()?;
    write_atomic(&path(state), &json)
}

/// Removes the temporary files of status writes whose writer died (`..stack.json.XXXXXX`);
/// returns their paths.
pub fn remove_interrupted_writes(state: &StateDir) -> Result<Vec<PathBuf>, StateError> {
    let temporaries: Vec<PathBuf> = state
        .temporary_files()?
        .into_iter()
        .filter(|(target, _)| target == STATUS_FILE)
        .map(|(_, path)| path)
        .collect();
    if temporaries.is_empty() {
        return Ok(temporaries);
    }
    let _lock = state.lock_stack_status()?;
    let mut removed = Vec::new();
    for path in temporaries {
        if path.exists() {
            remove_if_present(&path)?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Removes the status file.
pub fn remove(state: &StateDir) -> Result<(), StateError> {
    remove_if_present(&path(state))
}
