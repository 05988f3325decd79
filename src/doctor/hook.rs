//! `--on-finding CMD`: a command that hears about findings (a `curl` to a chat webhook). It is a
//! subprocess like any other, so reaper's own rules apply to it: it runs in a session of its own
//! with a [marker](crate::containment::MARKER_VAR) naming this reaper process, gets the JSON
//! report on stdin, and has a time limit; when it exceeds it, or when it exits leaving
//! processes behind, its whole tree is ended through the stop engine and reported.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::containment::{self, Anchor, MARKER_VAR, Marker};
use crate::identity::ProcessRef;
use crate::os;
use crate::signal::Signal;
use crate::terminate::{self, Outcome, StopPolicy, StopReport, StopTarget};

/// Name of a hook's tree in stop reports.
pub const HOOK_TREE_NAME: &str = "on-finding hook";

/// How long the hook's processes get after SIGTERM before SIGKILL.
const HOOK_GRACE: Duration = Duration::from_secs(2);

/// How a hook run ended.
#[derive(Debug)]
pub struct HookOutcome {
    /// The hook's exit code; `None` when it was ended by a signal (by us, on timeout).
    pub exit_code: Option<i32>,
    /// True when it ran past its time limit and was ended.
    pub timed_out: bool,
    /// The stop of its tree: after a timeout, or when it left processes running; `None` when
    /// nothing was left to end.
    pub stopped: Option<StopReport>,
}

impl HookOutcome {
    /// True when the hook exited with 0 by itself and left nothing running.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && self.stopped.is_none()
    }
}

/// Why a hook could not be run or ended.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The command could not be started.
    #[error("cannot start the --on-finding command `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: io::Error,
    },
    /// Its identity could not be read, or its tree could not be stopped.
    #[error("cannot end the --on-finding command's processes: {0}")]
    Stop(io::Error),
}

/// Runs `command` through the platform's shell with `input` on its stdin and its stdout sent to
/// reaper's stderr (reaper's stdout may be a JSON report). Waits at most `timeout` for it to
/// exit, then ends its whole tree; ends whatever it leaves running too.
pub fn run_hook(command: &str, input: &[u8], timeout: Duration) -> Result<HookOutcome, HookError> {
    let spawn_error = |source| HookError::Spawn {
        command: command.to_string(),
        source,
    };
    let own = os::process_info(std::process::id())
        .ok_or_else(|| HookError::Stop(io::Error::other("reaper is not in the process table")))?;
    // The marker names this process, as `reaper run`'s does: once this reaper is gone, `doctor`
    // and `clean` find whatever the hook left as orphans.
    let marker = Marker {
        run_id: crate::service::random_id(),
        name: containment::run_owner_name(own.pid, own.start_time),
        run_dir: PathBuf::new(),
    };
    let registration = containment::RunRegistration::new().map_err(spawn_error)?;
    let argv = os::shell_command(command);
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env(MARKER_VAR, marker.encode())
        .stdin(Stdio::piped())
        .stdout(Stdio::from(io::stderr()));
    os::spawn_in_new_session(&mut cmd);
    let mut child = cmd.spawn().map_err(spawn_error)?;
    let leader = os::process_info(child.id())
        .ok_or_else(|| {
            io::Error::other(format!(
                "process {} is not in the process table",
                child.id()
            ))
        })
        .and_then(|info| ProcessRef::of(&info))
        .map_err(HookError::Stop)?;
    // A hook that does not read its stdin must not block us: the report is written by a thread
    // of its own, which fails with a broken pipe once the hook is gone.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    // The waiter reaps the hook as soon as it exits (also while the stop engine ends it, which
    // waits for its members to be reaped).
    let (exited, exit) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = exited.send(());
        status
    });
    let timed_out = matches!(
        exit.recv_timeout(timeout),
        Err(mpsc::RecvTimeoutError::Timeout)
    );
    let target = StopTarget::tree(
        HOOK_TREE_NAME,
        Anchor::adopted(leader, marker.run_id),
        StopPolicy::graceful(HOOK_SIGNAL, HOOK_GRACE),
    );
    let report = terminate::stop_trees(&[target])
        .map_err(HookError::Stop)?
        .pop()
        .filter(|report| timed_out || !report.processes.is_empty());
    let status = waiter
        .join()
        .expect("the hook's waiter does not panic")
        .map_err(HookError::Stop)?;
    let _ = writer.join();
    let left = report.as_ref().is_some_and(|report| {
        report
            .processes
            .iter()
            .any(|p| matches!(p.outcome, Outcome::Survived | Outcome::StillRunning))
    });
    if !left {
        registration.release();
    }
    Ok(HookOutcome {
        exit_code: status.code(),
        timed_out,
        stopped: report,
    })
}

/// The signal the stop of a hook's tree starts with, for its report.
pub const HOOK_SIGNAL: Signal = Signal::Term;
