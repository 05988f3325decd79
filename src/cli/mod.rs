//! Command-line interface: clap definitions, one module per command, output helpers.

mod clean;
mod doctor;
mod export;
mod import;
#[cfg(feature = "lint")]
mod lint;
mod logs;
mod output;
mod port;
mod restart;
mod run;
mod start;
mod status;
mod stop;
mod ui;
mod up;

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use reaper::state::StateDir;

/// Environment variable naming the state directory when --state-dir is not given.
const STATE_DIR_ENV: &str = "REAPER_STATE_DIR";

/// Everything went as asked.
pub const EXIT_OK: u8 = 0;
/// The operation failed (a service died during start-up, processes survived SIGKILL, …).
pub const EXIT_FAILURE: u8 = 1;
/// Bad input: usage, names, durations, files that do not exist.
pub const EXIT_USAGE: u8 = 2;
/// No managed service by that name.
pub const EXIT_NOT_FOUND: u8 = 3;
/// The service is already running.
pub const EXIT_ALREADY_RUNNING: u8 = 4;

/// reaper: start, stop and inspect processes so that nothing is ever left behind.
#[derive(Debug, Parser)]
#[command(
    name = "reaper",
    version,
    about = "Start, stop and inspect processes so that nothing is ever left behind",
    long_about = "Start, stop and inspect processes so that nothing is ever left behind: no child, \
no grandchild, no setsid daemon, no zombie, no stale pid file.\n\n\
State lives in .run/ and .logs/ of the project root: the nearest ancestor directory holding \
reaper.toml, else the current directory (override with --state-dir or REAPER_STATE_DIR). \
Directories there are created 0700 and files 0600, and no file is opened through a symbolic \
link. A state directory or reaper.toml that another user owns, or that group or others may \
write, is refused (exit 2); set REAPER_TRUST_STATE_DIR=1 to use it anyway.",
    after_help = concat!(
        "Examples:\n",
        "  reaper start api --port 8001 -- python3 -m http.server 8001\n",
        "  reaper status\n",
        "  reaper logs api -f\n",
        "  reaper stop api\n",
        "  reaper stop --all\n\n",
        "Exit codes:\n",
        "  0  success\n",
        "  1  the operation failed (e.g. the service exited during start-up, a process survived SIGKILL)\n",
        "  2  bad input: usage, invalid or reserved name, duration, signal, directory or file,\n",
        "     unusable state directory (e.g. .run is a file), untrusted state directory\n",
        "     (REAPER_TRUST_STATE_DIR=1 overrides)\n",
        "  3  no managed service by that name\n",
        "  4  the service is already running"
    )
)]
pub struct Cli {
    /// Directory holding .run/ and .logs/ (default: REAPER_STATE_DIR, else the nearest ancestor
    /// with reaper.toml, else the current directory). It must be yours and not writable by group
    /// or others, unless REAPER_TRUST_STATE_DIR=1.
    // REAPER_STATE_DIR is read in `run`, not through clap's `env`: clap counts a value from the
    // environment as typed, and would show `--state-dir <DIR>` in every usage line as if required.
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Start(start::Args),
    Stop(stop::Args),
    Restart(restart::Args),
    Status(status::Args),
    Logs(logs::Args),
    Up(up::UpArgs),
    Down(up::DownArgs),
    Ps(up::PsArgs),
    Ui(ui::Args),
    Check(up::CheckArgs),
    Schema(up::SchemaArgs),
    Import(import::Args),
    Run(run::Args),
    Clean(clean::Args),
    Doctor(doctor::DoctorArgs),
    Kill(doctor::KillArgs),
    Emergency(doctor::EmergencyArgs),
    Watch(doctor::WatchArgs),
    Export(export::ExportArgs),
    Probe(export::ProbeArgs),
    Port(port::PortArgs),
    Ports(port::PortsArgs),
    #[cfg(feature = "lint")]
    Lint(lint::Args),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  reaper completions bash > ~/.local/share/bash-completion/completions/reaper\n  reaper completions zsh > ~/.zfunc/_reaper\n  reaper completions fish > ~/.config/fish/completions/reaper.fish"
    )]
    Completions {
        /// Shell to generate for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(after_help = "Examples:\n  reaper man > reaper.1 && man ./reaper.1")]
    Man,
    /// Internal: the per-service keeper started by `reaper start`.
    #[command(name = "__keeper", hide = true)]
    Keeper,
    /// Internal (Windows): sends Ctrl-Break to a process group in another console.
    #[cfg(windows)]
    #[command(name = "__ctrl-break", hide = true)]
    CtrlBreak {
        group: u32,
    },
}

