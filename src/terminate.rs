//! Stop plans: graceful signal to every member of a tree, wait until the whole tree is gone
//! (event-driven, re-scanning for processes forked meanwhile), then SIGKILL whatever is left and
//! verify. Many trees are stopped by one loop, sharing each process-table scan. Every path that
//! ends processes goes through here: a service's tree ([`Members::Tree`]), an exact list of
//! verified processes such as a port's holders ([`Members::Exact`]), gracefully or forced
//! ([`StopPolicy`]).

use std::collections::BTreeMap;
use std::io;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::containment::{self, Anchor, MarkerCache, Membership};
use crate::identity::{ProcessRef, protection};
use crate::os::{self, Pinned};
use crate::process::{Pid, Snapshot};
use crate::signal::Signal;

/// How often the process table is re-scanned while waiting, to catch processes forked after
/// the first scan. Exits themselves wake the loop at once (pidfd events).
const RESCAN_INTERVAL: Duration = Duration::from_millis(50);
/// After SIGKILL, how long to wait for processes that cannot die yet (uninterruptible sleep).
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How long to wait for exited members to be reaped by their parent.
const REAP_GRACE: Duration = Duration::from_secs(2);

/// Which processes a stop plan ends.
#[derive(Debug, Clone)]
pub enum Members {
    /// A service's tree: whatever containment finds from the anchor, re-scanned while the plan
    /// runs, so processes forked during the stop are ended too.
    Tree(Anchor),
    /// Exactly these processes (port holders, a supervisor), nothing they start; a pid that
    /// now belongs to another process (another start time) is not a member.
    Exact(Vec<ProcessRef>),
}

/// How a plan ends its members: the graceful signal, the time they get to exit, and whether
/// SIGKILL follows for what is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopPolicy {
    /// The first signal. SIGKILL makes the plan start in its killing phase.
    pub signal: Signal,
    /// How long the members get to exit after the graceful signal before SIGKILL.
    pub grace: Duration,
    /// SIGKILL what is still alive after `grace`; without it, what is left is reported as
    /// [`Outcome::StillRunning`] and left alone (safe mode).
    pub escalate: bool,
}

impl StopPolicy {
    /// `signal`, then SIGKILL after `grace`.
    pub fn graceful(signal: Signal, grace: Duration) -> StopPolicy {
        StopPolicy {
            signal,
            grace,
            escalate: true,
        }
    }

    /// A forced stop: a plan that starts in its killing phase (SIGKILL at once).
    pub fn forced() -> StopPolicy {
        StopPolicy::graceful(Signal::Kill, Duration::ZERO)
    }

    /// True for a plan that starts in its killing phase.
    pub fn is_forced(&self) -> bool {
        self.signal == Signal::Kill
    }
}

/// One set of processes to stop.
#[derive(Debug, Clone)]
pub struct StopTarget {
    /// Service name (or what the processes are), for reports.
    pub name: String,
    /// Which processes.
    pub members: Members,
    /// How they are ended.
    pub policy: StopPolicy,
}

impl StopTarget {
    /// The tree anchored at `anchor`.
    pub fn tree(name: impl Into<String>, anchor: Anchor, policy: StopPolicy) -> StopTarget {
        StopTarget {
            name: name.into(),
            members: Members::Tree(anchor),
            policy,
        }
    }
}

/// How one process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Exited after the graceful signal.
    Graceful,
    /// Needed SIGKILL.
    Forced,
    /// Still alive after SIGKILL (uninterruptible sleep, or another user's process).
    Survived,
    /// Still alive after the graceful signal and its timeout; not escalated (safe mode).
    StillRunning,
}

/// One process of a stopped tree.
#[derive(Debug, Clone, Serialize)]
pub struct EndedProcess {
    /// Its pid.
    pub pid: Pid,
    /// Its command line (or name).
    pub command: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Time from the start of the stop to its exit.
    #[serde(serialize_with = "serialize_millis", rename = "after_ms")]
    pub after: Duration,
}

fn serialize_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// What happened to one tree.
#[derive(Debug, Clone, Serialize)]
pub struct StopReport {
    /// Service name.
    pub name: String,
    /// Every process signalled, in the order they ended.
    pub processes: Vec<EndedProcess>,
    /// Members that had exited but were not reaped by their parent within the grace period.
    pub unreaped_zombies: Vec<Pid>,
    /// Time the whole stop took.
    #[serde(serialize_with = "serialize_millis", rename = "elapsed_ms")]
    pub elapsed: Duration,
    /// Why the tree was not stopped at all, if it was not.
    pub refused: Option<String>,
}

