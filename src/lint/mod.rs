//! `reaper lint`: the spawning rules of the reference as a linter for Python, shell,
//! JavaScript/TypeScript and PowerShell.
//!
//! Every subprocess call that can hang without a timeout, every background job nobody waits for,
//! and every child that detaches from its supervisor is where orphans and hangs are born. The
//! checks parse each file with tree-sitter (real grammars, not regular expressions): one [`Rule`]
//! per language walks the syntax tree and pushes [`Finding`]s into a [`Sink`]. The rule catalogue
//! ([`RULES`]) gives each finding a stable id, a one-line message, why it matters and the fix.
//!
//! Where a call passes options the linter cannot see (`**kwargs`, `...options`, an options
//! variable), the finding is downgraded to [`Severity::Info`] and says "cannot tell" instead of
//! raising a false alarm.

mod javascript;
mod powershell;
mod python;
pub mod report;
mod shell;
mod syntax;
mod walk;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use walk::{FileKind, LintError, LintOptions, Outcome, lint_paths};

/// Version of the JSON output of `reaper lint --format json`.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// How much a finding matters. Only warnings make `reaper lint` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A likely hang or orphan.
    Warning,
    /// Worth a look: a deliberate detach, a heuristic, or a call whose options cannot be seen.
    Info,
}

/// One rule of the catalogue.
#[derive(Debug)]
pub struct RuleInfo {
    /// Stable id (`PY001`), used by `--select`, `--ignore`, suppressions and SARIF.
    pub id: &'static str,
    /// Short kebab-case name (SARIF `name`).
    pub name: &'static str,
    /// Severity of a certain finding (a "cannot tell" finding is always info).
    pub severity: Severity,
    /// One-line message.
    pub message: &'static str,
    /// Why it matters.
    pub why: &'static str,
    /// How to fix it.
    pub fix: &'static str,
}

