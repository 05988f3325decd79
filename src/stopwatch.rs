//! Stops you can watch: what a slow stop is waiting for, on stderr.
//!
//! The stop engine ([`crate::terminate`]) reports every stop that is still waiting after
//! [`terminate::WATCH_AFTER`] to its observer. [`install`] sets the observer for this process:
//! on a terminal, a live line per stopping target (indicatif) names the processes still alive
//! and counts down to SIGKILL, and is cleared when the stop ends, so the reports printed after
//! it are unchanged; off a terminal, one line when the wait starts and one when it ends. Stops
//! that end sooner print nothing.

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use console::{measure_text_width, truncate_str};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::terminate::{self, AliveProcess, Stage, StopEnd, StopObserver, StopProgress};
use crate::text::escape;
use crate::units::format_duration;

/// Off a terminal there is no width to fit: the widest one target's process list gets.
const PLAIN_LIST_WIDTH: usize = 160;
/// Used when the terminal does not say how wide it is.
const DEFAULT_WIDTH: usize = 80;
/// How often the live line's spinner turns, showing the wait is alive between countdown steps.
const SPINNER_TICK: Duration = Duration::from_millis(150);
/// What marks a command cut short.
const ELLIPSIS: &str = "…";

/// The live lines of this process, once [`install`] chose them.
static LIVE: OnceLock<MultiProgress> = OnceLock::new();

/// Makes every stop of this process that waits longer than [`terminate::WATCH_AFTER`] show on
/// stderr: a live line when stderr is a terminal (not `TERM=dumb`); plain lines otherwise. A
/// command whose other output streams onto the terminal during its stops writes it through
/// [`suspend`].
pub fn install() {
    let observer: Arc<dyn StopObserver> = if live_terminal() {
        let lines = LiveLines::new();
        let _ = LIVE.set(lines.lines.clone());
        Arc::new(lines)
    } else {
        Arc::new(PlainLines)
    };
    terminate::set_observer(Some(observer));
}

/// Runs `write` with the live lines (if any) taken off the screen and drawn again after it, so
/// what it prints lands above them instead of tearing them apart.
pub fn suspend<R>(write: impl FnOnce() -> R) -> R {
    match LIVE.get() {
        Some(lines) => lines.suspend(write),
        None => write(),
    }
}

/// True when stderr is a terminal that can redraw a line.
fn live_terminal() -> bool {
    io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|term| term != "dumb")
}

/// A line per stopping target, redrawn after every poll and cleared when the target is done.
struct LiveLines {
    lines: MultiProgress,
    /// The line of each target being shown, by (stop, target index).
    bars: Mutex<HashMap<(u64, usize), ProgressBar>>,
    style: ProgressStyle,
}

impl LiveLines {
    fn new() -> LiveLines {
        LiveLines {
            lines: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
            // ASCII ticks: the line must render on terminals without UTF-8 fonts too.
            style: ProgressStyle::with_template("{spinner} {msg}")
                .expect("a valid template")
                .tick_chars("|/-\\ "),
        }
    }

    fn show(&self, progress: &StopProgress<'_>) {
        let width = console::Term::stderr()
            .size_checked()
            .map_or(DEFAULT_WIDTH, |(_, columns)| usize::from(columns));
        // The spinner and its space.
        let width = width.saturating_sub(2);
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        for target in &progress.targets {
            let key = (progress.stop, target.index);
            if target.stage == Stage::Done {
                if let Some(bar) = bars.remove(&key) {
                    self.clear(&bar);
                }
                continue;
            }
            let bar = bars.entry(key).or_insert_with(|| {
                let bar = self
                    .lines
                    .add(ProgressBar::new_spinner().with_style(self.style.clone()));
                bar.enable_steady_tick(SPINNER_TICK);
                bar
            });
            let line = live_line(target.name, target.stage, &target.alive, width);
            // The engine polls up to 20 times a second; redraw only what changed.
            if bar.message() != line {
                bar.set_message(line);
            }
        }
    }

    fn clear(&self, bar: &ProgressBar) {
        bar.finish_and_clear();
        self.lines.remove(bar);
    }
}

impl StopObserver for LiveLines {
    fn waiting(&self, progress: &StopProgress<'_>) {
        self.show(progress);
    }

    fn still_alive(&self, progress: &StopProgress<'_>) {
        self.show(progress);
    }

    fn ended(&self, end: &StopEnd<'_>) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        bars.retain(|(stop, _), bar| {
            let keep = *stop != end.stop;
            if !keep {
                self.clear(bar);
            }
            keep
        });
    }
}