impl StopReport {
    /// One line saying how the tree was stopped (`signal` was the graceful signal).
    pub fn summary(&self, signal: Signal) -> String {
        let count = |outcome: Outcome| {
            self.processes
                .iter()
                .filter(|p| p.outcome == outcome)
                .count()
        };
        let (forced, survived, running) = (
            count(Outcome::Forced),
            count(Outcome::Survived),
            count(Outcome::StillRunning),
        );
        let total = self.processes.len();
        let plural = if total == 1 { "" } else { "es" };
        let name = &self.name;
        if let Some(why) = &self.refused {
            format!("{name}: not stopped: {why}")
        } else if running > 0 {
            format!(
                "{name}: {running} of {total} process{plural} still running after {signal} (not escalated; use --force)"
            )
        } else if survived > 0 {
            format!(
                "{name}: {survived} of {total} process{plural} survived SIGKILL (uninterruptible or not ours to kill)"
            )
        } else if total == 0 {
            format!("{name}: nothing was running")
        } else {
            format!(
                "stopped {name} in {}: {total} process{plural}, {} after {signal}, {forced} by SIGKILL",
                crate::units::format_duration(self.elapsed),
                total - forced
            )
        }
    }

    /// True when every process is gone.
    pub fn complete(&self) -> bool {
        self.refused.is_none()
            && self
                .processes
                .iter()
                .all(|p| matches!(p.outcome, Outcome::Graceful | Outcome::Forced))
    }
}

struct Tracked {
    pinned: Pinned,
    command: String,
    killed: bool,
    ended: bool,
}

enum Phase {
    Graceful { deadline: Instant },
    Killing { since: Instant },
    Done,
}

struct Plan<'a> {
    target: &'a StopTarget,
    tracked: BTreeMap<(Pid, u64), Tracked>,
    ended: Vec<EndedProcess>,
    phase: Phase,
    reap_deadline: Option<Instant>,
    unreaped: Vec<Pid>,
    finished: Option<Instant>,
    refused: Option<String>,
}

impl Plan<'_> {
    fn live(&self) -> impl Iterator<Item = &Tracked> {
        self.tracked.values().filter(|t| !t.ended)
    }

    /// Reports every process still alive with `outcome` and ends the plan.
    fn give_up(&mut self, outcome: Outcome, now: Instant, after: Duration) {
        for tracked in self.tracked.values_mut().filter(|t| !t.ended) {
            tracked.ended = true;
            self.ended.push(EndedProcess {
                pid: tracked.pinned.pid(),
                command: std::mem::take(&mut tracked.command),
                outcome,
                after,
            });
        }
        self.phase = Phase::Done;
        self.finished = Some(now);
    }

    fn current_signal(&self) -> Signal {
        match self.phase {
            Phase::Graceful { .. } => self.target.policy.signal,
            _ => Signal::Kill,
        }
    }

    /// True for the process the tree's anchor names as its leader.
    fn is_leader(&self, info: &crate::process::ProcessInfo) -> bool {
        match &self.target.members {
            Members::Tree(anchor) => {
                (info.pid, info.start_time) == (anchor.leader.pid, anchor.leader.start_time)
            }
            Members::Exact(_) => false,
        }
    }
}

/// The members of an exact list found in `snapshot` with the same identity; protected pids are
/// reported, never members.
fn exact_members(snapshot: &Snapshot, processes: &[ProcessRef]) -> Membership {
    let mut membership = Membership::default();
    for process in processes {
        if protection(process.pid).is_some() {
            membership.protected.push(process.pid);
        } else if snapshot
            .get(process.pid)
            .is_some_and(|info| process.matches(info))
        {
            membership.pids.insert(process.pid);
        }
    }
    membership
}

fn describe(pid: Pid, fallback: &str) -> String {
    os::command_line(pid)
        .filter(|argv| !argv.is_empty())
        .map(|argv| argv.join(" "))
        .unwrap_or_else(|| fallback.to_string())
}

