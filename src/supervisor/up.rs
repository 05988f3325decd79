//! `reaper up`: the stack supervisor.
//!
//! Every service is an ordinary managed service started through [`service::start`]: it gets a
//! keeper (a child subreaper that reaps its whole tree and records its exit status), a marker, a
//! record in `.run/` with [`Record::stack`] set, and its log in `.logs/NAME.log` with the keeper's
//! size rotation. The supervisor only orchestrates:
//!
//! 1. It becomes a child subreaper itself (the keepers are its children; a keeper that is killed
//!    hands its service to the supervisor, which then reaps it).
//! 2. Services start as soon as their dependencies are ready (so each dependency level starts in
//!    parallel), each in a worker thread that chooses the port (`fallback`), starts the service
//!    and runs its readiness probe (tcp, http or log) until the service is ready, dies, or the
//!    stack is stopped.
//! 3. One loop, woken by signals, by workers and every [`TICK`], reaps children, notices exits
//!    (pidfds of the leaders and keepers), restarts per policy with exponential backoff, prints
//!    every service's new log lines with aligned, coloured name prefixes and timestamps, and
//!    writes the status file ([`crate::stack::status`]) that `reaper ps` and `reaper up -d` read.
//! 4. SIGINT, SIGTERM or SIGHUP stops the stack gracefully in reverse dependency order (each
//!    service with its own stop signal and timeout, escalating to SIGKILL per service); a second
//!    one SIGKILLs every process of every service at once.
//!
//! Because everything lives in records and markers, a supervisor killed with SIGKILL leaves
//! nothing unreachable: `reaper down` (or `doctor`, `stop`, `clean`) finds and ends every service
//! from its record.
//!
//! [`Record::stack`]: crate::state::Record::stack

use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::ci::{CiOptions, CiRun, exit_code};
use super::depends::{self, DependencyState};
use super::prepare::prepare;
use super::printer::Printer;
use super::task;
use super::watch;
use crate::actionlog::now_rfc3339;
use crate::containment::MarkerCache;
use crate::identity::ProcessRef;
use crate::os::{self, ChildEvent, Pinned, SignalWatch};
use crate::ports;
use crate::service::{
    self, StartError, StartRequest, StopOptions, describe_exit, live_members, stop_records_locked,
};
use crate::signal::Signal;
use crate::stack::control::{stop_level, stop_names};
use crate::stack::probe::{LogTail, Probe};
use crate::stack::status::{self, ServiceEntry, ServicePhase, StackPhase, StackStatus};
use crate::stack::{RestartPolicy, Service, ServiceKind, Stack, Watch};
use crate::state::{Entry, ExitRecord, Record, StateDir, StateError};
use crate::terminate::{self, StopPolicy, StopReport, StopTarget};
use crate::units::format_duration;

/// How often the loop looks for new log lines and exits when nothing wakes it sooner.
pub const TICK: Duration = Duration::from_millis(25);
/// Log rotation of stack services: size.
pub(super) const LOG_MAX_BYTES: u64 = 10 << 20;
/// Log rotation of stack services: files kept.
pub(super) const LOG_KEEP: u32 = 3;
/// How long to wait for the keeper's exit record after the leader exited.
pub(super) const EXIT_RECORD_WAIT: Duration = Duration::from_millis(1500);
/// How long to wait for the keepers (our children) to exit and be reaped at the end.
const REAP_WAIT: Duration = Duration::from_secs(3);

/// How `reaper up` runs.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Services to start (with their dependencies); empty: all.
    pub services: Vec<String>,
    /// Stop running copies of the services (and a running supervisor) and free their declared
    /// ports before starting.
    pub kill_existing: bool,
    /// Running detached (`reaper up -d`), as the `_stack` record.
    pub detached: bool,
    /// Print the services' output (foreground); the detached supervisor prints only its own
    /// events, since the output is in each service's log already.
    pub show_output: bool,
    /// Active profiles (`--profile`), passed on to the detached supervisor; the stack given to
    /// `run` and `detach` is already narrowed to them ([`Stack::with_profiles`]).
    pub profiles: Vec<String>,
    /// CI mode: `--exit-with`, `--abort-on-exit`, `--timeout`, and the leak audit.
    pub ci: CiOptions,
    /// Restart services on changes to their `watch` files.
    pub watch: bool,
}

