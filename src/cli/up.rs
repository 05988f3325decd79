//! `reaper up`, `down`, `ps`, `check` and `schema`: stacks of services declared in reaper.toml
//! (or a Procfile).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use reaper::stack::control::{self, PsDocument};
use reaper::stack::{self, LoadError, Located, Stack, checks};
use reaper::state::StateDir;
use reaper::stopwatch;
use reaper::supervisor::ci::CiOptions;
use reaper::supervisor::up::{self, UpError, UpOptions};
use reaper::units::format_duration;

use super::{CliError, CliResult, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, output};
use super::{EXIT_ALREADY_RUNNING, state_code};

/// Which configuration file to use.
#[derive(Debug, clap::Args)]
pub struct FileArg {
    /// The stack's configuration: a reaper.toml, or a file named Procfile… (default: reaper.toml
    /// in the current directory or its nearest parent that has one, else ./Procfile). The state
    /// directory (.run/, .logs/) is the file's directory unless --state-dir is given.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub(super) file: Option<PathBuf>,
}

/// Start the stack in the foreground: every service in dependency order, with their output.
///
/// Reads reaper.toml (or a Procfile and .env), checks it and runs its [checks] (nothing starts
/// if one fails), then starts each service as soon as its dependencies are ready (services of
/// one dependency level start in parallel), waiting for each one's readiness probe. Output of
/// every service is shown with aligned, coloured name prefixes and timestamps, and also written
/// to .logs/NAME.log. Services are restarted per their restart policy, with exponential
/// backoff. Each service is a managed service with its own record and keeper, so `reaper
/// status`, `logs`, `restart`, `stop` and `doctor` work on it, and `reaper down` finds it even if
/// the supervisor was killed.
///
/// Ctrl-C, SIGTERM or SIGHUP stops the stack gracefully in reverse dependency order (each
/// service with its stop_signal, SIGKILL after its stop_timeout); a second Ctrl-C kills
/// everything at once. A service with `watch = [GLOBS]` is restarted (its whole tree stopped,
/// its port freed, then started and awaited again) when a matching file changes, after
/// `watch_debounce` of quiet; `.gitignore`d files never count. With -d the supervisor runs
/// detached and `up` returns once every service is ready. On Windows, Ctrl-C, Ctrl-Break and closing the console do the same, and `reaper
/// down` reaches the supervisor through a named stop event.
///
/// On a terminal, `up` opens a full-screen UI instead of printing the lines: services with
/// their state, health, pid, uptime, restarts, CPU, memory and ports on the left, the log of
/// the selection or of all services on the right (keys in a footer, `?` for all of them). `q`
/// or Ctrl-C stops the stack as Ctrl-C does without the UI, and the shutdown is printed once the
/// screen is restored. The interleaved lines are printed instead with --no-tui, off a terminal,
/// with TERM=dumb or CI set, and with -d.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper up
  reaper up -f examples/devstack/reaper.toml
  reaper up api                  # api and what it depends on
  reaper up -d && reaper ps      # detached; `reaper down` stops it
  reaper up --kill-existing      # replace a running stack, free the declared ports
  reaper up --profile test       # also the services with profiles = [\"test\"]
  reaper up --exit-with test --timeout 10m   # CI: run until the test task ends, exit with its code
  reaper up --abort-on-exit      # CI: the first service to end stops everything
  reaper up --no-watch           # do not restart services when their `watch` files change
  reaper up --no-tui             # the interleaved log lines on a terminal too, no full-screen UI

Exit codes:
  0  the stack was stopped (or every service exited cleanly)
  1  a service failed to start or crashed without restart, a task failed, a [checks] check
     failed, or (CI mode) the leak audit found something left
  2  bad input: the configuration is invalid (file:line:column: problem (hint: fix))
  4  the stack or one of its services is already running
  N  with --exit-with or --abort-on-exit: the exit code of the service that ended
     (128+signal when a signal ended it)
  124  --timeout ran out (everything was stopped)

