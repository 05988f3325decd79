//! `reaper stop`.

use std::io::{self, Write};

use reaper::service::{self, Selection, StopError, StopSummary};
use reaper::state::StateDir;

use super::{
    CliError, CliResult, EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_OK, StopArgs, output, state_code,
};

/// Stop services and everything they started.
///
/// Sends the graceful signal to every process of each tree (session, descendants, and every
/// process carrying the service's marker, including setsid daemons), waits until the whole tree
/// is gone, then SIGKILLs whatever is left, verifies, and removes the record. Processes forked
/// during the stop are caught too. Prints one line per process ended and how it ended.
///
/// A stop still waiting after a second says so on stderr: on a terminal a live line names the
/// processes still alive and counts down to SIGKILL (cleared when the stop ends); elsewhere one
/// line when the wait starts and one when it ends.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper stop api
  reaper stop api web --timeout 3s
  reaper stop worker --signal INT
  reaper stop --all --json")]
pub struct Args {
    /// Services to stop.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    names: Vec<String>,
    /// Stop every managed service, in parallel.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    stop: StopArgs,
    /// Print the reports as JSON.
    #[arg(long)]
    json: bool,
}

/// Maps a stop error to its exit code.
pub fn exit_code(error: &StopError) -> u8 {
    match error {
        StopError::NotFound(_) => EXIT_NOT_FOUND,
        StopError::State(e) => state_code(e),
        _ => EXIT_FAILURE,
    }
}

pub fn run(state: &StateDir, args: Args) -> CliResult {
    let selection = if args.all {
        Selection::All
    } else {
        Selection::Names(args.names)
    };
    let summary = service::stop(state, &selection, args.stop.options())
        .map_err(|e| CliError::new(exit_code(&e), e.to_string()))?;
    if args.json {
        output::json(&serde_json::json!({
            "schema": 1,
            "stopped": summary.reports,
            "skipped": summary.skipped.iter().map(|(name, why)| serde_json::json!({"name": name, "reason": why})).collect::<Vec<_>>(),
            "unremoved": summary.unremoved.iter().map(|(name, error)| serde_json::json!({"name": name, "error": error.to_string()})).collect::<Vec<_>>(),
        }))?;
    } else {
        if summary.reports.is_empty() && summary.skipped.is_empty() {
            writeln!(io::stdout(), "no managed services")?;
        }
        for report in &summary.reports {
            output::stop_report(report, args.stop.signal)?;
        }
        for (name, why) in &summary.skipped {
            eprintln!(
                "reaper: skipped {}: {}",
                output::escape(name),
                output::escape(why)
            );
        }
        print_unremoved(&summary);
    }
    Ok(
        if summary.complete() && summary.skipped.is_empty() && summary.unremoved.is_empty() {
            EXIT_OK
        } else {
            EXIT_FAILURE
        },
    )
}

/// Says, on stderr, which stopped services kept their state files and why (the file named).
pub fn print_unremoved(summary: &StopSummary) {
    for (name, error) in &summary.unremoved {
        eprintln!(
            "reaper: {name} was stopped, but its record could not be removed: {}; `reaper status` \
             lists it until the files are removed (`reaper clean` once the directory is writable)",
            output::escape(&error.to_string())
        );
    }
}
