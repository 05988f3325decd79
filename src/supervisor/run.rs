//! `reaper run`: run one command in the foreground, like `timeout(1)` but for the whole process
//! tree, and make sure nothing it started outlives it.
//!
//! 1. reaper becomes a child subreaper (Linux), so every process the command orphans — a
//!    daemon that double-forks and calls `setsid` included — is reparented to reaper, stays in
//!    the tree, and is reaped by it.
//! 2. The command starts with the terminal's stdin/stdout/stderr, in a process group of its own
//!    (the terminal's foreground group when reaper holds the terminal) or, without a terminal, in
//!    a session of its own, with a [marker](crate::containment::MARKER_VAR).
//! 3. One loop reaps every child (`waitpid(-1)`, never a `Child::wait` besides it), forwards
//!    signals to every member of the tree through pinned identities, and suspends and resumes
//!    the tree with reaper (Ctrl-Z / `fg`).
//! 4. On timeout the whole tree is stopped ([`terminate::stop_trees`]: graceful signal, SIGKILL
//!    after `kill_after`).
//! 5. When the command exits, whatever it left running is ended, reported, or ended and turned
//!    into a failure, per [`LeakPolicy`].
//!
//! The tree is [`containment::members`] of an [`Anchor`] whose leader is the command and whose
//! keeper is reaper itself: reaper is excluded and all of its children (the command and every
//! orphan adopted) are seeds, plus marker carriers, closed over descendants.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::containment::{self, Anchor, MARKER_VAR, Marker, MarkerCache};
use crate::identity::ProcessRef;
use crate::os::{self, ChildEvent, SignalWatch, StdinTerminal};
use crate::process::{Pid, ProcessState};
use crate::signal::Signal;
use crate::terminate::{self, EndedProcess, Outcome, StopPolicy, StopReport, StopTarget};

/// The command timed out and its tree exited after the graceful signal (as coreutils `timeout`).
pub const EXIT_TIMEOUT: u8 = 124;
/// `reaper run` itself failed (it could not watch signals or read the process table).
pub const EXIT_INTERNAL: u8 = 125;
/// The command was found but could not be executed (as shells report it).
pub const EXIT_NOT_EXECUTABLE: u8 = 126;
/// The command was not found (as shells report it).
pub const EXIT_NOT_FOUND: u8 = 127;
/// The command timed out and some process of its tree had to be killed with SIGKILL (128 + 9,
/// what a shell reports for a command killed by SIGKILL).
pub const EXIT_TIMEOUT_KILLED: u8 = 137;
/// With [`LeakPolicy::Fail`]: the command left processes running (they were ended). Chosen
/// outside the codes commands and wrappers commonly give a meaning: 1–2 (ordinary failures),
/// 64–78 (`sysexits.h`), 123–127 (xargs, timeout, shells) and 128+N (signals).
pub const EXIT_LEAKED: u8 = 122;

/// Name of a `reaper run` tree in stop reports. Its marker names the `reaper run` process
/// ([`containment::run_owner_name`]) and leaves the directory empty: a run keeps no record, and
/// `clean` takes its processes for orphans only once that process is gone.
const TREE_NAME: &str = "run";

/// Signals reaper handles while the command runs. SIGTSTP and SIGCONT suspend and resume the
/// tree with reaper; SIGCHLD wakes the reaping loop; the rest are forwarded to the tree.
const WATCHED: &[Signal] = &[
    Signal::Chld,
    Signal::Int,
    Signal::Term,
    Signal::Hup,
    Signal::Quit,
    Signal::Usr1,
    Signal::Usr2,
    Signal::Winch,
    Signal::Tstp,
    Signal::Cont,
];

/// What to do with processes still running when the command exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeakPolicy {
    /// End them (graceful signal, SIGKILL after `kill_after`), reap them, report each.
    Kill,
    /// Report them and leave them running.
    Report,
    /// End them like `Kill`, and exit with [`EXIT_LEAKED`] even if the command succeeded.
    Fail,
}

