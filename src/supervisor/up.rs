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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::ci::{CiOptions, CiRun};
use super::dispatch::{self, Effect, Event};
use super::link::{Controller, StartFrontEnd};
use super::model::StackModel;
use super::prepare::prepare;
use super::printer::Printer;
use super::stop::{self, own_records};
use super::watch;
use super::worker::{self, Ctx, Reply, log_len};
use crate::actionlog::now_rfc3339;
use crate::identity::ProcessRef;
use crate::os::{self, ChildEvent, Pinned, SignalWatch};
use crate::signal::Signal;
use crate::stack::Stack;
use crate::stack::probe::LogTail;
use crate::stack::status::{self, StackPhase, StackStatus};
use crate::state::{Entry, Record, StateDir, StateError};
use crate::units::format_duration;

pub use super::dispatch::{backoff_delay, port_variable};

/// How often the loop looks for new log lines and exits when nothing wakes it sooner.
pub const TICK: Duration = Duration::from_millis(25);
/// How long to wait for the keepers (our children) to exit and be reaped at the end.
const REAP_WAIT: Duration = Duration::from_secs(3);
/// How often the records of services stopped outside the supervisor are looked at again.
const ADOPT_POLL: Duration = Duration::from_millis(250);

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

/// Runs the stack in the foreground until it is stopped (a signal, `reaper down`, the front
/// end) or every service has ended. Returns the exit code: 0 when every service stopped or
/// exited cleanly, 1 when one failed to start, crashed without restart, or was given up after
/// its restarts. With `front_end`, it is started once the stack is set up and shows the
/// supervisor's lines until the stack begins to stop.
pub fn run(
    state: &StateDir,
    stack: &Stack,
    options: &UpOptions,
    front_end: Option<StartFrontEnd>,
) -> Result<u8, UpError> {
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
    let signals = SignalWatch::new(&[Signal::Chld, Signal::Int, Signal::Term, Signal::Hup])
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
    let specs: Vec<_> = order
        .iter()
        .map(|name| stack.service(name).expect("selected services exist"))
        .collect();
    let mut model = StackModel::new(
        specs.iter().map(|spec| (*spec).clone()).collect(),
        levels,
        CiRun::new(&options.ci, began),
        began,
    );
    let (sender, events) = mpsc::channel::<Event>();
    let reply = Reply {
        sender,
        waker: signals.waker(),
    };
    let (request_sender, requests) = mpsc::channel();
    if let Some(start) = front_end {
        printer.attach(start(Controller::new(request_sender, reply.waker.clone())));
    }
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
    let _file_watch = options
        .watch
        .then(|| watch::watch_stack(stack, state, &specs, &reply, &mut printer))
        .flatten();
    let mut io = Io {
        ctx,
        reply,
        printer,
        show_output: options.show_output,
        tails: order.iter().map(|_| None).collect(),
        pins: order.iter().map(|_| None).collect(),
        document: StackStatus {
            schema: status::STACK_SCHEMA,
            config: stack.file.clone(),
            supervisor: me,
            detached: options.detached,
            started_at: now_rfc3339(),
            phase: StackPhase::Starting,
            message: None,
            services: Vec::new(),
        },
    };
    let mut pending: Vec<Signal> = Vec::new();
    let mut next_adopt_poll = Instant::now();
    while !model.finished {
        // Reap every child that exited: keepers, and services of keepers that were killed.
        while let ChildEvent::Exited { .. } | ChildEvent::Stopped { .. } =
            os::reap_child_nonblocking()
        {}
        // Signals (those that arrived during the last wait, and any since), then requests and
        // the workers' results.
        pending.extend(signals.wait(Some(Duration::ZERO)));
        let incoming: Vec<Event> = pending
            .drain(..)
            .filter(|signal| *signal != Signal::Chld)
            .map(Event::Signal)
            .chain(requests.try_iter().map(Event::Request))
            .chain(events.try_iter())
            .collect();
        for event in incoming {
            io.handle(&mut model, event);
        }
        let now = Instant::now();
        if now >= next_adopt_poll {
            next_adopt_poll = now + ADOPT_POLL;
            for (index, record) in io.records_back(&model) {
                io.handle(&mut model, Event::RecordAppeared(index, Box::new(record)));
            }
        }
        let ended = io.ended_runs(&model);
        io.handle(&mut model, Event::Tick { now, ended });
        io.print_output(&model, LogTail::lines);
        io.printer.flush();
        if !model.finished {
            pending.extend(signals.wait(Some(TICK)));
        }
    }
    // Everything is stopped: last output, reap the keepers, final status.
    io.print_output(&model, LogTail::drain);
    let deadline = Instant::now() + REAP_WAIT;
    loop {
        match os::reap_child_nonblocking() {
            ChildEvent::Exited { .. } | ChildEvent::Stopped { .. } => continue,
            ChildEvent::NoChildren => break,
            ChildEvent::NothingReady if Instant::now() >= deadline => break,
            ChildEvent::NothingReady => {
                signals.wait(Some(TICK));
            }
        }
    }
    Ok(io.finish(state, &model, &order))
}

/// The pinned processes of a service's run, whose exits end it.
struct RunPins {
    run_id: String,
    leader: Option<Pinned>,
    keeper: Option<Pinned>,
}

