//! `reaper ui`: the terminal UI attached to a running stack or to the state dir's services.

use std::io::{self, IsTerminal, Write};
use std::path::Path;

use reaper::state::{Entry, SUPERVISOR_NAME, StateDir};
use reaper::ui::{self, Ended, Source};

use super::up::{FileArg, optional_stack, state_for};
use super::{CliError, CliResult, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};

/// Watch and control services in a full-screen terminal UI.
///
/// Attaches to the stack of the nearest reaper.toml when its status file exists (a detached
/// `reaper up -d`, or a foreground `reaper up` elsewhere), else to the services of the state
/// directory started with `reaper start`. Left: each service's state, health, pid, uptime,
/// restarts, CPU, memory, ports and containment; right: the log of the selection or of all
/// services interleaved (a detached supervisor's own lines as `reaper`). `r` restarts the
/// selected service and `s` stops it, with the same library calls and locks as `reaper restart`
/// and `reaper stop`; `S` starts it again from its record. Quitting (`q`, Ctrl-C, SIGTERM,
/// SIGHUP) leaves every service running. Several UIs may be attached at once.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper up -d && reaper ui      # watch a detached stack
  reaper start api -- python3 -m http.server 8001 && reaper ui
  NO_COLOR=1 reaper ui           # no colours (selection and matches stay marked)

Keys: ↑/↓ or k/j select · Enter logs of the selection · a all logs · r restart · s stop ·
S start · f follow · / search (n/N next/previous) · & show only matching lines · Esc clear ·
w wrap · t timestamps · PgUp/PgDn g/G scroll · ? help · q quit. The mouse selects and scrolls.

Exit codes:
  0  the UI was quit (everything keeps running)
  1  the terminal could not be used
  2  not a terminal (use `reaper ps` or `reaper status`, and `reaper logs NAME -f`)")]
pub struct Args {
    #[command(flatten)]
    config: FileArg,
}

/// The detached supervisor's own log, if this state dir has one running.
fn supervisor_log(state: &StateDir) -> Option<std::path::PathBuf> {
    let status = reaper::stack::status::read(state)?;
    if !status.detached {
        return None;
    }
    match state.load(SUPERVISOR_NAME) {
        Ok(Some(Entry::Record(record))) => Some(record.log),
        _ => Some(state.default_log_path(SUPERVISOR_NAME)).filter(|p| p.exists()),
    }
}

pub fn run(explicit: Option<&Path>, cwd: &Path, args: Args) -> CliResult {
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        return Err(CliError::new(
            EXIT_USAGE,
            "reaper ui needs a terminal on stdin and stdout; use `reaper ps` or `reaper status` \
             for a table and `reaper logs NAME -f` to follow a log",
        ));
    }
    let (located, _) = optional_stack(args.config.file.as_deref(), cwd)?;
    let state = state_for(explicit, cwd, located.as_ref())?;
    let source = if reaper::stack::status::read(&state).is_some() {
        Source::Stack(state.clone())
    } else {
        Source::Records(state.clone())
    };
    let ended = ui::attach(source.clone(), supervisor_log(&state), ui::color_wanted())
        .map_err(|e| CliError::new(EXIT_FAILURE, format!("the terminal UI failed: {e}")))?;
    let running = source
        .overview(false)
        .map(|o| o.services.iter().filter(|s| s.pid.is_some()).count())
        .unwrap_or(0);
    let why = match ended {
        Ended::Signal(signal) => format!(" ({signal} received)"),
        _ => String::new(),
    };
    if running == 0 {
        writeln!(io::stdout(), "reaper ui ended{why}; no service is running")?;
    } else {
        writeln!(
            io::stdout(),
            "reaper ui ended{why}; {running} service{} left running (`reaper ps` shows them, `reaper down` or `reaper stop --all` stops them)",
            if running == 1 { "" } else { "s" }
        )?;
    }
    Ok(EXIT_OK)
}