/// What to run and how.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// End the tree after this long (`None`: no limit).
    pub timeout: Option<Duration>,
    /// After the graceful signal (on timeout, or to end leaked processes), how long the
    /// processes get before SIGKILL.
    pub kill_after: Duration,
    /// The graceful signal.
    pub signal: Signal,
    /// What to do with processes the command leaves running.
    pub leaks: LeakPolicy,
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CommandStatus {
    /// Its exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
}

/// What was done to a leaked process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakAction {
    /// It exited after the graceful signal.
    Ended,
    /// It needed SIGKILL.
    Killed,
    /// It was still alive after SIGKILL (uninterruptible sleep, or not ours to kill).
    Survived,
    /// Left running ([`LeakPolicy::Report`]).
    LeftRunning,
}

/// A process the command left running.
#[derive(Debug, Clone, Serialize)]
pub struct Leak {
    /// Its pid.
    pub pid: Pid,
    /// Its command line (or name).
    pub command: String,
    /// What was done to it.
    pub action: LeakAction,
}

/// Everything `reaper run` did; also the `--json-report` document (schema 1).
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Version of this document's layout.
    pub schema: u32,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// reaper's exit code (see the `EXIT_*` constants).
    pub exit_code: u8,
    /// How the command ended (`None` if it never started, or outlived SIGKILL).
    pub status: Option<CommandStatus>,
    /// Why the command could not be started, if it could not.
    pub error: Option<String>,
    /// From start to the end of clean-up.
    #[serde(rename = "duration_ms", serialize_with = "serialize_millis")]
    pub duration: Duration,
    /// True when the timeout expired and the tree was stopped.
    pub timed_out: bool,
    /// With a timeout: how each process of the tree was stopped.
    pub timeout_stop: Option<StopReport>,
    /// What was done with leaked processes.
    pub leak_policy: LeakPolicy,
    /// Processes still running when the command exited, and what was done to each.
    pub leaks: Vec<Leak>,
    /// Exited orphans reaper reaped (they would otherwise have stayed zombies).
    pub orphans_reaped: u32,
}

fn serialize_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// Why `reaper run` could not do its job (exit code [`EXIT_INTERNAL`]).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No command was given.
    #[error("no command given")]
    EmptyCommand,
    /// Signal handlers could not be installed.
    #[error("cannot watch signals: {0}")]
    Signals(io::Error),
    /// The process table (or our own entry in it) could not be read.
    #[error("cannot read the process table: {0}")]
    ProcessTable(io::Error),
    /// The thread stopping the tree failed.
    #[error("stopping the process tree failed: {0}")]
    Stop(io::Error),
    /// The command's cgroup could not be set up.
    #[error(
        "cannot contain the command in a cgroup: {0} (set REAPER_CONTAINMENT=fallback to run without one)"
    )]
    Containment(io::Error),
    /// The run could not be registered for `doctor` and `clean` (see
    /// [`containment::RunRegistration`]).
    #[error(
        "cannot register this run: {0} (`reaper doctor` and `reaper clean` rely on it to find what a killed run leaves behind; make /tmp writable)"
    )]
    MarkerFloor(io::Error),
}

