//! `reaper run`.

use std::path::PathBuf;
use std::time::Duration;

use reaper::signal::Signal;
use reaper::supervisor::run::{
    self as supervise, EXIT_INTERNAL, LeakAction, LeakPolicy, RunOptions, RunReport,
};
use reaper::units::format_duration;

use super::{CliError, CliResult, EXIT_USAGE, duration_arg, signal_arg};

/// Run CMD in the foreground with a timeout; nothing it starts outlives it.
///
/// CMD runs with the terminal's stdin, stdout and stderr, in a process group of its own (the
/// terminal's foreground group when reaper holds the terminal, so CMD can read it and gets
/// Ctrl-C from it directly; without a terminal, a session of its own), carrying a marker. reaper
/// is a child subreaper meanwhile, so daemons that CMD starts are reparented to it. SIGINT,
/// SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH sent to reaper are forwarded to every
/// process of the tree; a second SIGINT sends SIGKILL. Ctrl-Z suspends the tree and reaper
/// together, and `fg` resumes both.
///
/// When --timeout expires, the graceful signal goes to the whole tree, and SIGKILL follows
/// after --kill-after. When CMD exits, whatever it left running (adopted orphans, marker
/// carriers, its group) is handled per --leaks, one line each on stderr. Exited orphans are
/// always reaped.
///
/// On Windows, CMD runs in a process group of its own in the same console and in a job object
/// with reaper. Ctrl-C, Ctrl-Break and closing the console reach reaper as SIGINT, SIGTERM and
/// SIGHUP and are passed on to CMD's group as Ctrl-Break; other processes get WM_CLOSE, and
/// SIGKILL is TerminateProcess. There is no Ctrl-Z.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper run -- make test
  reaper run --timeout 10m -- npm test
  reaper run --timeout 30s --kill-after 2s --signal INT -- ./integration.sh
  reaper run --leaks fail --json-report run.json -- pytest
  echo hi | reaper run -- cat

Exit codes:
  N      CMD's exit code (0 when it succeeded)
  128+N  CMD was killed by signal N (e.g. 130 for SIGINT, 143 for SIGTERM)
  122    --leaks fail: CMD left processes running (they were ended)
  124    --timeout expired; the tree exited after the graceful signal
  125    reaper run itself failed (signals, process table, report file)
  126    CMD was found but cannot be executed
  127    CMD was not found
  137    --timeout expired and some process needed SIGKILL
  2      bad usage (options, durations, signals, report directory)")]
pub struct Args {
    /// End the whole tree after this long (10, 10s, 500ms, 2m; 0: no limit).
    #[arg(long, value_parser = duration_arg, value_name = "DURATION")]
    timeout: Option<Duration>,
    /// After the graceful signal (on timeout, or to end leaked processes), SIGKILL whatever is
    /// still alive after this long.
    #[arg(long, default_value = "5s", value_parser = duration_arg, value_name = "DURATION")]
    kill_after: Duration,
    /// Graceful signal sent to every process of the tree on timeout and to leaked processes.
    #[arg(long, default_value = "TERM", value_parser = signal_arg, value_name = "SIG")]
    signal: Signal,
    /// What to do with processes still running when CMD exits: kill (end and reap them),
    /// report (list them, leave them running) or fail (end them and exit 122).
    #[arg(long, value_enum, default_value_t = Leaks::Kill, value_name = "POLICY")]
    leaks: Leaks,
    /// Write a JSON report to FILE: command, exit status, duration, whether it timed out, and
    /// every leaked process with what was done to it.
    #[arg(long, value_name = "FILE")]
    json_report: Option<PathBuf>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Leaks {
    /// End leaked processes (graceful signal, then SIGKILL), reap them, print one line each.
    Kill,
    /// List leaked processes and leave them running.
    Report,
    /// End them like kill, and exit 122 even if CMD succeeded.
    Fail,
}

impl From<Leaks> for LeakPolicy {
    fn from(leaks: Leaks) -> LeakPolicy {
        match leaks {
            Leaks::Kill => LeakPolicy::Kill,
            Leaks::Report => LeakPolicy::Report,
            Leaks::Fail => LeakPolicy::Fail,
        }
    }
}

pub fn run(args: Args) -> CliResult {
    if let Some(path) = &args.json_report {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if parent.is_some_and(|dir| !dir.is_dir()) {
            return Err(CliError::new(
                EXIT_USAGE,
                format!(
                    "cannot write the report to {}: its directory does not exist",
                    path.display()
                ),
            ));
        }
    }
    let options = RunOptions {
        argv: args.command,
        timeout: args.timeout,
        kill_after: args.kill_after,
        signal: args.signal,
        leaks: args.leaks.into(),
    };
    let report =
        supervise::run(&options).map_err(|e| CliError::new(EXIT_INTERNAL, e.to_string()))?;
    print_summary(&report, &options);
    if let Some(path) = &args.json_report {
        let mut text = serde_json::to_vec_pretty(&report).expect("reports serialise");
        text.push(b'\n');
        reaper::state::write_atomic(path, &text).map_err(|e| {
            CliError::new(
                EXIT_INTERNAL,
                format!("cannot write the report to {}: {e}", path.display()),
            )
        })?;
    }
    Ok(report.exit_code)
}

/// One line on stderr per thing worth knowing: a start failure, a timeout, each leaked process.
/// stdout belongs to the command.
fn print_summary(report: &RunReport, options: &RunOptions) {
    let signal = options.signal;
    if let Some(error) = &report.error {
        eprintln!("reaper: {error}");
    }
    if let Some(stop) = &report.timeout_stop {
        eprintln!(
            "reaper: timed out after {}; its tree was ended: {}",
            format_duration(options.timeout.unwrap_or_default()),
            stop.tally(signal)
        );
    }
    for leak in &report.leaks {
        let what = match leak.action {
            LeakAction::Ended => format!("ended after {signal}"),
            LeakAction::Killed => "killed with SIGKILL".to_string(),
            LeakAction::Survived => "SURVIVED SIGKILL".to_string(),
            LeakAction::LeftRunning => "left running".to_string(),
        };
        eprintln!(
            "reaper: leaked process {} ({}): {what}",
            leak.pid,
            reaper::text::escape(&leak.command)
        );
    }
}
