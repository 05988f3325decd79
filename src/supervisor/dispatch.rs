//! The supervisor's decisions: [`handle`] takes the model and one [`Event`] (a signal, a front
//! end's request, a worker's result, a tick) and returns the [`Effect`]s the loop must carry out
//! (print, start a worker, begin or force the stop, write the status file). It never touches a
//! process or a file, so scheduling, restarts with backoff, readiness results, dependency
//! conditions and CI decisions are tested here without any.

use std::time::{Duration, Instant};

use super::depends::{self, DependencyState};
use super::link::Request;
use super::model::{Job, Phase, StackModel, Stopping};
use super::stop::StopPlan;
use super::worker::{Exit, Launch, stop_options};
use crate::service::describe_exit;
use crate::signal::Signal;
use crate::stack::status::StackPhase;
use crate::stack::{RestartPolicy, Service, ServiceKind};
use crate::state::Record;
use crate::terminate::StopReport;
use crate::units::format_duration;

/// What happened.
#[derive(Debug)]
pub(super) enum Event {
    /// SIGINT, SIGTERM or SIGHUP.
    Signal(Signal),
    /// A front end asks for something.
    Request(Request),
    /// The process of service `index`'s new run exists.
    Spawned(usize, Box<Record>),
    /// A watched file of service `index` changed.
    FileChanged(usize, String),
    /// The services were stopped for a restart on file change (with notes to print).
    RestartStopped(Vec<usize>, Vec<String>),
    /// A launch ended: ready, completed, failed or aborted.
    Launched(usize, Launch),
    /// What the end of service `index`'s run means.
    ExitHandled(usize, Exit),
    /// A record of service `index`, which was stopped outside the supervisor, is back.
    RecordAppeared(usize, Box<Record>),
    /// Services were stopped by the stack's stop plan (each with the signal used).
    Stopped(Vec<(StopReport, Signal)>),
    /// The stop plan is done.
    StopFinished,
    /// The forced stop ended this many processes.
    ForceKilled(usize),
    /// Time passes; the runs of these services (indices from [`StackModel::watched`]) ended.
    Tick { now: Instant, ended: Vec<usize> },
}

/// What the loop must do.
#[derive(Debug)]
pub(super) enum Effect {
    /// Print a line (or several) of the supervisor's own, after the output the services have
    /// logged so far: a service's line (the one that made it ready, its last words before a
    /// crash) comes before what reaper says of it.
    Print(String),
    /// The stack begins to stop: tell the workers, and give the terminal back (a front end).
    BeginStop,
    /// Start service `index` from `spec` (its env carrying its dependencies' ports).
    Launch { index: usize, spec: Box<Service> },
    /// Find out what the end of service `index`'s run `record` means.
    HandleExit {
        index: usize,
        spec: Box<Service>,
        record: Box<Record>,
        daemonized: bool,
    },
    /// Stop these services (index, spec, port), dependents first, for a restart on change.
    RestartOnChange(Vec<(usize, Service, Option<u16>)>),
    /// Print the output service `index` wrote so far, including what its keeper, now gone, left
    /// unaccounted for.
    DrainOutput(usize),
    /// Run the stop plan.
    StopStack(StopPlan),
    /// SIGKILL every process of the stack's services.
    ForceKill,
    /// Write the status file.
    WriteStatus,
}

/// Applies `event` to `model`; returns what to do, in order.
pub(super) fn handle(model: &mut StackModel, event: Event) -> Vec<Effect> {
    let mut effects = Vec::new();
    let out = &mut effects;
    match event {
        Event::Tick { now, ended } => tick(model, now, &ended, out),
        event => {
            model.dirty = true;
            match event {
                Event::Signal(signal) => interrupt(model, signal, out),
                Event::Request(Request::Interrupt) => interrupt(model, Signal::Int, out),
                Event::Request(Request::Start(name)) => start_again(model, &name, out),
                Event::Spawned(index, record) => {
                    if let Phase::Starting { spawned } = &mut model.services[index].phase {
                        *spawned = true;
                    }
                    model.ci.saw(&record);
                }
                Event::FileChanged(index, path) => model.triggers.push((index, path)),
                Event::RestartStopped(indices, notes) => {
                    restart_stopped(model, indices, notes, out)
                }
                Event::Launched(index, outcome) => launched(model, index, outcome, out),
                Event::ExitHandled(index, outcome) => exit_handled(model, index, outcome, out),
                Event::RecordAppeared(index, record) => record_appeared(model, index, *record, out),
                Event::Stopped(reports) => stopped(model, reports, out),
                Event::StopFinished => model.finished = true,
                Event::ForceKilled(killed) => out.push(Effect::Print(format!(
                    "SIGKILL ended {killed} process{}",
                    if killed == 1 { "" } else { "es" }
                ))),
                Event::Tick { .. } => unreachable!("handled above"),
            }
        }
    }
    effects
}

fn print(out: &mut Vec<Effect>, text: impl Into<String>) {
    out.push(Effect::Print(text.into()));
}

