//! The stack as its supervisor knows it: each service's phase (carrying what only that phase
//! needs: when a restart is due, when it became ready, whether it daemonized), its counters and
//! last words, and the stack's own lifecycle. Plain data: [`super::dispatch`] changes it, the
//! loop in [`super::up`] reads it to watch processes and write the status file.

use std::time::{Duration, Instant};

use super::ci::CiRun;
use crate::actionlog::now_rfc3339;
use crate::stack::Service;
use crate::stack::status::{ServiceEntry, ServicePhase, StackPhase};
use crate::state::Record;

/// Where a service is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for its dependencies.
    Waiting,
    /// Being started; `spawned` once its process of this run exists.
    Starting { spawned: bool },
    /// Ready since `since`; `daemonized`: its leader exited 0 and left its tree running, so the
    /// run lasts as long as its keeper.
    Ready { since: Instant, daemonized: bool },
    /// Ended; started again at `at`.
    Restarting { at: Instant },
    /// Being stopped.
    Stopping,
    /// Ended with a failure and is not restarted.
    Crashed,
    /// Could not be started, never became ready, or was given up.
    Failed,
    /// Ended successfully and is not restarted.
    Exited,
    /// A task that ran to completion.
    Completed,
    /// Stopped (by the stack's stop, or outside the supervisor).
    Stopped,
}

impl Phase {
    /// The phase as `reaper ps` shows it.
    pub(super) fn status(self) -> ServicePhase {
        match self {
            Phase::Waiting => ServicePhase::Waiting,
            Phase::Starting { .. } => ServicePhase::Starting,
            Phase::Ready { .. } => ServicePhase::Ready,
            Phase::Restarting { .. } => ServicePhase::Restarting,
            Phase::Stopping => ServicePhase::Stopping,
            Phase::Crashed => ServicePhase::Crashed,
            Phase::Failed => ServicePhase::Failed,
            Phase::Exited => ServicePhase::Exited,
            Phase::Completed => ServicePhase::Completed,
            Phase::Stopped => ServicePhase::Stopped,
        }
    }

    /// Ended, and nothing brings it back by itself.
    pub(super) fn terminal(self) -> bool {
        matches!(
            self,
            Phase::Exited | Phase::Completed | Phase::Crashed | Phase::Failed | Phase::Stopped
        )
    }
}

/// The worker busy with a service; while one is, nothing else is started for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Job {
    /// Starting it and waiting for its readiness (or, for a task, its end).
    Launch,
    /// Deciding what the end of its run means.
    ExitCheck,
    /// Stopping it for a restart on file change.
    RestartOnChange,
}

/// One service of the stack.
#[derive(Debug)]
pub(super) struct ServiceModel {
    pub(super) spec: Service,
    pub(super) phase: Phase,
    /// When `phase` last changed (RFC 3339).
    pub(super) since: String,
    pub(super) job: Option<Job>,
    /// The current run.
    pub(super) record: Option<Record>,
    /// The port it actually got (after a fallback it differs from the declared one).
    pub(super) port: Option<u16>,
    /// Restarts of this service in all.
    pub(super) restarts: u32,
    /// Restarts since it last ran long enough: what `max_restarts` and the backoff count.
    pub(super) consecutive: u32,
    pub(super) ready_after: Option<Duration>,
    /// It has been ready (or completed) once: the stack is up when every service has.
    pub(super) been_ready: bool,
    pub(super) last_exit: Option<String>,
    pub(super) message: Option<String>,
    /// A file changed while it could not be restarted: restart it once it can.
    pub(super) pending_trigger: Option<String>,
    /// The file whose change caused the last restart.
    pub(super) last_trigger: Option<String>,
}

impl ServiceModel {
    pub(super) fn new(spec: Service) -> ServiceModel {
        ServiceModel {
            spec,
            phase: Phase::Waiting,
            since: now_rfc3339(),
            job: None,
            record: None,
            port: None,
            restarts: 0,
            consecutive: 0,
            ready_after: None,
            been_ready: false,
            last_exit: None,
            message: None,
            pending_trigger: None,
            last_trigger: None,
        }
    }

    pub(super) fn name(&self) -> &str {
        &self.spec.name
    }

    /// Moves to `phase`; `since` changes only when the phase shown does.
    pub(super) fn set(&mut self, phase: Phase) {
        if self.phase.status() != phase.status() {
            self.since = now_rfc3339();
        }
        self.phase = phase;
    }