/// Every rule, in the order of `--explain` listings and SARIF.
pub static RULES: &[RuleInfo] = &[
    RuleInfo {
        id: "PY001",
        name: "subprocess-without-timeout",
        severity: Severity::Warning,
        message: "subprocess call without timeout=",
        why: "run/call/check_call/check_output wait for the child with no limit: a child that \
              hangs hangs the caller, and nothing ever ends it.",
        fix: "Pass timeout= (seconds); on subprocess.TimeoutExpired the child is killed and \
              waited for.",
    },
    RuleInfo {
        id: "PY002",
        name: "popen-wait-without-timeout",
        severity: Severity::Warning,
        message: "Popen.wait()/communicate() without timeout",
        why: "An unbounded wait on a child that never exits blocks the caller forever.",
        fix: "Pass timeout=; on subprocess.TimeoutExpired kill the child and wait again, or \
              call wait() only after kill().",
    },
    RuleInfo {
        id: "PY003",
        name: "popen-never-reaped",
        severity: Severity::Warning,
        message: "Popen object never waited on, killed or used as a context manager",
        why: "A child nobody waits for becomes a zombie when it exits, and an orphan when the \
              parent exits first.",
        fix: "Use `with subprocess.Popen(...) as proc:`, or call proc.wait(timeout=...) / \
              proc.kill() on every path.",
    },
    RuleInfo {
        id: "PY004",
        name: "os-system",
        severity: Severity::Warning,
        message: "os.system/os.popen run a shell with no timeout and no handle",
        why: "The shell and everything it starts cannot be timed out, signalled or waited for \
              by the caller.",
        fix: "Use subprocess.run([...], timeout=...) with an argument list.",
    },
    RuleInfo {
        id: "PY005",
        name: "asyncio-unbounded-wait",
        severity: Severity::Warning,
        message: "asyncio subprocess never waited on, or waited on without wait_for/timeout",
        why: "await proc.wait() / proc.communicate() have no limit: a hung child hangs the task; \
              a child never waited on is never reaped and outlives the task.",
        fix: "await asyncio.wait_for(proc.communicate(), timeout) or wrap it in \
              `async with asyncio.timeout(...)`, and kill the child on timeout.",
    },
    RuleInfo {
        id: "PY006",
        name: "detached-session",
        severity: Severity::Info,
        message: "start_new_session=True / preexec_fn=os.setsid detaches the child",
        why: "A child in its own session no longer gets the terminal's signals and escapes \
              process-group kills: when the parent dies it lives on as an orphan.",
        fix: "Keep the child in the caller's session, or record its pid and stop it on exit \
              (or run it under `reaper start`).",
    },
    RuleInfo {
        id: "SH001",
        name: "untracked-background-job",
        severity: Severity::Warning,
        message: "background job (&) whose $! is never used, with no wait or trap … EXIT",
        why: "Nothing waits for or stops the job: it outlives the script as an orphan.",
        fix: "Save its pid (pid=$!) and `wait \"$pid\"`, or `trap 'kill \"$pid\"' EXIT`.",
    },
    RuleInfo {
        id: "SH002",
        name: "detach-command",
        severity: Severity::Warning,
        message: "nohup/setsid/disown detach a process from the script",
        why: "A detached process survives the script and its terminal by design: nobody \
              tracks it afterwards.",
        fix: "Run it under a supervisor (`reaper start NAME -- cmd`), or keep its pid and \
              stop it on exit.",
    },
    RuleInfo {
        id: "SH003",
        name: "kill-9-first",
        severity: Severity::Warning,
        message: "kill -9 with no earlier graceful kill of the same target",
        why: "SIGKILL gives the process no chance to stop its own children or clean up: they \
              become orphans.",
        fix: "Send TERM first (`kill \"$pid\"`), wait a grace period, then KILL what is left.",
    },
    RuleInfo {
        id: "JS001",
        name: "sync-spawn-without-timeout",
        severity: Severity::Warning,
        message: "execSync/execFileSync/spawnSync without timeout",
        why: "The synchronous call blocks the whole event loop until the child exits: a hung \
              child hangs the program.",
        fix: "Pass { timeout: ms } (and killSignal if TERM is not enough).",
    },
    RuleInfo {
        id: "JS002",
        name: "exec-without-timeout",
        severity: Severity::Warning,
        message: "exec/execFile without timeout",
        why: "The callback never fires while the child hangs, and the child is never ended.",
        fix: "Pass { timeout: ms } in the options.",
    },
    RuleInfo {
        id: "JS003",
        name: "detached-unref",
        severity: Severity::Warning,
        message: "spawn with detached: true and .unref() leaves an untracked child",
        why: "The child gets its own process group and the parent stops waiting for it: it \
              outlives the program.",
        fix: "Keep the child attached, or save child.pid and stop it on exit.",
    },
    RuleInfo {
        id: "JS004",
        name: "child-never-killed",
        severity: Severity::Info,
        message: "spawned child is never killed in this file",
        why: "A long-running child of a program that exits or crashes is left behind.",
        fix: "Call child.kill() on exit (process.on('exit'), signal handlers), or give it a \
              timeout.",
    },
    RuleInfo {
        id: "PS001",
        name: "start-process-untracked",
        severity: Severity::Warning,
        message: "Start-Process without -PassThru or -Wait",
        why: "Without -PassThru there is no process object to stop later, and without -Wait \
              nothing waits for it: it outlives the script.",
        fix: "Use -Wait, or -PassThru and keep the object to Stop-Process it.",
    },
    RuleInfo {
        id: "PS002",
        name: "job-never-collected",
        severity: Severity::Warning,
        message: "Start-Job never stopped, waited for or removed",
        why: "The job's process lives until the session ends, and its output is never read.",
        fix: "Wait-Job / Receive-Job -Wait, then Remove-Job; or Stop-Job on exit.",
    },
    RuleInfo {
        id: "PS003",
        name: "force-stop-first",
        severity: Severity::Info,
        message: "Stop-Process -Force with no graceful attempt",
        why: "A forced stop gives the process no chance to end its children or save state.",
        fix: "Try $p.CloseMainWindow() or Stop-Process without -Force first, wait, then force.",
    },
];