/// Starts the stack's stop (once): workers are told, every service not ended is stopping.
fn begin_stop(model: &mut StackModel, now: Instant, why: &str, out: &mut Vec<Effect>) {
    if model.stopping.is_some() {
        return;
    }
    model.stopping = Some(Stopping {
        began: now,
        forced: false,
        plan_started: false,
    });
    model.phase = StackPhase::Stopping;
    model.dirty = true;
    out.push(Effect::BeginStop);
    print(out, why);
    for svc in &mut model.services {
        if !svc.phase.terminal() {
            svc.set(Phase::Stopping);
        }
    }
}

/// A signal (or a front end's interrupt): the first stops the stack, the second forces it.
fn interrupt(model: &mut StackModel, signal: Signal, out: &mut Vec<Effect>) {
    let Some(stopping) = model.stopping.as_mut() else {
        let why = format!(
            "{signal} received: stopping {} in reverse dependency order (Ctrl-C again to force)",
            if model.services.len() == 1 {
                "the service"
            } else {
                "the services"
            }
        );
        begin_stop(model, Instant::now(), &why, out);
        return;
    };
    if !stopping.forced {
        stopping.forced = true;
        print(
            out,
            format!("{signal} received again: SIGKILL sent to the services of this stack"),
        );
        out.push(Effect::ForceKill);
    }
}

/// A front end asks to start `name` again: only a service that was stopped or ended.
fn start_again(model: &mut StackModel, name: &str, out: &mut Vec<Effect>) {
    let Some(index) = model.index_of(name) else {
        print(
            out,
            format!("cannot start {name}: this stack has no service of that name"),
        );
        return;
    };
    if model.stopping.is_some() {
        print(out, format!("cannot start {name}: the stack is stopping"));
        return;
    }
    let svc = &mut model.services[index];
    let startable = matches!(
        svc.phase,
        Phase::Stopped | Phase::Exited | Phase::Crashed | Phase::Failed
    );
    if !startable || svc.job.is_some() {
        print(
            out,
            format!(
                "cannot start {name}: it is {} (only a stopped or ended service can be started)",
                svc.phase.status().label()
            ),
        );
        return;
    }
    svc.restarts = 0;
    svc.consecutive = 0;
    svc.message = None;
    svc.set(Phase::Waiting);
    print(out, format!("starting {name} again"));
}

fn restart_stopped(
    model: &mut StackModel,
    indices: Vec<usize>,
    notes: Vec<String>,
    out: &mut Vec<Effect>,
) {
    for note in notes {
        print(out, note);
    }
    let stopping = model.stopping.is_some();
    for index in indices {
        let svc = &mut model.services[index];
        svc.job = None;
        svc.forget_run();
        if stopping {
            svc.set(Phase::Stopped);
        } else {
            svc.restarts += 1;
            svc.set(Phase::Waiting);
        }
    }
}

/// Counts one more restart of service `index` and schedules it after the backoff; returns when,
/// in words: `in 200ms (restart 2 of 5)`.
fn schedule_restart(model: &mut StackModel, index: usize, now: Instant) -> String {
    let svc = &mut model.services[index];
    let delay = backoff_delay(svc.spec.backoff, svc.spec.max_backoff, svc.consecutive);
    svc.consecutive += 1;
    svc.restarts += 1;
    svc.set(Phase::Restarting { at: now + delay });
    format!(
        "in {} (restart {} of {})",
        format_duration(delay),
        svc.consecutive,
        svc.spec.max_restarts
    )
}

