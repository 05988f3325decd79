//! CI mode of `reaper up`: `--exit-with SERVICE` (run until SERVICE ends, exit with its code),
//! `--abort-on-exit` (the first service to end stops the stack, its code is the exit code),
//! `--timeout D` (exit 124), and after the shutdown a leak audit: no process left in the
//! containment of any run the stack started, no declared or used port still held, no record of
//! the stack left. A leak makes the exit code non-zero and is named.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::containment::MarkerCache;
use crate::os;
use crate::ports;
use crate::service::live_members;
use crate::state::{Record, StateDir};
use crate::units::format_duration;

/// Exit code of `reaper up --timeout` when the time ran out (as `timeout(1)`).
pub const EXIT_TIMEOUT: u8 = super::run::EXIT_TIMEOUT;
/// Exit code when the run itself passed but the audit found something left.
pub const EXIT_LEAK: u8 = 1;

/// What CI mode asks for; all off by default.
#[derive(Debug, Clone, Default)]
pub struct CiOptions {
    /// Run until this service ends; exit with its exit code.
    pub exit_with: Option<String>,
    /// The first service to end stops the stack (a task that completes does not count).
    pub abort_on_exit: bool,
    /// Bound on the whole run.
    pub timeout: Option<Duration>,
}

impl CiOptions {
    /// True when any CI option is set (then the leak audit runs after the shutdown).
    pub fn active(&self) -> bool {
        self.exit_with.is_some() || self.abort_on_exit || self.timeout.is_some()
    }
}

/// A shell's exit code for a process that ended with `code` or by `signal`.
pub fn exit_code(code: Option<i32>, signal: Option<i32>) -> u8 {
    match (code, signal) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + (signal & 0x7f)).unwrap_or(1),
        (None, None) => 1,
    }
}

/// The CI decisions of one run of `up`.
#[derive(Debug)]
pub(super) struct CiRun {
    options: CiOptions,
    deadline: Option<Instant>,
    code: Option<u8>,
    runs: Vec<Record>,
}

impl CiRun {
    pub(super) fn new(options: &CiOptions, began: Instant) -> CiRun {
        CiRun {
            options: options.clone(),
            deadline: options.timeout.map(|limit| began + limit),
            code: None,
            runs: Vec::new(),
        }
    }

    /// `name` ended for good (no restart follows) with exit code `code`; returns why the stack
    /// must stop now, if it must. Only the first end decides the exit code.
    pub(super) fn ended(&mut self, name: &str, code: u8, completed_task: bool) -> Option<String> {
        if self.code.is_some() {
            return None;
        }
        let why = if self.options.exit_with.as_deref() == Some(name) {
            format!("--exit-with {name}: {name} ended with exit code {code}; stopping the stack")
        } else if self.options.abort_on_exit && !completed_task {
            format!("--abort-on-exit: {name} ended with exit code {code}; stopping the stack")
        } else {
            return None;
        };
        self.code = Some(code);
        Some(why)
    }

    /// Once the `--timeout` is over (checked once): why the stack must stop.
    pub(super) fn timed_out(&mut self, now: Instant) -> Option<String> {
        let limit = self.options.timeout?;
        if self.code.is_some() || self.deadline.is_none_or(|at| now < at) {
            return None;
        }
        self.code = Some(EXIT_TIMEOUT);
        Some(format!(
            "--timeout {}: the time is up; stopping the stack (exit code {EXIT_TIMEOUT})",
            format_duration(limit)
        ))
    }

    /// Remembers a run the stack started, for the audit.
    pub(super) fn saw(&mut self, record: &Record) {
        self.runs.push(record.clone());
    }

    /// The exit code: the one CI mode decided, else `default`; a leak turns a 0 into
    /// [`EXIT_LEAK`].
    pub(super) fn exit_code(&self, default: u8, leaks: &[String]) -> u8 {
        match self.code.unwrap_or(default) {
            0 if !leaks.is_empty() => EXIT_LEAK,
            code => code,
        }
    }

    /// What the stack left behind (`None` outside CI mode): processes still in the
    /// containment of a run it started, `ports` (declared or used) still held, and
    /// `records_left`, the names of its records still in the state directory.
    pub(super) fn audit(
        &self,
        state: &StateDir,
        ports: &BTreeSet<u16>,
        records_left: &[String],
    ) -> Option<Vec<String>> {
        if !self.options.active() {
            return None;
        }
        let mut leaks = Vec::new();
        match os::snapshot() {
            Ok(snapshot) => {
                let mut markers = MarkerCache::default();
                for run in &self.runs {
                    let left = live_members(&snapshot, run, &mut markers);
                    if !left.is_empty() {
                        let pids: Vec<String> = left.iter().map(ToString::to_string).collect();
                        leaks.push(format!(
                            "{} (run {}) left process{} {}",
                            run.name,
                            run.run_id,
                            if pids.len() == 1 { "" } else { "es" },
                            pids.join(", ")
                        ));
                    }
                }
            }
            Err(e) => leaks.push(format!("cannot read the process table to audit: {e}")),
        }
        for &port in ports {
            match ports::lookup(port, state) {
                Ok(report) if report.held => leaks.push(format!(
                    "port {port} is still held by {}",
                    super::worker::holders_of(&report)
                )),
                Ok(_) => {}
                Err(e) => leaks.push(format!("cannot check port {port}: {e}")),
            }
        }
        for name in records_left {
            leaks.push(format!(
                "the record of {name} is still in the state directory"
            ));
        }
        Some(leaks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ci(exit_with: Option<&str>, abort_on_exit: bool, timeout: Option<u64>) -> CiRun {
        let options = CiOptions {
            exit_with: exit_with.map(str::to_string),
            abort_on_exit,
            timeout: timeout.map(Duration::from_secs),
        };
        CiRun::new(&options, Instant::now())
    }

    #[test]
    fn exit_with_waits_for_its_service_and_takes_its_code() {
        let mut run = ci(Some("test"), false, None);
        assert_eq!(run.ended("api", 1, false), None);
        assert!(
            run.ended("test", 3, true)
                .unwrap()
                .contains("--exit-with test")
        );
        assert_eq!(run.exit_code(1, &[]), 3);
        // Only the first end decides.
        assert_eq!(run.ended("test", 0, true), None);
    }

    #[test]
    fn abort_on_exit_ignores_completed_tasks() {
        let mut run = ci(None, true, None);
        assert_eq!(run.ended("migrate", 0, true), None);
        assert!(run.ended("migrate2", 2, false).is_some());
        assert_eq!(run.exit_code(1, &[]), 2);
    }

    #[test]
    fn timeout_is_124_once() {
        let mut run = ci(None, false, Some(5));
        assert_eq!(run.timed_out(Instant::now()), None);
        let later = Instant::now() + Duration::from_secs(6);
        assert!(run.timed_out(later).is_some());
        assert_eq!(run.timed_out(later), None);
        assert_eq!(run.exit_code(0, &[]), 124);
    }

    #[test]
    fn a_leak_fails_a_passing_run_and_keeps_a_failing_code() {
        let mut run = ci(Some("test"), false, None);
        run.ended("test", 0, true);
        assert_eq!(
            run.exit_code(0, &["port 1 is still held".into()]),
            EXIT_LEAK
        );
        let mut run = ci(Some("test"), false, None);
        run.ended("test", 3, true);
        assert_eq!(run.exit_code(0, &["port 1 is still held".into()]), 3);
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(Some(3), None), 3);
        assert_eq!(exit_code(None, Some(9)), 137);
        assert_eq!(exit_code(None, None), 1);
    }
}
