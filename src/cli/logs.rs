//! `reaper logs`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use reaper::logfile::{LogFollower, LogLine};
use reaper::state::{Entry, StateDir};
use reaper::text::escape;

use super::{CliError, CliResult, EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE};

/// How long `-f` waits before it looks again when nothing new was written.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(20);

/// Lines printed without -n, --since or --until.
const DEFAULT_LINES: usize = 50;

/// Print a service's log (stdout and stderr), optionally following it.
///
/// Works after the service has stopped too: the log stays in .logs/NAME.log (rotated files in
/// NAME.log.1 …). With -f, output is followed across any number of rotations until Ctrl-C.
/// Lines are printed as stored: with the time first when the service was started with
/// --log-timestamps. --json prints one object per line with its time and stream either way.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper logs api
  reaper logs api -n 200
  reaper logs api -f | grep ERROR
  reaper logs api --since 10m
  reaper logs api --since 2026-12-06T08:00:00Z --until 2026-12-06T09:00:00Z
  reaper logs api --json -f | jq 'select(.stream == \"stderr\")'

JSON (one object per line): {\"time\": \"2026-12-06T08:00:00.123Z\", \"service\": \"api\",
\"stream\": \"stdout\" | \"stderr\", \"text\": \"...\"}; time is null for lines of a log
written before reaper kept an index.")]
pub struct Args {
    /// Service name.
    name: String,
    /// Keep printing new output as it is written.
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to print from the end (default 50; every matching line with --since or
    /// --until).
    #[arg(short = 'n', long, value_name = "N")]
    lines: Option<usize>,
    /// Only lines written since then: a duration ago (10m, 2h, 1d) or an RFC 3339 time.
    #[arg(long, value_parser = time_arg, value_name = "WHEN")]
    since: Option<SystemTime>,
    /// Only lines written before then: a duration ago or an RFC 3339 time (not with -f).
    #[arg(long, value_parser = time_arg, value_name = "WHEN", conflicts_with = "follow")]
    until: Option<SystemTime>,
    /// One JSON object per line: time, service, stream (stdout or stderr), text.
    #[arg(long)]
    json: bool,
}

/// Parses `--since`/`--until`: a duration before now, or an RFC 3339 time.
fn time_arg(text: &str) -> Result<SystemTime, String> {
    let looks_like_a_time = text.contains(['-', ':', 'T']);
    if !looks_like_a_time {
        let ago = reaper::units::parse_duration(text)
            .map_err(|e| format!("{e} (or give an RFC 3339 time such as 2026-12-06T08:00:00Z)"))?;
        return SystemTime::now()
            .checked_sub(ago)
            .ok_or_else(|| format!("{text} ago is before the clock's start"));
    }
    humantime::parse_rfc3339_weak(text).map_err(|_| {
        format!(
            "'{text}' is neither a duration (10m, 2h) nor an RFC 3339 time (2026-12-06T08:00:00Z)"
        )
    })
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

/// The JSON form of a line (`reaper logs --json`, schema in the README).
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    time: Option<String>,
    service: &'a str,
    stream: reaper::logfile::Stream,
    text: &'a str,
}

pub fn run(state: &StateDir, args: Args) -> CliResult {
    if let (Some(since), Some(until)) = (args.since, args.until) {
        if until < since {
            return Err(CliError::new(
                EXIT_USAGE,
                "--until is before --since: nothing can match; swap them",
            ));
        }
    }
    let path = log_path(state, &args.name)?;
    let unreadable = |e: io::Error| {
        CliError::new(
            EXIT_FAILURE,
            format!("cannot read {}: {e}", escape(&path.display().to_string())),
        )
    };
    let filtered = args.since.is_some() || args.until.is_some();
    let count = args.lines.or((!filtered).then_some(DEFAULT_LINES));
    let in_window = |line: &LogLine| match line.time {
        Some(time) => {
            args.since.is_none_or(|since| time >= since)
                && args.until.is_none_or(|until| time < until)
        }
        None => !filtered,
    };
    let (mut follower, lines) =
        LogFollower::with_tail(&path, count, in_window, !args.follow).map_err(unreadable)?;
    let mut out = io::stdout().lock();
    for line in &lines {
        print_line(&mut out, &args, line)?;
    }
    out.flush()?;
    if !args.follow {
        return Ok(EXIT_OK);
    }
    loop {
        let found = follower.poll().map_err(unreadable)?;
        if found.missed {
            eprintln!(
                "reaper: some of {}'s output was rotated away before it could be read (raise --log-keep)",
                args.name
            );
        }
        for line in found.lines.iter().filter(|line| in_window(line)) {
            print_line(&mut out, &args, line)?;
        }
        out.flush()?;
        if found.lines.is_empty() {
            std::thread::sleep(FOLLOW_INTERVAL);
        }
    }
}

fn print_line(out: &mut impl Write, args: &Args, line: &LogLine) -> io::Result<()> {
    if args.json {
        let json = JsonLine {
            time: line
                .time
                .map(|t| humantime::format_rfc3339_millis(t).to_string()),
            service: &args.name,
            stream: line.stream,
            text: line.text(),
        };
        let text = serde_json::to_string(&json).map_err(io::Error::other)?;
        writeln!(out, "{text}")
    } else {
        writeln!(out, "{}", line.shown)
    }
}