/// One line when a stop starts waiting, one when it ends.
struct PlainLines;

impl StopObserver for PlainLines {
    fn waiting(&self, progress: &StopProgress<'_>) {
        print_line(&waiting_line(progress));
    }

    fn still_alive(&self, _: &StopProgress<'_>) {}

    fn ended(&self, end: &StopEnd<'_>) {
        print_line(&ended_line(end));
    }
}

/// Writes a line to stderr; a closed stderr loses the line, never the stop.
fn print_line(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// The line for a stop that starts waiting: for each target, what it waits for and its processes.
fn waiting_line(progress: &StopProgress<'_>) -> String {
    let targets: Vec<String> = progress
        .targets
        .iter()
        .filter(|target| target.stage != Stage::Done)
        .map(|target| {
            format!(
                "{} after {} ({}): {}",
                escape(target.name),
                target.signal,
                countdown(target.stage),
                process_list(&target.alive, PLAIN_LIST_WIDTH)
            )
        })
        .collect();
    format!("reaper: waiting for {}", targets.join("; "))
}

/// The line for a watched stop that ended: how each target it waited for ended.
fn ended_line(end: &StopEnd<'_>) -> String {
    let targets: Vec<String> = end
        .targets
        .iter()
        .map(|(_, how)| escape(how).into_owned())
        .collect();
    format!(
        "reaper: done waiting after {}: {}",
        format_duration(end.elapsed),
        targets.join("; ")
    )
}

/// The live line of one target, at most `width` columns: its name, the countdown, then as many
/// of its processes as fit.
fn live_line(name: &str, stage: Stage, alive: &[AliveProcess<'_>], width: usize) -> String {
    let head = format!("stopping {} ({})", escape(name), countdown(stage));
    let room = width.saturating_sub(measure_text_width(&head) + 2);
    let line = format!("{head}: {}", process_list(alive, room));
    truncate_str(&line, width, ELLIPSIS).into_owned()
}

/// What a target's stop waits for next, counted down in whole seconds (rounded up, so "in 0s"
/// never shows before the deadline).
fn countdown(stage: Stage) -> String {
    match stage {
        Stage::Graceful {
            remaining,
            escalate,
        } => {
            let what = if escalate { "SIGKILL" } else { "giving up" };
            let seconds = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
            if seconds == 0 {
                format!("{what} now")
            } else {
                format!(
                    "{what} in {}",
                    format_duration(Duration::from_secs(seconds))
                )
            }
        }
        Stage::Killing { .. } => "SIGKILL sent".to_string(),
        Stage::Done => "done".to_string(),
    }
}

/// `pid 12 (sleep 100), pid 13 (python3 -m …), and 4 more`, at most `width` columns: as many
/// whole processes as fit with the count of the rest, or the first one cut short.
fn process_list(alive: &[AliveProcess<'_>], width: usize) -> String {
    if alive.is_empty() {
        return "all exited, confirming".to_string();
    }
    // Beyond this many, not even the shortest entries (`pid 1 (x)`) fit.
    let candidates = alive.len().min(width / 9 + 1);
    let entries: Vec<String> = alive[..candidates]
        .iter()
        .map(|p| format!("pid {} ({})", p.pid, escape(p.command)))
        .collect();
    let more = |shown: usize| match alive.len() - shown {
        0 => String::new(),
        rest => format!(", and {rest} more"),
    };
    let mut used = 0;
    let mut fitting = 0;
    for (shown, entry) in entries.iter().enumerate() {
        let separator = if shown == 0 { 0 } else { 2 };
        let total = used + separator + measure_text_width(entry);
        if total + measure_text_width(&more(shown + 1)) > width {
            break;
        }
        used = total;
        fitting = shown + 1;
    }
    if fitting > 0 {
        return entries[..fitting].join(", ") + &more(fitting);
    }
    let rest = more(1);
    let room = width.saturating_sub(measure_text_width(&rest));
    if room < measure_text_width("pid 1 (x…)") {
        let count = format!("{} processes", alive.len());
        return truncate_str(&count, width, ELLIPSIS).into_owned();
    }
    truncate_str(&entries[0], room, ELLIPSIS).into_owned() + &rest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::Signal;
    use crate::terminate::TargetProgress;

    fn alive(processes: &[(u32, &'static str)]) -> Vec<AliveProcess<'static>> {
        processes
            .iter()
            .map(|&(pid, command)| AliveProcess { pid, command })
            .collect()
    }

    const SEVEN_SECONDS_LEFT: Stage = Stage::Graceful {
        remaining: Duration::from_millis(6_200),
        escalate: true,
    };

    #[test]
    fn every_process_is_named_when_there_is_room() {
        let list = process_list(&alive(&[(12, "sleep 100"), (13, "sh -c x")]), 80);
        assert_eq!(list, "pid 12 (sleep 100), pid 13 (sh -c x)");
    }

    #[test]
    fn many_processes_are_summarised_with_how_many_more() {
        let many: Vec<(u32, &str)> = (100..140).map(|pid| (pid, "worker --serve")).collect();
        let list = process_list(&alive(&many), 80);
        assert!(measure_text_width(&list) <= 80, "{list}");
        assert!(list.starts_with("pid 100 (worker --serve), "), "{list}");
        let shown = list.matches("pid ").count();
        assert!(
            list.ends_with(&format!(", and {} more", 40 - shown)),
            "{list}"
        );
    }

    #[test]
    fn a_long_command_is_cut_to_the_width() {
        let long =
            "python3 -m http.server --bind 127.0.0.1 --directory /srv/a/very/long/path/indeed 8000";
        let list = process_list(&alive(&[(4242, long), (4243, "sleep 1")]), 50);
        assert_eq!(measure_text_width(&list), 50, "{list}");
        assert!(
            list.starts_with("pid 4242 (python3 -m http.server"),
            "{list}"
        );
        assert!(list.ends_with("…, and 1 more"), "{list}");
    }

    #[test]
    fn a_narrow_terminal_gets_a_count() {
        let list = process_list(&alive(&[(4242, "sleep 100"), (4243, "sleep 1")]), 12);
        assert_eq!(list, "2 processes");
        assert!(measure_text_width(&process_list(&alive(&[(1, "x")]), 3)) <= 3);
    }

    #[test]
    fn control_characters_in_commands_are_escaped() {
        let list = process_list(&alive(&[(5, "printf '\x1b[2J'\nrm")]), 80);
        assert_eq!(list, "pid 5 (printf '\\u{1b}[2J'\\nrm)");
    }

    #[test]
    fn the_live_line_fits_the_terminal_and_counts_down() {
        let long = "node ".to_string() + &"x".repeat(300);
        let processes = [AliveProcess {
            pid: 777,
            command: &long,
        }];
        for width in [20, 40, 80, 200] {
            let line = live_line("api", SEVEN_SECONDS_LEFT, &processes, width);
            assert!(measure_text_width(&line) <= width, "{width}: {line}");
        }
        let line = live_line("api", SEVEN_SECONDS_LEFT, &processes, 80);
        assert!(
            line.starts_with("stopping api (SIGKILL in 7s): pid 777 (node xxx"),
            "{line}"
        );
    }

    #[test]
    fn countdowns_say_what_comes_next() {
        assert_eq!(countdown(SEVEN_SECONDS_LEFT), "SIGKILL in 7s");
        let safe = Stage::Graceful {
            remaining: Duration::from_secs(90),
            escalate: false,
        };
        assert_eq!(countdown(safe), "giving up in 1m30s");
        let over = Stage::Graceful {
            remaining: Duration::ZERO,
            escalate: true,
        };
        assert_eq!(countdown(over), "SIGKILL now");
        let killing = Stage::Killing {
            since: Duration::from_secs(1),
        };
        assert_eq!(countdown(killing), "SIGKILL sent");
    }

    #[test]
    fn plain_lines_name_what_is_waited_for_and_how_it_ended() {
        let processes = alive(&[(31, "sleep 100")]);
        let progress = StopProgress {
            stop: 1,
            elapsed: Duration::from_secs(1),
            targets: vec![
                TargetProgress {
                    index: 0,
                    name: "api",
                    signal: Signal::Term,
                    stage: SEVEN_SECONDS_LEFT,
                    alive: processes.clone(),
                },
                TargetProgress {
                    index: 1,
                    name: "web",
                    signal: Signal::Term,
                    stage: Stage::Done,
                    alive: Vec::new(),
                },
            ],
        };
        assert_eq!(
            waiting_line(&progress),
            "reaper: waiting for api after SIGTERM (SIGKILL in 7s): pid 31 (sleep 100)"
        );
        let end = StopEnd {
            stop: 1,
            elapsed: Duration::from_millis(3_100),
            targets: vec![(
                "api",
                "stopped api in 3s: 1 process, 0 after SIGTERM, 1 by SIGKILL".into(),
            )],
        };
        assert_eq!(
            ended_line(&end),
            "reaper: done waiting after 3s: stopped api in 3s: 1 process, 0 after SIGTERM, 1 by SIGKILL"
        );
    }
}
