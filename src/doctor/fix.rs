//! `reaper doctor --fix`: act on findings. Safe mode (the default) signals only what reaper can
//! prove it owns (marker or record), only gracefully, and never ends a running service's process
//! (that is `reaper stop`'s or `reaper restart`'s job); `--force` escalates to SIGKILL, ends a
//! service's process that keeps zombies or hangs, and may act on processes reaper does not own.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::containment::Anchor;
use crate::identity::ProcessRef;
use crate::os;
use crate::process::{Pid, ProcessInfo, ProcessState};
use crate::service::{self, StopOptions, orphan_targets};
use crate::signal::Signal;
use crate::state::StateDir;
use crate::terminate::{self, StopPolicy, StopReport, StopTarget};

use super::{Finding, FindingKind, Report};

/// How fixes are applied.
#[derive(Debug, Clone, Copy)]
pub struct FixOptions {
    /// Escalate to SIGKILL, and act on processes reaper does not own.
    pub force: bool,
    /// Time a process gets after the graceful signal.
    pub timeout: Duration,
}

/// What was done about one finding.
#[derive(Debug, Clone, Serialize)]
pub struct FixOutcome {
    /// The finding's kind.
    pub kind: FindingKind,
    /// The finding's pid.
    pub pid: Option<Pid>,
    /// True when the problem is gone.
    pub resolved: bool,
    /// What was done, or why nothing was.
    pub action: String,
}

/// How long a parent gets to reap after SIGCHLD.
const SIGCHLD_GRACE: Duration = Duration::from_millis(300);
/// How long to wait for zombies to be reaped by init once their parent is gone.
const REPARENT_GRACE: Duration = Duration::from_secs(3);

fn still_there(pid: Pid, start_time: Option<u64>) -> Option<ProcessInfo> {
    os::process_info(pid).filter(|p| Some(p.start_time) == start_time)
}