fn launched(model: &mut StackModel, index: usize, outcome: Launch, out: &mut Vec<Effect>) {
    let now = Instant::now();
    let stopping = model.stopping.is_some();
    let svc = &mut model.services[index];
    svc.job = None;
    match outcome {
        Launch::Ready {
            record,
            port,
            ready_after,
            daemonized,
            notes,
        } => {
            for note in notes {
                print(out, note);
            }
            svc.port = port;
            svc.adopt(*record);
            if stopping {
                return;
            }
            svc.ready_after = Some(ready_after);
            svc.message = None;
            svc.been_ready = true;
            svc.set(Phase::Ready {
                since: now,
                daemonized,
            });
            let pid = svc.record.as_ref().map_or(0, |r| r.leader.pid);
            let port = svc.port.map(|p| format!(", port {p}")).unwrap_or_default();
            let probe = svc
                .spec
                .probe(svc.port)
                .map(|p| format!(", {p}"))
                .unwrap_or_default();
            print(
                out,
                format!(
                    "{} is ready after {} (pid {pid}{port}{probe})",
                    svc.spec.name,
                    format_duration(ready_after),
                ),
            );
            if let Some(path) = svc.pending_trigger.take() {
                model.triggers.push((index, path));
            }
        }
        Launch::Aborted => {}
        Launch::Completed { ran_for, notes } => {
            for note in notes {
                print(out, note);
            }
            svc.been_ready = true;
            svc.last_exit = Some(describe_exit(Some(0), None));
            svc.set(Phase::Completed);
            print(
                out,
                format!(
                    "task {} completed after {}",
                    svc.spec.name,
                    format_duration(ran_for)
                ),
            );
            let ci_stop = model.ci.ended(&svc.spec.name, 0, true);
            model.stop_request = ci_stop.or(model.stop_request.take());
        }
        Launch::Failed {
            why,
            retry,
            notes,
            code,
        } => {
            for note in notes {
                print(out, note);
            }
            svc.forget_run();
            svc.message = Some(why.lines().next().unwrap_or_default().to_string());
            if stopping {
                svc.set(Phase::Failed);
                print(out, why);
                return;
            }
            let may_restart = retry && svc.spec.restart != RestartPolicy::No;
            if may_restart && svc.consecutive < svc.spec.max_restarts {
                let name = svc.spec.name.clone();
                let when = schedule_restart(model, index, now);
                print(out, format!("{why}\nrestarting {name} {when}"));
                return;
            }
            model.failures += 1;
            svc.set(Phase::Failed);
            if may_restart {
                svc.message = Some(format!(
                    "gave up after {} restarts: {}",
                    svc.consecutive,
                    svc.message.clone().unwrap_or_default()
                ));
            }
            print(out, why);
            let ci_stop = model.ci.ended(&svc.spec.name, code.unwrap_or(1), false);
            if model.phase == StackPhase::Starting {
                let message = format!(
                    "{} failed{}{}",
                    svc.spec.name,
                    if svc.spec.kind == ServiceKind::Task {
                        ""
                    } else {
                        " to start"
                    },
                    if may_restart {
                        format!(" after {} restarts", svc.consecutive)
                    } else {
                        String::new()
                    }
                );
                model.stop_request = Some(format!("{message}: stopping the stack"));
                model.abort_message = Some(message);
            } else if ci_stop.is_some() {
                model.stop_request = ci_stop;
            } else {
                print(
                    out,
                    format!("{} failed and is not restarted", svc.spec.name),
                );
            }
        }
    }
}

fn exit_handled(model: &mut StackModel, index: usize, outcome: Exit, out: &mut Vec<Effect>) {
    let now = Instant::now();
    let stopping = model.stopping.is_some();
    let svc = &mut model.services[index];
    svc.job = None;
    match outcome {
        Exit::Adopted(record) => {
            print(
                out,
                format!(
                    "{} was restarted outside the supervisor (now pid {})",
                    svc.spec.name, record.leader.pid
                ),
            );
            svc.adopt(*record);
            svc.restarts += 1;
            if let Phase::Ready { since, daemonized } = &mut svc.phase {
                *since = now;
                *daemonized = false;
            }
        }
        Exit::Gone => {
            svc.forget_run();
            if !stopping {
                print(
                    out,
                    format!("{} was stopped outside the supervisor", svc.spec.name),
                );
            }
            svc.set(Phase::Stopped);
        }
        Exit::Daemonized => {
            if let Phase::Ready { daemonized, .. } = &mut svc.phase {
                *daemonized = true;
            }
            if let Some(record) = &svc.record {
                print(
                    out,
                    format!(
                        "pid {} of {} exited 0 and left processes running (it daemonized); reaper tracks them",
                        record.leader.pid, svc.spec.name
                    ),
                );
            }
        }
        Exit::Ended {
            status,
            failure,
            code,
        } => {
            let ready_since = match svc.phase {
                Phase::Ready { since, .. } => Some(since),
                _ => None,
            };
            svc.forget_run();
            svc.last_exit = Some(status.clone());
            if stopping {
                svc.set(Phase::Stopped);
                return;
            }
            let stable = ready_since.is_some_and(|at| now - at >= svc.spec.max_backoff);
            if stable {
                svc.consecutive = 0;
            }
            let restart = match svc.spec.restart {
                RestartPolicy::No => false,
                RestartPolicy::OnFailure => failure,
                RestartPolicy::Always => true,
            };
            if restart && svc.consecutive < svc.spec.max_restarts {
                let name = svc.spec.name.clone();
                let when = schedule_restart(model, index, now);
                print(out, format!("{name} exited ({status}); restarting {when}"));
                return;
            }
            if restart {
                model.failures += 1;
                svc.message = Some(format!(
                    "gave up after {} restarts; last exit: {status}",
                    svc.consecutive
                ));
                svc.set(Phase::Failed);
                print(
                    out,
                    format!(
                        "{} exited ({status}); giving up after {} restarts",
                        svc.spec.name, svc.consecutive
                    ),
                );
            } else if failure {
                model.failures += 1;
                svc.message = Some(format!("crashed: {status}"));
                svc.set(Phase::Crashed);
                print(
                    out,
                    format!(
                        "{} crashed ({status}) and is not restarted (restart = \"{}\")",
                        svc.spec.name,
                        match svc.spec.restart {
                            RestartPolicy::No => "no",
                            RestartPolicy::OnFailure => "on-failure",
                            RestartPolicy::Always => "always",
                        }
                    ),
                );
            } else {
                svc.set(Phase::Exited);
                print(out, format!("{} exited ({status})", svc.spec.name));
            }
            let ci_stop = model.ci.ended(&svc.spec.name, code, false);
            model.stop_request = ci_stop.or(model.stop_request.take());
        }
    }
}

