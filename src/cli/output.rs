//! Output helpers: JSON documents, tables, stop reports.

use std::io::{self, Write};

use comfy_table::{Table, presets};
use serde::Serialize;

use reaper::terminate::StopReport;
pub use reaper::text::escape;
use reaper::units::format_duration;

/// Writes `value` as pretty JSON and a newline to stdout, in one write: stdout is line
/// buffered, and a doctor report with 2,000 findings was 28,000 write system calls.
pub fn json(value: &impl Serialize) -> io::Result<()> {
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    io::stdout().lock().write_all(&text)
}

/// A borderless table with these headers, like `ps`.
pub fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_header(headers.to_vec());
    table
}

/// Prints a table's rows, trimming the padding the preset leaves at line ends.
pub fn print_table(table: &Table) -> io::Result<()> {
    let mut out = io::stdout().lock();
    for line in table.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Prints one line per process ended, and whether it went gracefully or by force.
pub fn stop_report(report: &StopReport, signal: reaper::signal::Signal) -> io::Result<()> {
    stop_report_to(&mut io::stdout().lock(), report, signal)
}

/// [`stop_report`] to `out`.
pub fn stop_report_to(
    out: &mut impl Write,
    report: &StopReport,
    signal: reaper::signal::Signal,
) -> io::Result<()> {
    writeln!(out, "{}", escape(&report.summary(signal)))?;
    for process in &report.processes {
        writeln!(
            out,
            "  {:>7}  {:<22} {:>7}  {}",
            process.pid,
            process.outcome.describe(signal),
            format_duration(process.after),
            truncate(&process.command, 100)
        )?;
    }
    for pid in &report.unreaped_zombies {
        writeln!(
            out,
            "  {pid:>7}  exited, but its parent has not reaped it yet (zombie)"
        )?;
    }
    Ok(())
}

/// `text` with control characters escaped ([`escape`]), shortened to `max` characters with an
/// ellipsis: how a command line or other outside text is shown in a table or report.
pub fn truncate(text: &str, max: usize) -> String {
    let text = escape(text);
    if text.chars().count() <= max {
        text.into_owned()
    } else {
        let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}
