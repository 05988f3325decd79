//! Stop plans: graceful signal to every member of a tree, wait until the whole tree is gone
//! (event-driven, re-scanning for processes forked meanwhile), then SIGKILL whatever is left and
//! verify. Many trees are stopped by one loop, sharing each process-table scan. Every path that
//! ends processes goes through here: a service's tree ([`Members::Tree`]), an exact list of
//! verified processes such as a port's holders ([`Members::Exact`]), gracefully or forced
//! ([`StopPolicy`]).
//!
//! A stop still waiting after [`WATCH_AFTER`] is reported to a [`StopObserver`] (what is still
//! alive, the countdown to SIGKILL, how it ended), so every caller's stops can be watched without
//! a loop of its own.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::containment::{self, Anchor, MarkerCache, Membership};
use crate::identity::{IdentityError, ProcessRef, protection};
use crate::os::{self, CgroupWatch, PinError, Pinned};
use crate::process::{Pid, Snapshot};
use crate::signal::Signal;

/// How often the process table is re-scanned while waiting, to catch processes forked after
/// the first scan (trees without a cgroup). Exits themselves wake the loop at once (pidfd
/// events), and so does a cgroup becoming empty (inotify on `cgroup.events`).
const RESCAN_INTERVAL: Duration = Duration::from_millis(50);
/// After SIGKILL, how long to wait for processes that cannot die yet (uninterruptible sleep).
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How long to wait for exited members to be reaped by their parent, when that parent is ours
/// (the keeper, or this process): any other parent's zombies are reported without waiting.
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
    /// Had exited by itself before it was signalled (found exited when the scan saw it, or
    /// when it was pinned); it got no signal.
    AlreadyExited,
}

impl Outcome {
    /// How the process ended, in words, when `signal` was the graceful signal.
    pub fn describe(self, signal: Signal) -> String {
        match self {
            Outcome::Graceful => format!("exited after {signal}"),
            Outcome::Forced => "killed with SIGKILL".to_string(),
            Outcome::Survived => "SURVIVED SIGKILL".to_string(),
            Outcome::StillRunning => format!("still running after {signal}"),
            Outcome::AlreadyExited => "had already exited".to_string(),
        }
    }

    /// True when the process is gone (however it went).
    pub fn is_gone(self) -> bool {
        matches!(
            self,
            Outcome::Graceful | Outcome::Forced | Outcome::AlreadyExited
        )
    }
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
    /// Members that had exited but were not reaped by their parent: within the grace period
    /// when the parent is the keeper or this process, at once for any other parent.
    pub unreaped_zombies: Vec<Pid>,
    /// Time the whole stop took.
    #[serde(serialize_with = "serialize_millis", rename = "elapsed_ms")]
    pub elapsed: Duration,
    /// Why the tree was not stopped at all, if it was not.
    pub refused: Option<String>,
}

impl StopReport {
    /// How many of its processes ended with `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.processes
            .iter()
            .filter(|p| p.outcome == outcome)
            .count()
    }

    /// How its processes ended, counted: `3 processes, 2 after SIGTERM, 1 by SIGKILL` (and how
    /// many had already exited, if any).
    pub fn tally(&self, signal: Signal) -> String {
        let total = self.processes.len();
        let plural = if total == 1 { "" } else { "es" };
        let graceful = self.count(Outcome::Graceful);
        let already = self.count(Outcome::AlreadyExited);
        let forced = total - graceful - already;
        let already = if already > 0 {
            format!(", {already} had already exited")
        } else {
            String::new()
        };
        format!("{total} process{plural}, {graceful} after {signal}, {forced} by SIGKILL{already}")
    }

    /// One line saying how the tree was stopped (`signal` was the graceful signal).
    pub fn summary(&self, signal: Signal) -> String {
        let count = |outcome: Outcome| self.count(outcome);
        let (survived, running) = (count(Outcome::Survived), count(Outcome::StillRunning));
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
                "stopped {name} in {}: {}",
                crate::units::format_duration(self.elapsed),
                self.tally(signal)
            )
        }
    }

    /// True when every process is gone.
    pub fn complete(&self) -> bool {
        self.refused.is_none() && self.processes.iter().all(|p| p.outcome.is_gone())
    }
}