/// A service stopped outside the supervisor was started again outside it, with the stack's
/// record: as with a restart outside the supervisor, its new run is adopted.
fn record_appeared(model: &mut StackModel, index: usize, record: Record, out: &mut Vec<Effect>) {
    let svc = &mut model.services[index];
    if model.stopping.is_some() || svc.phase != Phase::Stopped || svc.job.is_some() {
        return;
    }
    print(
        out,
        format!(
            "{} was restarted outside the supervisor (now pid {})",
            svc.spec.name, record.leader.pid
        ),
    );
    svc.adopt(record);
    svc.restarts += 1;
    svc.message = None;
    svc.set(Phase::Ready {
        since: Instant::now(),
        daemonized: false,
    });
}

fn stopped(model: &mut StackModel, reports: Vec<(StopReport, Signal)>, out: &mut Vec<Effect>) {
    for (report, signal) in reports {
        if let Some(index) = model.index_of(&report.name) {
            out.push(Effect::DrainOutput(index));
            let svc = &mut model.services[index];
            svc.forget_run();
            if !svc.phase.terminal() {
                svc.set(Phase::Stopped);
            }
        }
        print(out, report.summary(signal));
    }
}

/// What happens as time passes: due restarts, launches whose dependencies are met, the CI
/// timeout, restarts on change, the stack's readiness, its end, and its stop plan.
fn tick(model: &mut StackModel, now: Instant, ended: &[usize], out: &mut Vec<Effect>) {
    if model.stopping.is_none() && model.stop_request.is_none() {
        model.stop_request = model.ci.timed_out(now);
    }
    // Changes seen while the stack stops are dropped.
    let triggers = std::mem::take(&mut model.triggers);
    if model.stopping.is_none() {
        for (index, path) in triggers {
            if let Some(services) = restart_on_change(model, index, path, out) {
                model.dirty = true;
                out.push(Effect::RestartOnChange(services));
            }
        }
    }
    if let Some(why) = model.stop_request.take() {
        begin_stop(model, now, &why, out);
    }
    if model.stopping.is_none() {
        for &index in ended {
            let svc = &mut model.services[index];
            let Phase::Ready { daemonized, .. } = svc.phase else {
                continue;
            };
            let Some(record) = svc.record.clone().filter(|_| svc.job.is_none()) else {
                continue;
            };
            svc.job = Some(Job::ExitCheck);
            out.push(Effect::HandleExit {
                index,
                spec: Box::new(svc.spec.clone()),
                record: Box::new(record),
                daemonized,
            });
        }
        for svc in &mut model.services {
            if matches!(svc.phase, Phase::Restarting { at } if at <= now) {
                svc.set(Phase::Waiting);
                model.dirty = true;
            }
        }
        for index in 0..model.services.len() {
            if let Some(spec) = launchable(model, index) {
                let svc = &mut model.services[index];
                svc.job = Some(Job::Launch);
                svc.set(Phase::Starting { spawned: false });
                model.dirty = true;
                out.push(Effect::Launch {
                    index,
                    spec: Box::new(spec),
                });
            }
        }
    }
    // The stack is up once every service has been ready (a service that crashed since is
    // restarted or reported on its own).
    if model.phase == StackPhase::Starting && model.services.iter().all(|s| s.been_ready) {
        model.phase = StackPhase::Running;
        model.dirty = true;
        let count = model.services.len();
        print(
            out,
            format!(
                "all {count} service{} ready after {}",
                if count == 1 { " is" } else { "s are" },
                format_duration(now - model.began)
            ),
        );
    }
    // Every service ended by itself: stop (sweeping whatever is left) and exit. A service
    // stopped outside the supervisor (`reaper stop`, the UI's `s`) did not end by itself: it
    // waits for whoever stopped it to start it again, and so does the stack.
    if model.stopping.is_none()
        && model
            .services
            .iter()
            .all(|s| s.phase.terminal() && s.phase != Phase::Stopped && s.job.is_none())
    {
        begin_stop(model, now, "every service has ended", out);
    }
    // Once no worker is busy, stop in reverse dependency order.
    let idle = model.services.iter().all(|s| s.job.is_none());
    if model.stopping.is_some_and(|s| idle && !s.plan_started) {
        let plan = stop_plan(model);
        if let Some(stopping) = model.stopping.as_mut() {
            stopping.plan_started = true;
        }
        out.push(Effect::StopStack(plan));
    }
    if std::mem::take(&mut model.dirty) {
        out.push(Effect::WriteStatus);
    }
}

/// Service `index`'s spec to launch it with (its env carrying each dependency's actual port as
/// `NAME_PORT`, which after a fallback differs from the declared one), if it waits and its
/// dependencies' conditions are met.
fn launchable(model: &StackModel, index: usize) -> Option<Service> {
    let svc = &model.services[index];
    if svc.job.is_some() || svc.phase != Phase::Waiting {
        return None;
    }
    let find = |name: &str| model.services.iter().find(|s| s.spec.name == name);
    let ready = svc.spec.conditions.iter().all(|(dep, condition)| {
        find(dep).is_some_and(|s| {
            depends::met(
                *condition,
                DependencyState {
                    phase: s.phase.status(),
                    spawned: matches!(s.phase, Phase::Starting { spawned: true }),
                },
            )
        })
    });
    if !ready {
        return None;
    }
    let dependency_ports: Vec<(String, String)> = svc
        .spec
        .depends_on
        .iter()
        .filter_map(|dep| Some((port_variable(dep), find(dep)?.port?.to_string())))
        .collect();
    let mut spec = svc.spec.clone();
    spec.env.splice(0..0, dependency_ports);
    Some(spec)
}

