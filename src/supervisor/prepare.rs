//! Before `reaper up` starts anything: refuse to start over a running stack or service, or, with
//! `--kill-existing`, end them and free the declared ports.

use std::time::Duration;

use super::printer::Printer;
use super::up::{UpError, UpOptions};
use super::worker::stop_options;
use crate::ports;
use crate::service;
use crate::signal::Signal;
use crate::stack::Stack;
use crate::stack::control::stop_names;
use crate::stack::status;
use crate::state::StateDir;
use crate::terminate::{Outcome, StopPolicy};

/// Refuses to start over a running stack or service, or with `kill_existing` ends them and
/// frees the declared ports.
pub(super) fn prepare(
    state: &StateDir,
    stack: &Stack,
    order: &[String],
    options: &UpOptions,
    printer: &mut Printer,
) -> Result<(), UpError> {
    let existing = status::read(state)
        .filter(|e| e.supervisor.pid != std::process::id() && e.supervisor_alive());
    if let Some(existing) = existing {
        if !options.kill_existing {
            return Err(UpError::AlreadyRunning(format!(
                "the stack is already up: its supervisor is pid {} (started {}); `reaper ps` shows it, `reaper down` stops it, --kill-existing replaces it",
                existing.supervisor.pid, existing.started_at
            )));
        }
        printer.event(&format!(
            "--kill-existing: stopping the running stack (supervisor pid {})",
            existing.supervisor.pid
        ));
        let report =
            crate::stack::control::down(state, Some(stack), &mut |line| printer.event(line));
        if let Err(e) = report {
            return Err(UpError::Failed(e.to_string()));
        }
    }
    let has_records = order
        .iter()
        .any(|name| state.record_path(name).exists() || state.pid_path(name).exists());
    if has_records {
        let statuses = service::status(state, None)?;
        for s in statuses.iter().filter(|s| order.contains(&s.name)) {
            if s.state != service::ServiceState::Running
                && s.state != service::ServiceState::Unverified
            {
                continue;
            }
            if s.state == service::ServiceState::Unverified
                && !s.problem.as_deref().unwrap_or_default().contains("alive")
            {
                continue;
            }
            let pid = s.pid.map_or_else(|| "?".to_string(), |p| p.to_string());
            if !options.kill_existing || s.state == service::ServiceState::Unverified {
                return Err(UpError::AlreadyRunning(format!(
                    "{} is already running (pid {pid}); `reaper stop {}` or `reaper down` stops it, --kill-existing replaces it",
                    s.name, s.name
                )));
            }
            let spec = stack.service(&s.name).expect("selected services exist");
            for report in stop_names(state, vec![s.name.clone()], stop_options(spec)) {
                printer.event(&format!(
                    "--kill-existing: {}",
                    report.summary(spec.stop_signal)
                ));
            }
        }
    }
    if options.kill_existing {
        for spec in order.iter().filter_map(|name| stack.service(name)) {
            let Some(port) = spec.port.filter(|_| !spec.fallback) else {
                continue;
            };
            let free = ports::free(
                port,
                state,
                ports::FreeOptions {
                    policy: StopPolicy::graceful(Signal::Term, Duration::from_secs(5)),
                    attempts: 3,
                },
            )
            .map_err(|e| UpError::Failed(format!("--kill-existing: port {port}: {e}")))?;
            for ended in &free.ended {
                let (pid, command) = (ended.pid, &ended.command);
                printer.event(&match ended.outcome {
                    Outcome::AlreadyExited => format!(
                        "--kill-existing: port {port}: pid {pid} ({command}) had already exited"
                    ),
                    _ => format!("--kill-existing: port {port}: ended pid {pid} ({command})"),
                });
            }
            for stopped in &free.services {
                printer.event(&format!(
                    "--kill-existing: port {port}: {}",
                    stopped.report.summary(Signal::Term)
                ));
            }
            if !free.freed {
                return Err(UpError::Failed(format!(
                    "--kill-existing: port {port} is still in use: {}",
                    free.problem
                        .or(free.refused)
                        .unwrap_or_else(|| "unknown holder".into())
                )));
            }
        }
    }
    Ok(())
}
