//! `reaper down` and `reaper ps`: working on a stack through its status file and its records, so
//! both work whether the supervisor runs in the foreground, runs detached, or was killed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::probe::{LogTail, http_ok, tcp_accepts};
use super::status::{self, StackPhase, StackStatus};
use super::{SUPERVISOR_NAME, Stack, levels_of};
use crate::os;
use crate::process::Pid;
use crate::service::{self, Selection, ServiceState, StopError, StopOptions};
use crate::signal::Signal;
use crate::state::{Entry, Record, StateDir, StateError};
use crate::terminate::{self, Members, Outcome, StopPolicy, StopReport, StopTarget};

/// Version of the `reaper ps --json` document.
pub const PS_SCHEMA: u32 = 1;

/// Stop settings used for a stack record when neither the status file nor the configuration
/// names any.
const DEFAULT_STOP: StopOptions = StopOptions {
    signal: Signal::Term,
    timeout: Duration::from_secs(10),
};

/// Stops one dependency level: services with the same signal and timeout share one stop (and
/// its process-table scans); different settings run in parallel. Names without a record are
/// skipped.
pub fn stop_level(state: &StateDir, level: &[(String, StopOptions)]) -> Vec<(StopReport, Signal)> {
    let mut groups: Vec<(StopOptions, Vec<String>)> = Vec::new();
    for (name, options) in level {
        if !state.record_path(name).exists() {
            continue;
        }
        match groups
            .iter_mut()
            .find(|(o, _)| o.signal == options.signal && o.timeout == options.timeout)
        {
            Some((_, names)) => names.push(name.clone()),
            None => groups.push((*options, vec![name.clone()])),
        }
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|(options, names)| {
                scope.spawn(move || {
                    stop_names(state, names, options)
                        .into_iter()
                        .map(|report| (report, options.signal))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap_or_default())
            .collect()
    })
}

/// Stops the named services with `options`; names whose record vanished meanwhile are skipped.
pub fn stop_names(
    state: &StateDir,
    mut names: Vec<String>,
    options: StopOptions,
) -> Vec<StopReport> {
    loop {
        if names.is_empty() {
            return Vec::new();
        }
        match service::stop(state, &Selection::Names(names.clone()), options) {
            Ok(summary) => return summary.reports,
            Err(StopError::NotFound(name)) => names.retain(|n| *n != name),
            Err(_) => return Vec::new(),
        }
    }
}

/// What `reaper down` did.
#[derive(Debug, Default)]
pub struct DownReport {
    /// The supervisor that was asked to stop, if one was running.
    pub supervisor: Option<Pid>,
    /// Whether it exited in time (it stopped its services itself).
    pub supervisor_exited: bool,
    /// Services that `down` stopped itself (the supervisor was gone, or did not finish), with
    /// the signal used.
    pub reports: Vec<(StopReport, Signal)>,
}

impl DownReport {
    /// True when every tree is gone.
    pub fn complete(&self) -> bool {
        self.reports.iter().all(|(r, _)| r.complete())
            && (self.supervisor.is_none() || self.supervisor_exited)
    }
}

fn stop_options_of(name: &str, status: Option<&StackStatus>, stack: Option<&Stack>) -> StopOptions {
    if let Some(entry) = status.and_then(|s| s.service(name)) {
        return StopOptions {
            signal: entry.stop_signal.parse().unwrap_or(Signal::Term),
            // The status file is input: a forged timeout must not overflow a deadline.
            timeout: Duration::from_millis(entry.stop_timeout_ms).min(crate::units::MAX_DURATION),
        };
    }
    if let Some(service) = stack.and_then(|s| s.service(name)) {
        return StopOptions {
            signal: service.stop_signal,
            timeout: service.stop_timeout,
        };
    }
    DEFAULT_STOP
}

fn dependencies_of<'a>(
    name: &str,
    status: Option<&'a StackStatus>,
    stack: Option<&'a Stack>,
) -> Vec<&'a str> {
    if let Some(entry) = status.and_then(|s| s.service(name)) {
        return entry.depends_on.iter().map(String::as_str).collect();
    }
    stack
        .and_then(|s| s.service(name))
        .map(|s| s.depends_on.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Records of stack services (not the supervisor's own) in `state`.
fn stack_records(state: &StateDir) -> Vec<Record> {
    state
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| match entry {
            Entry::Record(record) if record.stack.is_some() && record.name != SUPERVISOR_NAME => {
                Some(*record)
            }
            _ => None,
        })
        .collect()
}

/// Stops the stack: asks its supervisor (foreground or detached) to stop gracefully and waits
/// for it; then stops, in reverse dependency order, every stack service still recorded (all of
/// them when the supervisor was killed); then the supervisor's own record. `on_line` receives
/// progress lines. Nothing of the stack is left afterwards, unless a process survives SIGKILL.
pub fn down(
    state: &StateDir,
    stack: Option<&Stack>,
    on_line: &mut dyn FnMut(&str),
) -> Result<DownReport, StopError> {
    let mut report = DownReport::default();
    let current = status::read(state);
    if let Some(status) = current
        .as_ref()
        .filter(|s| s.supervisor.pid != std::process::id())
    {
        if let Ok(pinned) = status.supervisor.pin() {
            if !pinned.has_exited() {
                report.supervisor = Some(status.supervisor.pid);
                on_line(&format!(
                    "stopping the stack: SIGTERM to its supervisor (pid {})",
                    status.supervisor.pid
                ));
                let log = state.default_log_path(SUPERVISOR_NAME);
                let mut tail = status
                    .detached
                    .then(|| LogTail::new(&log, std::fs::metadata(&log).map_or(0, |m| m.len())));
                // Enough for every level's timeout, SIGKILL grace and the keepers.
                let names: Vec<String> = status.services.iter().map(|s| s.name.clone()).collect();
                let levels = levels_of(&names, |n| dependencies_of(n, Some(status), stack));
                let budget: Duration = levels
                    .iter()
                    .map(|level| {
                        level
                            .iter()
                            .map(|n| stop_options_of(n, Some(status), stack).timeout)
                            .max()
                            .unwrap_or_default()
                    })
                    .sum::<Duration>()
                    + Duration::from_secs(15);
                // Exactly the verified supervisor process (it stops its services itself),
                // SIGKILLed if it has not finished within the budget, so it cannot restart
                // what is stopped next. Its output is relayed while the plan runs.
                let target = StopTarget {
                    name: SUPERVISOR_NAME.to_string(),
                    members: Members::Exact(vec![status.supervisor.clone()]),
                    policy: StopPolicy::graceful(Signal::Term, budget),
                };
                let stopped = std::thread::scope(|scope| {
                    let plan = scope.spawn(|| terminate::stop_trees(std::slice::from_ref(&target)));
                    while !pinned.has_exited() && !plan.is_finished() {
                        os::wait_for_exit(&[&pinned], Duration::from_millis(50));
                        if let Some(tail) = tail.as_mut() {
                            for line in tail.lines() {
                                on_line(&line);
                            }
                        }
                    }
                    plan.join().expect("stop plan thread")
                })?;
                if let Some(tail) = tail.as_mut() {
                    for line in tail.drain() {
                        on_line(&line);
                    }
                }
                let killed = stopped
                    .iter()
                    .flat_map(|r| &r.processes)
                    .any(|p| p.outcome == Outcome::Forced);
                if killed {
                    on_line(&format!(
                        "the supervisor (pid {}) did not finish within {}: it was killed; stopping the services directly",
                        status.supervisor.pid,
                        crate::units::format_duration(budget)
                    ));
                }
                report.supervisor_exited = pinned.has_exited();
            }
        }
    }
    // Whatever is still recorded: all of it when the supervisor was killed.
    let records = stack_records(state);
    if !records.is_empty() {
        let names: Vec<String> = records.iter().map(|r| r.name.clone()).collect();
        let levels = levels_of(&names, |n| dependencies_of(n, current.as_ref(), stack));
        for level in levels.iter().rev() {
            let plan: Vec<(String, StopOptions)> = level
                .iter()
                .map(|n| (n.clone(), stop_options_of(n, current.as_ref(), stack)))
                .collect();
            for (stopped, signal) in stop_level(state, &plan) {
                on_line(&stopped.summary(signal));
                report.reports.push((stopped, signal));
            }
        }
    }
    // The detached supervisor's record (its keeper reaps what the supervisor left).
    if state.record_path(SUPERVISOR_NAME).exists() {
        for stopped in stop_names(state, vec![SUPERVISOR_NAME.to_string()], DEFAULT_STOP) {
            if !stopped.processes.is_empty() || !stopped.complete() {
                on_line(&stopped.summary(Signal::Term));
            }
            report.reports.push((stopped, Signal::Term));
        }
    }
    if report.complete() {
        status::remove(state)?;
    }
    Ok(report)
}

/// The supervisor as `reaper ps` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SupervisorInfo {
    /// Its pid.
    pub pid: Pid,
    /// Whether it is still running.
    pub running: bool,
    /// Whether it runs detached (`reaper up -d`).
    pub detached: bool,
    /// The configuration file.
    pub config: PathBuf,
    /// Phase of the stack (`starting`, `running`, `stopping`, `stopped`, `failed`).
    pub phase: StackPhase,
    /// RFC 3339 time it started.
    pub started_at: String,
    /// Why the stack failed, when it did.
    pub message: Option<String>,
}

