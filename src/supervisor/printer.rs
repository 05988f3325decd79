//! The supervisor's output: service lines and its own events, prefixed with the time and an
//! aligned, coloured name.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::os;

/// Prefix of the supervisor's own lines.
pub const SUPERVISOR_PREFIX: &str = "reaper";

/// Prints lines as `HH:MM:SS.mmm name | text`, names aligned and coloured (on a terminal).
pub struct Printer {
    out: anstream::AutoStream<io::Stdout>,
    width: usize,
    styles: BTreeMap<String, anstyle::Style>,
}

const PALETTE: &[anstyle::AnsiColor] = &[
    anstyle::AnsiColor::Cyan,
    anstyle::AnsiColor::Yellow,
    anstyle::AnsiColor::Green,
    anstyle::AnsiColor::Magenta,
    anstyle::AnsiColor::Blue,
    anstyle::AnsiColor::BrightCyan,
    anstyle::AnsiColor::BrightYellow,
    anstyle::AnsiColor::BrightGreen,
    anstyle::AnsiColor::BrightMagenta,
    anstyle::AnsiColor::BrightBlue,
];

impl Printer {
    /// A printer for these service names (colours are assigned in this order).
    pub fn new(names: &[String]) -> Printer {
        let width = names
            .iter()
            .map(|n| n.chars().count())
            .chain([SUPERVISOR_PREFIX.len()])
            .max()
            .unwrap_or(0);
        let mut styles = BTreeMap::new();
        for (index, name) in names.iter().enumerate() {
            let color = PALETTE[index % PALETTE.len()];
            styles.insert(
                name.clone(),
                anstyle::Style::new().fg_color(Some(color.into())),
            );
        }
        styles.insert(SUPERVISOR_PREFIX.to_string(), anstyle::Style::new().bold());
        Printer {
            out: anstream::stdout(),
            width,
            styles,
        }
    }

    /// One line of a service's output (or, with [`SUPERVISOR_PREFIX`], of the supervisor).
    pub fn line(&mut self, name: &str, text: &str) {
        let style = self.styles.get(name).copied().unwrap_or_default();
        let dim = anstyle::Style::new().dimmed();
        let clean: String = text
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        // A closed stdout (the reader went away) must not stop the supervisor.
        let _ = writeln!(
            self.out,
            "{dim}{}{dim:#} {style}{name:<width$} |{style:#} {clean}",
            clock(),
            width = self.width
        );
    }

    /// A line from the supervisor; a multi-line message becomes several lines.
    pub fn event(&mut self, text: &str) {
        for line in text.lines() {
            self.line(SUPERVISOR_PREFIX, line);
        }
    }

    /// Flushes what was written.
    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

/// Local wall-clock time, `HH:MM:SS.mmm` (UTC where the local offset is unknown).
pub fn clock() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (hours, minutes, seconds) = os::local_time_of_day(now.as_secs()).unwrap_or_else(|| {
        let day = now.as_secs() % 86_400;
        (day / 3600, day % 3600 / 60, day % 60)
    });
    format!(
        "{hours:02}:{minutes:02}:{seconds:02}.{:03}",
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_has_milliseconds() {
        let now = clock();
        assert_eq!(now.len(), 12, "{now}");
        assert_eq!(&now[2..3], ":");
        assert_eq!(&now[8..9], ".");
    }
}
