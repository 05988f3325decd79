//! `reaper export` (systemd, launchd, compose, procfile) and `reaper probe`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reaper::export::{self, Export};
use reaper::stack::probe::{ProbeVerdict, probe_service};
use reaper::state::StateDir;

use super::up::{FileArg, load, locate};
use super::{CliError, CliResult, EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE};

/// Write the stack for another engine: systemd units, launchd agents, a Compose file or a
/// Procfile.
///
/// The commands, working directories, environment, dependencies, readiness, restart policies
/// and stop settings of reaper.toml (or a Procfile) are written in the target's terms. Whatever
/// the target cannot express is listed in a comment at the top of the output and on stderr
/// (`reaper: note: …`), never dropped silently. Without -o the files go to stdout (several
/// files each after a `==> NAME <==` line); with -o they are written (replacing files of the
/// same name) and listed.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper export systemd --user -o ~/.config/systemd/user
  reaper export launchd -o ~/Library/LaunchAgents
  reaper export compose --image python:3.12-slim -o compose.yaml
  reaper export procfile -f examples/devstack/reaper.toml

Exit codes:
  0  exported (notes on stderr list what the target cannot express)
  1  an output file could not be written
  2  bad input: the configuration is invalid, a bad --name or --image")]
pub struct ExportArgs {
    #[command(subcommand)]
    target: Target,
}

#[derive(Debug, clap::Subcommand)]
enum Target {
    Systemd(SystemdArgs),
    Launchd(LaunchdArgs),
    Compose(ComposeArgs),
    Procfile(ProcfileArgs),
}