/// Runs `options.argv` to completion and cleans up after it. Returns the report, whose
/// `exit_code` is what `reaper run` should exit with; a command that cannot be started is a
/// report too (exit code 126 or 127), not an error.
pub fn run(options: &RunOptions) -> Result<RunReport, RunError> {
    let began = Instant::now();
    let (program, args) = options.argv.split_first().ok_or(RunError::EmptyCommand)?;
    // First, so nothing the command starts can be reparented past us before we look.
    let subreaper = os::become_subreaper().is_ok();
    let own = os::process_info(std::process::id())
        .ok_or_else(|| RunError::ProcessTable(io::Error::other("reaper is not in /proc")))?;
    // The marker names this process, so a tree left by a `reaper run` that was killed can be
    // told apart from one whose `reaper run` still watches it.
    let marker = Marker {
        run_id: crate::service::random_id(),
        name: containment::run_owner_name(own.pid, own.start_time),
        run_dir: PathBuf::new(),
    };
    // Windows: a job object holds everything the command starts. Best effort (a job that
    // forbids nesting refuses it): parent links still find the tree.
    let _ = os::contain_run(&marker.run_id);
    // Before the spawn, so a signal that arrives meanwhile is forwarded, not acted on by us.
    let watch = SignalWatch::new(WATCHED).map_err(RunError::Signals)?;
    // The command runs in reaper's directory: "." is where a relative program is looked up.
    let mut command = Command::new(os::spawnable_program(
        program,
        Path::new("."),
        std::env::var_os("PATH").as_deref(),
    ));
    // Registered until nothing this run started is left (a run killed stays registered, and
    // `doctor` then reads the environments that could carry its marker).
    let registration = containment::RunRegistration::new().map_err(RunError::MarkerFloor)?;
    command.args(args).env(MARKER_VAR, marker.encode());
    // Linux with a usable cgroup v2: the command and everything it starts stay in a cgroup
    // named after this process, so whatever survives a SIGKILL of reaper is found again.
    let leaf = containment::run_cgroup_leaf(own.pid, own.start_time, &marker.run_id);
    let cgroup = os::create_cgroup(&leaf).map_err(RunError::Containment)?;
    if let Some(path) = &cgroup {
        if let Err(e) = os::spawn_in_cgroup(&mut command, path) {
            let _ = os::remove_cgroup(path);
            return Err(RunError::Containment(e));
        }
    }
    // Where the command runs. With a terminal on stdin that we hold in the foreground, the
    // command gets a process group of its own that becomes the terminal's foreground group (as
    // a shell does for a job, and as tini does): it can read the terminal and gets Ctrl-C,
    // Ctrl-Z and SIGWINCH from it directly, as it would without reaper. A new session would
    // leave it without a controlling terminal, so interactive programs could not read it. In the
    // background, the command gets its own group but not the terminal (it stays a background
    // job; if it reads the terminal it stops, reaper stops with it, and `fg` hands it the
    // terminal). Without a terminal it gets a session of its own: nothing it does (setsid, job
    // control, a terminal it opens) can touch reaper's session, and the session id names the
    // tree. In every case signals that reach reaper itself (kill, a CI runner cancelling the
    // job) are forwarded to every member of the tree.
    let terminal = os::stdin_terminal();
    match terminal {
        StdinTerminal::Foreground => os::spawn_in_new_group(&mut command, true),
        StdinTerminal::Background => os::spawn_in_new_group(&mut command, false),
        StdinTerminal::NotATerminal => os::spawn_in_new_session(&mut command),
    }
    let leader = match command.spawn() {
        // Reaping goes through the one loop below (`waitpid(-1)` on Unix, the adopted
        // handle on Windows), never through a wait on the `Child`.
        Ok(child) => {
            let pid = child.id();
            os::adopt_child(child);
            pid
        }
        Err(error) => {
            if let Some(path) = &cgroup {
                let _ = os::remove_cgroup(path);
            }
            if terminal == StdinTerminal::Foreground {
                // The child may have taken the terminal before exec failed.
                let _ = os::give_terminal_to(os::own_process_group());
            }
            let (exit_code, message) = spawn_failure(program, &error);
            registration.release();
            return Ok(RunReport {
                schema: 1,
                command: options.argv.clone(),
                exit_code,
                status: None,
                error: Some(message),
                duration: began.elapsed(),
                timed_out: false,
                timeout_stop: None,
                leak_policy: options.leaks,
                leaks: Vec::new(),
                orphans_reaped: 0,
            });
        }
    };
    let started = Instant::now();
    // Neither process can have been reaped yet (only we reap our children), so both entries
    // exist, the leader's possibly as a zombie.
    let identity = |pid: Pid| {
        os::process_info(pid)
            .ok_or_else(|| io::Error::other(format!("process {pid} is not in /proc")))
            .and_then(|info| ProcessRef::of(&info))
            .map_err(RunError::ProcessTable)
    };
    let anchor = Anchor {
        leader: identity(leader)?,
        keeper: Some(identity(std::process::id())?),
        run_id: marker.run_id.clone(),
        cgroup: cgroup.clone(),
    };
    let mut supervisor = Supervisor {
        watch,
        job_control: terminal != StdinTerminal::NotATerminal,
        leader,
        anchor,
        markers: MarkerCache::default(),
        status: None,
        no_children: false,
        orphans_reaped: 0,
        interrupts: 0,
        kill_after: options.kill_after,
        signal: options.signal,
    };
    let deadline = options
        .timeout
        .filter(|t| !t.is_zero())
        .map(|t| started + t);
    let mut timeout_stop = None;
    loop {
        supervisor.reap();
        if supervisor.status.is_some() {
            break;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            timeout_stop = Some(supervisor.stop_tree()?);
            break;
        }
        let wait = deadline.map(|d| d - now);
        for signal in supervisor.watch.wait(wait) {
            supervisor.handle(signal);
        }
    }
    // Take the terminal back from the command's group (leaked members may still be in it), so
    // what reaper prints and the shell's next prompt are not in the background.
    supervisor.take_terminal_back();
    let leaks = if timeout_stop.is_some() || (subreaper && supervisor.no_children) {
        // After a timeout the tree was stopped whole. As a subreaper with no child left, no
        // descendant is left either (every orphan of the tree is reparented to us), and a marker
        // carrier outside our descendants cannot arise while we are a subreaper.
        Vec::new()
    } else {
        supervisor.handle_leaks(options.leaks)?
    };
    supervisor.reap();
    // With `--leaks report` the cgroup keeps what was left running, for `doctor` to find.
    if let Some(path) = &cgroup {
        if !os::cgroup_is_populated(path).unwrap_or(true) {
            let _ = os::remove_cgroup(path);
        }
    }
    let left = leaks
        .iter()
        .any(|leak| matches!(leak.action, LeakAction::LeftRunning | LeakAction::Survived));
    let stop_left = timeout_stop.as_ref().is_some_and(|stop| {
        stop.processes
            .iter()
            .any(|p| matches!(p.outcome, Outcome::Survived | Outcome::StillRunning))
    });
    if !left && !stop_left {
        registration.release();
    }
    let exit_code = match (&timeout_stop, supervisor.status) {
        (Some(stop), _) => {
            let forced = stop
                .processes
                .iter()
                .any(|p| !matches!(p.outcome, Outcome::Graceful | Outcome::AlreadyExited));
            if forced {
                EXIT_TIMEOUT_KILLED
            } else {
                EXIT_TIMEOUT
            }
        }
        _ if options.leaks == LeakPolicy::Fail && !leaks.is_empty() => EXIT_LEAKED,
        (None, Some(status)) => status_code(status),
        (None, None) => EXIT_INTERNAL,
    };
    Ok(RunReport {
        schema: 1,
        command: options.argv.clone(),
        exit_code,
        status: supervisor.status,
        error: None,
        duration: began.elapsed(),
        timed_out: timeout_stop.is_some(),
        timeout_stop,
        leak_policy: options.leaks,
        leaks,
        orphans_reaped: supervisor.orphans_reaped,
    })
}

