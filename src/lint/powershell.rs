//! PowerShell: `Start-Process`, `Start-Job`, `Stop-Process -Force` (PS001–PS003).

use tree_sitter::Node;

use super::syntax::{descendants, named_children};
use super::{Rule, Sink};

/// The PowerShell checks.
pub struct PowerShellRule;

/// The cmdlets the rules know, by any of their names (cmdlet names are case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmdlet {
    StartProcess,
    StartJob,
    StopProcess,
    /// Stop-Job, Wait-Job, Remove-Job, Receive-Job: a job is collected.
    CollectJob,
    Other,
}

fn cmdlet(name: &str) -> Cmdlet {
    const NAMES: &[(&str, Cmdlet)] = &[
        ("start-process", Cmdlet::StartProcess),
        ("start", Cmdlet::StartProcess),
        ("saps", Cmdlet::StartProcess),
        ("start-job", Cmdlet::StartJob),
        ("start-threadjob", Cmdlet::StartJob),
        ("sajb", Cmdlet::StartJob),
        ("stop-process", Cmdlet::StopProcess),
        ("spps", Cmdlet::StopProcess),
        ("kill", Cmdlet::StopProcess),
        ("stop-job", Cmdlet::CollectJob),
        ("spjb", Cmdlet::CollectJob),
        ("wait-job", Cmdlet::CollectJob),
        ("wjb", Cmdlet::CollectJob),
        ("remove-job", Cmdlet::CollectJob),
        ("rjb", Cmdlet::CollectJob),
        ("receive-job", Cmdlet::CollectJob),
        ("rcjb", Cmdlet::CollectJob),
    ];
    NAMES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map_or(Cmdlet::Other, |(_, cmdlet)| *cmdlet)
}

/// The parameter names of a command, lower-case, without the dash or a `:value`.
fn parameters(command: Node, sink: &Sink) -> Vec<String> {
    let Some(elements) = command.child_by_field_name("command_elements") else {
        return Vec::new();
    };
    named_children(elements)
        .into_iter()
        .filter(|e| e.kind() == "command_parameter")
        .map(|e| {
            let text = sink.text(e).trim_start_matches(['-', '–']);
            text.split(':').next().unwrap_or("").to_ascii_lowercase()
        })
        .collect()
}

/// True if a parameter abbreviates `full` (PowerShell accepts any unambiguous prefix).
fn has_parameter(parameters: &[String], full: &str, shortest: usize) -> bool {
    parameters
        .iter()
        .any(|p| p.len() >= shortest && full.starts_with(p.as_str()))
}

impl Rule for PowerShellRule {
    fn check(&self, root: Node, sink: &mut Sink) {
        let nodes = descendants(root);
        let commands: Vec<(Node, Cmdlet, Vec<String>)> = nodes
            .iter()
            .filter(|n| n.kind() == "command")
            .map(|&n| {
                let name = n
                    .child_by_field_name("command_name")
                    .map_or("", |c| sink.text(c));
                (n, cmdlet(name), parameters(n, sink))
            })
            .collect();
        let jobs_collected = commands.iter().any(|(_, c, _)| *c == Cmdlet::CollectJob);
        let closes_windows = nodes.iter().any(|n| {
            n.kind() == "member_name" && sink.text(*n).eq_ignore_ascii_case("CloseMainWindow")
        });
        let mut graceful_stop_seen = closes_windows;
        for (command, cmdlet, parameters) in &commands {
            match cmdlet {
                // -PassThru (-Pa…) and -Wait (-Wa…; -Wi is -WindowStyle).
                Cmdlet::StartProcess
                    if !has_parameter(parameters, "passthru", 2)
                        && !has_parameter(parameters, "wait", 2) =>
                {
                    let detail = format!("`{}`", sink.text(*command).trim());
                    sink.report("PS001", *command, &detail);
                }
                Cmdlet::StartJob if !jobs_collected => {
                    let detail = format!("`{}`", sink.text(*command).trim());
                    sink.report("PS002", *command, &detail);
                }
                Cmdlet::StopProcess => {
                    if !has_parameter(parameters, "force", 1) {
                        graceful_stop_seen = true;
                    } else if !graceful_stop_seen {
                        let detail = format!("`{}`", sink.text(*command).trim());
                        sink.report("PS003", *command, &detail);
                    }
                }
                _ => {}
            }
        }
    }
}
