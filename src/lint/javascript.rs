//! JavaScript and TypeScript: `child_process` calls (JS001–JS004).

use std::collections::HashMap;

use tree_sitter::Node;

use super::syntax::{descendants, named_children};
use super::{Rule, Sink};

/// The JavaScript/TypeScript checks (one grammar family, the same node kinds).
pub struct JavaScriptRule;

/// How the file names `child_process` and its functions.
#[derive(Default)]
struct Bindings<'t> {
    /// `import * as cp`, `import cp from`, `const cp = require(...)`, `import cp = require(...)`.
    modules: Vec<&'t str>,
    /// `import { exec as run }` → `run` → `exec`.
    functions: HashMap<&'t str, &'t str>,
}

fn is_child_process(string: Node, sink: &Sink) -> bool {
    string.kind() == "string"
        && matches!(
            sink.text(string)
                .trim_matches(|c| c == '"' || c == '\'' || c == '`'),
            "child_process" | "node:child_process"
        )
}

/// True for `require("child_process")`.
fn is_require(node: Node, sink: &Sink) -> bool {
    node.kind() == "call_expression"
        && node
            .child_by_field_name("function")
            .is_some_and(|f| sink.text(f) == "require")
        && node
            .child_by_field_name("arguments")
            .and_then(|a| a.named_child(0))
            .is_some_and(|s| is_child_process(s, sink))
}

