//! The supervisor's output: service lines and its own events, prefixed with the time and an
//! aligned, coloured name, written to the sink it is given (stdout in `reaper up`, memory in
//! tests). While a front end is attached ([`Printer::attach`]), the supervisor's own lines go to
//! it instead and service output is not printed (the front end reads the logs itself).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use super::link::FrontEnd;
use crate::os;

/// Prefix of the supervisor's own lines.
pub const SUPERVISOR_PREFIX: &str = "reaper";

/// Prints lines as `HH:MM:SS.mmm name | text`, names aligned and coloured (on a terminal).
pub struct Printer<W: Write = anstream::AutoStream<io::Stdout>> {
    out: W,
    width: usize,
    styles: BTreeMap<String, anstyle::Style>,
    front_end: Option<Box<dyn FrontEnd>>,
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
    /// A printer to stdout for these service names (colours are assigned in this order; plain
    /// off a terminal).
    pub fn new(names: &[String]) -> Printer {
        Printer::to(anstream::stdout(), names)
    }
}

impl<W: Write> Printer<W> {
    /// A printer to `out` for these service names (colours are assigned in this order).
    pub fn to(out: W, names: &[String]) -> Printer<W> {
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
            out,
            width,
            styles,
            front_end: None,
        }
    }

    /// From now on the supervisor's lines go to `front_end`, and service output is not printed.
    pub fn attach(&mut self, front_end: Box<dyn FrontEnd>) {
        self.front_end = Some(front_end);
    }

    /// Gives the terminal back: the attached front end (if any) restores it and is dropped, and
    /// lines are printed again.
    pub fn release(&mut self) {
        if let Some(mut front_end) = self.front_end.take() {
            front_end.release();
        }
    }

    /// One line of a service's output; not printed while a front end is attached.
    pub fn output(&mut self, name: &str, text: &str) {
        if self.front_end.is_none() {
            self.line(name, text);
        }
    }

    fn line(&mut self, name: &str, text: &str) {
        let style = self.styles.get(name).copied().unwrap_or_default();
        let dim = anstyle::Style::new().dimmed();
        let clean: String = text
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        // A closed stdout (the reader went away) must not stop the supervisor. Lines printed
        // during a stop land above its live line.
        let (out, width) = (&mut self.out, self.width);
        let _ = crate::stopwatch::suspend(|| {
            writeln!(
                out,
                "{dim}{}{dim:#} {style}{name:<width$} |{style:#} {clean}",
                clock()
            )
        });
    }

    /// A line from the supervisor; a multi-line message becomes several lines.
    pub fn event(&mut self, text: &str) {
        for line in text.lines() {
            match self.front_end.as_mut() {
                Some(front_end) => front_end.supervisor_line(line),
                None => self.line(SUPERVISOR_PREFIX, line),
            }
        }
    }

    /// Flushes what was written.
    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

/// Local wall-clock time now, `HH:MM:SS.mmm` (UTC where the local offset is unknown).
pub fn clock() -> String {
    time_of_day(SystemTime::now())
}

/// `time` as local wall-clock time, `HH:MM:SS.mmm` (UTC where the local offset is unknown).
pub fn time_of_day(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (hours, minutes, seconds) = os::local_time_of_day(since.as_secs()).unwrap_or_else(|| {
        let day = since.as_secs() % 86_400;
        (day / 3600, day % 3600 / 60, day % 60)
    });
    format!(
        "{hours:02}:{minutes:02}:{seconds:02}.{:03}",
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A front end that remembers what it was given.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl FrontEnd for Recorder {
        fn supervisor_line(&mut self, text: &str) {
            self.0.lock().unwrap().push(text.to_string());
        }
        fn release(&mut self) {
            self.0.lock().unwrap().push("<released>".into());
        }
    }

    fn plain(out: Vec<u8>) -> String {
        anstream::adapter::strip_str(&String::from_utf8(out).unwrap()).to_string()
    }

    fn names() -> Vec<String> {
        vec!["web".into()]
    }

    #[test]
    fn writes_prefixed_lines_to_its_sink() {
        let mut printer = Printer::to(Vec::new(), &names());
        printer.event("two\nlines");
        printer.output("web", "a\tb");
        let text = plain(printer.out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].ends_with("reaper | two"), "{text}");
        assert!(lines[1].ends_with("reaper | lines"), "{text}");
        assert!(lines[2].contains("web    |"), "{text}");
        assert!(lines[2].ends_with(" a b"), "{text}");
    }

    #[test]
    fn an_attached_front_end_takes_the_supervisor_lines_and_no_output() {
        let recorder = Recorder::default();
        let mut printer = Printer::to(Vec::new(), &names());
        printer.attach(Box::new(recorder.clone()));
        printer.event("web is ready\nsecond");
        printer.output("web", "service output");
        assert!(printer.out.is_empty());
        printer.release();
        printer.event("stopping");
        printer.release();
        assert_eq!(
            *recorder.0.lock().unwrap(),
            ["web is ready", "second", "<released>"]
        );
        let text = plain(printer.out);
        assert!(text.ends_with("reaper | stopping\n"), "{text}");
    }

    #[test]
    fn clock_has_milliseconds() {
        let now = clock();
        assert_eq!(now.len(), 12, "{now}");
        assert_eq!(&now[2..3], ":");
        assert_eq!(&now[8..9], ".");
    }
}