/// Options every target shares.
#[derive(Debug, clap::Args)]
struct Common {
    #[command(flatten)]
    config: FileArg,
    /// Name of the stack in unit names, labels and the Compose project (default: the project
    /// directory's name, lower-cased).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

/// systemd units: NAME-SERVICE.service per service and NAME.target for the stack.
///
/// Each unit runs the command (a string through /bin/sh -c) in its working directory with
/// EnvironmentFile= and Environment=, stops with KillMode=control-group (every process of the
/// service), KillSignal= from stop_signal and TimeoutStopSec= from stop_timeout, restarts per
/// Restart=/RestartSec=, and After= its dependencies with Requires= (Wants= for "started").
/// Readiness is `ExecStartPost=reaper probe --wait READY_TIMEOUT SERVICE`, so dependants start
/// once it is ready. A task is Type=oneshot with RemainAfterExit=yes; a service with replicas is
/// one template unit NAME-SERVICE@.service (instance = copy number, PORT computed from it).
/// Start the stack with `systemctl start NAME.target`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper export systemd --user -o ~/.config/systemd/user && systemctl --user daemon-reload
  systemctl --user start devstack.target
  reaper export systemd -o /etc/systemd/system --name shop")]
struct SystemdArgs {
    #[command(flatten)]
    common: Common,
    /// User units (systemctl --user; WantedBy=default.target) instead of system units.
    #[arg(long)]
    user: bool,
    /// Directory to write the units to (default: stdout).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: Option<PathBuf>,
}

/// launchd agents: reaper.NAME.SERVICE.plist per service.
///
/// ProgramArguments, WorkingDirectory, EnvironmentVariables, KeepAlive from the restart policy,
/// ExitTimeOut from stop_timeout, and .logs/SERVICE.log as the output paths. A task runs at
/// load without KeepAlive.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper export launchd -o ~/Library/LaunchAgents
  launchctl bootstrap gui/$(id -u) ~/Library/LaunchAgents/reaper.devstack.api.plist")]
struct LaunchdArgs {
    #[command(flatten)]
    common: Common,
    /// Directory to write the property lists to (default: stdout).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: Option<PathBuf>,
}

/// A Compose file: each service's command in the given image, the project mounted at /project.
///
/// Ports are published, depends_on gets conditions (service_healthy when the dependency has a
/// healthcheck, service_completed_successfully for a task), healthchecks run `reaper probe` (the
/// image needs reaper), profiles are kept, watch becomes develop.watch, each copy of a service
/// with replicas is its own service (its own port), and stop_signal and stop_grace_period follow
/// the stack. Paths are relative to the output file's directory (the
/// current directory without -o).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper export compose --image python:3.12-slim -o compose.yaml && docker compose up
  reaper export compose --image ghcr.io/acme/dev:latest")]
struct ComposeArgs {
    #[command(flatten)]
    common: Common,
    /// The image every service runs in (required: the right one cannot be guessed).
    #[arg(long, value_name = "IMAGE")]
    image: String,
    /// File to write (default: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

/// A Procfile for Heroku-style platforms (foreman, honcho, `reaper up`): NAME: COMMAND lines.
///
/// env values become `export KEY=VALUE;` and working directories `cd DIR || exit 1;` in front of
/// the command; the platform assigns PORT. Tasks go into the one `release:` line; a service with
/// replicas is one line for the platform to scale.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper export procfile -o Procfile
  reaper export procfile -f examples/devstack/reaper.toml")]
struct ProcfileArgs {
    #[command(flatten)]
    config: FileArg,
    /// File to write (default: stdout). Working directories are relative to its directory.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Run a service's readiness probe once: exit 0 when it is ready.
///
/// The probe is the one `reaper up` waits for: `ready` of the service (tcp, http or log), else
/// a TCP connect to its port; the port is the one the running service got (after a fallback),
/// else the declared one. A log probe matches any line of the service's current log. A service
/// without a probe or port is ready when it runs as a managed service. Exported systemd units
/// and Compose healthchecks call this.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper probe api
  reaper probe -f examples/devstack/reaper.toml --wait 30s web
  until reaper probe db; do sleep 1; done

Exit codes:
  0  the service is ready
  1  the service is not ready (after --wait, if given)
  2  bad input: the configuration is invalid, a bad duration
  3  no service by that name in the stack")]
pub struct ProbeArgs {
    /// The service of the stack.
    #[arg(value_name = "SERVICE")]
    service: String,
    /// Probe again until ready or this much time has passed (10, 10s, 500ms, 2m).
    #[arg(long, value_parser = super::duration_arg, value_name = "DURATION")]
    wait: Option<Duration>,
    #[command(flatten)]
    config: FileArg,
}

pub fn run_export(cwd: &Path, args: ExportArgs) -> CliResult {
    let (common_config, name) = match &args.target {
        Target::Systemd(a) => (&a.common.config, a.common.name.clone()),
        Target::Launchd(a) => (&a.common.config, a.common.name.clone()),
        Target::Compose(a) => (&a.common.config, a.common.name.clone()),
        Target::Procfile(a) => (&a.config, None),
    };
    let located = locate(common_config.file.as_deref(), cwd)?;
    let stack = load(&located, false)?;
    let name = match name {
        Some(name) => {
            export::check_stack_name(&name).map_err(|e| CliError::new(EXIT_USAGE, e))?;
            name
        }
        None => export::default_stack_name(&stack),
    };
    let (export, output) = match args.target {
        Target::Systemd(a) => {
            let reaper = std::env::current_exe().map_err(|e| {
                CliError::new(
                    EXIT_FAILURE,
                    format!("cannot find the reaper program for the probes: {e}"),
                )
            })?;
            let options = export::systemd::SystemdOptions {
                name,
                user: a.user,
                reaper,
                search_path: std::env::var_os("PATH"),
            };
            (
                export::systemd::export(&stack, &options),
                a.output.map(Output::Dir),
            )
        }
        Target::Launchd(a) => {
            let options = export::launchd::LaunchdOptions {
                name,
                search_path: std::env::var_os("PATH"),
            };
            (
                export::launchd::export(&stack, &options),
                a.output.map(Output::Dir),
            )
        }
        Target::Compose(a) => {
            if a.image.trim().is_empty() || a.image.chars().any(char::is_whitespace) {
                return Err(CliError::new(
                    EXIT_USAGE,
                    format!(
                        "--image `{}` is not an image name: give one such as python:3.12-slim",
                        a.image
                    ),
                ));
            }
            let output = a.output.map(|file| cwd.join(file));
            let options = export::compose::ComposeOptions {
                name,
                image: a.image,
                base: base_of(output.as_deref(), cwd),
            };
            (
                export::compose::export(&stack, &options),
                output.map(Output::File),
            )
        }
        Target::Procfile(a) => {
            let output = a.output.map(|file| cwd.join(file));
            (
                export::procfile::export(&stack, &base_of(output.as_deref(), cwd)),
                output.map(Output::File),
            )
        }
    };
    for note in &export.notes {
        eprintln!("reaper: note: {note}");
    }
    write(&export, output, cwd)
}

/// Where the export goes.
enum Output {
    /// A directory for every file.
    Dir(PathBuf),
    /// The one file.
    File(PathBuf),
}

/// The directory relative paths in the output start from.
fn base_of(output: Option<&Path>, cwd: &Path) -> PathBuf {
    output
        .and_then(Path::parent)
        .map_or_else(|| cwd.to_path_buf(), Path::to_path_buf)
}

fn write(export: &Export, output: Option<Output>, cwd: &Path) -> CliResult {
    let mut stdout = io::stdout().lock();
    let written: Vec<(PathBuf, &str)> = match output {
        None => {
            let several = export.files.len() > 1;
            for (index, file) in export.files.iter().enumerate() {
                if several {
                    if index > 0 {
                        writeln!(stdout)?;
                    }
                    writeln!(stdout, "==> {} <==", file.name)?;
                }
                stdout.write_all(file.contents.as_bytes())?;
            }
            return Ok(EXIT_OK);
        }
        Some(Output::Dir(dir)) => {
            let dir = cwd.join(dir);
            create_dir(&dir)?;
            export
                .files
                .iter()
                .map(|f| (dir.join(&f.name), f.contents.as_str()))
                .collect()
        }
        Some(Output::File(path)) => {
            if let Some(dir) = path.parent() {
                create_dir(dir)?;
            }
            export
                .files
                .iter()
                .map(|f| (path.clone(), f.contents.as_str()))
                .collect()
        }
    };
    for (path, contents) in written {
        std::fs::write(&path, contents).map_err(|e| {
            CliError::new(
                EXIT_FAILURE,
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
        writeln!(stdout, "wrote {}", path.display())?;
    }
    Ok(EXIT_OK)
}

fn create_dir(dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        CliError::new(
            EXIT_FAILURE,
            format!("cannot create {}: {e}", dir.display()),
        )
    })
}

pub fn run_probe(explicit: Option<&Path>, cwd: &Path, args: ProbeArgs) -> CliResult {
    let located = locate(args.config.file.as_deref(), cwd)?;
    let stack = load(&located, false)?;
    let Some(service) = stack.service(&args.service) else {
        let names: Vec<&str> = stack.services.iter().map(|s| s.name.as_str()).collect();
        return Err(CliError::new(
            EXIT_NOT_FOUND,
            format!(
                "no service `{}` in {}; services: {}",
                args.service,
                located.shown,
                names.join(", ")
            ),
        ));
    };
    let state = match explicit {
        Some(dir) => StateDir::discover(Some(dir), cwd),
        None => StateDir {
            root: located.root().to_path_buf(),
        },
    };
    // Records only tell the port a fallback moved to: a state directory that is not trusted (a
    // container's bind mount owned by another user) is skipped, not a reason to fail.
    let trusted = super::check_trusted(&state).is_ok();
    match probe_service(service, trusted.then_some(&state), args.wait) {
        ProbeVerdict::Ready(what) => {
            writeln!(io::stdout(), "ready: {} ({what})", service.name)?;
            Ok(EXIT_OK)
        }
        ProbeVerdict::NotReady(what) => Err(CliError::new(
            EXIT_FAILURE,
            format!("{} is not ready ({what})", service.name),
        )),
    }
}
