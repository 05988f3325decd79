//! The supervisor's workers: jobs that block (starting a service and waiting for its readiness,
//! deciding what a leader's exit means) run on threads of their own and report back as
//! [`Event`]s, waking the loop.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use super::ci::exit_code;
use super::dispatch::Event;
use super::task;
use crate::containment::MarkerCache;
use crate::os::{self, Pinned, Waker};
use crate::ports;
use crate::service::{
    self, StartError, StartRequest, StopOptions, describe_exit, live_members, stop_records_locked,
};
use crate::stack::control::stop_names;
use crate::stack::probe::Probe;
use crate::stack::{Service, ServiceKind};
use crate::state::{Entry, ExitRecord, Record, StateDir};
use crate::units::format_duration;

/// Log rotation of stack services: size.
pub(super) const LOG_MAX_BYTES: u64 = 10 << 20;
/// Log rotation of stack services: files kept.
pub(super) const LOG_KEEP: u32 = 3;
/// How long to wait for the keeper's exit record after the leader exited.
pub(super) const EXIT_RECORD_WAIT: Duration = Duration::from_millis(1500);

/// What every worker shares: the state directory, the stack, and the flag that tells them the
/// stack is being stopped.
pub(super) struct Ctx {
    pub(super) state: StateDir,
    pub(super) stack_id: String,
    pub(super) stop: AtomicBool,
}

/// How a worker reports back: an event, and a wake-up of the loop.
#[derive(Clone)]
pub(super) struct Reply {
    pub(super) sender: mpsc::Sender<Event>,
    pub(super) waker: Waker,
}

impl Reply {
    pub(super) fn send(&self, event: Event) {
        let _ = self.sender.send(event);
        self.waker.wake();
    }
}

#[derive(Debug)]
pub(super) enum Launch {
    Ready {
        record: Box<Record>,
        port: Option<u16>,
        ready_after: Duration,
        daemonized: bool,
        notes: Vec<String>,
    },
    Completed {
        ran_for: Duration,
        notes: Vec<String>,
    },
    Failed {
        why: String,
        retry: bool,
        notes: Vec<String>,
        /// The exit code, where the run got as far as exiting.
        code: Option<u8>,
    },
    Aborted,
}

#[derive(Debug)]
pub(super) enum Exit {
    Adopted(Box<Record>),
    Gone,
    Daemonized,
    Ended {
        status: String,
        failure: bool,
        code: u8,
    },
}

pub(super) fn stop_options(spec: &Service) -> StopOptions {
    StopOptions {
        signal: spec.stop_signal,
        timeout: spec.stop_timeout,
    }
}

pub(super) fn holders_of(report: &ports::PortReport) -> String {
    let holders: Vec<String> = report
        .holders()
        .iter()
        .map(|o| {
            let command: String = o.command_line().chars().take(60).collect();
            match &o.service {
                Some(service) => format!("pid {} ({command}, service {service})", o.pid),
                None => format!("pid {} ({command})", o.pid),
            }
        })
        .collect();
    if holders.is_empty() {
        "another process".into()
    } else {
        holders.join(", ")
    }
}

fn is_bad_input(error: &StartError) -> bool {
    matches!(
        error,
        StartError::BadCwd(_)
            | StartError::EnvFile { .. }
            | StartError::EmptyCommand
            | StartError::CommandNotFound(_)
            | StartError::NotExecutable(_)
            | StartError::AlreadyRunning { .. }
            | StartError::UnverifiedPidFile { .. }
            | StartError::State(_)
    )
}

/// Waits (up to `limit`, or until the stack is being stopped) for the keeper's exit record of
/// `record`'s run.
pub(super) fn wait_exit_record(ctx: &Ctx, record: &Record, limit: Duration) -> Option<ExitRecord> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(exit) = ctx.state.load_exit(&record.name, &record.run_id) {
            return Some(exit);
        }
        if Instant::now() >= deadline || ctx.stop.load(Ordering::SeqCst) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn tree_alive(record: &Record) -> bool {
    os::snapshot().is_ok_and(|snapshot| {
        !live_members(&snapshot, record, &mut MarkerCache::default()).is_empty()
    })
}