/// The rule with this id (case-insensitive).
pub fn rule_info(id: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|rule| rule.id.eq_ignore_ascii_case(id))
}

/// One finding, located in a file.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The rule that fired.
    pub rule: &'static RuleInfo,
    /// Warning, or info for a "cannot tell".
    pub severity: Severity,
    /// The file as given on the command line or found by the walk.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The rule's message, with what was found.
    pub message: String,
    /// The source line, for the human report.
    pub source_line: String,
}

/// Where a [`Rule`] puts what it finds in one file.
pub struct Sink<'a> {
    source: &'a str,
    findings: Vec<(&'static RuleInfo, Severity, usize, String)>,
}

impl<'a> Sink<'a> {
    fn new(source: &'a str) -> Sink<'a> {
        Sink {
            source,
            findings: Vec::new(),
        }
    }

    /// A certain finding at `node`: `detail` names what was found (e.g. the call).
    pub fn report(&mut self, id: &'static str, node: tree_sitter::Node, detail: &str) {
        let rule = rule_info(id).expect("rules report ids from the catalogue");
        let message = format!("{}: {}", rule.message, detail);
        self.findings
            .push((rule, rule.severity, node.start_byte(), message));
    }

    /// A finding the rule cannot be sure of (options it cannot see): always info.
    pub fn cannot_tell(&mut self, id: &'static str, node: tree_sitter::Node, reason: &str) {
        let rule = rule_info(id).expect("rules report ids from the catalogue");
        let message = format!("cannot tell: {} ({reason})", rule.message);
        self.findings
            .push((rule, Severity::Info, node.start_byte(), message));
    }

    /// The text of `node`.
    pub fn text(&self, node: tree_sitter::Node) -> &'a str {
        &self.source[node.byte_range()]
    }

    /// Findings with their positions, minus those suppressed inline.
    fn into_findings(mut self, path: &Path) -> Vec<Finding> {
        // A name bound twice (`proc = ...` in both branches of an if) reaches the same wait
        // through each binding: one finding per rule and place.
        self.findings
            .sort_by_key(|(rule, _, byte, _)| (*byte, rule.id));
        self.findings
            .dedup_by_key(|(rule, _, byte, _)| (*byte, rule.id));
        let lines: Vec<&str> = self.source.lines().collect();
        let mut out = Vec::with_capacity(self.findings.len());
        for (rule, severity, byte, message) in self.findings {
            let line_start = self.source[..byte].rfind('\n').map_or(0, |i| i + 1);
            let line = self.source[..line_start].matches('\n').count() + 1;
            let this_line = lines.get(line - 1).copied().unwrap_or("");
            let previous = line.checked_sub(2).and_then(|i| lines.get(i)).copied();
            if suppressed(rule.id, this_line, previous) {
                continue;
            }
            out.push(Finding {
                rule,
                severity,
                path: path.to_path_buf(),
                line,
                column: self.source[line_start..byte].chars().count() + 1,
                message,
                source_line: this_line.trim_end_matches('\r').to_string(),
            });
        }
        out
    }
}

/// The checks of one language.
pub trait Rule: Sync {
    /// Walks `root` (the parsed file) and reports into `sink`.
    fn check(&self, root: tree_sitter::Node, sink: &mut Sink);
}

/// The marker of an inline suppression, in a comment on the line or alone on the line before:
/// `# reaper: ignore[PY001]`, `// reaper: ignore[JS001, JS004]`, or `reaper: ignore` for all.
const SUPPRESSION: &str = "reaper: ignore";