fn wait_gone(pid: Pid, start_time: Option<u64>, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if still_there(pid, start_time).is_none() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGTERM, then SIGKILL after the timeout only under --force.
fn policy(options: FixOptions) -> StopPolicy {
    StopPolicy {
        escalate: options.force,
        ..StopPolicy::graceful(Signal::Term, options.timeout)
    }
}

fn tree_target(
    info: &ProcessInfo,
    name: String,
    options: FixOptions,
) -> std::io::Result<StopTarget> {
    let anchor = Anchor::adopted(ProcessRef::of(info)?, String::new());
    Ok(StopTarget::tree(name, anchor, policy(options)))
}

fn run(targets: &[StopTarget]) -> Vec<StopReport> {
    terminate::stop_trees(targets).unwrap_or_default()
}

fn describe(report: Option<&StopReport>) -> (bool, String) {
    match report {
        None => (false, "could not scan the process table".into()),
        Some(r) if r.complete() => {
            // Members that had exited by themselves were not ended by the fix.
            let count = r.processes.len() - r.count(terminate::Outcome::AlreadyExited);
            let plural = if count == 1 { "" } else { "es" };
            (true, format!("ended {count} process{plural}"))
        }
        Some(r) => (
            false,
            r.refused.clone().unwrap_or_else(|| {
                "some processes are still running (safe mode does not SIGKILL: add --force)".into()
            }),
        ),
    }
}

/// Applies fixes for every finding in `report` and says what happened to each.
pub fn fix(state: &StateDir, report: &Report, options: FixOptions) -> Vec<FixOutcome> {
    let mut outcomes = Vec::new();
    let outcome = |f: &Finding, resolved: bool, action: String| FixOutcome {
        kind: f.kind,
        pid: f.pid,
        resolved,
        action,
    };

    // Zombies, grouped by parent: SIGCHLD first, then end the parent if allowed.
    let mut by_parent: BTreeMap<Pid, Vec<&Finding>> = BTreeMap::new();
    for f in report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Zombie)
    {
        by_parent.entry(f.ppid.unwrap_or(0)).or_default().push(f);
    }
    for (ppid, zombies) in by_parent {
        let live: Vec<&Finding> = zombies
            .iter()
            .copied()
            .filter(|z| {
                still_there(z.pid.unwrap_or(0), z.start_time)
                    .is_some_and(|p| p.state == ProcessState::Zombie && p.ppid == ppid)
            })
            .collect();
        let parent =
            os::process_info(ppid).and_then(|p| Some((ProcessRef::of(&p).ok()?.pin().ok()?, p)));
        let Some((pinned, parent_info)) = parent.filter(|_| !live.is_empty()) else {
            for z in zombies {
                outcomes.push(outcome(z, true, "gone before the fix".into()));
            }
            continue;
        };
        // A zombie is owned when its parent is a member of a managed service; a parent that is
        // not reaper's gets no signal at all in safe mode.
        let owned = live.iter().any(|z| z.owned);
        if !owned && !options.force {
            for z in live {
                outcomes.push(outcome(
                    z,
                    false,
                    format!(
                        "parent {ppid} is not reaper's, so safe mode does not signal it; \
                         `reaper doctor --fix --force` sends it SIGCHLD and then ends it"
                    ),
                ));
            }
            continue;
        }
        let _ = pinned.signal(Signal::Chld);
        let deadline = Instant::now() + SIGCHLD_GRACE;
        while Instant::now() < deadline
            && live
                .iter()
                .any(|z| still_there(z.pid.unwrap_or(0), z.start_time).is_some())
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        let remaining: Vec<&Finding> = live
            .iter()
            .copied()
            .filter(|z| still_there(z.pid.unwrap_or(0), z.start_time).is_some())
            .collect();
        if remaining.is_empty() {
            for z in live {
                outcomes.push(outcome(
                    z,
                    true,
                    format!("parent {ppid} reaped it after SIGCHLD"),
                ));
            }
            continue;
        }
        if !options.force {
            // The parent is a running service's process: ending it is --force's job.
            let service = remaining.iter().find_map(|z| z.service.as_deref());
            for z in remaining {
                outcomes.push(outcome(
                    z,
                    false,
                    format!(
                        "parent {ppid}{} did not reap it after SIGCHLD; safe mode never ends a \
                         service's process: `reaper doctor --fix --force` ends it{}",
                        service
                            .map(|s| format!(" (service {s})"))
                            .unwrap_or_default(),
                        service
                            .map(|s| format!(", or `reaper restart {s}`"))
                            .unwrap_or_default()
                    ),
                ));
            }
            continue;
        }
        drop(pinned);
        let target = match tree_target(&parent_info, format!("parent {ppid}"), options) {
            Ok(target) => target,
            Err(e) => {
                for z in remaining {
                    outcomes.push(outcome(z, false, e.to_string()));
                }
                continue;
            }
        };
        let reports = run(&[target]);
        let (ended, what) = describe(reports.first());
        // The parent was ended once for all its zombies: the first says how, the others
        // refer to it.
        let first = remaining.first().and_then(|z| z.pid).unwrap_or(0);
        for (index, z) in remaining.into_iter().enumerate() {
            let reaped = ended && wait_gone(z.pid.unwrap_or(0), z.start_time, REPARENT_GRACE);
            let action = match (index, reaped) {
                (0, true) => format!(
                    "parent {ppid} ignored SIGCHLD; ended it ({what}), and the zombie was reaped"
                ),
                (0, false) => format!("parent {ppid} ignored SIGCHLD; tried to end it: {what}"),
                (_, true) => format!("reaped once parent {ppid} was ended (see zombie {first})"),
                (_, false) => {
                    format!("parent {ppid} was to be ended (see zombie {first}); still there")
                }
            };
            outcomes.push(outcome(z, reaped, action));
        }
    }

    // Orphans with a marker: provably ours.
    let marked: Vec<crate::service::Orphan> = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Orphan)
        .filter_map(|f| {
            Some(crate::service::Orphan {
                name: f.service.clone()?,
                run_id: f.run_id.clone()?,
                pid: f.pid?,
                start_time: f.start_time?,
                command: f.command.clone().unwrap_or_default(),
            })
        })
        .collect();
    let stop = StopOptions {
        signal: Signal::Term,
        timeout: options.timeout,
    };
    let reports = orphan_targets(&marked, policy(options))
        .map(|targets| run(&targets))
        .unwrap_or_default();
    for f in report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Orphan)
    {
        if f.run_id.is_some() {
            let run_report = reports.iter().find(|r| Some(&r.name) == f.service.as_ref());
            let (ok, what) = describe(run_report);
            outcomes.push(outcome(f, ok, what));
        } else if f.owned {
            outcomes.push(outcome(
                f,
                false,
                format!(
                    "belongs to running service {}: stop it with `reaper stop`",
                    f.service.as_deref().unwrap_or("?")
                ),
            ));
        } else {
            outcomes.push(end_unowned(f, options));
        }
    }

    for f in report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Hung)
    {
        if options.force {
            outcomes.push(end_unowned(f, options));
        } else if let Some(service) = f.service.as_deref().filter(|_| f.owned) {
            outcomes.push(outcome(
                f,
                false,
                format!(
                    "a process of running service {service}: safe mode never ends it; \
                     `reaper restart {service}`, or --force ends it"
                ),
            ));
        } else {
            outcomes.push(outcome(
                f,
                false,
                "not reaper's: inspect it, then --force ends it".into(),
            ));
        }
    }

    let stale: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::StaleRecord)
        .collect();
    if !stale.is_empty() {
        match service::clean(state, false, stop) {
            Ok(cleaned) => {
                for f in stale {
                    let removed = cleaned
                        .actions
                        .iter()
                        .find(|a| Some(&a.name) == f.service.as_ref());
                    outcomes.push(match removed {
                        Some(a) => outcome(
                            f,
                            a.action == "removed",
                            format!("{}: {}", a.action, a.reason),
                        ),
                        None => outcome(f, true, "already gone".into()),
                    });
                }
            }
            Err(e) => {
                for f in stale {
                    outcomes.push(outcome(f, false, e.to_string()));
                }
            }
        }
    }

    for f in report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::PortConflict)
    {
        let Some(port) = f.port else { continue };
        if !options.force {
            outcomes.push(outcome(
                f,
                false,
                format!(
                    "the holder is not this service: add --force, or `reaper port {port} --kill`"
                ),
            ));
            continue;
        }
        let free = crate::ports::FreeOptions {
            policy: StopPolicy::graceful(Signal::Term, options.timeout),
            attempts: 3,
        };
        outcomes.push(match crate::ports::free(port, state, free) {
            Ok(freed) if freed.freed => outcome(f, true, format!("freed port {port}")),
            Ok(freed) => outcome(
                f,
                false,
                freed
                    .problem
                    .or(freed.refused)
                    .unwrap_or_else(|| format!("port {port} is still held")),
            ),
            Err(e) => outcome(f, false, e.to_string()),
        });
    }
    outcomes
}

/// Ends the process of a finding with its tree: gracefully, or with escalation under --force.
/// Processes reaper does not own are only touched under --force.
fn end_unowned(f: &Finding, options: FixOptions) -> FixOutcome {
    let mut result = FixOutcome {
        kind: f.kind,
        pid: f.pid,
        resolved: false,
        action: String::new(),
    };
    if !f.owned && !options.force {
        result.action = "not reaper's: add --force to end it".into();
        return result;
    }
    let Some(info) = f.pid.and_then(|pid| still_there(pid, f.start_time)) else {
        result.resolved = true;
        result.action = "gone before the fix".into();
        return result;
    };
    match tree_target(&info, format!("pid {}", info.pid), options) {
        Ok(target) => {
            let reports = run(&[target]);
            (result.resolved, result.action) = describe(reports.first());
        }
        Err(e) => result.action = e.to_string(),
    }
    result
}
