//! `reaper start`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use reaper::service::{self, StartError, StartRequest};
use reaper::state::StateDir;
use reaper::text::escape;
use reaper::units::format_duration;

use super::{
    CliError, CliResult, EXIT_ALREADY_RUNNING, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, LaunchArgs,
    state_code,
};

/// Start CMD detached as service NAME; return once it is up.
///
/// CMD runs in a new session, with stdin from /dev/null and stdout+stderr appended to
/// .logs/NAME.log, under a keeper that reaps everything it leaves behind. Without --port, start
/// succeeds once the service has stayed up for --min-uptime; with --port, once the port accepts
/// connections (PORT is exported to CMD). If CMD dies during start-up, start fails and prints the
/// last lines of its log.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper start api --port 8001 -- python3 -m http.server 8001
  reaper start web --cwd frontend --env-file .env.local -- npm run dev
  reaper start worker --env QUEUE=high --log /tmp/worker.log -- ./worker.sh
  reaper start api --port 8001 --port-fallback -- sh -c 'exec uvicorn app:app --port $PORT'
  reaper start api --port 8001 --kill-existing -- uvicorn app:app --port 8001")]
pub struct Args {
    /// Service name: letters, digits, '.', '_' or '-'; not ending in '.exit', and not 'reaper',
    /// 'zombie-detection' or '_stack' (reaper's own files).
    name: String,
    /// Working directory of CMD (default: the current directory).
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Set an environment variable (repeatable); values are never written to the record.
    #[arg(long = "env", value_name = "K=V", value_parser = env_pair)]
    env: Vec<(String, String)>,
    /// Read variables from a dotenv file (repeatable, relative to --cwd).
    #[arg(long = "env-file", value_name = "FILE")]
    env_files: Vec<PathBuf>,
    /// Port the service listens on: exported as PORT, and start waits until it accepts.
    #[arg(long, value_name = "P", value_parser = super::port_arg, allow_negative_numbers = true)]
    port: Option<u16>,
    /// If --port is in use, take the first free port after it instead (CMD must listen on
    /// $PORT); the record keeps the port used.
    #[arg(long, requires = "port", conflicts_with = "kill_existing")]
    port_fallback: bool,
    /// Free --port first: end whatever holds it, as `reaper port P --kill` does (a managed
    /// service holding it is stopped through its record).
    #[arg(long, requires = "port")]
    kill_existing: bool,
    /// Log file for stdout and stderr (default: .logs/NAME.log).
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    #[command(flatten)]
    launch: LaunchArgs,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

fn env_pair(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not K=V"))?;
    let valid = !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "'{key}' is not a valid variable name (letters, digits, '_')"
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

/// Maps a start error to its exit code.
pub fn exit_code(error: &StartError) -> u8 {
    match error {
        StartError::AlreadyRunning { .. } | StartError::UnverifiedPidFile { .. } => {
            EXIT_ALREADY_RUNNING
        }
        StartError::BadCwd(_)
        | StartError::EnvFile { .. }
        | StartError::EmptyCommand
        | StartError::CommandNotFound(_)
        | StartError::NotExecutable(_)
        | StartError::IsADirectory(_) => EXIT_USAGE,
        StartError::State(e) => state_code(e),
        _ => EXIT_FAILURE,
    }
}

fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    }
}

pub fn run(state: &StateDir, cwd: &Path, args: Args) -> CliResult {
    reaper::state::validate_new_name(&args.name)?;
    let port = match args.port {
        Some(wanted) if args.kill_existing => {
            super::port::free_for_start(state, &args.name, wanted)?;
            Some(wanted)
        }
        Some(wanted) if args.port_fallback => Some(super::port::fallback_for_start(
            state,
            wanted,
            &args.command,
        )?),
        other => other,
    };
    let request = StartRequest {
        name: args.name,
        argv: args.command,
        cwd: args
            .cwd
            .map_or_else(|| cwd.to_path_buf(), |dir| absolute(cwd, &dir)),
        env: args.env,
        env_files: args.env_files,
        port,
        log: args.log.map(|log| absolute(cwd, &log)),
        min_uptime: args.launch.min_uptime,
        ready_timeout: args.launch.ready_timeout,
        log_max_bytes: args.launch.log_max_size,
        log_keep: args.launch.log_keep,
        log_timestamps: args.launch.log_timestamps,
        stack: None,
        wait_for_port: true,
    };
    let started =
        service::start(state, &request).map_err(|e| CliError::new(exit_code(&e), e.to_string()))?;
    print_started(&started)?;
    Ok(EXIT_OK)
}

/// Prints what `start` and `restart` report on success.
pub fn print_started(started: &service::Started) -> io::Result<()> {
    let record = &started.record;
    let mut out = io::stdout().lock();
    let readiness = match record.port {
        Some(port) => format!(
            "port {port} accepting after {}",
            format_duration(started.ready_after)
        ),
        None => format!("up for {}", format_duration(started.ready_after)),
    };
    writeln!(
        out,
        "started {} (pid {}), {readiness}; log: {}",
        escape(&record.name),
        record.leader.pid,
        escape(&record.log.display().to_string())
    )?;
    if started.leader_exited {
        writeln!(
            out,
            "note: pid {} exited with code 0 but left processes running (it daemonized); reaper tracks them",
            record.leader.pid
        )?;
    }
    Ok(())
}