/// Stops every target at once, each by its policy — graceful signal, then (when the policy
/// escalates) SIGKILL after its grace — and reports what happened to each, in target order.
pub fn stop_trees(targets: &[StopTarget]) -> io::Result<Vec<StopReport>> {
    let began = Instant::now();
    let mut markers = MarkerCache::default();
    let mut plans: Vec<Plan<'_>> = targets
        .iter()
        .map(|target| Plan {
            target,
            tracked: BTreeMap::new(),
            ended: Vec::new(),
            phase: if target.policy.is_forced() {
                Phase::Killing { since: began }
            } else {
                Phase::Graceful {
                    deadline: began + target.policy.grace,
                }
            },
            reap_deadline: None,
            unreaped: Vec::new(),
            finished: None,
            refused: None,
        })
        .collect();
    loop {
        let snapshot = os::snapshot()?;
        let now = Instant::now();
        for plan in plans.iter_mut().filter(|p| !matches!(p.phase, Phase::Done)) {
            let membership = match &plan.target.members {
                Members::Tree(anchor) => containment::members(&snapshot, anchor, &mut markers),
                Members::Exact(processes) => exact_members(&snapshot, processes),
            };
            if let Some(pid) = membership.protected.first() {
                plan.refused = Some(format!(
                    "its tree contains pid {pid}, which is this reaper process, one of its \
                     ancestors, or init; run the stop from outside the service"
                ));
                plan.phase = Phase::Done;
                plan.finished = Some(now);
                continue;
            }
            let members = membership.pids;
            let signal = plan.current_signal();
            let mut zombies = Vec::new();
            for pid in &members {
                let Some(info) = snapshot.get(*pid) else {
                    continue;
                };
                if !info.state.is_alive() {
                    zombies.push(*pid);
                    continue;
                }
                let key = (info.pid, info.start_time);
                if plan.tracked.contains_key(&key) {
                    continue;
                }
                let identity = ProcessRef::of(info)?;
                let Ok(pinned) = identity.pin() else { continue };
                let command = describe(info.pid, &info.name);
                // A stopped process cannot act on SIGTERM until it is continued.
                if info.state == crate::process::ProcessState::Stopped && signal != Signal::Kill {
                    let _ = pinned.signal(Signal::Cont);
                }
                // The leader leads the tree's process group (on Windows only the group event
                // reaches console programs).
                if plan.is_leader(info) {
                    let _ = pinned.signal_group(signal);
                } else {
                    let _ = pinned.signal(signal);
                }
                plan.tracked.insert(
                    key,
                    Tracked {
                        pinned,
                        command,
                        killed: signal == Signal::Kill,
                        ended: false,
                    },
                );
            }
            for tracked in plan.tracked.values_mut().filter(|t| !t.ended) {
                if tracked.pinned.has_exited() {
                    tracked.ended = true;
                    plan.ended.push(EndedProcess {
                        pid: tracked.pinned.pid(),
                        command: std::mem::take(&mut tracked.command),
                        outcome: if tracked.killed {
                            Outcome::Forced
                        } else {
                            Outcome::Graceful
                        },
                        after: now - began,
                    });
                }
            }
            let alive = plan.live().count();
            match plan.phase {
                _ if alive == 0 => {
                    // Everything is dead; give parents (usually the keeper) a moment to reap.
                    let deadline = *plan.reap_deadline.get_or_insert(now + REAP_GRACE);
                    if zombies.is_empty() || now >= deadline {
                        plan.unreaped = zombies;
                        plan.phase = Phase::Done;
                        plan.finished = Some(now);
                    }
                }
                Phase::Graceful { deadline } if now >= deadline && !plan.target.policy.escalate => {
                    plan.give_up(Outcome::StillRunning, now, now - began);
                }
                Phase::Graceful { deadline } if now >= deadline => {
                    plan.phase = Phase::Killing { since: now };
                    for tracked in plan.tracked.values_mut().filter(|t| !t.ended) {
                        let _ = tracked.pinned.signal(Signal::Kill);
                        tracked.killed = true;
                    }
                }
                Phase::Killing { since } if now - since >= KILL_GRACE => {
                    plan.give_up(Outcome::Survived, now, now - began);
                }
                _ => {}
            }
        }
        if plans.iter().all(|p| matches!(p.phase, Phase::Done)) {
            break;
        }
        let waiting: Vec<&Pinned> = plans
            .iter()
            .flat_map(|p| p.live().map(|t| &t.pinned))
            .collect();
        let mut wait = RESCAN_INTERVAL;
        for plan in &plans {
            if let Phase::Graceful { deadline } = plan.phase {
                wait = wait.min(deadline.saturating_duration_since(now));
            }
        }
        if waiting.is_empty() {
            std::thread::sleep(wait.min(Duration::from_millis(5)));
        } else {
            os::wait_for_exit(&waiting, wait);
        }
    }
    Ok(plans
        .into_iter()
        .map(|plan| StopReport {
            name: plan.target.name.clone(),
            processes: plan.ended,
            unreaped_zombies: plan.unreaped,
            elapsed: plan.finished.unwrap_or_else(Instant::now) - began,
            refused: plan.refused,
        })
        .collect())
}
