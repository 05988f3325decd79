//! `reaper kill PATTERN…`: which processes a pattern selects, with every safety exclusion.

use crate::identity::protection;
use crate::os;
use crate::process::{Pid, ProcessInfo, Snapshot};

/// A process a pattern selected.
#[derive(Debug, Clone)]
pub struct Match {
    /// The process.
    pub info: ProcessInfo,
    /// Its full command line.
    pub command: String,
    /// The pattern that selected it.
    pub pattern: String,
}

/// Processes whose full command line matches one of `patterns` (regexes; with `exact`, the
/// whole command line must match), owned by one of `uids`. Never pid ≤ 1, kernel threads, zombies,
/// this process or its ancestors. A match whose ancestor also matched is dropped: ending the
/// ancestor's tree ends it too.
pub fn matching_processes(
    snapshot: &Snapshot,
    patterns: &[regex::Regex],
    uids: &[u32],
) -> Vec<Match> {
    let mut matches: Vec<Match> = Vec::new();
    for info in snapshot.iter() {
        if info.kernel_thread
            || !info.state.is_alive()
            || protection(info.pid).is_some()
            || !os::uid_of(info.pid).is_some_and(|uid| uids.contains(&uid))
        {
            continue;
        }
        let Some(argv) = os::command_line(info.pid).filter(|argv| !argv.is_empty()) else {
            continue;
        };
        let command = argv.join(" ");
        if let Some(pattern) = patterns.iter().find(|re| re.is_match(&command)) {
            matches.push(Match {
                info: info.clone(),
                command,
                pattern: pattern.as_str().to_string(),
            });
        }
    }
    let selected: Vec<Pid> = matches.iter().map(|m| m.info.pid).collect();
    matches.retain(|m| {
        !snapshot
            .ancestors(m.info.pid)
            .iter()
            .any(|a| selected.contains(a))
    });
    matches
}

/// Compiles user patterns; with `exact`, each must match the whole command line.
pub fn compile(patterns: &[String], exact: bool) -> Result<Vec<regex::Regex>, String> {
    patterns
        .iter()
        .map(|p| {
            let source = if exact {
                format!("^(?:{p})$")
            } else {
                p.clone()
            };
            regex::Regex::new(&source).map_err(|e| format!("invalid pattern '{p}': {e}"))
        })
        .collect()
}
