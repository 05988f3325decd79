//! Python: subprocess, os and asyncio calls (PY001–PY006).

use std::collections::HashMap;

use tree_sitter::Node;

use super::syntax::{ancestors, descendants, named_children};
use super::{Rule, Sink};

/// The Python checks.
pub struct PythonRule;

/// Modules whose calls the rules know, by the names the file binds them to.
#[derive(Default)]
struct Imports {
    /// `import subprocess as sp` → `sp` → `subprocess`.
    modules: HashMap<String, String>,
    /// `from subprocess import Popen as P` → `P` → (`subprocess`, `Popen`).
    names: HashMap<String, (String, String)>,
}

const MODULES: &[&str] = &["subprocess", "os", "asyncio"];

impl Imports {
    fn collect(root: Node, sink: &Sink) -> Imports {
        let mut imports = Imports::default();
        for node in descendants(root) {
            match node.kind() {
                "import_statement" => {
                    for name in named_children(node) {
                        let (module, local) = aliased(name, sink);
                        if MODULES.contains(&module) {
                            imports
                                .modules
                                .insert(local.to_string(), module.to_string());
                        }
                    }
                }
                "import_from_statement" => {
                    let Some(module) = node.child_by_field_name("module_name") else {
                        continue;
                    };
                    let module = sink.text(module);
                    if !MODULES.contains(&module) {
                        continue;
                    }
                    let mut cursor = node.walk();
                    for name in node.children_by_field_name("name", &mut cursor) {
                        let (real, local) = aliased(name, sink);
                        imports
                            .names
                            .insert(local.to_string(), (module.to_string(), real.to_string()));
                    }
                }
                _ => {}
            }
        }
        imports
    }

    /// (module, function) a call's callee stands for, if it is one the rules know.
    fn resolve<'s>(&'s self, callee: Node, sink: &'s Sink) -> Option<(&'s str, &'s str)> {
        match callee.kind() {
            "identifier" => self
                .names
                .get(sink.text(callee))
                .map(|(module, name)| (module.as_str(), name.as_str())),
            "attribute" => {
                let object = callee.child_by_field_name("object")?;
                let attribute = callee.child_by_field_name("attribute")?;
                let module = self.modules.get(sink.text(object))?;
                Some((module.as_str(), sink.text(attribute)))
            }
            _ => None,
        }
    }
}

/// (real name, local name) of `x` or `x as y` in an import.
fn aliased<'a>(node: Node, sink: &Sink<'a>) -> (&'a str, &'a str) {
    if node.kind() == "aliased_import" {
        let real = node
            .child_by_field_name("name")
            .map_or("", |n| sink.text(n));
        let local = node
            .child_by_field_name("alias")
            .map_or(real, |n| sink.text(n));
        (real, local)
    } else {
        let text = sink.text(node);
        (text, text)
    }
}

/// The arguments of a call, as far as timeouts go.
struct Arguments<'t> {
    keywords: Vec<(&'t str, Node<'t>)>,
    positional: usize,
    /// `**kwargs` or `*args`: could hold anything.
    splat: Option<&'t str>,
}

fn arguments<'t>(call: Node<'t>, sink: &Sink<'t>) -> Arguments<'t> {
    let mut args = Arguments {
        keywords: Vec::new(),
        positional: 0,
        splat: None,
    };
    let Some(list) = call.child_by_field_name("arguments") else {
        return args;
    };
    for arg in named_children(list) {
        match arg.kind() {
            "keyword_argument" => {
                if let (Some(name), Some(value)) = (
                    arg.child_by_field_name("name"),
                    arg.child_by_field_name("value"),
                ) {
                    args.keywords.push((sink.text(name), value));
                }
            }
            "dictionary_splat" => args.splat = Some("**kwargs may hold a timeout"),
            "list_splat" => args.splat = Some("*args may hold a timeout"),
            "comment" => {}
            _ => args.positional += 1,
        }
    }
    args
}

impl Arguments<'_> {
    fn has(&self, keyword: &str) -> bool {
        self.keywords.iter().any(|(name, _)| *name == keyword)
    }
}