/// How long a stop runs before its observer hears of it: most stops end sooner and say nothing.
pub const WATCH_AFTER: Duration = Duration::from_secs(1);
/// How often a watched stop reports what is still alive: often enough for a countdown in
/// seconds to tick smoothly, and the wake-ups are only added for stops being watched.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// Hears about stops that take a while: [`StopObserver::waiting`] once a stop has run for
/// [`WATCH_AFTER`] with something still alive, [`StopObserver::still_alive`] after every poll
/// from then on, and [`StopObserver::ended`] when it is over. Stops that end sooner are not
/// reported at all. Called on the stopping thread; stops may run on several threads at once
/// (tell them apart by [`StopProgress::stop`]).
pub trait StopObserver: Send + Sync {
    /// The stop has waited [`WATCH_AFTER`] and some of its targets are still running.
    fn waiting(&self, progress: &StopProgress<'_>);
    /// Where the watched stop stands now.
    fn still_alive(&self, progress: &StopProgress<'_>);
    /// The watched stop is over.
    fn ended(&self, end: &StopEnd<'_>);
}

/// The observer every stop reports to. Process-wide, as a logger is: stops start deep inside
/// library calls (a restart, a port clean-up, `up`'s shutdown, a `run` timeout), and passing an
/// observer through each of them would change every signature on the way for one concern.
static OBSERVER: RwLock<Option<Arc<dyn StopObserver>>> = RwLock::new(None);
/// Numbers the watched stops of this process.
static NEXT_STOP: AtomicU64 = AtomicU64::new(1);

/// Makes `observer` hear about every stop from now on (`None`: no stop is reported) and returns
/// the one it replaces, so a full-screen front end can silence it while it owns the terminal and
/// put it back afterwards.
pub fn set_observer(observer: Option<Arc<dyn StopObserver>>) -> Option<Arc<dyn StopObserver>> {
    let mut slot = OBSERVER
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    std::mem::replace(&mut slot, observer)
}

fn current_observer() -> Option<Arc<dyn StopObserver>> {
    OBSERVER
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// Where a watched stop stands.
#[derive(Debug, Clone)]
pub struct StopProgress<'a> {
    /// Which stop of this process (stops on other threads have other numbers).
    pub stop: u64,
    /// Time since the stop began.
    pub elapsed: Duration,
    /// The targets that were still running when the stop began to be watched, in target order;
    /// they stay listed (as [`Stage::Done`]) once they are over.
    pub targets: Vec<TargetProgress<'a>>,
}

/// Where one target of a watched stop stands.
#[derive(Debug, Clone)]
pub struct TargetProgress<'a> {
    /// Its position among the stop's targets.
    pub index: usize,
    /// Its name ([`StopTarget::name`]).
    pub name: &'a str,
    /// Its graceful signal.
    pub signal: Signal,
    /// What the stop is waiting for.
    pub stage: Stage,
    /// Its processes still alive, in pid order.
    pub alive: Vec<AliveProcess<'a>>,
}

/// What a target's stop is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The graceful signal was sent; after `remaining`, SIGKILL follows (`escalate`) or the
    /// processes left are reported still running.
    Graceful {
        /// Time left before the grace period ends.
        remaining: Duration,
        /// SIGKILL follows the grace period.
        escalate: bool,
    },
    /// SIGKILL was sent `since` ago; waiting for the kernel to finish the processes.
    Killing {
        /// Time since SIGKILL.
        since: Duration,
    },
    /// The target's stop is over.
    Done,
}

/// A process a watched stop is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AliveProcess<'a> {
    /// Its pid.
    pub pid: Pid,
    /// Its command line (raw: escape it before showing it).
    pub command: &'a str,
}

/// How a watched stop ended.
#[derive(Debug, Clone)]
pub struct StopEnd<'a> {
    /// Which stop ([`StopProgress::stop`]).
    pub stop: u64,
    /// Time the whole stop took.
    pub elapsed: Duration,
    /// For each watched target: its name and how it ended ([`StopReport::summary`], or why
    /// the stop failed).
    pub targets: Vec<(&'a str, String)>,
}