/// The stop plan: the levels in reverse dependency order, each service with its own signal
/// and timeout.
fn stop_plan(model: &StackModel) -> StopPlan {
    model
        .levels
        .iter()
        .rev()
        .map(|level| {
            level
                .iter()
                .filter_map(|name| model.services.iter().find(|s| s.spec.name == *name))
                .map(|svc| (svc.spec.name.clone(), stop_options(&svc.spec)))
                .collect()
        })
        .collect()
}

/// A watched file of service `index` changed: marks it (and, with `restart_dependents`, the
/// services that depend on it) as stopping and returns them, dependents first, each with the
/// port it had. A service that is busy or still starting is restarted once it is ready instead.
fn restart_on_change(
    model: &mut StackModel,
    index: usize,
    path: String,
    out: &mut Vec<Effect>,
) -> Option<Vec<(usize, Service, Option<u16>)>> {
    let svcs = &mut model.services;
    let svc = &mut svcs[index];
    let settled =
        svc.job.is_none() && (matches!(svc.phase, Phase::Ready { .. }) || svc.phase.terminal());
    if !settled {
        svc.pending_trigger.get_or_insert(path);
        return None;
    }
    let mut set = vec![index];
    if svc
        .spec
        .watch
        .as_ref()
        .is_some_and(|w| w.restart_dependents)
    {
        // The services are in dependency order: a dependent comes after what it depends on.
        for later in index + 1..svcs.len() {
            let depends = svcs[later]
                .spec
                .depends_on
                .iter()
                .any(|dep| set.iter().any(|&i| svcs[i].spec.name == *dep));
            if depends && svcs[later].job.is_none() {
                set.push(later);
            }
        }
    }
    let names: Vec<&str> = set.iter().map(|&i| svcs[i].spec.name.as_str()).collect();
    print(
        out,
        format!("{path} changed: restarting {}", names.join(", ")),
    );
    let mut services = Vec::new();
    for &i in set.iter().rev() {
        let svc = &mut svcs[i];
        svc.job = Some(Job::RestartOnChange);
        svc.pending_trigger = None;
        svc.last_trigger = Some(path.clone());
        svc.set(Phase::Stopping);
        services.push((i, svc.spec.clone(), svc.port));
    }
    Some(services)
}