/// Appends the last lines of `record`'s log to `why`.
pub(super) fn with_log_tail(mut why: String, record: &Record) -> String {
    let tail = crate::logfile::tail_log(&record.log, 5).unwrap_or_default();
    if !tail.is_empty() {
        why.push_str("; last lines of its log:");
        for line in tail {
            why.push_str("\n  | ");
            why.push_str(&line);
        }
    }
    why
}

/// Chooses the port, starts the service (telling `spawned`) and waits until it is ready, or,
/// for a task, until it has ended.
fn launch(ctx: &Ctx, spec: &Service, offset: u64, spawned: &dyn Fn(&Record)) -> Launch {
    let began = Instant::now();
    let mut notes = Vec::new();
    let port = match spec.port {
        None => None,
        Some(wanted) => match ports::lookup(wanted, &ctx.state) {
            Ok(report) if report.held => {
                let holders = holders_of(&report);
                if !spec.fallback {
                    return Launch::Failed {
                        why: format!(
                            "port {wanted} is in use by {holders} (`reaper up --kill-existing` frees it; fallback = true moves to a free port)"
                        ),
                        retry: true,
                        notes,
                        code: None,
                    };
                }
                let next = wanted
                    .checked_add(1)
                    .and_then(|from| ports::first_free(from, 1).ok())
                    .and_then(|free| free.first().copied());
                match next {
                    Some(port) => {
                        notes.push(format!(
                            "port {wanted} is in use by {holders}; {} uses port {port}",
                            spec.name
                        ));
                        Some(port)
                    }
                    None => {
                        return Launch::Failed {
                            why: format!(
                                "port {wanted} is in use by {holders} and no port after it is free"
                            ),
                            retry: true,
                            notes,
                            code: None,
                        };
                    }
                }
            }
            _ => Some(wanted),
        },
    };
    let request = StartRequest {
        name: spec.name.clone(),
        argv: spec.argv.clone(),
        cwd: spec.cwd.clone(),
        env: spec.env.clone(),
        env_files: spec.env_files.clone(),
        port,
        log: None,
        min_uptime: Duration::ZERO,
        ready_timeout: spec.ready_timeout,
        log_max_bytes: LOG_MAX_BYTES,
        log_keep: LOG_KEEP,
        log_timestamps: spec.log_timestamps,
        stack: Some(ctx.stack_id.clone()),
        wait_for_port: false,
    };
    let record = match service::start(&ctx.state, &request) {
        Ok(started) => started.record,
        Err(error) => {
            return Launch::Failed {
                why: error.to_string(),
                retry: !is_bad_input(&error),
                notes,
                code: None,
            };
        }
    };
    spawned(&record);
    if spec.kind == ServiceKind::Task {
        return task::await_completion(ctx, spec, &record, began, notes);
    }
    let leader = record.leader.pin().ok();
    let mut probe = Probe::new(spec.probe(port), &record.log, offset);
    let deadline = began + spec.ready_timeout;
    let mut leader_exit_seen = false;
    loop {
        if ctx.stop.load(Ordering::SeqCst) {
            return Launch::Aborted;
        }
        if probe.check() {
            return Launch::Ready {
                record: Box::new(record),
                port,
                ready_after: began.elapsed(),
                daemonized: leader_exit_seen,
                notes,
            };
        }
        let leader_gone = leader.as_ref().is_none_or(Pinned::has_exited);
        if leader_gone && !leader_exit_seen {
            leader_exit_seen = true;
            let exit = wait_exit_record(ctx, &record, EXIT_RECORD_WAIT);
            let clean = exit.as_ref().is_some_and(|e| e.code == Some(0));
            if !clean || !tree_alive(&record) {
                let status = exit.as_ref().map_or_else(
                    || "its processes are gone".to_string(),
                    |e| describe_exit(e.code, e.signal),
                );
                let _ = stop_names(&ctx.state, vec![spec.name.clone()], stop_options(spec));
                return Launch::Failed {
                    why: with_log_tail(
                        format!("{} exited during start-up ({status})", spec.name),
                        &record,
                    ),
                    retry: true,
                    notes,
                    code: Some(exit.map_or(1, |e| exit_code(e.code, e.signal))),
                };
            }
            notes.push(format!(
                "pid {} of {} exited 0 and left processes running (it daemonized); reaper tracks them",
                record.leader.pid, spec.name
            ));
            continue;
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = stop_names(&ctx.state, vec![spec.name.clone()], stop_options(spec));
            let what = spec
                .probe(port)
                .map_or_else(|| "running".to_string(), |p| p.to_string());
            return Launch::Failed {
                why: format!(
                    "{} was not ready within {} ({what}); it was stopped",
                    spec.name,
                    format_duration(spec.ready_timeout)
                ),
                retry: true,
                notes,
                code: None,
            };
        }
        let wait = probe.interval().min(deadline - now);
        match leader.as_ref().filter(|_| !leader_exit_seen) {
            Some(leader) => os::wait_for_exit(&[leader], wait),
            None => std::thread::sleep(wait),
        }
    }
}