/// One service as `reaper ps` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PsEntry {
    /// Service name.
    pub name: String,
    /// `waiting`, `starting`, `ready`, `restarting`, `stopping`, `crashed`, `failed`,
    /// `exited`, `stopped`, or `running` (a record whose supervisor is gone).
    pub state: String,
    /// Leader pid.
    pub pid: Option<Pid>,
    /// Seconds since the service started.
    pub uptime_secs: Option<u64>,
    /// Restarts by the supervisor.
    pub restarts: u32,
    /// The port it was started on.
    pub port: Option<u16>,
    /// Ports its processes listen on.
    pub ports: Vec<u16>,
    /// Result of running its readiness probe now: `healthy` or `unhealthy` (none for log
    /// probes and services without a probe).
    pub health: Option<String>,
    /// The probe, in words.
    pub probe: Option<String>,
    /// Live processes in its tree.
    pub processes: usize,
    /// Resident memory of its tree, in bytes.
    pub rss_bytes: Option<u64>,
    /// CPU use of its live tree, averaged over the tree's lifetime, in percent of one core (as
    /// `reaper status` shows it).
    pub cpu_percent: Option<f64>,
    /// How its last run ended.
    pub last_exit: Option<String>,
    /// Why it failed, if it did.
    pub message: Option<String>,
    /// The file whose change caused its last restart (`watch`).
    pub last_trigger: Option<String>,
    /// Its log file.
    pub log: Option<PathBuf>,
    /// What holds its processes, while it has a record.
    pub containment: Option<crate::containment::Containment>,
}