/// A stop's reports to its observer, once it is worth watching.
struct Watch {
    observer: Option<Arc<dyn StopObserver>>,
    stop: u64,
    /// Indexes of the targets being watched; empty until the stop is watched.
    watched: Vec<usize>,
}

impl Watch {
    fn new(observer: Option<Arc<dyn StopObserver>>) -> Watch {
        Watch {
            observer,
            stop: 0,
            watched: Vec::new(),
        }
    }

    /// How long the loop may sleep before this watch wants to report again (`None`: never).
    fn next_report(&self, began: Instant, now: Instant) -> Option<Duration> {
        self.observer.as_ref()?;
        Some(if self.watched.is_empty() {
            (began + WATCH_AFTER).saturating_duration_since(now)
        } else {
            WATCH_INTERVAL
        })
    }

    /// After a round: announces the stop once it has run for [`WATCH_AFTER`] with targets
    /// still running, and reports on it from then on.
    fn report(&mut self, plans: &[Plan<'_>], began: Instant, now: Instant) {
        let Some(observer) = &self.observer else {
            return;
        };
        let announce = self.watched.is_empty();
        if announce {
            if now - began < WATCH_AFTER {
                return;
            }
            self.watched = plans
                .iter()
                .enumerate()
                .filter(|(_, plan)| !matches!(plan.phase, Phase::Done))
                .map(|(index, _)| index)
                .collect();
            if self.watched.is_empty() {
                return;
            }
            self.stop = NEXT_STOP.fetch_add(1, Ordering::Relaxed);
        }
        let progress = StopProgress {
            stop: self.stop,
            elapsed: now - began,
            targets: self
                .watched
                .iter()
                .map(|&index| plans[index].progress(index, now))
                .collect(),
        };
        if announce {
            observer.waiting(&progress);
        } else {
            observer.still_alive(&progress);
        }
    }

    /// Tells the observer how a watched stop ended: each target's summary, or `error`.
    fn ended(&self, plans: &[Plan<'_>], began: Instant, error: Option<&io::Error>) {
        let Some(observer) = self.observer.as_ref().filter(|_| !self.watched.is_empty()) else {
            return;
        };
        let targets = self
            .watched
            .iter()
            .map(|&index| {
                let plan = &plans[index];
                let how = match error {
                    Some(error) => format!("the stop failed: {error}"),
                    None => plan.report(began).summary(plan.target.policy.signal),
                };
                (plan.target.name.as_str(), how)
            })
            .collect();
        observer.ended(&StopEnd {
            stop: self.stop,
            elapsed: began.elapsed(),
            targets,
        });
    }
}

struct Tracked {
    /// Closed once the process has exited, so a stop of thousands of processes holds
    /// descriptors only for the live ones.
    pinned: Option<Pinned>,
    pid: Pid,
    command: String,
    killed: bool,
}

enum Phase {
    Graceful { deadline: Instant },
    Killing { since: Instant },
    Done,
}

/// The run's cgroup, when its tree has one: membership is its `cgroup.procs`, emptiness its
/// `cgroup.events` (watched), escalation `cgroup.kill`.
struct CgroupScope {
    path: PathBuf,
    watch: Option<CgroupWatch>,
    /// `cgroup.kill` was written (once is enough: nothing can join a cgroup being killed but a
    /// fork, and the kernel kills forks in flight too).
    killed: bool,
}

struct Plan<'a> {
    target: &'a StopTarget,
    cgroup: Option<CgroupScope>,
    tracked: BTreeMap<(Pid, u64), Tracked>,
    ended: Vec<EndedProcess>,
    phase: Phase,
    reap_deadline: Option<Instant>,
    unreaped: Vec<Pid>,
    finished: Option<Instant>,
    refused: Option<String>,
    /// Members that could not be pinned in the last round (descriptors ran out, or the OS
    /// refused), with why: the tree is not known to be gone while any remain.
    unpinned: Vec<(Pid, String)>,
}

impl Plan<'_> {
    fn live(&self) -> impl Iterator<Item = &Tracked> {
        self.tracked.values().filter(|t| t.pinned.is_some())
    }