/// Decides what a leader's exit means: the service was restarted or stopped by someone else, it
/// daemonized, or it ended (then whatever is left of its tree is stopped and the record removed).
fn handle_exit(ctx: &Ctx, spec: &Service, known: &Record, daemonized: bool) -> Exit {
    let exit = if daemonized {
        ctx.state.load_exit(&known.name, &known.run_id)
    } else {
        wait_exit_record(ctx, known, EXIT_RECORD_WAIT)
    };
    // A concurrent `reaper restart` or `reaper stop` holds the lock while it works.
    let Ok(lock) = ctx.state.lock(&spec.name) else {
        return Exit::Gone;
    };
    let current = match ctx.state.load(&spec.name) {
        Ok(Some(Entry::Record(current))) => current,
        _ => return Exit::Gone,
    };
    if current.run_id != known.run_id {
        return Exit::Adopted(current);
    }
    let clean = exit.as_ref().is_some_and(|e| e.code == Some(0));
    if !daemonized && clean && tree_alive(&current) {
        return Exit::Daemonized;
    }
    let _ = stop_records_locked(
        &ctx.state,
        std::slice::from_ref(&*current),
        stop_options(spec),
        std::slice::from_ref(&lock),
    );
    if daemonized {
        Exit::Ended {
            status: "all of its processes are gone (it had daemonized)".into(),
            failure: true,
            code: 1,
        }
    } else {
        Exit::Ended {
            status: exit.as_ref().map_or_else(
                || "unknown status".to_string(),
                |e| describe_exit(e.code, e.signal),
            ),
            failure: !clean,
            code: exit.map_or(1, |e| exit_code(e.code, e.signal)),
        }
    }
}

/// The size of the log at `path` (0 while there is none): where reading its new lines begins.
pub(super) fn log_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Launches service `index` (`spec` with its dependencies' ports, its log read from `offset`)
/// on a thread of its own.
pub(super) fn spawn_launch(
    ctx: &Arc<Ctx>,
    reply: &Reply,
    index: usize,
    spec: Service,
    offset: u64,
) {
    let (ctx, reply) = (ctx.clone(), reply.clone());
    std::thread::spawn(move || {
        let spawned = |record: &Record| reply.send(Event::Spawned(index, Box::new(record.clone())));
        let outcome = launch(&ctx, &spec, offset, &spawned);
        reply.send(Event::Launched(index, outcome));
    });
}

/// Decides, on a thread of its own, what the end of service `index`'s run `record` means.
pub(super) fn spawn_handle_exit(
    ctx: &Arc<Ctx>,
    reply: &Reply,
    index: usize,
    spec: Service,
    record: Record,
    daemonized: bool,
) {
    let (ctx, reply) = (ctx.clone(), reply.clone());
    std::thread::spawn(move || {
        let outcome = handle_exit(&ctx, &spec, &record, daemonized);
        reply.send(Event::ExitHandled(index, outcome));
    });
}
