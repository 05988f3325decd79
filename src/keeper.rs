//! The keeper: one small process per managed service (`reaper __keeper`). It is a child
//! subreaper, spawns the service in a new session, reaps the service and every descendant that
//! gets orphaned, writes the leader's exit status, writes the service's log from its stdout and
//! stderr pipes (rotating it by rename, see [`crate::logfile`]), and exits once the whole tree is
//! gone.
//!
//! A keeper killed with SIGKILL takes the read ends of the pipes with it: the service gets
//! SIGPIPE at its next write (EPIPE if it ignores SIGPIPE), as any program whose output reader
//! dies; it is not reaped by the keeper any more either, and `reaper stop`/`clean` end what is
//! left as usual. Without it, an exited service on a host whose init does not reap stays a zombie.
//!
//! Protocol with `reaper start`: the spec arrives as one JSON line on stdin (so env values never
//! touch the disk or the command line); events leave as JSON lines on stdout. Once the record is
//! durably written, `reaper start` sends the line `recorded` and closes stdin. A keeper whose
//! stdin ends (or says anything else) first was launched by a `reaper` that died before it could
//! record the run: nothing could find the service, so the keeper stops its whole tree through
//! the stop engine, as `reaper stop` would, and exits as it does when the tree is gone.

use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::actionlog::now_rfc3339;
use crate::containment::{Anchor, MARKER_VAR};
use crate::identity::ProcessRef;
use crate::logfile::{LogPump, LogWriter};
use crate::os;
use crate::process::Pid;
use crate::state::{ExitRecord, StateDir};
use crate::terminate::{self, StopPolicy, StopTarget};

/// Everything the keeper needs to start the service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeeperSpec {
    /// Service name.
    pub name: String,
    /// Run id (also in the marker).
    pub run_id: String,
    /// Project root holding `.run/` and `.logs/`.
    pub state_root: PathBuf,
    /// Command and arguments.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// The complete environment of the service (the marker is added by the keeper).
    pub env: Vec<(String, String)>,
    /// Marker value.
    pub marker: String,
    /// Log file for stdout and stderr.
    pub log: PathBuf,
    /// Rotate the log when it grows past this many bytes.
    pub log_max_bytes: u64,
    /// Rotated logs kept (`NAME.log.1` … `NAME.log.N`).
    pub log_keep: u32,
    /// Start each line in the log with its time (`--log-timestamps`).
    #[serde(default)]
    pub log_timestamps: bool,
    /// The cgroup the service goes into (Linux, where cgroup v2 is usable); the keeper itself
    /// stays outside, so the cgroup holds exactly the service's tree.
    #[serde(default)]
    pub cgroup: Option<PathBuf>,
}

/// What the keeper reports to `reaper start`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeeperEvent {
    /// The service is running.
    Spawned {
        /// Leader pid.
        pid: Pid,
        /// Leader start-time token.
        start_time: u64,
    },
    /// The service could not be started.
    SpawnFailed {
        /// `not_found`, `not_executable` or `other`.
        kind: String,
        /// What went wrong.
        message: String,
    },
    /// The leader exited.
    Exited {
        /// Exit code, if it exited.
        code: Option<i32>,
        /// Signal number, if killed by one.
        signal: Option<i32>,
    },
}

/// How long the keeper waits, once the service's tree is gone, for output still held by a
/// process that escaped it.
const LOG_DRAIN: Duration = Duration::from_secs(2);

/// Longest wait, when the leader exits, for its last output to be written.
const SETTLE_LIMIT: Duration = Duration::from_millis(200);