/// The `reaper ps --json` document.
#[derive(Debug, Clone, Serialize)]
pub struct PsDocument {
    /// [`PS_SCHEMA`].
    pub schema: u32,
    /// The supervisor, if a status file exists.
    pub supervisor: Option<SupervisorInfo>,
    /// Every service of the stack (from the configuration, the status file and the records).
    pub services: Vec<PsEntry>,
}

fn probe_health(probe: &str) -> Option<bool> {
    if let Some(port) = probe.strip_prefix("tcp ") {
        return port.parse().ok().map(tcp_accepts);
    }
    probe.strip_prefix("http ").map(http_ok)
}

/// The state of the stack: the supervisor's status file merged with the services' records and
/// a live probe of each running service.
pub fn ps(state: &StateDir, stack: Option<&Stack>) -> Result<PsDocument, StateError> {
    ps_probing(state, stack, true)
}

/// [`ps`]; with `probe` false, no service is probed and every `health` is `None` (a caller
/// that looks often probes less often than it looks, so services' logs are not filled with
/// probe requests).
pub fn ps_probing(
    state: &StateDir,
    stack: Option<&Stack>,
    probe: bool,
) -> Result<PsDocument, StateError> {
    let current = status::read(state);
    let alive = current.as_ref().is_some_and(StackStatus::supervisor_alive);
    let supervised = current.as_ref().filter(|_| alive);
    let records: HashMap<String, Record> = stack_records(state)
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect();
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    };
    if let Some(stack) = stack {
        stack.services.iter().for_each(|s| add(&s.name));
    }
    if let Some(current) = &current {
        current.services.iter().for_each(|s| add(&s.name));
    }
    let mut recorded: Vec<&String> = records.keys().collect();
    recorded.sort();
    recorded.into_iter().for_each(|n| add(n));
    let statuses: HashMap<String, service::ServiceStatus> = service::status(state, None)?
        .into_iter()
        .filter(|s| names.contains(&s.name))
        .map(|s| (s.name.clone(), s))
        .collect();
    let mut services: Vec<PsEntry> = names
        .iter()
        .map(|name| {
            let entry = supervised.and_then(|s| s.service(name));
            let last = current.as_ref().and_then(|s| s.service(name));
            let record_status = statuses.get(name);
            let running = record_status.is_some_and(|s| s.state == ServiceState::Running);
            let label = match (record_status.map(|s| s.state), entry) {
                (Some(ServiceState::Running), Some(entry)) => entry.state.label().to_string(),
                (Some(ServiceState::Running), None) => "running".to_string(),
                (Some(other), _) => serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                (None, Some(entry)) => entry.state.label().to_string(),
                (None, None) => match last.map(|l| l.state) {
                    Some(
                        phase @ (super::status::ServicePhase::Crashed
                        | super::status::ServicePhase::Failed),
                    ) => phase.label().to_string(),
                    _ => "stopped".to_string(),
                },
            };
            let probe = last.and_then(|e| e.probe.clone()).or_else(|| {
                stack
                    .and_then(|s| s.service(name))
                    .and_then(|s| s.probe(s.port))
                    .map(|p| p.to_string())
            });
            PsEntry {
                name: name.clone(),
                state: label,
                pid: record_status.and_then(|s| s.pid).filter(|_| running),
                uptime_secs: record_status.and_then(|s| s.uptime_secs),
                restarts: last.map_or(0, |e| e.restarts),
                port: record_status
                    .and_then(|s| s.declared_port)
                    .or_else(|| last.and_then(|e| e.port))
                    .or_else(|| stack.and_then(|s| s.service(name)).and_then(|s| s.port)),
                ports: record_status.map(|s| s.ports.clone()).unwrap_or_default(),
                health: None,
                probe,
                processes: record_status.map_or(0, |s| s.processes),
                rss_bytes: record_status.and_then(|s| s.rss_bytes),
                cpu_percent: record_status.and_then(|s| s.cpu_percent),
                last_exit: last.and_then(|e| e.last_exit.clone()),
                message: last.and_then(|e| e.message.clone()),
                last_trigger: last.and_then(|e| e.last_trigger.clone()),
                log: record_status
                    .and_then(|s| s.log.clone())
                    .or_else(|| Some(state.default_log_path(name)).filter(|p| p.exists())),
                containment: record_status.and_then(|s| s.containment.clone()),
            }
        })
        .collect();
    // Probe the running services, in parallel (an HTTP probe may take a moment).
    std::thread::scope(|scope| {
        let handles: Vec<_> = services
            .iter()
            .map(|s| {
                let probe = s.probe.clone().filter(|_| probe && s.processes > 0);
                scope.spawn(move || probe.and_then(|p| probe_health(&p)))
            })
            .collect();
        for (service, handle) in services.iter_mut().zip(handles) {
            service.health = handle
                .join()
                .ok()
                .flatten()
                .map(|ok| if ok { "healthy" } else { "unhealthy" }.to_string());
        }
    });
    Ok(PsDocument {
        schema: PS_SCHEMA,
        supervisor: current.map(|s| SupervisorInfo {
            pid: s.supervisor.pid,
            running: alive,
            detached: s.detached,
            config: s.config,
            phase: s.phase,
            started_at: s.started_at,
            message: s.message,
        }),
        services,
    })
}