/// What happens to the process object a call returns.
enum Binding<'t> {
    /// Assigned to a plain name.
    Name(&'t str),
    /// `with Popen(...) as name:` (the name, if any).
    ContextManaged(Option<&'t str>),
    /// A method called on the call itself: `Popen(...).wait()`.
    Chained,
    /// An expression statement: the object is dropped at once.
    Discarded,
    /// Returned, passed on, stored in an attribute or a container: someone else's job.
    Escapes,
}

fn binding<'t>(call: Node<'t>, sink: &Sink<'t>) -> Binding<'t> {
    let mut value = call;
    let mut parent = call.parent();
    while let Some(p) = parent.filter(|p| matches!(p.kind(), "await" | "parenthesized_expression"))
    {
        value = p;
        parent = p.parent();
    }
    let Some(parent) = parent else {
        return Binding::Escapes;
    };
    match parent.kind() {
        "assignment" => match parent.child_by_field_name("left") {
            Some(left) if left.kind() == "identifier" && left != value => {
                Binding::Name(sink.text(left))
            }
            _ => Binding::Escapes,
        },
        "as_pattern" => Binding::ContextManaged(
            parent
                .child_by_field_name("alias")
                .and_then(|alias| alias.named_child(0))
                .filter(|name| name.kind() == "identifier")
                .map(|name| sink.text(name)),
        ),
        "with_item" => Binding::ContextManaged(None),
        "attribute" => Binding::Chained,
        "expression_statement" => Binding::Discarded,
        _ => Binding::Escapes,
    }
}

/// The innermost function (or the module) around `node`.
fn scope(node: Node) -> Node {
    ancestors(node)
        .skip(1)
        .find(|n| matches!(n.kind(), "function_definition" | "lambda" | "module"))
        .unwrap_or(node)
}

/// What the code does with a process object, collected over its uses.
#[derive(Default)]
struct Uses<'t> {
    /// `.wait(...)` / `.communicate(...)` calls.
    waits: Vec<Node<'t>>,
    /// Where `.kill()` is called: a wait after a kill is bounded.
    kills: Vec<usize>,
    /// Killed, terminated, polled or used as a context manager.
    handled: bool,
    /// Passed on or returned.
    escapes: bool,
}

impl<'t> Uses<'t> {
    /// Uses of the object through `expression` (a name or the call itself).
    fn add(&mut self, expression: Node<'t>, sink: &Sink<'t>) {
        let Some(parent) = expression.parent() else {
            return;
        };
        match parent.kind() {
            "attribute" if parent.child_by_field_name("object") == Some(expression) => {
                let method = parent
                    .child_by_field_name("attribute")
                    .map_or("", |n| sink.text(n));
                let call = parent.parent().filter(|c| c.kind() == "call");
                match (method, call) {
                    ("wait" | "communicate", Some(call)) => self.waits.push(call),
                    ("kill", Some(call)) => {
                        self.kills.push(call.start_byte());
                        self.handled = true;
                    }
                    ("terminate" | "send_signal" | "poll", Some(_)) => self.handled = true,
                    _ => {}
                }
            }
            "with_item" => self.handled = true,
            "assignment" if parent.child_by_field_name("left") == Some(expression) => {}
            _ => self.escapes = true,
        }
    }

    fn of_name(name: &str, definition: Node<'t>, sink: &Sink<'t>) -> Uses<'t> {
        let mut uses = Uses::default();
        for node in descendants(scope(definition)) {
            if node.kind() == "identifier"
                && sink.text(node) == name
                && node.start_byte() > definition.start_byte()
            {
                uses.add(node, sink);
            }
        }
        uses
    }

    fn killed_before(&self, call: Node) -> bool {
        self.kills.iter().any(|&at| at < call.start_byte())
    }
}

/// Reports a `wait()`/`communicate()` without a timeout (PY002).
fn check_wait(call: Node, uses: &Uses, sink: &mut Sink) {
    if uses.killed_before(call) {
        return;
    }
    let args = arguments(call, sink);
    let method = call
        .child_by_field_name("function")
        .and_then(|f| f.child_by_field_name("attribute"))
        .map_or("", |n| sink.text(n));
    // wait(timeout=None), communicate(input=None, timeout=None).
    let positional_timeout = if method == "wait" { 1 } else { 2 };
    if args.has("timeout") || args.positional >= positional_timeout {
        return;
    }
    match args.splat {
        Some(reason) => sink.cannot_tell("PY002", call, reason),
        None => sink.report("PY002", call, &format!("{method}()")),
    }
}