/// What the loop carries out effects with: workers, the printer, the services' log tails and
/// processes, and the status file.
struct Io {
    ctx: Arc<Ctx>,
    reply: Reply,
    printer: Printer,
    show_output: bool,
    tails: Vec<Option<LogTail>>,
    pins: Vec<Option<RunPins>>,
    document: StackStatus,
}

impl Io {
    /// Hands `event` to the dispatcher and carries out what it decides.
    fn handle(&mut self, model: &mut StackModel, event: Event) {
        for effect in dispatch::handle(model, event) {
            self.perform(model, effect);
        }
    }

    fn perform(&mut self, model: &StackModel, effect: Effect) {
        match effect {
            Effect::Print(text) => {
                self.print_output(model, LogTail::lines);
                self.printer.event(&text);
            }
            Effect::BeginStop => {
                self.ctx.stop.store(true, Ordering::SeqCst);
                // The shutdown is printed on the normal screen.
                self.printer.release();
            }
            Effect::Launch { index, spec } => {
                let log = self.ctx.state.default_log_path(&spec.name);
                let offset = log_len(&log);
                self.tails[index].get_or_insert_with(|| LogTail::new(&log, offset));
                worker::spawn_launch(&self.ctx, &self.reply, index, *spec, offset);
            }
            Effect::HandleExit {
                index,
                spec,
                record,
                daemonized,
            } => {
                worker::spawn_handle_exit(&self.ctx, &self.reply, index, *spec, *record, daemonized)
            }
            Effect::RestartOnChange(services) => {
                watch::spawn_restart(&self.ctx, &self.reply, services);
            }
            Effect::DrainOutput(index) => {
                if let Some(tail) = self.tails[index].as_mut().filter(|_| self.show_output) {
                    for line in tail.drain() {
                        self.printer.output(&model.services[index].spec.name, &line);
                    }
                }
            }
            Effect::StopStack(plan) => {
                stop::spawn_stop_stack(&self.ctx, &self.reply, plan, model.names());
            }
            Effect::ForceKill => stop::spawn_force_kill(&self.ctx, &self.reply, model.names()),
            Effect::WriteStatus => self.write_status(model),
        }
    }

    fn write_status(&mut self, model: &StackModel) {
        self.document.phase = model.phase;
        self.document.services = model.entries();
        let _ = status::write(&self.ctx.state, &self.document);
    }

    /// The watched runs that ended: the leader exited (the keeper, for a service that
    /// daemonized).
    fn ended_runs(&mut self, model: &StackModel) -> Vec<usize> {
        model
            .watched()
            .filter(|(index, record, daemonized)| {
                let pins = match &mut self.pins[*index] {
                    Some(pins) if pins.run_id == record.run_id => pins,
                    slot => slot.insert(RunPins {
                        run_id: record.run_id.clone(),
                        leader: record.leader.pin().ok(),
                        keeper: record.keeper.as_ref().and_then(|k| k.pin().ok()),
                    }),
                };
                let process = if *daemonized {
                    &pins.keeper
                } else {
                    &pins.leader
                };
                process.as_ref().is_none_or(Pinned::has_exited)
            })
            .map(|(index, ..)| index)
            .collect()
    }

    /// Records of this stack that came back for services stopped outside the supervisor.
    fn records_back(&self, model: &StackModel) -> Vec<(usize, Record)> {
        model
            .stopped_outside()
            .filter_map(|(index, name)| match self.ctx.state.load(name) {
                Ok(Some(Entry::Record(record)))
                    if record.stack.as_deref() == Some(self.ctx.stack_id.as_str()) =>
                {
                    Some((index, *record))
                }
                _ => None,
            })
            .collect()
    }

    /// Prints the services' output that `read` takes from their logs.
    fn print_output(&mut self, model: &StackModel, read: fn(&mut LogTail) -> Vec<String>) {
        if !self.show_output {
            return;
        }
        for (tail, svc) in self.tails.iter_mut().zip(&model.services) {
            if let Some(tail) = tail.as_mut() {
                for line in read(tail) {
                    self.printer.output(svc.name(), &line);
                }
            }
        }
    }

    /// The end of the run: the leak audit (CI mode), the last words and status; returns the
    /// exit code.
    fn finish(&mut self, state: &StateDir, model: &StackModel, order: &[String]) -> u8 {
        let used_ports: BTreeSet<u16> = model.services.iter().filter_map(|s| s.port).collect();
        let records_left: Vec<String> = own_records(&self.ctx, order)
            .into_iter()
            .map(|record| record.name)
            .collect();
        let leaks = model.ci.audit(state, &used_ports, &records_left);
        match leaks.as_deref() {
            Some([]) => self
                .printer
                .event("leak audit: no process, port or record of the stack is left"),
            Some(leaks) => {
                for leak in leaks {
                    self.printer.event(&format!("leak audit: {leak}"));
                }
            }
            None => {}
        }
        let failures = model.failures;
        let code = model.ci.exit_code(
            u8::from(failures > 0 || model.abort_message.is_some()),
            leaks.as_deref().unwrap_or_default(),
        );
        let elapsed = model
            .stopping
            .map(|s| s.began.elapsed())
            .unwrap_or_default();
        match &model.abort_message {
            Some(message) => {
                self.printer
                    .event(&format!("{message}; everything was stopped"));
                self.document.phase = StackPhase::Failed;
                self.document.message = Some(message.clone());
                self.document.services = model.entries();
                let _ = status::write(state, &self.document);
            }
            None => {
                self.printer.event(&format!(
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
        self.printer.flush();
        code
    }
}