/// Why `reaper up` could not run.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// Bad input: unknown service names and the like.
    #[error("{0}")]
    BadInput(String),
    /// The stack, or one of its services, already runs.
    #[error("{0}")]
    AlreadyRunning(String),
    /// Signal handlers could not be installed.
    #[error("cannot watch signals: {0}")]
    Signals(io::Error),
    /// State directory problem.
    #[error(transparent)]
    State(#[from] StateError),
    /// Something else failed before the services started.
    #[error("{0}")]
    Failed(String),
}

// --- Worker jobs ------------------------------------------------------------------------------

pub(super) struct Ctx {
    pub(super) state: StateDir,
    stack_id: String,
    pub(super) stop: AtomicBool,
}

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

enum Exit {
    Adopted(Box<Record>),
    Gone,
    Daemonized,
    Ended {
        status: String,
        failure: bool,
        code: u8,
    },
}

enum Event {
    Spawned(usize, Box<Record>),
    FileChanged(usize, String),
    RestartStopped(Vec<usize>, Vec<String>),
    Launched(usize, Launch),
    ExitHandled(usize, Exit),
    Stopped(Vec<(StopReport, Signal)>),
    StopFinished,
    ForceKilled(usize),
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

/// The records of this `up`'s own services: written for its stack file, under the name of one
/// of the services it runs. Whatever else is in the state directory (another stack's services,
/// plain `reaper start` services) is not this `up`'s to stop or kill.
fn own_records(ctx: &Ctx, names: &[String]) -> Vec<Record> {
    ctx.state
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| match entry {
            Entry::Record(record)
                if record.stack.as_deref() == Some(ctx.stack_id.as_str())
                    && names.contains(&record.name) =>
            {
                Some(*record)
            }
            _ => None,
        })
        .collect()
}

/// Ends the trees of this `up`'s own services at once (a forced stop plan each); returns how
/// many processes were ended.
fn force_kill(ctx: &Ctx, names: &[String]) -> usize {
    let targets: Vec<StopTarget> = own_records(ctx, names)
        .into_iter()
        .map(|record| StopTarget::tree(&record.name, record.anchor(), StopPolicy::forced()))
        .collect();
    terminate::stop_trees(&targets)
        .map(|reports| reports.iter().map(|r| r.processes.len()).sum())
        .unwrap_or(0)
}

// --- The supervisor loop ----------------------------------------------------------------------

struct Svc {
    spec: Service,
    phase: ServicePhase,
    since: String,
    record: Option<Record>,
    leader: Option<Pinned>,
    keeper: Option<Pinned>,
    daemonized: bool,
    port: Option<u16>,
    restarts: u32,
    consecutive: u32,
    retry_at: Option<Instant>,
    ready_at: Option<Instant>,
    ready_after: Option<Duration>,
    last_exit: Option<String>,
    message: Option<String>,
    busy: bool,
    ever_ready: bool,
    spawned: bool,
    /// A file changed while the service could not be restarted: restart it once it can.
    pending_trigger: Option<String>,
    /// The file whose change caused the last restart.
    last_trigger: Option<String>,
    tail: Option<LogTail>,
}

impl Svc {
    /// Counts one more restart and schedules it after the backoff; returns the delay.
    fn schedule_restart(&mut self) -> Duration {
        let delay = backoff_delay(self.spec.backoff, self.spec.max_backoff, self.consecutive);
        self.consecutive += 1;
        self.restarts += 1;
        self.retry_at = Some(Instant::now() + delay);
        self.set(ServicePhase::Restarting);
        delay
    }

    fn set(&mut self, phase: ServicePhase) {
        if self.phase != phase {
            self.phase = phase;
            self.since = now_rfc3339();
        }
    }

    fn terminal(&self) -> bool {
        matches!(
            self.phase,
            ServicePhase::Exited
                | ServicePhase::Completed
                | ServicePhase::Crashed
                | ServicePhase::Failed
                | ServicePhase::Stopped
        )
    }

    fn adopt(&mut self, record: Record) {
        self.leader = record.leader.pin().ok();
        self.keeper = record.keeper.as_ref().and_then(|k| k.pin().ok());
        self.daemonized = false;
        self.port = record.port.or(self.port);
        self.record = Some(record);
    }