/// Runs the keeper: reads the spec from stdin, reports on stdout. Returns the process exit code.
pub fn run() -> i32 {
    let mut input = String::new();
    if io::stdin().read_line(&mut input).is_err() {
        return 2;
    }
    let Ok(spec) = serde_json::from_str::<KeeperSpec>(&input) else {
        return 2;
    };
    let mut out = io::stdout();
    let mut emit = |event: &KeeperEvent| {
        // `reaper start` stops listening once the service is up; later events are best effort.
        let line = serde_json::to_string(event).expect("events serialise");
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    };
    let contained = os::contain_run(&spec.run_id);
    let log = match LogWriter::open(
        &spec.log,
        spec.log_max_bytes,
        spec.log_keep,
        spec.log_timestamps,
    ) {
        Ok(log) => log,
        Err(e) => {
            emit(&KeeperEvent::SpawnFailed {
                kind: "other".into(),
                message: format!("cannot open the log {}: {e}", spec.log.display()),
            });
            return 1;
        }
    };
    let spawned = os_pipe::pipe().and_then(|(stdout_read, stdout)| {
        let (stderr_read, stderr) = os_pipe::pipe()?;
        // The write ends go with the launch and are closed here once the service has them,
        // so the pipes end when the service's tree has closed them.
        let child = spawn_service(&spec, stdout, stderr)?;
        Ok((child, stdout_read, stderr_read))
    });
    let (child, stdout, stderr) = match spawned {
        Ok(spawned) => spawned,
        Err(e) => {
            // Judged by the path too: the clone3 spawn reports exec's EACCES for a directory.
            let kind = match os::unrunnable(&spec.argv[0], &spec.cwd, Some(e.kind())) {
                Some(os::Unrunnable::NotFound) => "not_found",
                Some(os::Unrunnable::IsADirectory) => "is_a_directory",
                Some(os::Unrunnable::NotExecutable) => "not_executable",
                None => "other",
            };
            emit(&KeeperEvent::SpawnFailed {
                kind: kind.into(),
                message: e.to_string(),
            });
            return 1;
        }
    };
    let pump = LogPump::start(log, stdout, stderr);
    if let Err(e) = contained {
        pump.note(&format!("cannot contain the service's descendants: {e}"));
    }
    let leader = child.id();
    let start_time = os::process_info(leader).map_or(0, |info| info.start_time);
    emit(&KeeperEvent::Spawned {
        pid: leader,
        start_time,
    });
    let anchor = Anchor {
        leader: ProcessRef {
            pid: leader,
            start_time,
            boot_id: os::boot_id().unwrap_or_default(),
        },
        keeper: os::process_info(std::process::id()).and_then(|info| ProcessRef::of(&info).ok()),
        run_id: spec.run_id.clone(),
        cgroup: spec.cgroup.clone(),
    };
    // Not joined: the supervision below ends the keeper once the tree is gone, whatever this
    // thread is waiting for.
    let name = spec.name.clone();
    std::thread::spawn(move || stop_unless_recorded(&name, anchor));
    let state = StateDir {
        root: spec.state_root.clone(),
    };
    os::supervise_service(child, |code, signal| {
        let exit = ExitRecord {
            run_id: spec.run_id.clone(),
            code,
            signal,
            at: now_rfc3339(),
        };
        // Only while the record is still this run's: a stop removes it first.
        if record_is_this_run(&state, &spec) {
            let _ = state.save_exit(&spec.name, &exit);
        }
        // `reaper start` shows the log's last lines when the service exits during start-up:
        // what the leader wrote before it exited must be on disk by then.
        pump.settle(SETTLE_LIMIT);
        emit(&KeeperEvent::Exited { code, signal });
    });
    // The whole tree is gone (we reap every orphan of it): its cgroup goes too, unless
    // something still holds it (then `stop` or `clean` finds it there).
    if let Some(cgroup) = &spec.cgroup {
        if !os::cgroup_is_populated(cgroup).unwrap_or(true) {
            let _ = os::remove_cgroup(cgroup);
        }
    }
    pump.finish(LOG_DRAIN);
    0
}

/// The line `reaper start` sends once the run is recorded.
const RECORDED: &str = "recorded";

/// Grace for the service's tree between SIGTERM and SIGKILL when its launcher died unrecorded
/// (what `reaper stop` gives by default).
const UNRECORDED_GRACE: Duration = Duration::from_secs(5);

/// Waits for `reaper start` to confirm the record; if its stdin ends first (it died), stops the
/// service's whole tree: a run nothing records must not outlive the `reaper` that launched it.
fn stop_unless_recorded(name: &str, anchor: Anchor) {
    let mut line = String::new();
    let recorded = io::stdin().read_line(&mut line).is_ok() && line.trim_end() == RECORDED;
    if recorded {
        return;
    }
    let target = StopTarget::tree(
        name,
        anchor,
        StopPolicy::graceful(crate::signal::Signal::Term, UNRECORDED_GRACE),
    );
    // The supervision in the main thread reaps the tree and ends the keeper; a failed stop
    // leaves the service to `reaper clean --kill`, which finds it by its cgroup or marker.
    let _ = terminate::stop_trees(&[target]);
}

/// How long the keeper waits for `reaper start` to write the record of a leader that exited at
/// once (the record is written only after the keeper reports the spawn).
const RECORD_WAIT: Duration = Duration::from_secs(1);

/// True when the record of `spec.name` is this run's. A leader that exits right after the spawn
/// can be reaped before `reaper start` has written the record: a missing record is waited for
/// (briefly), so the exit status of such a run is recorded too.
fn record_is_this_run(state: &StateDir, spec: &KeeperSpec) -> bool {
    let deadline = std::time::Instant::now() + RECORD_WAIT;
    loop {
        match state.load(&spec.name) {
            Ok(Some(crate::state::Entry::Record(r))) => return r.run_id == spec.run_id,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => return false,
        }
    }
}

fn spawn_service(
    spec: &KeeperSpec,
    stdout: os_pipe::PipeWriter,
    stderr: os_pipe::PipeWriter,
) -> io::Result<os::Spawned> {
    let (program, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let path = spec
        .env
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("PATH"))
        .map(|(_, value)| std::ffi::OsStr::new(value));
    let mut env = spec.env.clone();
    env.retain(|(name, _)| name != MARKER_VAR);
    env.push((MARKER_VAR.to_string(), spec.marker.clone()));
    os::spawn_service(&os::ServiceLaunch {
        program: os::spawnable_program(program, &spec.cwd, path),
        args,
        cwd: &spec.cwd,
        env,
        stdout,
        stderr,
        cgroup: spec.cgroup.as_deref(),
    })
}

/// Reads keeper events from its stdout, one JSON line each.
pub fn read_event(reader: &mut impl BufRead) -> Option<KeeperEvent> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => serde_json::from_str(&line).ok(),
    }
}

/// Writes the spec for a keeper, as one line; used by `reaper start`.
pub fn write_spec(stdin: &mut impl Write, spec: &KeeperSpec) -> io::Result<()> {
    serde_json::to_writer(&mut *stdin, spec)?;
    stdin.write_all(b"\n")?;
    stdin.flush()
}

/// Tells the keeper its run is recorded and closes its stdin; used by `reaper start` once the
/// record is durably written. Until then, the keeper stops its service if stdin ends.
pub fn confirm_recorded(mut stdin: impl Write) -> io::Result<()> {
    writeln!(stdin, "{RECORDED}")?;
    stdin.flush()
}