fn suppressed(id: &str, line: &str, previous: Option<&str>) -> bool {
    let comment_only = |text: &str| {
        let text = text.trim_start();
        text.starts_with('#') || text.starts_with("//")
    };
    let covers = |text: &str| {
        text.match_indices(SUPPRESSION).any(|(at, _)| {
            let rest = &text[at + SUPPRESSION.len()..];
            match rest.strip_prefix('[') {
                Some(list) => list
                    .split(']')
                    .next()
                    .is_some_and(|ids| ids.split(',').any(|i| i.trim().eq_ignore_ascii_case(id))),
                None => true,
            }
        })
    };
    covers(line) || previous.is_some_and(|p| comment_only(p) && covers(p))
}

/// Which rules run: `--select`/`--ignore` and `[lint]` in reaper.toml.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    select: Vec<String>,
    ignore: Vec<String>,
}

impl Selection {
    /// Ids or prefixes (`PY`, `SH001`) to run (empty: all) and to skip. Unknown ones are an error.
    pub fn new(select: Vec<String>, ignore: Vec<String>) -> Result<Selection, String> {
        for pattern in select.iter().chain(&ignore) {
            if !RULES.iter().any(|rule| matches_pattern(rule.id, pattern)) {
                return Err(format!(
                    "unknown rule or prefix {pattern:?}: `reaper lint --explain all` lists the rules"
                ));
            }
        }
        Ok(Selection { select, ignore })
    }

    /// True if the rule with this id runs.
    pub fn enabled(&self, id: &str) -> bool {
        (self.select.is_empty() || self.select.iter().any(|p| matches_pattern(id, p)))
            && !self.ignore.iter().any(|p| matches_pattern(id, p))
    }
}

fn matches_pattern(id: &str, pattern: &str) -> bool {
    let pattern = pattern.trim();
    !pattern.is_empty()
        && id.len() >= pattern.len()
        && id[..pattern.len()].eq_ignore_ascii_case(pattern)
}

/// Parses `source` as `kind` and runs that language's rule (every rule id; selection comes later).
fn lint_with(
    parser: &mut tree_sitter::Parser,
    kind: FileKind,
    path: &Path,
    source: &str,
) -> Vec<Finding> {
    parser
        .set_language(&kind.grammar())
        .expect("bundled grammars match the tree-sitter runtime");
    let Some(tree) = parser.parse(source, None) else {
        return Vec::new();
    };
    let mut sink = Sink::new(source);
    kind.rule().check(tree.root_node(), &mut sink);
    sink.into_findings(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppression_names_ids_or_covers_all() {
        assert!(suppressed("PY001", "run(x)  # reaper: ignore[PY001]", None));
        assert!(suppressed(
            "PY001",
            "run(x)  # reaper: ignore[py004, PY001]",
            None
        ));
        assert!(!suppressed(
            "PY001",
            "run(x)  # reaper: ignore[PY004]",
            None
        ));
        assert!(suppressed("SH001", "sleep 1 & # reaper: ignore", None));
        assert!(suppressed(
            "JS001",
            "x()",
            Some("  // reaper: ignore[JS001]")
        ));
        // A marker at the end of a code line covers that line only.
        assert!(!suppressed(
            "PY001",
            "x()",
            Some("y()  # reaper: ignore[PY001]")
        ));
    }

    #[test]
    fn selection_by_id_and_prefix() {
        let selection = Selection::new(vec!["PY".into()], vec!["py006".into()]).unwrap();
        assert!(selection.enabled("PY001"));
        assert!(!selection.enabled("PY006"));
        assert!(!selection.enabled("SH001"));
        assert!(Selection::new(vec!["XX1".into()], vec![]).is_err());
    }

    #[test]
    fn catalogue_ids_are_unique_and_prefixed_by_language() {
        for (i, rule) in RULES.iter().enumerate() {
            assert!(RULES[i + 1..].iter().all(|other| other.id != rule.id));
            assert!(
                ["PY", "SH", "JS", "PS"].contains(&&rule.id[..2]),
                "{}",
                rule.id
            );
        }
    }
}
