//! `reaper doctor --format github`: findings as GitHub Actions workflow commands
//! (`::error title=…::…`, shown as annotations on the run) and a Markdown table for the job
//! summary (`$GITHUB_STEP_SUMMARY`).
//!
//! Findings are about processes, not files, so the annotations carry no `file=`/`line=` (and a
//! SARIF report, which is made of file locations, would have nothing to say).

use super::{Finding, FindingKind, Report};

/// A workflow command's message, escaped as the runner expects: `%`, CR and LF are encoded, so
/// outside text (a command line, a name) cannot end the command or start another.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value (`title=`): as [`escape_data`], plus `:` and `,`, which
/// end a property.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The annotation level: a stale record is left-over bookkeeping (a warning); every other kind
/// is a process in trouble (an error).
fn level(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::StaleRecord => "warning",
        _ => "error",
    }
}

/// One workflow command per finding, each on its own line.
pub fn annotations(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let mut title = format!("reaper doctor: {}", f.kind.title());
        if let Some(pid) = f.pid {
            title.push_str(&format!(" (pid {pid})"));
        }
        let message = format!("{}\nfix: {}", message_of(f), f.fix);
        out.push_str(&format!(
            "::{} title={}::{}\n",
            level(f.kind),
            escape_property(&title),
            escape_data(&message)
        ));
    }
    out
}

fn message_of(f: &Finding) -> String {
    match &f.command {
        Some(command) => format!("{} — {command}", f.headline()),
        None => f.headline(),
    }
}

/// A Markdown table cell: `|` would end the cell and a line break the row.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

/// The job summary: a heading with the counts and, when anything was found, a table of the
/// findings.
pub fn step_summary(report: &Report) -> String {
    let s = &report.summary;
    let mut out = if s.total == 0 {
        format!(
            "### reaper doctor: clean\n\n{} processes scanned on {}.\n",
            s.processes_scanned,
            cell(&report.host)
        )
    } else {
        format!(
            "### reaper doctor: {} finding{}\n\n{} zombie, {} orphan, {} port conflict, {} hung, \
             {} stale record ({} processes scanned on {}).\n\n\
             | Kind | PID | Service | Command | Evidence | Fix |\n\
             | --- | --- | --- | --- | --- | --- |\n",
            s.total,
            if s.total == 1 { "" } else { "s" },
            s.zombie,
            s.orphan,
            s.port_conflict,
            s.hung,
            s.stale_record,
            s.processes_scanned,
            cell(&report.host)
        )
    };
    for f in &report.findings {
        let dash = || "-".to_string();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            f.kind.title(),
            f.pid.map_or_else(dash, |p| p.to_string()),
            f.service.as_deref().map_or_else(dash, cell),
            f.command
                .as_deref()
                .map_or_else(dash, |c| format!("`{}`", cell(c).replace('`', "'"))),
            cell(&f.evidence),
            cell(&f.fix)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_cannot_be_broken_out_of() {
        assert_eq!(escape_data("50%\r\n::error::x"), "50%25%0D%0A::error::x");
        assert_eq!(escape_property("a: b, c%"), "a%3A b%2C c%25");
    }

    #[test]
    fn table_cells_stay_in_their_cell() {
        assert_eq!(cell("a|b\nc\\"), "a\\|b c\\\\");
    }
}