In CI mode (--exit-with, --abort-on-exit or --timeout), a leak audit runs after the shutdown:
no process left in the containment of any run the stack started, no port a service used still
held, no record of the stack left. Each leak is named; a leak turns exit code 0 into 1.")]
pub struct UpArgs {
    /// Services to start, with their dependencies (default: all).
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
    /// Run the supervisor detached (as the managed service _stack) and return once every
    /// service is ready; `reaper ps` shows the stack, `reaper down` stops it.
    #[arg(short = 'd', long)]
    detach: bool,
    /// First stop a running stack and running copies of the services, and free the services'
    /// declared ports (whatever holds them is ended).
    #[arg(long)]
    kill_existing: bool,
    /// Activate a profile: services with `profiles = ["NAME"]` start too (repeatable;
    /// services without profiles always start).
    #[arg(long = "profile", value_name = "NAME")]
    profiles: Vec<String>,
    /// CI mode: run until SERVICE (typically a test task) ends, stop everything, and exit with
    /// SERVICE's exit code.
    #[arg(long, value_name = "SERVICE", conflicts_with = "detach")]
    exit_with: Option<String>,
    /// CI mode: the first service to end (a task that completes does not count) stops the
    /// stack; its exit code is the exit code.
    #[arg(long, conflicts_with = "detach")]
    abort_on_exit: bool,
    /// CI mode: bound the whole run (e.g. 10m, 90s; 0: no limit); when it runs out,
    /// everything is stopped and the exit code is 124.
    #[arg(long, value_name = "DURATION", value_parser = super::duration_arg, conflicts_with = "detach")]
    timeout: Option<std::time::Duration>,
    /// Restart services when their `watch` files change (the default, except in CI mode).
    #[arg(long, overrides_with = "no_watch")]
    watch: bool,
    /// Do not restart services on file changes.
    #[arg(long, overrides_with = "watch")]
    no_watch: bool,
    /// Print the services' lines interleaved, as off a terminal, instead of opening the
    /// full-screen UI.
    #[arg(long)]
    no_tui: bool,
    #[command(flatten)]
    config: FileArg,
    /// Internal: run as the detached supervisor started by `reaper up -d`.
    #[arg(long, hide = true)]
    supervisor: bool,
}

/// Stop the stack: its supervisor, then every service still running, in reverse dependency
/// order.
///
/// Asks the supervisor (foreground or detached) to stop gracefully and waits for it; then stops
/// every stack service that is still recorded — all of them if the supervisor was killed — each
/// with its own stop signal and timeout, escalating to SIGKILL, whole trees; then removes the
/// detached supervisor's record. Works without the configuration file, from the records and
/// .run/.stack.json.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper down
  reaper down -f examples/devstack/reaper.toml
  reaper up -d && reaper down

Exit codes:
  0  nothing of the stack is left (also when nothing was running)
  1  some process survived SIGKILL")]
pub struct DownArgs {
    #[command(flatten)]
    config: FileArg,
}

/// Show the stack: each service's state, pid, uptime, restarts, port and health.
///
/// States come from the supervisor (waiting, starting, ready, restarting, stopping, crashed,
/// failed, exited, stopped) merged with the services' records (running: the supervisor is gone
/// but the service runs; exited; stale). Health runs each running service's readiness probe now
/// (tcp and http probes): healthy or unhealthy.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper ps
  reaper ps -f examples/devstack/reaper.toml
  reaper ps --json | jq '.services[] | {name, state, health}'
  reaper ps --profile test       # also list the test profile's services when not running")]
pub struct PsArgs {
    #[command(flatten)]
    config: FileArg,
    /// List the services of this profile too when they are not running (repeatable); running
    /// services are always listed.
    #[arg(long = "profile", value_name = "NAME")]
    profiles: Vec<String>,
    /// Print JSON (schema 1: {\"schema\": 1, \"supervisor\": {...}|null, \"services\": [...]}).
    #[arg(long)]
    json: bool,
}