    /// Takes `record` as its current run.
    pub(super) fn adopt(&mut self, record: Record) {
        self.port = record.port.or(self.port);
        self.record = Some(record);
    }

    /// Its run is over.
    pub(super) fn forget_run(&mut self) {
        self.record = None;
    }

    /// Its entry in the status file.
    pub(super) fn entry(&self) -> ServiceEntry {
        let port = self.port.or(self.spec.port);
        ServiceEntry {
            name: self.spec.name.clone(),
            state: self.phase.status(),
            pid: self.record.as_ref().map(|r| r.leader.pid),
            run_id: self.record.as_ref().map(|r| r.run_id.clone()),
            restarts: self.restarts,
            port,
            probe: self.spec.probe(port).map(|p| p.to_string()),
            depends_on: self.spec.depends_on.clone(),
            stop_signal: self.spec.stop_signal.to_string(),
            stop_timeout_ms: self.spec.stop_timeout.as_millis() as u64,
            since: self.since.clone(),
            ready_after_ms: self.ready_after.map(|d| d.as_millis() as u64),
            last_exit: self.last_exit.clone(),
            message: self.message.clone(),
            last_trigger: self.last_trigger.clone(),
        }
    }
}

/// The stack is being stopped.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stopping {
    pub(super) began: Instant,
    /// A second interrupt forced it.
    pub(super) forced: bool,
    /// The stop plan runs (it starts once no worker is busy).
    pub(super) plan_started: bool,
}

/// The whole stack.
#[derive(Debug)]
pub(super) struct StackModel {
    /// In dependency order: a service comes after what it depends on.
    pub(super) services: Vec<ServiceModel>,
    /// The dependency levels, first to start first.
    pub(super) levels: Vec<Vec<String>>,
    pub(super) phase: StackPhase,
    pub(super) began: Instant,
    pub(super) stopping: Option<Stopping>,
    /// Every service is stopped and reported.
    pub(super) finished: bool,
    /// Services that failed for good.
    pub(super) failures: usize,
    /// Why the stack was aborted (a service failed while it was starting).
    pub(super) abort_message: Option<String>,
    pub(super) ci: CiRun,
    /// Why the stack must stop, decided while handling an event, acted on at the next tick.
    pub(super) stop_request: Option<String>,
    /// File changes not acted on yet: service index and path.
    pub(super) triggers: Vec<(usize, String)>,
    /// The status file is out of date.
    pub(super) dirty: bool,
}

impl StackModel {
    /// The stack of `services` (in dependency order, as `levels` concatenated), all waiting.
    pub(super) fn new(
        services: Vec<Service>,
        levels: Vec<Vec<String>>,
        ci: CiRun,
        began: Instant,
    ) -> StackModel {
        StackModel {
            services: services.into_iter().map(ServiceModel::new).collect(),
            levels,
            phase: StackPhase::Starting,
            began,
            stopping: None,
            finished: false,
            failures: 0,
            abort_message: None,
            ci,
            stop_request: None,
            triggers: Vec::new(),
            dirty: true,
        }
    }

    pub(super) fn names(&self) -> Vec<String> {
        self.services.iter().map(|s| s.spec.name.clone()).collect()
    }

    pub(super) fn index_of(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.spec.name == name)
    }

    /// The runs whose end the loop must notice: ready services no worker is busy with, each with
    /// whether its run lasts as long as its keeper (it daemonized) rather than its leader.
    pub(super) fn watched(&self) -> impl Iterator<Item = (usize, &Record, bool)> {
        self.services
            .iter()
            .enumerate()
            .filter(|_| self.stopping.is_none())
            .filter_map(|(index, svc)| match svc.phase {
                Phase::Ready { daemonized, .. } if svc.job.is_none() => {
                    Some((index, svc.record.as_ref()?, daemonized))
                }
                _ => None,
            })
    }

    /// Services stopped outside the supervisor, whose record may come back (someone started
    /// the service again with the stack's record): the supervisor then adopts the new run.
    pub(super) fn stopped_outside(&self) -> impl Iterator<Item = (usize, &str)> {
        self.services
            .iter()
            .enumerate()
            .filter(|_| self.stopping.is_none())
            .filter(|(_, svc)| svc.phase == Phase::Stopped && svc.job.is_none())
            .map(|(index, svc)| (index, svc.name()))
    }

    /// The services' entries for the status file.
    pub(super) fn entries(&self) -> Vec<ServiceEntry> {
        self.services.iter().map(ServiceModel::entry).collect()
    }
}