/// The exit code for a command's status: its own code, or 128 + N for signal N.
fn status_code(status: CommandStatus) -> u8 {
    if status.code.is_none() && status.signal.is_none() {
        return EXIT_INTERNAL;
    }
    super::ci::exit_code(status.code, status.signal)
}

/// Exit code and message for a command that could not be started, as shells report it: 127
/// when there is no such command, 126 when there is but it cannot be executed (permissions, a
/// directory, a bad interpreter).
fn spawn_failure(program: &str, error: &io::Error) -> (u8, String) {
    match os::unrunnable(program, Path::new("."), Some(error.kind())) {
        Some(os::Unrunnable::NotFound) => (EXIT_NOT_FOUND, format!("{program}: command not found")),
        Some(os::Unrunnable::IsADirectory) => (
            EXIT_NOT_EXECUTABLE,
            format!("{program}: cannot execute: is a directory"),
        ),
        _ => (
            EXIT_NOT_EXECUTABLE,
            format!("{program}: cannot execute: {error}"),
        ),
    }
}

/// What was done to a leaked process; None for one that had exited by itself before the stop
/// reached it (it was not left running after all).
fn leak_action(outcome: Outcome) -> Option<LeakAction> {
    match outcome {
        Outcome::Graceful => Some(LeakAction::Ended),
        Outcome::Forced => Some(LeakAction::Killed),
        Outcome::Survived => Some(LeakAction::Survived),
        Outcome::StillRunning => Some(LeakAction::LeftRunning),
        Outcome::AlreadyExited => None,
    }
}

