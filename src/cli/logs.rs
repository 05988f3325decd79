//! `reaper logs`.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

use reaper::service::tail_log;
use reaper::state::{Entry, StateDir, files};
use reaper::text::escape;

use super::{CliError, CliResult, EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_OK};

/// How often `-f` looks for new output.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// Print a service's log (stdout and stderr), optionally following it.
///
/// Works after the service has stopped too: the log stays in .logs/NAME.log. With -f, output is
/// followed across size rotations until Ctrl-C.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper logs api
  reaper logs api -n 200
  reaper logs api -f | grep ERROR")]
pub struct Args {
    /// Service name.
    name: String,
    /// Keep printing new output as it is written.
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to print from the end.
    #[arg(short = 'n', long, default_value_t = 50, value_name = "N")]
    lines: usize,
}

fn log_path(state: &StateDir, name: &str) -> Result<PathBuf, CliError> {
    if let Some(Entry::Record(record)) = state.load(name)? {
        return Ok(record.log);
    }
    let path = state.default_log_path(name);
    // Anything there, a link included, is opened (and a link refused) by `run`.
    if std::fs::symlink_metadata(&path).is_ok() {
        Ok(path)
    } else {
        Err(CliError::new(
            EXIT_NOT_FOUND,
            format!("no log for '{name}': no record and no {}", path.display()),
        ))
    }
}

pub fn run(state: &StateDir, args: Args) -> CliResult {
    let path = log_path(state, &args.name)?;
    let unreadable = |e: io::Error| {
        CliError::new(
            EXIT_FAILURE,
            format!("cannot read {}: {e}", escape(&path.display().to_string())),
        )
    };
    let lines = tail_log(&path, args.lines).map_err(unreadable)?;
    let mut out = io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    if !args.follow {
        return Ok(EXIT_OK);
    }
    let mut position = files::open_read(&path)
        .and_then(|file| file.metadata())
        .map_err(unreadable)?
        .len();
    let mut buffer = Vec::new();
    loop {
        std::thread::sleep(FOLLOW_INTERVAL);
        let Ok(mut file) = files::open_read(&path) else {
            continue;
        };
        let len = file.metadata()?.len();
        if len < position {
            // Rotated (copy and truncate): start over at the top of the fresh file.
            position = 0;
        }
        if len == position {
            continue;
        }
        file.seek(SeekFrom::Start(position))?;
        buffer.clear();
        file.read_to_end(&mut buffer)?;
        position += buffer.len() as u64;
        out.write_all(&buffer)?;
        out.flush()?;
    }
}
