//! `reaper restart`.

use reaper::service::{self, RestartError, RestartOptions};
use reaper::state::StateDir;

use super::{
    CliError, CliResult, EXIT_FAILURE, EXIT_OK, LaunchArgs, StopArgs, output, start, stop,
};

/// Stop a service's whole tree and start its recorded command again.
///
/// Uses the recorded command, working directory, env files (read again), --env values and port.
/// The name stays locked throughout, so no other command can start a second copy in between.
/// The working directory, env files and program are checked before anything is stopped: a
/// restart that could not start again leaves the service running (exit 2).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper restart api
  reaper restart worker --timeout 3s --min-uptime 1s")]
pub struct Args {
    /// Service to restart.
    name: String,
    #[command(flatten)]
    stop: StopArgs,
    #[command(flatten)]
    launch: LaunchArgs,
}

pub fn run(state: &StateDir, args: Args) -> CliResult {
    let options = RestartOptions {
        stop: args.stop.options(),
        min_uptime: args.launch.min_uptime,
        ready_timeout: args.launch.ready_timeout,
        log_max_bytes: args.launch.log_max_size,
        log_keep: args.launch.log_keep,
        log_timestamps: args.launch.log_timestamps,
    };
    let (report, started) = service::restart(state, &args.name, options).map_err(|e| {
        let code = match &e {
            RestartError::Stop(e) => stop::exit_code(e),
            RestartError::Start(e) => start::exit_code(e),
            RestartError::CannotStart { source, .. } => start::exit_code(source),
            RestartError::Survivors(_) => EXIT_FAILURE,
        };
        CliError::new(code, e.to_string())
    })?;
    if let Some(report) = report {
        output::stop_report(&report, args.stop.signal)?;
    }
    start::print_started(&started)?;
    Ok(EXIT_OK)
}