/// An error on its way to the user: a message and an exit code.
#[derive(Debug)]
pub struct CliError {
    code: u8,
    message: String,
}

impl CliError {
    fn new(code: u8, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
        }
    }
}

impl From<io::Error> for CliError {
    fn from(error: io::Error) -> CliError {
        if error.kind() == io::ErrorKind::BrokenPipe {
            // The reader went away (`reaper status | head -1`): not an error, nothing to say.
            return CliError::new(EXIT_OK, String::new());
        }
        CliError::new(EXIT_FAILURE, error.to_string())
    }
}

/// Exit code for a state problem: bad names and unusable directories are bad input.
fn state_code(error: &reaper::state::StateError) -> u8 {
    use reaper::state::StateError as E;
    match error {
        E::InvalidName(_) | E::ReservedName { .. } | E::Unusable { .. } | E::Untrusted { .. } => {
            EXIT_USAGE
        }
        _ => EXIT_FAILURE,
    }
}

impl From<reaper::state::StateError> for CliError {
    fn from(error: reaper::state::StateError) -> CliError {
        CliError::new(state_code(&error), error.to_string())
    }
}

/// What a command returns: the exit code to use when nothing went wrong outright.
type CliResult = Result<u8, CliError>;

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The keeper's stderr is not a person's: its stops stay quiet. `up` and `down`, which print
    // the stack's lines while they wait for its stops, print them through stopwatch::suspend.
    if !matches!(cli.command, Command::Keeper) {
        reaper::stopwatch::install();
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            if !error.message.is_empty() {
                eprintln!("reaper: {}", error.message);
            }
            ExitCode::from(error.code)
        }
    }
}

fn run(cli: Cli) -> CliResult {
    let cwd = std::env::current_dir().map_err(|e| {
        CliError::new(
            EXIT_USAGE,
            format!("cannot read the current directory: {e}"),
        )
    })?;
    let state_dir = cli.state_dir.or_else(|| {
        std::env::var_os(STATE_DIR_ENV)
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
    });
    let state = StateDir::discover(state_dir.as_deref(), &cwd);
    // Commands that work on records refuse an unusable state directory up front (exit 2, as
    // `start` always did); port look-ups and emergency clean-ups still work without one.
    let uses_records = matches!(
        cli.command,
        Command::Start(_)
            | Command::Stop(_)
            | Command::Restart(_)
            | Command::Status(_)
            | Command::Logs(_)
            | Command::Clean(_)
    );
    let uses_state = uses_records
        || matches!(
            cli.command,
            Command::Port(_)
                | Command::Ports(_)
                | Command::Doctor(_)
                | Command::Emergency(_)
                | Command::Watch(_)
        );
    if uses_state {
        check_trusted(&state)?;
    }
    if uses_records {
        state.check_usable()?;
    }
    match cli.command {
        Command::Start(args) => start::run(&state, &cwd, args),
        Command::Stop(args) => stop::run(&state, args),
        Command::Restart(args) => restart::run(&state, args),
        Command::Status(args) => status::run(&state, args),
        Command::Logs(args) => logs::run(&state, args),
        Command::Up(args) => up::run_up(state_dir.as_deref(), &cwd, args),
        Command::Down(args) => up::run_down(state_dir.as_deref(), &cwd, args),
        Command::Ps(args) => up::run_ps(state_dir.as_deref(), &cwd, args),
        Command::Ui(args) => ui::run(state_dir.as_deref(), &cwd, args),
        Command::Check(args) => up::run_check(&cwd, args),
        Command::Schema(args) => up::run_schema(args),
        Command::Import(args) => import::run(&cwd, args),
        Command::Export(args) => export::run_export(&cwd, args),
        Command::Probe(args) => export::run_probe(state_dir.as_deref(), &cwd, args),
        Command::Port(args) => port::run_port(&state, args),
        Command::Ports(args) => port::run_ports(&state, args),
        #[cfg(feature = "lint")]
        Command::Lint(args) => lint::run(&state, &cwd, args),
        Command::Run(args) => run::run(args),
        Command::Clean(args) => clean::run(&state, args),
        Command::Doctor(args) => doctor::doctor(&state, args),
        Command::Kill(args) => doctor::kill(args),
        Command::Emergency(args) => doctor::emergency(&state, args),
        Command::Watch(args) => doctor::watch(&state, args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "reaper", &mut io::stdout());
            Ok(EXIT_OK)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut io::stdout())?;
            Ok(EXIT_OK)
        }
        Command::Keeper => Ok(u8::try_from(reaper::keeper::run()).unwrap_or(EXIT_FAILURE)),
        #[cfg(windows)]
        Command::CtrlBreak { group } => reaper::os::ctrl_break_from_helper(group)
            .map(|()| EXIT_OK)
            .map_err(|e| {
                CliError::new(
                    EXIT_FAILURE,
                    format!("cannot send Ctrl-Break to group {group}: {e}"),
                )
            }),
    }
}