/// Validate the stack's configuration and run its [checks], starting nothing.
///
/// Reports every configuration problem (unknown key, missing command, unknown dependency,
/// dependency cycle, duplicate port, bad duration or signal, unreadable env file, missing
/// working directory) as FILE:LINE:COLUMN: problem (hint: fix), then runs [checks]: files that
/// must exist, FILE:VARIABLE groups that must be set and equal (values are never printed), and
/// programs that must be on PATH. `reaper up` runs the same checks first.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper check
  reaper check -f examples/devstack/reaper.toml
  reaper check -f Procfile

Exit codes:
  0  the configuration is valid and every check passed
  1  a [checks] check failed (one line each)
  2  the configuration is invalid (one line per problem)")]
pub struct CheckArgs {
    #[command(flatten)]
    config: FileArg,
}

/// Print the JSON Schema of reaper.toml (for editor completion and validation).
///
/// The same schema ships as reaper.schema.json at the root of reaper's repository. Point an
/// editor at it, e.g. with a first line `#:schema ./reaper.schema.json` in reaper.toml (Taplo,
/// Even Better TOML).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper schema > reaper.schema.json")]
pub struct SchemaArgs {}

pub(super) fn state_for(
    explicit: Option<&Path>,
    cwd: &Path,
    located: Option<&Located>,
) -> Result<StateDir, CliError> {
    let state = match located {
        // The stack's state lives beside its configuration file unless a directory is given.
        Some(located) if explicit.is_none() => StateDir {
            root: located.root().to_path_buf(),
        },
        _ => StateDir::discover(explicit, cwd),
    };
    super::check_trusted(&state)?;
    Ok(state)
}

