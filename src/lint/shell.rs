//! Shell (bash, sh): background jobs, detaching commands and `kill -9` (SH001–SH003).

use tree_sitter::Node;

use super::syntax::{descendants, named_children};
use super::{Rule, Sink};

/// The shell checks.
pub struct ShellRule;

/// A command's name, without a leading path (`/usr/bin/nohup` → `nohup`).
fn command_name<'t>(command: Node<'t>, sink: &Sink<'t>) -> &'t str {
    command
        .child_by_field_name("name")
        .map_or("", |n| sink.text(n))
        .rsplit('/')
        .next()
        .unwrap_or("")
}

fn arguments<'t>(command: Node<'t>, sink: &Sink<'t>) -> Vec<&'t str> {
    let mut cursor = command.walk();
    command
        .children_by_field_name("argument", &mut cursor)
        .map(|n| sink.text(n))
        .collect()
}

/// What the whole script does to keep track of its jobs.
struct Tracking {
    /// `$!` appears somewhere.
    uses_last_pid: bool,
    /// A `wait` command.
    waits: bool,
    /// `trap … EXIT` (or `0`).
    exit_trap: bool,
}

impl Tracking {
    fn of(nodes: &[Node], sink: &Sink) -> Tracking {
        let mut tracking = Tracking {
            uses_last_pid: false,
            waits: false,
            exit_trap: false,
        };
        for node in nodes {
            match node.kind() {
                "special_variable_name" if sink.text(*node) == "!" => {
                    tracking.uses_last_pid = true;
                }
                "command" => match command_name(*node, sink) {
                    "wait" => tracking.waits = true,
                    "trap" => {
                        let args = arguments(*node, sink);
                        if args.iter().skip(1).any(|a| matches!(*a, "EXIT" | "0")) {
                            tracking.exit_trap = true;
                        }
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        tracking
    }

    fn tracked(&self) -> bool {
        self.uses_last_pid || self.waits || self.exit_trap
    }
}

/// The signal a `kill` command sends if it is KILL, and its targets.
fn kill_targets<'t>(args: &[&'t str]) -> (bool, Vec<&'t str>) {
    let mut forced = false;
    let mut targets = Vec::new();
    let mut iter = args.iter();
    while let Some(&arg) = iter.next() {
        match arg {
            "-9" | "-KILL" | "-SIGKILL" | "-s9" | "-sKILL" => forced = true,
            "-s" | "-n" => {
                if let Some(&signal) = iter.next() {
                    forced |= matches!(signal, "9" | "KILL" | "SIGKILL");
                }
            }
            "--" => targets.extend(iter.by_ref().map(|t| t.trim_matches('"'))),
            // Other options and signals (-TERM, -15, -l).
            _ if arg.starts_with('-') && arg.len() > 1 => {}
            _ => targets.push(arg.trim_matches('"')),
        }
    }
    (forced, targets)
}

impl Rule for ShellRule {
    fn check(&self, root: Node, sink: &mut Sink) {
        let nodes = descendants(root);
        let tracking = Tracking::of(&nodes, sink);
        // Targets that got a graceful kill so far, in source order.
        let mut gracefully_killed: Vec<Vec<&str>> = Vec::new();
        for &node in &nodes {
            let backgrounded = node.is_named()
                && node
                    .next_sibling()
                    .is_some_and(|next| !next.is_named() && next.kind() == "&");
            if backgrounded && !tracking.tracked() {
                let shown = sink.text(node).lines().next().unwrap_or("").to_string();
                sink.report("SH001", node, &format!("`{shown} &`"));
            }
            if node.kind() != "command" {
                continue;
            }
            let name = command_name(node, sink);
            match name {
                "nohup" | "setsid" | "disown" => sink.report("SH002", node, name),
                "kill" => {
                    let args = arguments(node, sink);
                    let (forced, targets) = kill_targets(&args);
                    if !forced {
                        gracefully_killed.push(targets);
                    } else if !targets.is_empty()
                        && !gracefully_killed
                            .iter()
                            .any(|earlier| targets.iter().all(|t| earlier.contains(t)))
                    {
                        let detail = format!("`{}`", sink.text(node));
                        sink.report("SH003", node, &detail);
                    }
                }
                _ => {}
            }
            // `exec setsid cmd`, `sudo nohup cmd`: the wrapped command.
            if matches!(name, "exec" | "sudo" | "command" | "env") {
                if let Some(wrapped) = named_children(node)
                    .into_iter()
                    .filter(|n| n.kind() != "command_name")
                    .find(|n| matches!(sink.text(*n), "nohup" | "setsid" | "disown"))
                {
                    let detail = sink.text(wrapped).to_string();
                    sink.report("SH002", wrapped, &detail);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::kill_targets;

    #[test]
    fn kill_arguments() {
        assert_eq!(kill_targets(&["-9", "\"$pid\""]), (true, vec!["$pid"]));
        assert_eq!(kill_targets(&["-s", "KILL", "1234"]), (true, vec!["1234"]));
        assert_eq!(kill_targets(&["-TERM", "$pid"]), (false, vec!["$pid"]));
        assert_eq!(kill_targets(&["--", "-1234"]), (false, vec!["-1234"]));
    }
}
