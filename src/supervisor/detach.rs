//! `reaper up -d`: the supervisor started detached, as the managed service `_stack`.

use std::path::Path;
use std::time::Duration;

use super::up::{TICK, UpError, UpOptions};
use super::worker::{LOG_KEEP, LOG_MAX_BYTES, log_len};
use crate::os::{self, Pinned};
use crate::service::{self, StartError, StartRequest};
use crate::stack::probe::LogTail;
use crate::stack::status::{self, StackPhase, StackStatus};
use crate::stack::{SUPERVISOR_NAME, Stack};
use crate::state::StateDir;

/// Starts the supervisor detached, as the managed service [`SUPERVISOR_NAME`] (so it has a
/// keeper and a record like any service), prints its lines as they come, and returns once every
/// service is ready (exit code 0) or the supervisor gave up (1, after printing why).
pub fn detach(
    state: &StateDir,
    stack: &Stack,
    options: &UpOptions,
    cwd: &Path,
    on_line: &mut dyn FnMut(&str),
) -> Result<u8, UpError> {
    stack
        .selection(&options.services)
        .map_err(UpError::BadInput)?;
    state.ensure()?;
    let running = status::read(state).filter(StackStatus::supervisor_alive);
    if options.kill_existing && (running.is_some() || state.record_path(SUPERVISOR_NAME).exists()) {
        on_line("--kill-existing: stopping the running stack");
        crate::stack::control::down(state, Some(stack), on_line)
            .map_err(|e| UpError::Failed(e.to_string()))?;
    } else if let Some(existing) = running {
        return Err(UpError::AlreadyRunning(format!(
            "the stack is already up: its supervisor is pid {} (started {}); `reaper ps` shows it, `reaper down` stops it, --kill-existing replaces it",
            existing.supervisor.pid, existing.started_at
        )));
    }
    let exe = std::env::current_exe().map_err(|e| UpError::Failed(e.to_string()))?;
    let mut argv: Vec<String> = vec![
        exe.display().to_string(),
        "--state-dir".into(),
        state.root.display().to_string(),
        "up".into(),
        "--supervisor".into(),
        "-f".into(),
        stack.file.display().to_string(),
    ];
    if options.kill_existing {
        argv.push("--kill-existing".into());
    }
    if !options.watch {
        argv.push("--no-watch".into());
    }
    for profile in &options.profiles {
        argv.extend(["--profile".into(), profile.clone()]);
    }
    if !options.services.is_empty() {
        argv.push("--".into());
        argv.extend(options.services.iter().cloned());
    }
    let log = state.default_log_path(SUPERVISOR_NAME);
    let mut tail = LogTail::new(&log, log_len(&log));
    let request = StartRequest {
        name: SUPERVISOR_NAME.into(),
        argv,
        cwd: cwd.to_path_buf(),
        env: Vec::new(),
        env_files: Vec::new(),
        port: None,
        log: None,
        min_uptime: Duration::ZERO,
        ready_timeout: Duration::from_secs(30),
        log_max_bytes: LOG_MAX_BYTES,
        log_keep: LOG_KEEP,
        log_timestamps: false,
        stack: None,
        wait_for_port: false,
    };
    let started = service::start(state, &request).map_err(|e| match e {
        StartError::AlreadyRunning { .. } => UpError::AlreadyRunning(format!(
            "{e} (the detached supervisor is already running; `reaper down` stops it)"
        )),
        other => UpError::Failed(other.to_string()),
    })?;
    let supervisor = started.record.leader.clone();
    let pinned = supervisor.pin().ok();
    loop {
        for line in tail.lines() {
            on_line(&line);
        }
        let current = status::read(state).filter(|s| s.supervisor.pid == supervisor.pid);
        if let Some(current) = &current {
            if current.phase == StackPhase::Running {
                return Ok(0);
            }
        }
        let gone = pinned.as_ref().is_none_or(Pinned::has_exited);
        if gone {
            for line in tail.drain() {
                on_line(&line);
            }
            // The supervisor stopped what it started; remove its record and anything left.
            let _ = crate::stack::control::down(state, Some(stack), &mut |_| {});
            return Ok(1);
        }
        match pinned.as_ref() {
            Some(p) => os::wait_for_exit(&[p], TICK),
            None => std::thread::sleep(TICK),
        }
    }
}