/// The state of one run while the command is alive.
struct Supervisor {
    watch: SignalWatch,
    /// The command runs in a process group of its own in our session, whose controlling
    /// terminal is on stdin: it can be handed the terminal (see [`run`]).
    job_control: bool,
    leader: Pid,
    anchor: Anchor,
    markers: MarkerCache,
    status: Option<CommandStatus>,
    /// The last reap found no child at all.
    no_children: bool,
    orphans_reaped: u32,
    interrupts: u32,
    kill_after: Duration,
    signal: Signal,
}

impl Supervisor {
    /// Reaps every child that has exited. In a terminal, a stop of the command (Ctrl-Z, or
    /// reading the terminal from the background) suspends the tree and reaper with it.
    fn reap(&mut self) {
        loop {
            match os::reap_child_nonblocking() {
                ChildEvent::Exited { pid, code, signal } if pid == self.leader => {
                    self.status = Some(CommandStatus { code, signal });
                }
                ChildEvent::Exited { .. } => self.orphans_reaped += 1,
                ChildEvent::Stopped { pid } => {
                    // Only with a terminal: there the shell sees reaper's job stop and `fg`
                    // resumes it (bash sends no SIGCONT to a job that is running, so reaper must
                    // stop to learn of the `fg`). Without one, stopping reaper because someone
                    // stopped the command could leave it stopped for good.
                    if pid == self.leader && self.job_control && self.status.is_none() {
                        if os::terminal_foreground_group() == Some(os::own_process_group()) {
                            // We were brought to the foreground (`fg` of a running job) and the
                            // command stopped reading the terminal meanwhile: hand it over.
                            self.resume();
                        } else {
                            self.suspend();
                        }
                    }
                }
                ChildEvent::NothingReady => {
                    self.no_children = false;
                    return;
                }
                ChildEvent::NoChildren => {
                    self.no_children = true;
                    return;
                }
            }
        }
    }

    /// Acts on one signal delivered to reaper.
    fn handle(&mut self, signal: Signal) {
        match signal {
            Signal::Chld => {}
            Signal::Tstp => self.suspend(),
            Signal::Cont => self.resume(),
            Signal::Int => {
                self.interrupts += 1;
                // A second interrupt means "now": the nextest / watchexec convention.
                let signal = if self.interrupts >= 2 {
                    Signal::Kill
                } else {
                    Signal::Int
                };
                self.signal_tree(signal);
            }
            other => self.signal_tree(other),
        }
    }

    /// Sends `signal` once to every live member of the tree, through pinned identities.
    /// Best effort: a process that exits or cannot be pinned meanwhile is skipped.
    fn signal_tree(&mut self, signal: Signal) {
        for (identity, state, _) in self.live_members().unwrap_or_default() {
            if signal == Signal::Stop && state == ProcessState::Stopped {
                continue;
            }
            let Ok(pinned) = identity.pin() else { continue };
            if identity == self.anchor.leader {
                let _ = pinned.signal_group(signal);
            } else {
                let _ = pinned.signal(signal);
            }
        }
    }

