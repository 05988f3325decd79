//! `reaper clean`.

use std::io::{self, Write};

use reaper::service;
use reaper::state::StateDir;

use super::{CliResult, EXIT_FAILURE, EXIT_OK, StopArgs, output};

/// Remove records of services that are gone, and find orphans.
///
/// Removes records whose processes are all gone or whose pid now belongs to a different process,
/// pid files (from any tool) whose process is gone, and the temporary files of state writes whose
/// writer was killed (records, pid and env files, the stack status file). Lists processes that carry this project's
/// reaper marker but have no record (orphans); --kill ends them, each with its whole tree.
/// Unreadable records and invalid pid files are reported and left alone.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper clean
  reaper clean --kill
  reaper clean --kill --timeout 2s --json")]
pub struct Args {
    /// End the orphans found (graceful signal, then SIGKILL after --timeout).
    #[arg(long)]
    kill: bool,
    #[command(flatten)]
    stop: StopArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(state: &StateDir, args: Args) -> CliResult {
    let report = service::clean(state, args.kill, args.stop.options())?;
    if args.json {
        output::json(&serde_json::json!({"schema": 1, "clean": report}))?;
    } else {
        for action in &report.actions {
            writeln!(
                io::stdout(),
                "{}: {} ({})",
                action.name,
                action.action,
                action.reason
            )?;
        }
        if !report.orphans.is_empty() {
            writeln!(
                io::stdout(),
                "{} orphan process{} carrying this project's marker without a record:",
                report.orphans.len(),
                if report.orphans.len() == 1 { "" } else { "es" }
            )?;
            for orphan in &report.orphans {
                writeln!(
                    io::stdout(),
                    "  {:>7}  {:<16} {}",
                    orphan.pid,
                    output::truncate(&orphan.name, 16),
                    output::truncate(&orphan.command, 100)
                )?;
            }
            if !args.kill {
                writeln!(io::stdout(), "run `reaper clean --kill` to end them")?;
            }
        }
        for leftover in &report.leftover_cgroups {
            writeln!(
                io::stdout(),
                "leftover cgroup {} of {}: {} process{} ({})",
                leftover.path.display(),
                leftover.owner,
                leftover.pids.len(),
                if leftover.pids.len() == 1 { "" } else { "es" },
                if args.kill {
                    "ending them"
                } else {
                    "run `reaper clean --kill` to end them"
                }
            )?;
        }
        for stopped in &report.stopped {
            output::stop_report(stopped, args.stop.signal)?;
        }
        if report.actions.is_empty()
            && report.orphans.is_empty()
            && report.leftover_cgroups.is_empty()
        {
            writeln!(io::stdout(), "nothing to clean")?;
        }
    }
    let all_gone = report.stopped.iter().all(|r| r.complete());
    Ok(if all_gone { EXIT_OK } else { EXIT_FAILURE })
}