impl<'t> Bindings<'t> {
    fn collect(nodes: &[Node<'t>], sink: &Sink<'t>) -> Bindings<'t> {
        let mut bindings = Bindings::default();
        for &node in nodes {
            match node.kind() {
                "import_statement"
                    if node
                        .child_by_field_name("source")
                        .is_some_and(|s| is_child_process(s, sink)) =>
                {
                    for part in descendants(node) {
                        match part.kind() {
                            "import_clause" | "namespace_import" => {
                                for name in named_children(part) {
                                    if name.kind() == "identifier" {
                                        bindings.modules.push(sink.text(name));
                                    }
                                }
                            }
                            "import_specifier" => {
                                let real = part.child_by_field_name("name");
                                let local = part.child_by_field_name("alias").or(real);
                                if let (Some(real), Some(local)) = (real, local) {
                                    bindings.functions.insert(sink.text(local), sink.text(real));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                // TypeScript's `import cp = require("child_process")`.
                "import_statement" => {
                    for clause in named_children(node) {
                        if clause.kind() == "import_require_clause"
                            && clause
                                .child_by_field_name("source")
                                .is_some_and(|s| is_child_process(s, sink))
                        {
                            if let Some(name) = named_children(clause)
                                .into_iter()
                                .find(|n| n.kind() == "identifier")
                            {
                                bindings.modules.push(sink.text(name));
                            }
                        }
                    }
                }
                "variable_declarator"
                    if node
                        .child_by_field_name("value")
                        .is_some_and(|v| is_require(v, sink)) =>
                {
                    let Some(name) = node.child_by_field_name("name") else {
                        continue;
                    };
                    if name.kind() == "identifier" {
                        bindings.modules.push(sink.text(name));
                    }
                    for part in named_children(name) {
                        match part.kind() {
                            "shorthand_property_identifier_pattern" => {
                                bindings.functions.insert(sink.text(part), sink.text(part));
                            }
                            "pair_pattern" => {
                                let key = part.child_by_field_name("key");
                                let value = part.child_by_field_name("value");
                                if let (Some(key), Some(value)) = (key, value) {
                                    bindings.functions.insert(sink.text(value), sink.text(key));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        bindings
    }

    /// The `child_process` function a call's callee stands for.
    fn resolve(&self, callee: Node<'t>, sink: &Sink<'t>) -> Option<&'t str> {
        match callee.kind() {
            "identifier" => self.functions.get(sink.text(callee)).copied(),
            "member_expression" => {
                let object = callee.child_by_field_name("object")?;
                let known = (object.kind() == "identifier"
                    && self.modules.contains(&sink.text(object)))
                    || is_require(object, sink);
                known
                    .then(|| callee.child_by_field_name("property"))
                    .flatten()
                    .map(|p| sink.text(p))
            }
            _ => None,
        }
    }
}

/// What the options of a call say, as far as the rules go.
enum Options {
    /// An object literal.
    Literal {
        timeout: bool,
        detached: bool,
        spread: bool,
    },
    /// Options the linter cannot see (a variable, a spread argument).
    Unknown(&'static str),
    /// No options at all.
    Absent,
}

fn options(call: Node, sink: &Sink) -> Options {
    let Some(arguments) = call.child_by_field_name("arguments") else {
        return Options::Absent;
    };
    let args: Vec<Node> = named_children(arguments)
        .into_iter()
        .filter(|a| a.kind() != "comment")
        .skip(1)
        .collect();
    if let Some(object) = args.iter().find(|a| a.kind() == "object") {
        let (mut timeout, mut detached, mut spread) = (false, false, false);
        for property in named_children(*object) {
            match property.kind() {
                "pair" => {
                    let key = property
                        .child_by_field_name("key")
                        .map_or("", |k| sink.text(k).trim_matches(|c| c == '"' || c == '\''));
                    let value = property.child_by_field_name("value");
                    match key {
                        "timeout" => timeout = true,
                        "detached" => detached = value.is_some_and(|v| v.kind() == "true"),
                        _ => {}
                    }
                }
                "shorthand_property_identifier" => match sink.text(property) {
                    "timeout" => timeout = true,
                    "detached" => detached = true,
                    _ => {}
                },
                "spread_element" => spread = true,
                _ => {}
            }
        }
        return Options::Literal {
            timeout,
            detached,
            spread,
        };
    }
    if args.iter().any(|a| a.kind() == "spread_element") {
        return Options::Unknown("a spread argument may hold a timeout");
    }
    if args.iter().any(|a| {
        matches!(
            a.kind(),
            "identifier" | "member_expression" | "call_expression" | "subscript_expression"
        )
    }) {
        return Options::Unknown("the options are in a variable");
    }
    Options::Absent
}

/// JS001/JS002: a call that needs `timeout` in its options.
fn check_timeout(id: &'static str, call: Node, function: &str, options: &Options, sink: &mut Sink) {
    match options {
        Options::Literal { timeout: true, .. } => {}
        Options::Literal { spread: true, .. } => {
            sink.cannot_tell(id, call, "a spread in the options may hold a timeout")
        }
        Options::Unknown(reason) => sink.cannot_tell(id, call, reason),
        Options::Literal { .. } | Options::Absent => {
            sink.report(id, call, &format!("{function}()"))
        }
    }
}

/// The name a call's result is assigned to (`const child = spawn(...)`).
fn bound_name<'t>(call: Node<'t>, sink: &Sink<'t>) -> Option<&'t str> {
    let parent = call
        .parent()
        .filter(|p| p.kind() == "variable_declarator" || p.kind() == "assignment_expression")?;
    let name = parent
        .child_by_field_name("name")
        .or_else(|| parent.child_by_field_name("left"))?;
    (name.kind() == "identifier").then(|| sink.text(name))
}

/// The receivers of every `.method()` call: a name (`child.unref()` → `child`) or a call
/// (`spawn(...).unref()` → the `spawn` call).
fn receivers<'t>(nodes: &[Node<'t>], method: &str, sink: &Sink<'t>) -> Vec<Node<'t>> {
    nodes
        .iter()
        .filter(|n| n.kind() == "member_expression")
        .filter(|n| {
            n.child_by_field_name("property")
                .is_some_and(|p| sink.text(p) == method)
                && n.parent().is_some_and(|c| c.kind() == "call_expression")
        })
        .filter_map(|n| n.child_by_field_name("object"))
        .collect()
}

impl Rule for JavaScriptRule {
    fn check(&self, root: Node, sink: &mut Sink) {
        let nodes = descendants(root);
        let bindings = Bindings::collect(&nodes, sink);
        if bindings.modules.is_empty() && bindings.functions.is_empty() {
            return;
        }
        let unrefs = receivers(&nodes, "unref", sink);
        let anything_killed = !receivers(&nodes, "kill", sink).is_empty();
        for &call in &nodes {
            if call.kind() != "call_expression" {
                continue;
            }
            let Some(function) = call
                .child_by_field_name("function")
                .and_then(|f| bindings.resolve(f, sink))
            else {
                continue;
            };
            let options = options(call, sink);
            match function {
                "execSync" | "execFileSync" | "spawnSync" => {
                    check_timeout("JS001", call, function, &options, sink)
                }
                "exec" | "execFile" => check_timeout("JS002", call, function, &options, sink),
                _ => {}
            }
            if !matches!(function, "spawn" | "fork" | "exec" | "execFile") {
                continue;
            }
            let name = bound_name(call, sink);
            let unrefed = unrefs
                .iter()
                .any(|r| *r == call || name.is_some_and(|n| sink.text(*r) == n));
            if unrefed && matches!(options, Options::Literal { detached: true, .. }) {
                sink.report("JS003", call, &format!("{function}()"));
            } else if matches!(function, "spawn" | "fork") && !anything_killed {
                sink.report("JS004", call, &format!("{function}()"));
            }
        }
    }
}