    /// Live members of the tree now: identity, state and command line.
    fn live_members(&mut self) -> io::Result<Vec<(ProcessRef, ProcessState, String)>> {
        let snapshot = os::snapshot()?;
        let membership = containment::members(&snapshot, &self.anchor, &mut self.markers);
        let mut out = Vec::new();
        for pid in membership.pids {
            let Some(info) = snapshot.get(pid).filter(|i| i.state.is_alive()) else {
                continue;
            };
            let command = os::command_line(pid)
                .filter(|argv| !argv.is_empty())
                .map(|argv| argv.join(" "))
                .unwrap_or_else(|| info.name.clone());
            out.push((ProcessRef::of(info)?, info.state, command));
        }
        Ok(out)
    }

    /// Ctrl-Z: stop the whole tree, give the terminal back to reaper's group (the shell's job)
    /// and stop reaper, so the shell sees the job stopped. Returns once something (`fg`, `bg`)
    /// has continued reaper, after resuming the tree.
    fn suspend(&mut self) {
        self.take_terminal_back();
        self.signal_tree(Signal::Stop);
        os::stop_self();
        self.resume();
    }

    /// Continues the tree. If reaper was continued in the foreground (`fg`; also for a run
    /// started in the background and brought to the foreground later), the command's group is
    /// handed the terminal again; after `bg` it is not.
    fn resume(&mut self) {
        if self.job_control
            && self.status.is_none()
            && os::terminal_foreground_group() == Some(os::own_process_group())
        {
            let _ = os::give_terminal_to(self.leader);
        }
        self.signal_tree(Signal::Cont);
    }

    /// Gives the terminal back to reaper's group if the command's group holds it (never takes
    /// it from anyone else, such as the shell after `bg`).
    fn take_terminal_back(&self) {
        if self.job_control && os::terminal_foreground_group() == Some(self.leader) {
            let _ = os::give_terminal_to(os::own_process_group());
        }
    }

    /// Stops the whole tree (graceful signal, SIGKILL after `kill_after`) on a helper thread
    /// while this thread keeps reaping, so exited members do not linger as zombies and the stop
    /// ends as soon as the last one is gone.
    fn stop_tree(&mut self) -> Result<StopReport, RunError> {
        let target = StopTarget::tree(
            TREE_NAME,
            self.anchor.clone(),
            StopPolicy::graceful(self.signal, self.kill_after),
        );
        let waker = self.watch.waker();
        let (done, result) = std::sync::mpsc::channel();
        // The result is sent before the wake-up, so the wake-up always finds it.
        std::thread::spawn(move || {
            let _ = done.send(terminate::stop_trees(std::slice::from_ref(&target)));
            waker.wake();
        });
        let reports = loop {
            self.reap();
            match result.try_recv() {
                Ok(reports) => break reports.map_err(RunError::Stop)?,
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    return Err(RunError::Stop(io::Error::other(
                        "the stopping thread panicked",
                    )));
                }
            }
            for signal in self.watch.wait(None) {
                self.handle(signal);
            }
        };
        self.reap();
        reports
            .into_iter()
            .next()
            .ok_or_else(|| RunError::Stop(io::Error::other("no report")))
    }

    /// Finds what the command left running and deals with it per `policy`.
    fn handle_leaks(&mut self, policy: LeakPolicy) -> Result<Vec<Leak>, RunError> {
        let live = self.live_members().map_err(RunError::ProcessTable)?;
        if live.is_empty() {
            return Ok(Vec::new());
        }
        if policy == LeakPolicy::Report {
            return Ok(live
                .into_iter()
                .map(|(identity, _, command)| Leak {
                    pid: identity.pid,
                    command,
                    action: LeakAction::LeftRunning,
                })
                .collect());
        }
        // The stop re-scans (so processes forked meanwhile are caught) and reports what it had
        // to end; a process that exited on its own in between was not left running after all.
        let report = self.stop_tree()?;
        Ok(report
            .processes
            .into_iter()
            .filter_map(
                |EndedProcess {
                     pid,
                     command,
                     outcome,
                     ..
                 }| {
                    Some(Leak {
                        pid,
                        command,
                        action: leak_action(outcome)?,
                    })
                },
            )
            .collect())
    }
}