    /// Where this plan (target `index`) stands, for its observer.
    fn progress(&self, index: usize, now: Instant) -> TargetProgress<'_> {
        let stage = match self.phase {
            Phase::Graceful { deadline } => Stage::Graceful {
                remaining: deadline.saturating_duration_since(now),
                escalate: self.target.policy.escalate,
            },
            Phase::Killing { since } => Stage::Killing { since: now - since },
            Phase::Done => Stage::Done,
        };
        TargetProgress {
            index,
            name: &self.target.name,
            signal: self.target.policy.signal,
            alive: match stage {
                Stage::Done => Vec::new(),
                _ => self
                    .live()
                    .map(|t| AliveProcess {
                        pid: t.pid,
                        command: &t.command,
                    })
                    .collect(),
            },
            stage,
        }
    }

    /// What happened to this plan's tree so far.
    fn report(&self, began: Instant) -> StopReport {
        StopReport {
            name: self.target.name.clone(),
            processes: self.ended.clone(),
            unreaped_zombies: self.unreaped.clone(),
            elapsed: self.finished.unwrap_or_else(Instant::now) - began,
            refused: self.refused.clone(),
        }
    }

    /// Reports a member that had exited before it was signalled, once: it is tracked from now
    /// on, with nothing pinned.
    fn already_exited(&mut self, (pid, start_time): (Pid, u64), name: &str, after: Duration) {
        self.tracked.insert(
            (pid, start_time),
            Tracked {
                pinned: None,
                pid,
                command: String::new(),
                killed: false,
            },
        );
        self.ended.push(EndedProcess {
            pid,
            command: describe(pid, name),
            outcome: Outcome::AlreadyExited,
            after,
        });
    }

    /// Reports every process still alive with `outcome` and ends the plan.
    fn give_up(&mut self, outcome: Outcome, now: Instant, after: Duration) {
        for tracked in self.tracked.values_mut().filter(|t| t.pinned.is_some()) {
            tracked.pinned = None;
            self.ended.push(EndedProcess {
                pid: tracked.pid,
                command: std::mem::take(&mut tracked.command),
                outcome,
                after,
            });
        }
        for (pid, why) in self.unpinned.drain(..) {
            self.ended.push(EndedProcess {
                pid,
                command: format!("(not signalled: {why})"),
                outcome,
                after,
            });
        }
        self.finish(now);
    }

    fn finish(&mut self, now: Instant) {
        self.phase = Phase::Done;
        self.finished = Some(now);
        if let Some(cgroup) = &self.cgroup {
            if !os::cgroup_is_populated(&cgroup.path).unwrap_or(true) {
                let _ = os::remove_cgroup(&cgroup.path);
            }
        }
    }

    fn current_signal(&self) -> Signal {
        match self.phase {
            Phase::Graceful { .. } => self.target.policy.signal,
            _ => Signal::Kill,
        }
    }

    /// In the killing phase, SIGKILLs everything in the tree's cgroup at once (forks in flight
    /// included), the first time it is called.
    fn kill_cgroup_once(&mut self) {
        if let (Phase::Killing { .. }, Some(cgroup)) = (&self.phase, &mut self.cgroup) {
            if !cgroup.killed {
                cgroup.killed = true;
                let _ = os::kill_cgroup(&cgroup.path);
            }
        }
    }

    /// True when the tree's cgroup (if it has one) holds no process.
    fn cgroup_empty(&self) -> bool {
        self.cgroup
            .as_ref()
            .is_none_or(|c| !os::cgroup_is_populated(&c.path).unwrap_or(true))
    }

    /// The process table this plan's members are read from: the processes of its cgroup, or the
    /// whole table (read at most once per round for every plan that needs it).
    fn table<'s>(
        &self,
        whole: &'s mut Option<Snapshot>,
        local: &'s mut Snapshot,
    ) -> io::Result<&'s Snapshot> {
        if let Some(cgroup) = &self.cgroup {
            let pids = os::cgroup_processes(&cgroup.path).unwrap_or_default();
            *local = Snapshot::from_processes(pids.into_iter().filter_map(os::process_info));
            return Ok(local);
        }
        if whole.is_none() {
            *whole = Some(os::snapshot()?);
        }
        Ok(whole.as_ref().expect("just read"))
    }

    /// True when zombie `pid`'s parent is one that reaps it: this reaper process, or the
    /// tree's keeper (still the same process).
    fn reaped_by_ours(&self, pid: Pid) -> bool {
        let Some(ppid) = os::process_info(pid).map(|info| info.ppid) else {
            return false;
        };
        let keeper = match &self.target.members {
            Members::Tree(anchor) => anchor.keeper.as_ref(),
            Members::Exact(_) => None,
        };
        ppid == std::process::id()
            || keeper.is_some_and(|keeper| {
                keeper.pid == ppid
                    && os::process_info(ppid)
                        .is_some_and(|p| p.state.is_alive() && keeper.matches(&p))
            })
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

/// Descriptors kept free for everything else a stop opens (`/proc` files, the lock, logs).
const DESCRIPTOR_RESERVE: u64 = 64;

/// Stops every target at once, each by its policy — graceful signal, then (when the policy
/// escalates) SIGKILL after its grace — and reports what happened to each, in target order.
/// A stop that waits longer than [`WATCH_AFTER`] is reported to the observer set by
/// [`set_observer`].
pub fn stop_trees(targets: &[StopTarget]) -> io::Result<Vec<StopReport>> {
    stop_trees_observed(targets, current_observer())
}

/// [`stop_trees`], reporting to `observer` instead of the process-wide one.
pub fn stop_trees_observed(
    targets: &[StopTarget],
    observer: Option<Arc<dyn StopObserver>>,
) -> io::Result<Vec<StopReport>> {
    let began = Instant::now();
    // One pidfd per live member: beyond this many, members wait for a later round (they are
    // pinned as others exit), never skipped.
    let pin_budget = os::raise_fd_limit()
        .saturating_sub(DESCRIPTOR_RESERVE)
        .max(1) as usize;
    let mut plans: Vec<Plan<'_>> = targets
        .iter()
        .map(|target| Plan {
            target,
            cgroup: match &target.members {
                Members::Tree(anchor) => anchor.trusted_cgroup(),
                Members::Exact(_) => None,
            }
            .map(|path| CgroupScope {
                path: path.to_path_buf(),
                watch: CgroupWatch::new(path).ok(),
                killed: false,
            }),
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
            unpinned: Vec::new(),
        })
        .collect();
    let mut watch = Watch::new(observer);
    let run = run_plans(&mut plans, began, pin_budget, &mut watch);
    watch.ended(&plans, began, run.as_ref().err());
    run?;
    Ok(plans.iter().map(|plan| plan.report(began)).collect())
}

/// Runs the plans to their end: signal, wait, escalate, verify, round after round.
fn run_plans(
    plans: &mut [Plan<'_>],
    began: Instant,
    pin_budget: usize,
    watch: &mut Watch,
) -> io::Result<()> {
    let mut markers = MarkerCache::default();
    loop {
        let mut whole = None;
        let mut local = Snapshot::default();
        let mut pinned_now: usize = plans.iter().map(|p| p.live().count()).sum();
        for plan in plans.iter_mut().filter(|p| !matches!(p.phase, Phase::Done)) {
            // A round may conclude "nothing left" only from a scan taken after every tracked
            // member had exited: a process forked by a member on its way out (a TERM handler
            // that spawns a child and exits at once) shows up in that scan, not in earlier ones.
            let quiet_before = plan.live().count() == 0;
            let snapshot = plan.table(&mut whole, &mut local)?;
            let now = Instant::now();
            let membership = match &plan.target.members {
                Members::Tree(anchor) => containment::members(snapshot, anchor, &mut markers),
                Members::Exact(processes) => exact_members(snapshot, processes),
            };
            if let Some(pid) = membership.protected.first() {
                plan.refused = Some(format!(
                    "its tree contains pid {pid}, which is this reaper process, one of its \
                     ancestors, or init; run the stop from outside the service"
                ));
                plan.finish(now);
                continue;
            }
            let signal = plan.current_signal();
            let mut zombies = Vec::new();
            let mut found_new = false;
            plan.unpinned.clear();
            for pid in &membership.pids {
                let Some(info) = snapshot.get(*pid) else {
                    continue;
                };
                let key = (info.pid, info.start_time);
                if !info.state.is_alive() {
                    zombies.push(*pid);
                    // A member that exited before it was ever signalled.
                    if !plan.tracked.contains_key(&key) {
                        plan.already_exited(key, &info.name, now - began);
                    }
                    continue;
                }
                if plan.tracked.contains_key(&key) {
                    continue;
                }
                found_new = true;
                if pinned_now >= pin_budget {
                    plan.unpinned
                        .push((info.pid, "waiting for a free file descriptor".into()));
                    continue;
                }
                let identity = ProcessRef::of(info)?;
                let pinned = match identity.pin() {
                    // Exited (and reaped) since the scan, before any signal.
                    Err(IdentityError::Pin(PinError::Gone(_))) => {
                        plan.already_exited(key, &info.name, now - began);
                        continue;
                    }
                    Ok(pinned) if pinned.has_exited() => {
                        plan.already_exited(key, &info.name, now - began);
                        continue;
                    }
                    Ok(pinned) => pinned,
                    // Replaced since the scan: not a member any more.
                    Err(IdentityError::Pin(PinError::Reused { .. })) => continue,
                    Err(e) => {
                        plan.unpinned.push((info.pid, e.to_string()));
                        continue;
                    }
                };
                // Read from cgroup.procs before the pin: the pid may have been reused outside
                // the cgroup in between. Pinned now, the check holds until the signal.
                if plan
                    .cgroup
                    .as_ref()
                    .is_some_and(|c| !os::process_in_cgroup(info.pid, &c.path))
                {
                    continue;
                }
                pinned_now += 1;
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
                        pinned: Some(pinned),
                        pid: info.pid,
                        command,
                        killed: signal == Signal::Kill,
                    },
                );
            }
            // A forced plan starts here: its members were just tracked (for the report) and
            // SIGKILLed one by one; the cgroup catches what the scan could not see.
            plan.kill_cgroup_once();
            for tracked in plan.tracked.values_mut() {
                if tracked.pinned.as_ref().is_some_and(Pinned::has_exited) {
                    tracked.pinned = None;
                    pinned_now -= 1;
                    plan.ended.push(EndedProcess {
                        pid: tracked.pid,
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
            let settled = alive == 0 && plan.unpinned.is_empty() && plan.cgroup_empty();
            match plan.phase {
                _ if settled && (plan.cgroup.is_some() || (quiet_before && !found_new)) => {
                    // Everything is dead; give parents (usually the keeper) a moment to reap.
                    if plan.cgroup.is_some() {
                        // Exited members left cgroup.procs; the zombies among them are the
                        // tracked ones whose pid still shows their start time.
                        zombies = plan
                            .tracked
                            .keys()
                            .filter(|(pid, start)| {
                                os::process_info(*pid).is_some_and(|info| {
                                    info.start_time == *start && !info.state.is_alive()
                                })
                            })
                            .map(|(pid, _)| *pid)
                            .collect();
                    }
                    // Only a parent of ours reaps soon: another (init, a dead keeper's
                    // adopter) may take its time or never, so its zombies are reported at once.
                    let reaping = zombies.iter().any(|pid| plan.reaped_by_ours(*pid));
                    let deadline = *plan.reap_deadline.get_or_insert(now + REAP_GRACE);
                    if !reaping || now >= deadline {
                        plan.unreaped = zombies;
                        plan.finish(now);
                    }
                }
                Phase::Graceful { deadline } if now >= deadline && !plan.target.policy.escalate => {
                    plan.give_up(Outcome::StillRunning, now, now - began);
                }
                Phase::Graceful { deadline } if now >= deadline => {
                    plan.phase = Phase::Killing { since: now };
                    plan.kill_cgroup_once();
                    for tracked in plan.tracked.values_mut() {
                        if let Some(pinned) = &tracked.pinned {
                            let _ = pinned.signal(Signal::Kill);
                            tracked.killed = true;
                        }
                    }
                }
                Phase::Killing { since } if now - since >= KILL_GRACE => {
                    plan.give_up(Outcome::Survived, now, now - began);
                }
                _ => {}
            }
        }
        if plans.iter().all(|p| matches!(p.phase, Phase::Done)) {
            return Ok(());
        }
        watch.report(plans, began, Instant::now());
        let active = || plans.iter().filter(|p| !matches!(p.phase, Phase::Done));
        let waiting: Vec<&Pinned> = active()
            .flat_map(|p| p.live().filter_map(|t| t.pinned.as_ref()))
            .collect();
        let watches: Vec<&CgroupWatch> = active()
            .filter_map(|p| p.cgroup.as_ref()?.watch.as_ref())
            .collect();
        // Without a cgroup, processes forked after a scan are only found by scanning again. A
        // cgroup needs no rescans: its members cannot leave, and cgroup.kill reaches late forks
        // (as systemd signals a unit's processes once, then kills the cgroup).
        let rescan = active().any(|p| p.cgroup.is_none() || !p.unpinned.is_empty());
        let now = Instant::now();
        let mut wait = if rescan { RESCAN_INTERVAL } else { KILL_GRACE };
        for plan in active() {
            match plan.phase {
                Phase::Graceful { deadline } => {
                    wait = wait.min(deadline.saturating_duration_since(now));
                }
                Phase::Killing { since } => {
                    wait = wait.min((since + KILL_GRACE).saturating_duration_since(now));
                }
                Phase::Done => {}
            }
            if plan.reap_deadline.is_some() || (plan.live().count() == 0 && plan.cgroup.is_none()) {
                // Reaping zombies, or about to confirm with a fresh scan.
                wait = wait.min(Duration::from_millis(5));
            }
        }
        if let Some(report_in) = watch.next_report(began, now) {
            wait = wait.min(report_in);
        }
        if waiting.is_empty() && watches.is_empty() {
            std::thread::sleep(wait.min(Duration::from_millis(5)));
        } else {
            os::wait_for_events(&waiting, &watches, wait);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::process::{Child, Command};
    use std::sync::Mutex;

    /// What a stop told its observer, in order.
    #[derive(Default)]
    struct Recorder {
        events: Mutex<Vec<String>>,
        /// Time left before SIGKILL, at each report in the graceful stage.
        remaining: Mutex<Vec<Duration>>,
    }

    impl Recorder {
        fn record(&self, event: String) {
            self.events.lock().unwrap().push(event);
        }

        fn progress(&self, kind: &str, progress: &StopProgress<'_>) -> String {
            let targets: Vec<String> = progress
                .targets
                .iter()
                .map(|t| {
                    let stage = match t.stage {
                        Stage::Graceful { remaining, .. } => {
                            self.remaining.lock().unwrap().push(remaining);
                            "graceful".to_string()
                        }
                        Stage::Killing { .. } => "killing".to_string(),
                        Stage::Done => "done".to_string(),
                    };
                    let alive: Vec<String> = t
                        .alive
                        .iter()
                        .map(|p| format!("{} {}", p.pid, p.command))
                        .collect();
                    format!(
                        "{}#{} {} {stage} [{}]",
                        t.name,
                        t.index,
                        t.signal,
                        alive.join(", ")
                    )
                })
                .collect();
            format!("{kind}: {}", targets.join("; "))
        }
    }

    impl StopObserver for Recorder {
        fn waiting(&self, progress: &StopProgress<'_>) {
            self.record(self.progress("waiting", progress));
        }

        fn still_alive(&self, progress: &StopProgress<'_>) {
            self.record(self.progress("alive", progress));
        }

        fn ended(&self, end: &StopEnd<'_>) {
            let how: Vec<String> = end
                .targets
                .iter()
                .map(|(n, how)| format!("{n}: {how}"))
                .collect();
            self.record(format!("ended: {}", how.join("; ")));
        }
    }

    /// A child of this test running `script` under `sh`, killed and reaped on drop.
    struct Spawned(Child);

    impl Spawned {
        /// Starts `script`; returns once the shell has exec'd `sleep` (its traps are set).
        fn sleeping(script: &str) -> Spawned {
            let child = Spawned(Command::new("sh").args(["-c", script]).spawn().unwrap());
            let pid = child.0.id();
            let deadline = Instant::now() + Duration::from_secs(10);
            while os::command_line(pid).is_none_or(|argv| argv.first().is_none_or(|a| a != "sleep"))
            {
                assert!(Instant::now() < deadline, "{script} did not start");
                std::thread::sleep(Duration::from_millis(5));
            }
            child
        }

        fn target(&self, name: &str, grace: Duration) -> StopTarget {
            let info = os::process_info(self.0.id()).expect("alive");
            StopTarget {
                name: name.to_string(),
                members: Members::Exact(vec![ProcessRef::of(&info).unwrap()]),
                policy: StopPolicy::graceful(Signal::Term, grace),
            }
        }
    }

    impl Drop for Spawned {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Stops `targets` reporting to a recorder, reaping `children` meanwhile (they are ours).
    fn stop_recorded(
        targets: &[StopTarget],
        children: &mut [Spawned],
    ) -> (Vec<String>, Vec<Duration>) {
        let recorder = Arc::new(Recorder::default());
        let observer: Arc<dyn StopObserver> = recorder.clone();
        std::thread::scope(|scope| {
            let stop = scope.spawn(|| stop_trees_observed(targets, Some(observer)).unwrap());
            for child in children.iter_mut() {
                scope.spawn(move || child.0.wait());
            }
            stop.join().unwrap();
        });
        let events = recorder.events.lock().unwrap().clone();
        (events, recorder.remaining.lock().unwrap().clone())
    }

    #[test]
    fn a_quick_stop_is_not_reported() {
        let mut children = [Spawned::sleeping("exec sleep 30")];
        let target = children[0].target("quick", Duration::from_secs(5));
        let (events, _) = stop_recorded(&[target], &mut children);
        assert_eq!(events, Vec::<String>::new());
    }

    #[test]
    fn a_slow_stop_is_reported_once_then_after_every_poll_then_at_its_end() {
        let mut children = [
            Spawned::sleeping("trap '' TERM; exec sleep 31"),
            Spawned::sleeping("exec sleep 32"),
        ];
        let (stubborn, quick) = (children[0].0.id(), children[1].0.id());
        let targets = [
            children[0].target("stubborn", Duration::from_secs(3)),
            children[1].target("quick", Duration::from_secs(5)),
        ];
        let (events, remaining) = stop_recorded(&targets, &mut children);
        let all = events.join("\n");
        assert_eq!(
            events[0],
            format!("waiting: stubborn#0 SIGTERM graceful [{stubborn} sleep 31]"),
            "the quick target ended before the stop was watched:\n{all}"
        );
        assert!(!all.contains(&quick.to_string()), "{all}");
        let (last, middle) = events[1..].split_last().unwrap();
        assert!(middle.len() >= 2, "a report after each poll:\n{all}");
        assert!(
            middle
                .iter()
                .all(|e| e.starts_with("alive: stubborn#0 SIGTERM ")),
            "{all}"
        );
        assert!(
            remaining.windows(2).all(|w| w[1] <= w[0]) && remaining.last() < remaining.first(),
            "the countdown moves down: {remaining:?}"
        );
        assert!(remaining[0] < Duration::from_secs(2), "{remaining:?}");
        assert!(
            last.starts_with("ended: stubborn: stopped stubborn in "),
            "{all}"
        );
        assert!(
            last.ends_with("1 process, 0 after SIGTERM, 1 by SIGKILL"),
            "{all}"
        );
    }
}