    fn entry(&self) -> ServiceEntry {
        ServiceEntry {
            name: self.spec.name.clone(),
            state: self.phase,
            pid: self.record.as_ref().map(|r| r.leader.pid),
            run_id: self.record.as_ref().map(|r| r.run_id.clone()),
            restarts: self.restarts,
            port: self.port.or(self.spec.port),
            probe: self
                .spec
                .probe(self.port.or(self.spec.port))
                .map(|p| p.to_string()),
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

/// Starts the file watcher for the services with `watch` (unless watching is off).
fn start_watching(
    stack: &Stack,
    state: &StateDir,
    options: &UpOptions,
    svcs: &[Svc],
    sender: &mpsc::Sender<Event>,
    waker: &os::Waker,
    printer: &mut Printer,
) -> Option<watch::FileWatch> {
    let targets: Vec<(usize, Watch)> = svcs
        .iter()
        .enumerate()
        .filter_map(|(index, svc)| Some((index, svc.spec.watch.clone()?)))
        .filter(|_| options.watch)
        .collect();
    if targets.is_empty() {
        return None;
    }
    let names: Vec<&str> = targets
        .iter()
        .map(|(index, _)| svcs[*index].spec.name.as_str())
        .collect();
    let (sender, waker) = (sender.clone(), waker.clone());
    let changed = move |index, path| {
        let _ = sender.send(Event::FileChanged(index, path));
        waker.wake();
    };
    let dirs = vec![state.run_dir(), state.log_dir()];
    match watch::start(&stack.root, dirs, targets, changed) {
        Ok(watching) => {
            printer.event(&format!("watching files of {}", names.join(", ")));
            Some(watching)
        }
        Err(e) => {
            printer.event(&format!(
                "warning: cannot watch files ({e}); restart on change is off"
            ));
            None
        }
    }
}

/// A watched file of service `index` changed: marks it (and, with `restart_dependents`, the
/// services that depend on it) as restarting and returns them, dependents first, each with the
/// port it had, for [`watch::stop_for_restart`]. A service that is busy or still starting is
/// restarted once it is ready instead.
fn restart_on_change(
    svcs: &mut [Svc],
    index: usize,
    path: String,
    printer: &mut Printer,
) -> Option<Vec<(usize, Service, Option<u16>)>> {
    let svc = &mut svcs[index];
    let settled = !svc.busy && (svc.phase == ServicePhase::Ready || svc.terminal());
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
        // `svcs` is in dependency order: a dependent comes after what it depends on.
        for later in index + 1..svcs.len() {
            let depends = svcs[later]
                .spec
                .depends_on
                .iter()
                .any(|dep| set.iter().any(|&i| svcs[i].spec.name == *dep));
            if depends && !svcs[later].busy {
                set.push(later);
            }
        }
    }
    let names: Vec<&str> = set.iter().map(|&i| svcs[i].spec.name.as_str()).collect();
    printer.event(&format!("{path} changed: restarting {}", names.join(", ")));
    let mut services = Vec::new();
    for &i in set.iter().rev() {
        let svc = &mut svcs[i];
        svc.busy = true;
        svc.pending_trigger = None;
        svc.last_trigger = Some(path.clone());
        svc.set(ServicePhase::Stopping);
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

pub(super) fn log_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Runs the stack in the foreground until it is stopped (a signal, `reaper down`) or every
/// service has ended. Returns the exit code: 0 when every service stopped or exited cleanly,
/// 1 when one failed to start, crashed without restart, or was given up after its restarts.
pub fn run(state: &StateDir, stack: &Stack, options: &UpOptions) -> Result<u8, UpError> {
    let began = Instant::now();
    let selected = stack
        .selection(&options.services)
        .map_err(UpError::BadInput)?;
    let levels = stack.levels(&selected);
    let order: Vec<String> = levels.concat();
    if let Some(name) = options.ci.exit_with.as_ref().filter(|n| !order.contains(n)) {
        return Err(UpError::BadInput(format!(
            "--exit-with {name}: no such service in this run (services: {})",
            order.join(", ")
        )));
    }
    let subreaper = os::become_subreaper();
    let watch = SignalWatch::new(&[Signal::Chld, Signal::Int, Signal::Term, Signal::Hup])
        .map_err(UpError::Signals)?;
    state.ensure()?;
    let mut printer = Printer::new(&order);
    // Where there is no subreaper at all (macOS, Windows), markers and job objects do its work.
    if let Some(e) = subreaper
        .err()
        .filter(|e| e.kind() != io::ErrorKind::Unsupported)
    {
        printer.event(&format!(
            "warning: cannot become a subreaper ({e}); processes that daemonize may escape"
        ));
    }
    prepare(state, stack, &order, options, &mut printer)?;
    let me = os::process_info(std::process::id())
        .ok_or_else(|| UpError::Failed("cannot read this process's own entry".into()))
        .and_then(|info| ProcessRef::of(&info).map_err(|e| UpError::Failed(e.to_string())))?;
    let ctx = Arc::new(Ctx {
        state: state.clone(),
        stack_id: stack.file.display().to_string(),
        stop: AtomicBool::new(false),
    });
    let mut svcs: Vec<Svc> = order
        .iter()
        .map(|name| Svc {
            spec: stack
                .service(name)
                .expect("selected services exist")
                .clone(),
            phase: ServicePhase::Waiting,
            since: now_rfc3339(),
            record: None,
            leader: None,
            keeper: None,
            daemonized: false,
            port: None,
            restarts: 0,
            consecutive: 0,
            retry_at: None,
            ready_at: None,
            ready_after: None,
            last_exit: None,
            message: None,
            busy: false,
            ever_ready: false,
            spawned: false,
            pending_trigger: None,
            last_trigger: None,
            tail: None,
        })
        .collect();
    let mut document = StackStatus {
        schema: status::STACK_SCHEMA,
        config: stack.file.clone(),
        supervisor: me,
        detached: options.detached,
        started_at: now_rfc3339(),
        phase: StackPhase::Starting,
        message: None,
        services: Vec::new(),
    };
    printer.event(&format!(
        "up: {} service{} from {} (state in {}; {})",
        order.len(),
        if order.len() == 1 { "" } else { "s" },
        stack.file.display(),
        state.root.display(),
        if options.detached {
            "`reaper down` stops them"
        } else {
            "Ctrl-C stops them"
        }
    ));
    let (sender, events) = mpsc::channel::<Event>();
    let waker = watch.waker();
    let mut stopping = false;
    let mut forced = false;
    let mut stopper_started = false;
    let mut finished = false;
    let mut failures = 0usize;
    let mut abort_message: Option<String> = None;
    let mut stop_began: Option<Instant> = None;
    let mut dirty = true;
    let mut pending: Vec<Signal> = Vec::new();
    let mut ci = CiRun::new(&options.ci, began);
    let mut triggers: Vec<(usize, String)> = Vec::new();
    let _file_watch = start_watching(stack, state, options, &svcs, &sender, &waker, &mut printer);
    let begin_stop = |stopping: &mut bool,
                      svcs: &mut [Svc],
                      printer: &mut Printer,
                      document: &mut StackStatus,
                      why: &str| {
        if *stopping {
            return;
        }
        *stopping = true;
        ctx.stop.store(true, Ordering::SeqCst);
        document.phase = StackPhase::Stopping;
        printer.event(why);
        for svc in svcs.iter_mut() {
            svc.retry_at = None;
            if !svc.terminal() {
                svc.set(ServicePhase::Stopping);
            }
        }
    };
    loop {
        let now = Instant::now();
        // Reap every child that exited: keepers, and services of keepers that were killed.
        while let ChildEvent::Exited { .. } | ChildEvent::Stopped { .. } =
            os::reap_child_nonblocking()
        {}
        // Signals (those that arrived during the last wait, and any since).
        pending.extend(watch.wait(Some(Duration::ZERO)));
        for signal in pending.drain(..) {
            if signal == Signal::Chld {
                continue;
            }
            if !stopping {
                stop_began = Some(Instant::now());
                begin_stop(
                    &mut stopping,
                    &mut svcs,
                    &mut printer,
                    &mut document,
                    &format!(
                        "{signal} received: stopping {} in reverse dependency order (Ctrl-C again to force)",
                        if order.len() == 1 {
                            "the service"
                        } else {
                            "the services"
                        }
                    ),
                );
                dirty = true;
            } else if !forced {
                forced = true;
                printer.event(&format!(
                    "{signal} received again: SIGKILL sent to the services of this stack"
                ));
                // On a helper thread: the loop keeps reaping while the plans wait for the exits.
                let (ctx, sender, waker) = (ctx.clone(), sender.clone(), waker.clone());
                let names = order.clone();
                std::thread::spawn(move || {
                    let _ = sender.send(Event::ForceKilled(force_kill(&ctx, &names)));
                    waker.wake();
                });
            }
        }
        // Results of worker jobs.
        let mut request_stop: Option<String> = None;
        while let Ok(event) = events.try_recv() {
            dirty = true;
            match event {
                Event::Spawned(index, record) => {
                    svcs[index].spawned = true;
                    ci.saw(&record);
                }
                Event::FileChanged(index, path) => triggers.push((index, path)),
                Event::RestartStopped(indices, notes) => {
                    for note in notes {
                        printer.event(&note);
                    }
                    for index in indices {
                        let svc = &mut svcs[index];
                        svc.busy = false;
                        svc.record = None;
                        svc.leader = None;
                        svc.keeper = None;
                        if stopping {
                            svc.set(ServicePhase::Stopped);
                        } else {
                            svc.restarts += 1;
                            svc.set(ServicePhase::Waiting);
                        }
                    }
                }
                Event::Launched(index, outcome) => {
                    let svc = &mut svcs[index];
                    svc.busy = false;
                    match outcome {
                        Launch::Ready {
                            record,
                            port,
                            ready_after,
                            daemonized,
                            notes,
                        } => {
                            for note in notes {
                                printer.event(&note);
                            }
                            svc.port = port;
                            svc.adopt(*record);
                            svc.daemonized = daemonized;
                            if stopping {
                                continue;
                            }
                            svc.ready_at = Some(Instant::now());
                            svc.ready_after = Some(ready_after);
                            svc.message = None;
                            svc.ever_ready = true;
                            svc.set(ServicePhase::Ready);
                            let record = svc.record.as_ref().expect("just adopted");
                            let port = svc.port.map(|p| format!(", port {p}")).unwrap_or_default();
                            let probe = svc
                                .spec
                                .probe(svc.port)
                                .map(|p| format!(", {p}"))
                                .unwrap_or_default();
                            printer.event(&format!(
                                "{} is ready after {} (pid {}{port}{probe})",
                                svc.spec.name,
                                format_duration(ready_after),
                                record.leader.pid
                            ));
                            if let Some(path) = svc.pending_trigger.take() {
                                triggers.push((index, path));
                            }
                        }
                        Launch::Aborted => {}
                        Launch::Completed { ran_for, notes } => {
                            for note in notes {
                                printer.event(&note);
                            }
                            svc.ever_ready = true;
                            svc.last_exit = Some(describe_exit(Some(0), None));
                            svc.set(ServicePhase::Completed);
                            printer.event(&format!(
                                "task {} completed after {}",
                                svc.spec.name,
                                format_duration(ran_for)
                            ));
                            request_stop = ci.ended(&svc.spec.name, 0, true).or(request_stop);
                        }
                        Launch::Failed {
                            why,
                            retry,
                            notes,
                            code,
                        } => {
                            for note in notes {
                                printer.event(&note);
                            }
                            svc.record = None;
                            svc.leader = None;
                            svc.keeper = None;
                            svc.message = Some(why.lines().next().unwrap_or_default().to_string());
                            if stopping {
                                svc.set(ServicePhase::Failed);
                                printer.event(&why);
                                continue;
                            }
                            let may_restart = retry && svc.spec.restart != RestartPolicy::No;
                            if may_restart && svc.consecutive < svc.spec.max_restarts {
                                let delay = svc.schedule_restart();
                                printer.event(&format!(
                                    "{why}\nrestarting {} in {} (restart {} of {})",
                                    svc.spec.name,
                                    format_duration(delay),
                                    svc.consecutive,
                                    svc.spec.max_restarts
                                ));
                                continue;
                            }
                            failures += 1;
                            svc.set(ServicePhase::Failed);
                            if may_restart {
                                svc.message = Some(format!(
                                    "gave up after {} restarts: {}",
                                    svc.consecutive,
                                    svc.message.clone().unwrap_or_default()
                                ));
                            }
                            printer.event(&why);
                            let ci_stop = ci.ended(&svc.spec.name, code.unwrap_or(1), false);
                            if document.phase == StackPhase::Starting {
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
                                abort_message = Some(message.clone());
                                request_stop = Some(format!("{message}: stopping the stack"));
                            } else if ci_stop.is_some() {
                                request_stop = ci_stop;
                            } else {
                                printer.event(&format!(
                                    "{} failed and is not restarted",
                                    svc.spec.name
                                ));
                            }
                        }
                    }
                }
                Event::ExitHandled(index, outcome) => {
                    let svc = &mut svcs[index];
                    svc.busy = false;
                    match outcome {
                        Exit::Adopted(record) => {
                            printer.event(&format!(
                                "{} was restarted outside the supervisor (now pid {})",
                                svc.spec.name, record.leader.pid
                            ));
                            svc.adopt(*record);
                            svc.restarts += 1;
                            svc.ready_at = Some(Instant::now());
                        }
                        Exit::Gone => {
                            svc.record = None;
                            svc.leader = None;
                            svc.keeper = None;
                            if !stopping {
                                printer.event(&format!(
                                    "{} was stopped outside the supervisor",
                                    svc.spec.name
                                ));
                            }
                            svc.set(ServicePhase::Stopped);
                        }
                        Exit::Daemonized => {
                            svc.daemonized = true;
                            if let Some(record) = &svc.record {
                                printer.event(&format!(
                                    "pid {} of {} exited 0 and left processes running (it daemonized); reaper tracks them",
                                    record.leader.pid, svc.spec.name
                                ));
                            }
                        }
                        Exit::Ended {
                            status,
                            failure,
                            code,
                        } => {
                            svc.record = None;
                            svc.leader = None;
                            svc.keeper = None;
                            svc.last_exit = Some(status.clone());
                            if stopping {
                                svc.set(ServicePhase::Stopped);
                                continue;
                            }
                            let stable = svc
                                .ready_at
                                .is_some_and(|at| at.elapsed() >= svc.spec.max_backoff);
                            if stable {
                                svc.consecutive = 0;
                            }
                            let restart = match svc.spec.restart {
                                RestartPolicy::No => false,
                                RestartPolicy::OnFailure => failure,
                                RestartPolicy::Always => true,
                            };
                            if restart && svc.consecutive < svc.spec.max_restarts {
                                let delay = svc.schedule_restart();
                                printer.event(&format!(
                                    "{} exited ({status}); restarting in {} (restart {} of {})",
                                    svc.spec.name,
                                    format_duration(delay),
                                    svc.consecutive,
                                    svc.spec.max_restarts
                                ));
                            } else if restart {
                                failures += 1;
                                svc.message = Some(format!(
                                    "gave up after {} restarts; last exit: {status}",
                                    svc.consecutive
                                ));
                                svc.set(ServicePhase::Failed);
                                printer.event(&format!(
                                    "{} exited ({status}); giving up after {} restarts",
                                    svc.spec.name, svc.consecutive
                                ));
                            } else if failure {
                                failures += 1;
                                svc.message = Some(format!("crashed: {status}"));
                                svc.set(ServicePhase::Crashed);
                                printer.event(&format!(
                                    "{} crashed ({status}) and is not restarted (restart = \"{}\")",
                                    svc.spec.name,
                                    match svc.spec.restart {
                                        RestartPolicy::No => "no",
                                        RestartPolicy::OnFailure => "on-failure",
                                        RestartPolicy::Always => "always",
                                    }
                                ));
                            } else {
                                svc.set(ServicePhase::Exited);
                                printer.event(&format!("{} exited ({status})", svc.spec.name));
                            }
                            if svc.terminal() {
                                request_stop =
                                    ci.ended(&svc.spec.name, code, false).or(request_stop);
                            }
                        }
                    }
                }
                Event::Stopped(reports) => {
                    for (report, signal) in reports {
                        if let Some(svc) = svcs.iter_mut().find(|s| s.spec.name == report.name) {
                            if let Some(tail) = svc.tail.as_mut().filter(|_| options.show_output) {
                                for line in tail.drain() {
                                    printer.line(&svc.spec.name, &line);
                                }
                            }
                            svc.record = None;
                            svc.leader = None;
                            svc.keeper = None;
                            if !svc.terminal() {
                                svc.set(ServicePhase::Stopped);
                            }
                        }
                        printer.event(&report.summary(signal));
                    }
                }
                Event::StopFinished => finished = true,
                Event::ForceKilled(killed) => printer.event(&format!(
                    "SIGKILL ended {killed} process{}",
                    if killed == 1 { "" } else { "es" }
                )),
            }
        }
        if !stopping && request_stop.is_none() {
            request_stop = ci.timed_out(now);
        }
        for (index, path) in triggers.drain(..).filter(|_| !stopping) {
            let Some(services) = restart_on_change(&mut svcs, index, path, &mut printer) else {
                continue;
            };
            dirty = true;
            let (ctx, sender, waker) = (ctx.clone(), sender.clone(), waker.clone());
            std::thread::spawn(move || {
                let indices = services.iter().map(|(index, ..)| *index).collect();
                let specs: Vec<(Service, Option<u16>)> = services
                    .into_iter()
                    .map(|(_, spec, port)| (spec, port))
                    .collect();
                let notes = watch::stop_for_restart(&ctx, &specs);
                let _ = sender.send(Event::RestartStopped(indices, notes));
                waker.wake();
            });
        }
        if let Some(why) = request_stop.take() {
            stop_began = Some(Instant::now());
            begin_stop(&mut stopping, &mut svcs, &mut printer, &mut document, &why);
        }
        // Exits of running services.
        if !stopping {
            for (index, svc) in svcs.iter_mut().enumerate() {
                if svc.busy || svc.phase != ServicePhase::Ready {
                    continue;
                }
                let ended = if svc.daemonized {
                    svc.keeper.as_ref().is_none_or(Pinned::has_exited)
                } else {
                    svc.leader.as_ref().is_none_or(Pinned::has_exited)
                };
                let Some(record) = svc.record.clone().filter(|_| ended) else {
                    continue;
                };
                svc.busy = true;
                let (ctx, spec, sender, waker) =
                    (ctx.clone(), svc.spec.clone(), sender.clone(), waker.clone());
                let daemonized = svc.daemonized;
                std::thread::spawn(move || {
                    let outcome = handle_exit(&ctx, &spec, &record, daemonized);
                    let _ = sender.send(Event::ExitHandled(index, outcome));
                    waker.wake();
                });
            }
        }
        // Restart delays that are over.
        for svc in svcs.iter_mut() {
            if svc.retry_at.is_some_and(|at| at <= now) && !stopping {
                svc.retry_at = None;
                svc.set(ServicePhase::Waiting);
                dirty = true;
            }
        }
        // Launch services whose dependencies are ready.
        if !stopping {
            for index in 0..svcs.len() {
                if svcs[index].busy || svcs[index].phase != ServicePhase::Waiting {
                    continue;
                }
                let deps_ready = svcs[index].spec.conditions.iter().all(|(dep, condition)| {
                    svcs.iter().any(|s| {
                        s.spec.name == *dep
                            && depends::met(
                                *condition,
                                DependencyState {
                                    phase: s.phase,
                                    spawned: s.spawned,
                                },
                            )
                    })
                });
                if !deps_ready {
                    continue;
                }
                // Each dependency's actual port, as NAME_PORT (after a fallback it differs from
                // the declared one).
                let dependency_ports: Vec<(String, String)> = svcs[index]
                    .spec
                    .depends_on
                    .iter()
                    .filter_map(|dep| {
                        let port = svcs.iter().find(|s| s.spec.name == *dep)?.port?;
                        Some((port_variable(dep), port.to_string()))
                    })
                    .collect();
                let svc = &mut svcs[index];
                svc.busy = true;
                svc.spawned = false;
                svc.set(ServicePhase::Starting);
                dirty = true;
                let log = state.default_log_path(&svc.spec.name);
                let offset = log_len(&log);
                if svc.tail.is_none() {
                    svc.tail = Some(LogTail::new(&log, offset));
                }
                let mut spec = svc.spec.clone();
                spec.env.splice(0..0, dependency_ports);
                let (ctx, sender, waker) = (ctx.clone(), sender.clone(), waker.clone());
                std::thread::spawn(move || {
                    let spawned = |record: &Record| {
                        let _ = sender.send(Event::Spawned(index, Box::new(record.clone())));
                        waker.wake();
                    };
                    let outcome = launch(&ctx, &spec, offset, &spawned);
                    let _ = sender.send(Event::Launched(index, outcome));
                    waker.wake();
                });
            }
        }
        // The stack is up once every service has been ready (a service that crashed since is
        // restarted or reported on its own).
        if document.phase == StackPhase::Starting && svcs.iter().all(|s| s.ever_ready) {
            document.phase = StackPhase::Running;
            dirty = true;
            printer.event(&format!(
                "all {} service{} ready after {}",
                svcs.len(),
                if svcs.len() == 1 { " is" } else { "s are" },
                format_duration(began.elapsed())
            ));
        }
        // Every service ended by itself: stop (sweeping whatever is left) and exit.
        if !stopping
            && svcs
                .iter()
                .all(|s| s.terminal() && !s.busy && s.retry_at.is_none())
        {
            stop_began = Some(Instant::now());
            begin_stop(
                &mut stopping,
                &mut svcs,
                &mut printer,
                &mut document,
                "every service has ended",
            );
            dirty = true;
        }
        // Once no worker is busy, stop in reverse dependency order.
        if stopping && !stopper_started && svcs.iter().all(|s| !s.busy) {
            stopper_started = true;
            let plan: Vec<Vec<(String, StopOptions)>> = levels
                .iter()
                .rev()
                .map(|level| {
                    level
                        .iter()
                        .filter_map(|name| stack.service(name))
                        .map(|spec| (spec.name.clone(), stop_options(spec)))
                        .collect()
                })
                .collect();
            let (ctx, sender, waker) = (ctx.clone(), sender.clone(), waker.clone());
            let names = order.clone();
            std::thread::spawn(move || {
                stop_stack(&ctx, &plan, &names, &sender, &waker);
                let _ = sender.send(Event::StopFinished);
                waker.wake();
            });
        }
        // Output.
        if options.show_output {
            for svc in svcs.iter_mut() {
                if let Some(tail) = svc.tail.as_mut() {
                    for line in tail.lines() {
                        printer.line(&svc.spec.name, &line);
                    }
                }
            }
        }
        printer.flush();
        if dirty {
            dirty = false;
            document.services = svcs.iter().map(Svc::entry).collect();
            let _ = status::write(state, &document);
        }
        if finished {
            break;
        }
        pending.extend(watch.wait(Some(TICK)));
    }
    // Everything is stopped: last output, reap the keepers, final status.
    if options.show_output {
        for svc in svcs.iter_mut() {
            if let Some(tail) = svc.tail.as_mut() {
                for line in tail.drain() {
                    printer.line(&svc.spec.name, &line);
                }
            }
        }
    }
    let deadline = Instant::now() + REAP_WAIT;
    loop {
        match os::reap_child_nonblocking() {
            ChildEvent::Exited { .. } | ChildEvent::Stopped { .. } => continue,
            ChildEvent::NoChildren => break,
            ChildEvent::NothingReady if Instant::now() >= deadline => break,
            ChildEvent::NothingReady => {
                watch.wait(Some(TICK));
            }
        }
    }
    let used_ports: BTreeSet<u16> = svcs.iter().filter_map(|s| s.port).collect();
    let records_left: Vec<String> = own_records(&ctx, &order)
        .into_iter()
        .map(|record| record.name)
        .collect();
    let leaks = ci.audit(state, &used_ports, &records_left);
    match leaks.as_deref() {
        Some([]) => printer.event("leak audit: no process, port or record of the stack is left"),
        Some(leaks) => {
            for leak in leaks {
                printer.event(&format!("leak audit: {leak}"));
            }
        }
        None => {}
    }
    let code = ci.exit_code(
        u8::from(failures > 0 || abort_message.is_some()),
        leaks.as_deref().unwrap_or_default(),
    );
    let elapsed = stop_began.map(|at| at.elapsed()).unwrap_or_default();
    match &abort_message {
        Some(message) => {
            printer.event(&format!("{message}; everything was stopped"));
            document.phase = StackPhase::Failed;
            document.message = Some(message.clone());
            document.services = svcs.iter().map(Svc::entry).collect();
            let _ = status::write(state, &document);
        }
        None => {
            printer.event(&format!(
                "stack stopped in {}{}",
                format_duration(elapsed),
                if failures > 0 {
                    format!(
                        "; {failures} service{} failed",
                        if failures == 1 { "" } else { "s" }
                    )
                } else {
                    String::new()
                }
            ));
            let _ = status::remove(state);
        }
    }
    printer.flush();
    Ok(code)
}

/// Stops the stack's services level by level, in reverse dependency order (each level in
/// parallel, each service with its own signal and timeout), then sweeps any stack record left.
fn stop_stack(
    ctx: &Ctx,
    plan: &[Vec<(String, StopOptions)>],
    names: &[String],
    sender: &mpsc::Sender<Event>,
    waker: &os::Waker,
) {
    for level in plan {
        if !level
            .iter()
            .any(|(name, _)| ctx.state.record_path(name).exists())
        {
            continue;
        }
        let reports = stop_level(&ctx.state, level);
        let _ = sender.send(Event::Stopped(reports));
        waker.wake();
    }
    // Sweep: any record of this stack still there (a service adopted from a restart that raced
    // with the stop, for instance).
    let left: Vec<String> = own_records(ctx, names)
        .into_iter()
        .map(|record| record.name)
        .collect();
    if !left.is_empty() {
        let options = StopOptions {
            signal: Signal::Term,
            timeout: Duration::from_secs(10),
        };
        let reports = stop_names(&ctx.state, left, options)
            .into_iter()
            .map(|r| (r, Signal::Term))
            .collect();
        let _ = sender.send(Event::Stopped(reports));
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(10);
        assert_eq!(backoff_delay(base, max, 0), Duration::from_millis(100));
        assert_eq!(backoff_delay(base, max, 1), Duration::from_millis(200));
        assert_eq!(backoff_delay(base, max, 3), Duration::from_millis(800));
        assert_eq!(backoff_delay(base, max, 10), max);
        assert_eq!(backoff_delay(base, max, 40), max);
    }
}