fn print_problems(problems: &[stack::ConfigError], to_stdout: bool) -> io::Result<()> {
    for problem in problems {
        if to_stdout {
            writeln!(io::stdout(), "{problem}")?;
        } else {
            eprintln!("reaper: {problem}");
        }
    }
    Ok(())
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Loads the stack, printing each configuration problem (to stderr, or stdout for `check`).
pub(super) fn load(located: &Located, to_stdout: bool) -> Result<Stack, CliError> {
    match stack::load(located) {
        Ok(stack) => Ok(stack),
        Err(LoadError::Invalid(problems)) => {
            print_problems(&problems, to_stdout)?;
            Err(CliError::new(
                EXIT_USAGE,
                format!(
                    "{} in {}; nothing was started",
                    plural(problems.len(), "problem"),
                    located.shown
                ),
            ))
        }
        Err(other) => Err(CliError::new(EXIT_USAGE, other.to_string())),
    }
}

pub(super) fn locate(file: Option<&Path>, cwd: &Path) -> Result<Located, CliError> {
    let located = stack::locate(file, cwd).map_err(|e| CliError::new(EXIT_USAGE, e.to_string()))?;
    trust_found(file, &located)?;
    Ok(located)
}

/// A configuration found by looking around (not named with -f) runs commands: refuse it when
/// someone else could have written it.
fn trust_found(file: Option<&Path>, located: &Located) -> Result<(), CliError> {
    match file {
        Some(_) => Ok(()),
        None => super::check_trusted_file(&located.path),
    }
}

fn up_error(error: UpError) -> CliError {
    let code = match &error {
        UpError::BadInput(_) => EXIT_USAGE,
        UpError::AlreadyRunning(_) => EXIT_ALREADY_RUNNING,
        UpError::State(e) => state_code(e),
        UpError::Signals(_) | UpError::Failed(_) => EXIT_FAILURE,
    };
    CliError::new(code, error.to_string())
}

/// Whether a foreground `up` opens the terminal UI: on a terminal, unless told not to, on a
/// terminal that cannot draw one (`TERM=dumb`), or in CI (`CI` set, as every CI service does).
fn opens_tui(args: &UpArgs) -> bool {
    use std::io::IsTerminal;
    !args.no_tui
        && !args.detach
        && !args.supervisor
        && io::stdout().is_terminal()
        && std::env::var_os("TERM").is_none_or(|term| term != "dumb")
        && std::env::var_os("CI").is_none()
}

pub fn run_up(explicit: Option<&Path>, cwd: &Path, args: UpArgs) -> CliResult {
    let located = locate(args.config.file.as_deref(), cwd)?;
    let state = state_for(explicit, cwd, Some(&located))?;
    let mut stack = load(&located, false)?;
    stack
        .with_profiles(&args.profiles, &args.services)
        .map_err(|e| CliError::new(EXIT_USAGE, e))?;
    let problems = checks::run(&stack, &located.shown);
    if !problems.is_empty() {
        print_problems(&problems, false)?;
        return Err(CliError::new(
            EXIT_FAILURE,
            format!(
                "{} failed; nothing was started (`reaper check` runs them alone)",
                plural(problems.len(), "check")
            ),
        ));
    }
    let tui = opens_tui(&args);
    let ci = CiOptions {
        exit_with: args.exit_with,
        abort_on_exit: args.abort_on_exit,
        timeout: args.timeout.filter(|limit| !limit.is_zero()),
    };
    let options = UpOptions {
        services: args.services,
        kill_existing: args.kill_existing,
        detached: args.supervisor,
        show_output: !args.supervisor,
        profiles: args.profiles,
        watch: !args.no_watch && (args.watch || !ci.active()),
        ci,
    };
    if !args.detach {
        let front_end =
            tui.then(|| reaper::ui::front_end(state.clone(), reaper::ui::color_wanted()));
        return up::run(&state, &stack, &options, front_end).map_err(up_error);
    }
    let began = std::time::Instant::now();
    let mut out = io::stdout();
    let code = reaper::supervisor::detach::detach(&state, &stack, &options, cwd, &mut |line| {
        let _ = stopwatch::suspend(|| writeln!(out, "{line}"));
    })
    .map_err(up_error)?;
    if code != EXIT_OK {
        return Err(CliError::new(
            EXIT_FAILURE,
            "the stack did not come up (see above); nothing of it was left running",
        ));
    }
    let document = control::ps(&state, Some(&stack))?;
    print_ps(&document)?;
    writeln!(
        io::stdout(),
        "stack is up after {} (supervisor pid {}); `reaper logs NAME -f` follows a service, `reaper down` stops the stack",
        format_duration(began.elapsed()),
        document.supervisor.as_ref().map_or(0, |s| s.pid)
    )?;
    Ok(EXIT_OK)
}

/// The stack, if its configuration can be found and read; problems are warnings here, since
/// `down` and `ps` work from the records alone.
pub(super) fn optional_stack(
    file: Option<&Path>,
    cwd: &Path,
) -> Result<(Option<Located>, Option<Stack>), CliError> {
    let located = match stack::locate(file, cwd) {
        Ok(located) => located,
        Err(e) if file.is_some() => return Err(CliError::new(EXIT_USAGE, e.to_string())),
        Err(_) => return Ok((None, None)),
    };
    trust_found(file, &located)?;
    match stack::load(&located) {
        Ok(stack) => Ok((Some(located), Some(stack))),
        Err(e) => {
            eprintln!(
                "reaper: warning: {} cannot be used ({}); working from the records",
                located.shown,
                e.to_string().lines().next().unwrap_or_default()
            );
            Ok((Some(located), None))
        }
    }
}

pub fn run_down(explicit: Option<&Path>, cwd: &Path, args: DownArgs) -> CliResult {
    let (located, stack) = optional_stack(args.config.file.as_deref(), cwd)?;
    let state = state_for(explicit, cwd, located.as_ref())?;
    let mut out = io::stdout();
    let mut lines = 0usize;
    let report = control::down(&state, stack.as_ref(), &mut |line| {
        lines += 1;
        let _ = stopwatch::suspend(|| writeln!(out, "{line}"));
    })
    .map_err(|e| CliError::new(super::stop::exit_code(&e), e.to_string()))?;
    if lines == 0 {
        writeln!(io::stdout(), "nothing to stop: no stack is running")?;
    }
    Ok(if report.complete() {
        EXIT_OK
    } else {
        EXIT_FAILURE
    })
}

fn print_ps(document: &PsDocument) -> io::Result<()> {
    let mut out = io::stdout();
    if let Some(supervisor) = &document.supervisor {
        let phase = serde_json::to_value(supervisor.phase)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        if supervisor.running {
            writeln!(
                out,
                "stack {phase}: supervisor pid {}{}, since {}; config {}",
                supervisor.pid,
                if supervisor.detached {
                    " (detached)"
                } else {
                    ""
                },
                supervisor.started_at,
                supervisor.config.display()
            )?;
        } else {
            writeln!(
                out,
                "stack not running (last supervisor pid {} is gone{}); config {}",
                supervisor.pid,
                supervisor
                    .message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default(),
                supervisor.config.display()
            )?;
        }
    } else if document.services.iter().all(|s| s.pid.is_none()) {
        writeln!(out, "stack not running (start it with `reaper up`)")?;
    }
    if document.services.is_empty() {
        return Ok(());
    }
    let mut table = output::table(&[
        "NAME",
        "STATE",
        "PID",
        "UPTIME",
        "RESTARTS",
        "PORT",
        "HEALTH",
        "PROCS",
        "RSS",
        "CONTAINED",
    ]);
    let dash = || "-".to_string();
    for s in &document.services {
        table.add_row(vec![
            output::escape(&s.name).into_owned(),
            s.state.clone(),
            s.pid.map_or_else(dash, |p| p.to_string()),
            s.uptime_secs
                .filter(|_| s.pid.is_some())
                .map_or_else(dash, |u| match u {
                    0 => "<1s".to_string(),
                    _ => format_duration(std::time::Duration::from_secs(u)),
                }),
            s.restarts.to_string(),
            s.port.map_or_else(dash, |p| p.to_string()),
            s.health.clone().unwrap_or_else(dash),
            if s.processes > 0 {
                s.processes.to_string()
            } else {
                dash()
            },
            s.rss_bytes
                .filter(|_| s.processes > 0)
                .map_or_else(dash, reaper::units::format_size),
            s.containment
                .as_ref()
                .filter(|_| s.pid.is_some())
                .map_or_else(dash, |c| c.label().into()),
        ]);
    }
    output::print_table(&table)?;
    for s in &document.services {
        if let Some(trigger) = &s.last_trigger {
            writeln!(
                out,
                "{}: last restarted on a change to {}",
                output::escape(&s.name),
                output::escape(trigger)
            )?;
        }
        if let Some(message) = &s.message {
            if matches!(s.state.as_str(), "crashed" | "failed") {
                writeln!(
                    out,
                    "{}: {}",
                    output::escape(&s.name),
                    output::escape(message)
                )?;
            }
        }
    }
    Ok(())
}

pub fn run_ps(explicit: Option<&Path>, cwd: &Path, args: PsArgs) -> CliResult {
    let (located, mut stack) = optional_stack(args.config.file.as_deref(), cwd)?;
    if let Some(stack) = &mut stack {
        stack
            .with_profiles(&args.profiles, &[])
            .map_err(|e| CliError::new(EXIT_USAGE, e))?;
    }
    let state = state_for(explicit, cwd, located.as_ref())?;
    let document = control::ps(&state, stack.as_ref())?;
    if args.json {
        output::json(&document)?;
    } else {
        print_ps(&document)?;
    }
    Ok(EXIT_OK)
}

pub fn run_check(cwd: &Path, args: CheckArgs) -> CliResult {
    let located = locate(args.config.file.as_deref(), cwd)?;
    let stack = load(&located, true)?;
    let problems = checks::run(&stack, &located.shown);
    print_problems(&problems, true)?;
    let total = checks::count(&stack);
    if !problems.is_empty() {
        return Err(CliError::new(
            EXIT_FAILURE,
            format!("{} of {} failed", problems.len(), plural(total, "check")),
        ));
    }
    writeln!(
        io::stdout(),
        "ok: {}: {}, {} passed",
        located.shown,
        plural(stack.services.len(), "service"),
        plural(total, "check")
    )?;
    Ok(EXIT_OK)
}

pub fn run_schema(_args: SchemaArgs) -> CliResult {
    io::stdout().write_all(stack::json_schema().as_bytes())?;
    Ok(EXIT_OK)
}