/// True if an asyncio wait is inside `wait_for(...)` or an `async with …timeout(...)` block.
fn bounded_async(wait: Node, sink: &Sink) -> bool {
    let limit = scope(wait);
    ancestors(wait)
        .take_while(|n| *n != limit)
        .any(|n| match n.kind() {
            "call" => callee_name(n, sink) == "wait_for",
            "with_statement" => descendants(n)
                .into_iter()
                .filter(|item| item.kind() == "with_item")
                .filter_map(|item| item.child_by_field_name("value"))
                .flat_map(descendants)
                .filter(|c| c.kind() == "call")
                .any(|c| {
                    matches!(
                        callee_name(c, sink),
                        "timeout" | "timeout_at" | "fail_after" | "move_on_after"
                    )
                }),
            _ => false,
        })
}

/// The last name of a call's callee: `wait_for` for `asyncio.wait_for(...)`.
fn callee_name<'t>(call: Node<'t>, sink: &Sink<'t>) -> &'t str {
    match call.child_by_field_name("function") {
        Some(f) if f.kind() == "attribute" => f
            .child_by_field_name("attribute")
            .map_or("", |n| sink.text(n)),
        Some(f) => sink.text(f),
        None => "",
    }
}

fn is_true(node: Node, sink: &Sink) -> bool {
    node.kind() == "true" || sink.text(node) == "True"
}

/// PY006: a child started in a session of its own.
fn check_detached(call: Node, args: &Arguments, sink: &mut Sink) {
    for (name, value) in &args.keywords {
        let detaches = match *name {
            "start_new_session" => is_true(*value, sink),
            "preexec_fn" => matches!(sink.text(*value), "os.setsid" | "setsid"),
            _ => false,
        };
        if detaches {
            let detail = format!("{name}={}", sink.text(*value));
            sink.report("PY006", call, &detail);
        }
    }
}

impl Rule for PythonRule {
    fn check(&self, root: Node, sink: &mut Sink) {
        let imports = Imports::collect(root, sink);
        if imports.modules.is_empty() && imports.names.is_empty() {
            return;
        }
        for call in descendants(root) {
            if call.kind() != "call" {
                continue;
            }
            let Some(callee) = call.child_by_field_name("function") else {
                continue;
            };
            let Some((module, function)) = imports.resolve(callee, sink) else {
                continue;
            };
            let shown = sink.text(callee).to_string();
            match (module, function) {
                ("subprocess", "run" | "call" | "check_call" | "check_output") => {
                    let args = arguments(call, sink);
                    check_detached(call, &args, sink);
                    if !args.has("timeout") {
                        match args.splat {
                            Some(reason) => sink.cannot_tell("PY001", call, reason),
                            None => sink.report("PY001", call, &format!("{shown}()")),
                        }
                    }
                }
                ("subprocess", "Popen") => {
                    check_detached(call, &arguments(call, sink), sink);
                    check_popen(call, sink);
                }
                ("os", "system" | "popen") => sink.report("PY004", call, &format!("{shown}()")),
                ("asyncio", "create_subprocess_exec" | "create_subprocess_shell") => {
                    check_detached(call, &arguments(call, sink), sink);
                    check_async(call, sink);
                }
                _ => {}
            }
        }
    }
}

/// PY002 and PY003 for a `Popen(...)` call.
fn check_popen(call: Node, sink: &mut Sink) {
    let uses = match binding(call, sink) {
        Binding::Name(name) => {
            let uses = Uses::of_name(name, call, sink);
            if uses.waits.is_empty() && !uses.handled && !uses.escapes {
                sink.report("PY003", call, &format!("`{name}`"));
            }
            uses
        }
        Binding::ContextManaged(Some(name)) => Uses::of_name(name, call, sink),
        Binding::Chained => {
            let mut uses = Uses::default();
            uses.add(call, sink);
            uses
        }
        Binding::Discarded => {
            sink.report("PY003", call, "the object is discarded");
            return;
        }
        Binding::ContextManaged(None) | Binding::Escapes => return,
    };
    for &wait in &uses.waits {
        check_wait(wait, &uses, sink);
    }
}

/// PY005 for `asyncio.create_subprocess_*(...)`.
fn check_async(call: Node, sink: &mut Sink) {
    let name = match binding(call, sink) {
        Binding::Name(name) => name,
        Binding::Discarded => {
            sink.report("PY005", call, "the process is never waited on");
            return;
        }
        _ => return,
    };
    let uses = Uses::of_name(name, call, sink);
    if uses.waits.is_empty() && !uses.handled && !uses.escapes {
        sink.report("PY005", call, &format!("`{name}` is never waited on"));
        return;
    }
    for &wait in &uses.waits {
        if !bounded_async(wait, sink) && !uses.killed_before(wait) {
            let detail = format!("`{}`", sink.text(wait));
            sink.report("PY005", wait, &detail);
        }
    }
}