/// True when [`reaper::state::TRUST_ENV`] is set (to anything but empty or `0`): the user vouches
/// for a state directory or `reaper.toml` that reaper would otherwise refuse.
fn trust_overridden() -> bool {
    std::env::var_os(reaper::state::TRUST_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Refuses a state directory others could have written to, unless the user vouches for it.
fn check_trusted(state: &StateDir) -> Result<(), CliError> {
    if trust_overridden() {
        return Ok(());
    }
    Ok(state.check_trusted()?)
}

/// Refuses a `reaper.toml` found by walking up that others could have written to.
fn check_trusted_file(path: &std::path::Path) -> Result<(), CliError> {
    if trust_overridden() {
        return Ok(());
    }
    Ok(reaper::state::check_trusted(path)?)
}

/// Parses a duration for clap.
fn duration_arg(text: &str) -> Result<Duration, String> {
    reaper::units::parse_duration(text).map_err(|e| e.to_string())
}

/// Parses a port number for clap, with the message every port option and key gives.
fn port_arg(text: &str) -> Result<u16, String> {
    reaper::ports::parse_port(text).map_err(|e| e.to_string())
}

/// Parses a size for clap.
fn size_arg(text: &str) -> Result<u64, String> {
    reaper::units::parse_size(text).map_err(|e| e.to_string())
}

/// Parses a signal for clap.
fn signal_arg(text: &str) -> Result<reaper::signal::Signal, String> {
    text.parse()
        .map_err(|e: reaper::signal::UnknownSignal| e.to_string())
}

/// Options for stopping, shared by stop, restart and clean.
#[derive(Debug, clap::Args)]
struct StopArgs {
    /// Time the tree gets to exit after the graceful signal before SIGKILL (10, 10s, 500ms, 2m).
    /// Past a second, what the stop waits for is shown on stderr.
    #[arg(long, default_value = "10s", value_parser = duration_arg, value_name = "DURATION")]
    timeout: Duration,
    /// Graceful signal sent to every process of the tree.
    #[arg(long, default_value = "TERM", value_parser = signal_arg, value_name = "SIG")]
    signal: reaper::signal::Signal,
}

impl StopArgs {
    fn options(&self) -> reaper::service::StopOptions {
        reaper::service::StopOptions {
            signal: self.signal,
            timeout: self.timeout,
        }
    }
}

/// Options for the start-up wait and the log, shared by start and restart.
#[derive(Debug, clap::Args)]
struct LaunchArgs {
    /// Without --port: how long the service must stay up before start reports success.
    #[arg(long, default_value = "200ms", value_parser = duration_arg, value_name = "DURATION")]
    min_uptime: Duration,
    /// With --port: how long to wait for the port to accept connections.
    #[arg(long, default_value = "30s", value_parser = duration_arg, value_name = "DURATION")]
    ready_timeout: Duration,
    /// Rotate the log when it grows past this size (0: never).
    #[arg(long, default_value = "10MB", value_parser = size_arg, value_name = "SIZE")]
    log_max_size: u64,
    /// Rotated log files to keep (NAME.log.1 … NAME.log.N, at most 1000).
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u32).range(..=i64::from(reaper::logfile::MAX_KEEP)))]
    log_keep: u32,
    /// Start each line of the log with its time (RFC 3339, UTC, milliseconds).
    #[arg(long)]
    log_timestamps: bool,
}