/// Backoff before restart number `consecutive + 1`: `backoff` doubled per consecutive restart,
/// at most `max_backoff`.
pub fn backoff_delay(backoff: Duration, max_backoff: Duration, consecutive: u32) -> Duration {
    backoff
        .checked_mul(1u32.checked_shl(consecutive.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(max_backoff)
        .min(max_backoff)
}

/// The variable that carries a dependency's port: `NAME_PORT`, the name upper-cased with every
/// character other than a letter or digit turned into `_` (`api` → `API_PORT`).
pub fn port_variable(service: &str) -> String {
    let name: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}_PORT")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::stack::DependencyCondition;
    use crate::supervisor::ci::{CiOptions, CiRun};

    fn spec(name: &str, depends_on: &[&str]) -> Service {
        Service {
            name: name.into(),
            argv: vec!["true".into()],
            cwd: PathBuf::from("/"),
            port: None,
            fallback: false,
            env: Vec::new(),
            env_files: Vec::new(),
            depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
            ready: None,
            ready_timeout: Duration::from_secs(10),
            restart: RestartPolicy::OnFailure,
            max_restarts: 2,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(60),
            stop_signal: Signal::Term,
            stop_timeout: Duration::from_secs(5),
            log_timestamps: false,
            line: 1,
            profiles: Vec::new(),
            replica_of: None,
            kind: ServiceKind::Service,
            conditions: depends_on
                .iter()
                .map(|d| (d.to_string(), DependencyCondition::Healthy))
                .collect::<BTreeMap<_, _>>(),
            watch: None,
        }
    }

    /// A stack of `specs`, one dependency level each, in the order given.
    fn stack_with(specs: Vec<Service>, ci: CiOptions) -> StackModel {
        let levels = specs.iter().map(|s| vec![s.name.clone()]).collect();
        let now = Instant::now();
        StackModel::new(specs, levels, CiRun::new(&ci, now), now)
    }

    fn stack(specs: Vec<Service>) -> StackModel {
        stack_with(specs, CiOptions::default())
    }

    fn record(name: &str, pid: u32) -> Record {
        serde_json::from_value(serde_json::json!({
            "schema": 1,
            "name": name,
            "run_id": format!("run-{pid}"),
            "leader": {"pid": pid, "start_time": 1, "boot_id": "boot"},
            "keeper": null,
            "argv": ["true"],
            "cwd": "/",
            "env_names": [],
            "env_files": [],
            "port": null,
            "log": format!("/logs/{name}.log"),
            "started_at": "2026-12-06T00:00:00Z",
            "marker": "marker",
        }))
        .expect("a valid record")
    }

    fn prints(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Print(text) => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    fn launches(effects: &[Effect]) -> Vec<usize> {
        effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Launch { index, .. } => Some(*index),
                _ => None,
            })
            .collect()
    }

    fn tick_at(model: &mut StackModel, now: Instant, ended: Vec<usize>) -> Vec<Effect> {
        handle(model, Event::Tick { now, ended })
    }

    fn tick(model: &mut StackModel) -> Vec<Effect> {
        tick_at(model, Instant::now(), Vec::new())
    }

    fn ready(model: &mut StackModel, index: usize, pid: u32) -> Vec<Effect> {
        let name = model.services[index].name().to_string();
        let outcome = Launch::Ready {
            record: Box::new(record(&name, pid)),
            port: None,
            ready_after: Duration::from_millis(10),
            daemonized: false,
            notes: Vec::new(),
        };
        handle(model, Event::Launched(index, outcome))
    }

    fn ended(model: &mut StackModel, index: usize, code: u8) -> Vec<Effect> {
        // The loop saw the run end: the dispatcher asks for the exit to be looked into.
        let asked = tick_at(model, Instant::now(), vec![index]);
        assert!(
            asked
                .iter()
                .any(|e| matches!(e, Effect::HandleExit { index: i, .. } if *i == index)),
            "{asked:?}"
        );
        let outcome = Exit::Ended {
            status: format!("exit code {code}"),
            failure: code != 0,
            code,
        };
        handle(model, Event::ExitHandled(index, outcome))
    }

    /// Starts every service of `model` (in order) and makes it ready.
    fn start_all(model: &mut StackModel) {
        loop {
            let effects = tick(model);
            if prints(&effects).iter().any(|p| p.starts_with("all ")) {
                return;
            }
            let started = launches(&effects);
            assert!(!started.is_empty(), "nothing starts: {effects:?}");
            for index in started {
                ready(model, index, 100 + index as u32);
            }
        }
    }

    fn position(effects: &[Effect], wanted: fn(&Effect) -> bool) -> usize {
        effects
            .iter()
            .position(wanted)
            .unwrap_or_else(|| panic!("not in {effects:?}"))
    }

    #[test]
    fn a_service_starts_once_its_dependencies_are_ready() {
        let mut model = stack(vec![spec("db", &[]), spec("web", &["db"])]);
        assert_eq!(launches(&tick(&mut model)), [0]);
        assert_eq!(model.services[0].phase.status().label(), "starting");
        assert!(launches(&tick(&mut model)).is_empty(), "web waits for db");
        let said = prints(&ready(&mut model, 0, 41));
        assert_eq!(said, ["db is ready after 10ms (pid 41)"]);
        assert_eq!(launches(&tick(&mut model)), [1]);
        ready(&mut model, 1, 42);
        let said = prints(&tick(&mut model));
        assert!(
            said[0].starts_with("all 2 services are ready after "),
            "{said:?}"
        );
        assert_eq!(model.phase, StackPhase::Running);
    }

    #[test]
    fn a_started_condition_needs_only_the_dependency_s_process() {
        let mut db = spec("web", &["db"]);
        db.conditions
            .insert("db".into(), DependencyCondition::Started);
        let mut model = stack(vec![spec("db", &[]), db]);
        assert_eq!(launches(&tick(&mut model)), [0]);
        handle(&mut model, Event::Spawned(0, Box::new(record("db", 41))));
        assert_eq!(launches(&tick(&mut model)), [1]);
    }

    #[test]
    fn restarts_back_off_and_give_up_after_max_restarts() {
        let mut model = stack(vec![spec("web", &[]), spec("worker", &[])]);
        start_all(&mut model);
        for (restart, delay) in [(1, 100), (2, 200)] {
            let said = prints(&ended(&mut model, 0, 3));
            let delay = format_duration(Duration::from_millis(delay));
            assert_eq!(
                said,
                [format!(
                    "web exited (exit code 3); restarting in {delay} (restart {restart} of 2)"
                )]
            );
            let Phase::Restarting { at } = model.services[0].phase else {
                panic!("{:?}", model.services[0].phase);
            };
            assert!(
                launches(&tick(&mut model)).is_empty(),
                "not before the delay"
            );
            assert_eq!(launches(&tick_at(&mut model, at, Vec::new())), [0]);
            ready(&mut model, 0, 200 + restart);
        }
        assert_eq!(model.services[0].restarts, 2);
        let said = prints(&ended(&mut model, 0, 3));
        assert_eq!(
            said,
            ["web exited (exit code 3); giving up after 2 restarts"]
        );
        assert_eq!(model.services[0].phase, Phase::Failed);
        assert_eq!(model.failures, 1);
        assert_eq!(
            model.services[0].message.as_deref(),
            Some("gave up after 2 restarts; last exit: exit code 3")
        );
    }

    #[test]
    fn on_failure_restarts_only_failures_and_always_restarts_clean_exits_too() {
        let mut always = spec("always", &[]);
        always.restart = RestartPolicy::Always;
        let mut model = stack(vec![spec("on-failure", &[]), always, spec("keep", &[])]);
        start_all(&mut model);
        assert_eq!(
            prints(&ended(&mut model, 0, 0)),
            ["on-failure exited (exit code 0)"]
        );
        assert_eq!(model.services[0].phase, Phase::Exited);
        let said = prints(&ended(&mut model, 1, 0));
        assert!(said[0].starts_with("always exited (exit code 0); restarting in "));
        assert!(matches!(model.services[1].phase, Phase::Restarting { .. }));
        assert_eq!(model.failures, 0);
    }

    #[test]
    fn restart_no_reports_a_crash() {
        let mut once = spec("once", &[]);
        once.restart = RestartPolicy::No;
        let mut model = stack(vec![once, spec("keep", &[])]);
        start_all(&mut model);
        assert_eq!(
            prints(&ended(&mut model, 0, 2)),
            ["once crashed (exit code 2) and is not restarted (restart = \"no\")"]
        );
        assert_eq!(model.services[0].phase, Phase::Crashed);
        assert_eq!(model.failures, 1);
    }

    #[test]
    fn a_failure_while_starting_aborts_the_stack_and_stops_it_in_reverse_order() {
        let mut model = stack(vec![
            spec("db", &[]),
            spec("api", &["db"]),
            spec("web", &["api"]),
        ]);
        tick(&mut model);
        ready(&mut model, 0, 41);
        assert_eq!(launches(&tick(&mut model)), [1]);
        let failed = Launch::Failed {
            why: "api exited during start-up (exit code 1)".into(),
            retry: false,
            notes: Vec::new(),
            code: Some(1),
        };
        let said = prints(&handle(&mut model, Event::Launched(1, failed)));
        assert_eq!(said, ["api exited during start-up (exit code 1)"]);
        let effects = tick(&mut model);
        let begin = position(&effects, |e| matches!(e, Effect::BeginStop));
        let why = position(&effects, |e| matches!(e, Effect::Print(_)));
        assert!(
            begin < why,
            "the terminal is given back before the stop is printed"
        );
        assert_eq!(
            prints(&effects),
            ["api failed to start: stopping the stack"]
        );
        assert!(launches(&effects).is_empty(), "web is never started");
        let Some(Effect::StopStack(plan)) =
            effects.iter().find(|e| matches!(e, Effect::StopStack(_)))
        else {
            panic!("no stop plan in {effects:?}");
        };
        let order: Vec<&str> = plan
            .iter()
            .flatten()
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(order, ["web", "api", "db"]);
        assert_eq!(model.abort_message.as_deref(), Some("api failed to start"));
        assert_eq!(model.services[2].phase, Phase::Stopping);
        assert_eq!(model.services[1].phase, Phase::Failed);
    }

    #[test]
    fn the_stop_plan_waits_for_busy_workers() {
        let mut model = stack(vec![spec("db", &[])]);
        tick(&mut model);
        let effects = handle(&mut model, Event::Signal(Signal::Term));
        assert!(matches!(effects[0], Effect::BeginStop));
        assert!(
            !tick(&mut model)
                .iter()
                .any(|e| matches!(e, Effect::StopStack(_))),
            "db is still being launched"
        );
        handle(&mut model, Event::Launched(0, Launch::Aborted));
        assert!(
            tick(&mut model)
                .iter()
                .any(|e| matches!(e, Effect::StopStack(_)))
        );
        assert!(
            !tick(&mut model)
                .iter()
                .any(|e| matches!(e, Effect::StopStack(_))),
            "once"
        );
        handle(&mut model, Event::StopFinished);
        assert!(model.finished);
    }

    #[test]
    fn a_second_interrupt_forces_and_a_third_changes_nothing() {
        let mut model = stack(vec![spec("db", &[]), spec("web", &["db"])]);
        start_all(&mut model);
        let first = handle(&mut model, Event::Signal(Signal::Int));
        assert!(matches!(first[0], Effect::BeginStop));
        assert_eq!(
            prints(&first),
            [
                "SIGINT received: stopping the services in reverse dependency order (Ctrl-C again to force)"
            ]
        );
        assert!(model.services.iter().all(|s| s.phase == Phase::Stopping));
        let second = handle(&mut model, Event::Signal(Signal::Int));
        assert_eq!(
            prints(&second),
            ["SIGINT received again: SIGKILL sent to the services of this stack"]
        );
        assert!(second.iter().any(|e| matches!(e, Effect::ForceKill)));
        let third = handle(&mut model, Event::Signal(Signal::Term));
        assert!(prints(&third).is_empty() && !third.iter().any(|e| matches!(e, Effect::ForceKill)));
    }

    #[test]
    fn a_front_end_interrupt_is_ctrl_c() {
        let mut by_signal = stack(vec![spec("db", &[])]);
        let mut by_request = stack(vec![spec("db", &[])]);
        for _ in 0..2 {
            let signal = handle(&mut by_signal, Event::Signal(Signal::Int));
            let request = handle(&mut by_request, Event::Request(Request::Interrupt));
            assert_eq!(format!("{signal:?}"), format!("{request:?}"));
        }
        assert!(by_request.stopping.is_some_and(|s| s.forced));
    }

    #[test]
    fn a_start_request_brings_back_only_a_stopped_or_ended_service() {
        let mut model = stack(vec![spec("db", &[]), spec("web", &[])]);
        start_all(&mut model);
        let said = prints(&handle(
            &mut model,
            Event::Request(Request::Start("web".into())),
        ));
        assert_eq!(
            said,
            ["cannot start web: it is ready (only a stopped or ended service can be started)"]
        );
        let said = prints(&handle(
            &mut model,
            Event::Request(Request::Start("nope".into())),
        ));
        assert_eq!(
            said,
            ["cannot start nope: this stack has no service of that name"]
        );
        // web is stopped outside the supervisor.
        tick_at(&mut model, Instant::now(), vec![1]);
        let said = prints(&handle(&mut model, Event::ExitHandled(1, Exit::Gone)));
        assert_eq!(said, ["web was stopped outside the supervisor"]);
        model.services[1].consecutive = 2;
        model.services[1].restarts = 5;
        let said = prints(&handle(
            &mut model,
            Event::Request(Request::Start("web".into())),
        ));
        assert_eq!(said, ["starting web again"]);
        assert_eq!(model.services[1].phase, Phase::Waiting);
        assert_eq!(
            (model.services[1].restarts, model.services[1].consecutive),
            (0, 0)
        );
        assert_eq!(launches(&tick(&mut model)), [1]);
        handle(&mut model, Event::Signal(Signal::Term));
        let said = prints(&handle(
            &mut model,
            Event::Request(Request::Start("web".into())),
        ));
        assert_eq!(said, ["cannot start web: the stack is stopping"]);
    }

    #[test]
    fn a_stack_whose_services_were_all_stopped_outside_waits_for_them() {
        let mut model = stack(vec![spec("web", &[])]);
        start_all(&mut model);
        tick_at(&mut model, Instant::now(), vec![0]);
        handle(&mut model, Event::ExitHandled(0, Exit::Gone));
        let effects = tick(&mut model);
        assert!(model.stopping.is_none(), "{effects:?}");
        assert!(!effects.iter().any(|e| matches!(e, Effect::BeginStop)));
        // An exit of its own ends the stack as before.
        let mut model = stack(vec![spec("web", &[])]);
        start_all(&mut model);
        tick_at(&mut model, Instant::now(), vec![0]);
        let ended = Exit::Ended {
            status: "exit code 0".into(),
            failure: false,
            code: 0,
        };
        handle(&mut model, Event::ExitHandled(0, ended));
        tick(&mut model);
        assert!(model.stopping.is_some());
    }

    #[test]
    fn a_record_back_after_a_stop_outside_is_adopted() {
        let mut model = stack(vec![spec("db", &[]), spec("web", &[])]);
        start_all(&mut model);
        assert_eq!(model.stopped_outside().count(), 0);
        tick_at(&mut model, Instant::now(), vec![1]);
        handle(&mut model, Event::ExitHandled(1, Exit::Gone));
        assert_eq!(model.stopped_outside().collect::<Vec<_>>(), [(1, "web")]);
        let said = prints(&handle(
            &mut model,
            Event::RecordAppeared(1, Box::new(record("web", 4242))),
        ));
        assert_eq!(
            said,
            ["web was restarted outside the supervisor (now pid 4242)"]
        );
        assert!(matches!(
            model.services[1].phase,
            Phase::Ready {
                daemonized: false,
                ..
            }
        ));
        assert_eq!(model.services[1].restarts, 1);
        let watched: Vec<u32> = model.watched().map(|(_, r, _)| r.leader.pid).collect();
        assert_eq!(watched, [100, 4242]);
        // A record seen again while the service runs is not adopted twice.
        let said = prints(&handle(
            &mut model,
            Event::RecordAppeared(1, Box::new(record("web", 4243))),
        ));
        assert!(said.is_empty());
    }

    #[test]
    fn exit_with_stops_the_stack_when_its_service_ends() {
        let mut task = spec("migrate", &[]);
        task.kind = ServiceKind::Task;
        let ci = CiOptions {
            exit_with: Some("migrate".into()),
            ..CiOptions::default()
        };
        let mut model = stack_with(vec![task, spec("web", &[])], ci);
        assert_eq!(launches(&tick(&mut model)), [0, 1]);
        let completed = Launch::Completed {
            ran_for: Duration::from_secs(1),
            notes: Vec::new(),
        };
        let said = prints(&handle(&mut model, Event::Launched(0, completed)));
        assert_eq!(said, ["task migrate completed after 1s"]);
        let said = prints(&tick(&mut model));
        assert_eq!(
            said,
            ["--exit-with migrate: migrate ended with exit code 0; stopping the stack"]
        );
        assert_eq!(model.ci.exit_code(1, &[]), 0);
    }
}
