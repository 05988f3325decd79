//! `[checks]`: files that must exist, variables in dotenv files that must be set and equal
//! (`API_TOKEN` of the backend must match `NEXT_PUBLIC_API_TOKEN` of the front end), and programs
//! that must be on PATH. Values are compared, never printed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{ConfigError, Stack, VarRef};
use crate::os;

/// Runs every check of `stack`; returns one problem per failed check (empty: all passed). Each
/// problem points at the line of reaper.toml that declares the check (`shown` is how that file
/// is shown).
pub fn run(stack: &Stack, shown: &str) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    let mut problem = |line: usize, message: String, hint: Option<String>| {
        problems.push(ConfigError {
            file: shown.to_string(),
            line,
            column: 1,
            message,
            hint,
        });
    };
    for (file, line) in &stack.checks.files {
        let path = stack.root.join(file);
        if !path.exists() {
            problem(
                *line,
                format!("{file} does not exist"),
                Some(create_hint(&path, file)),
            );
        }
    }
    let mut files: HashMap<PathBuf, Result<HashMap<String, String>, String>> = HashMap::new();
    for (group, line) in &stack.checks.same {
        let mut values: Vec<(&VarRef, String)> = Vec::new();
        let mut group_ok = true;
        for var in group {
            let vars = files
                .entry(var.path.clone())
                .or_insert_with(|| read_dotenv(&var.path));
            match vars {
                Err(why) => {
                    group_ok = false;
                    problem(
                        *line,
                        format!("cannot check {var}: {} {why}", var.file),
                        Some(create_hint(&var.path, &var.file)),
                    );
                }
                Ok(vars) => match vars.get(&var.var).filter(|v| !v.is_empty()) {
                    None => {
                        group_ok = false;
                        let others: Vec<String> = group
                            .iter()
                            .filter(|o| o.file != var.file || o.var != var.var)
                            .map(ToString::to_string)
                            .collect();
                        problem(
                            *line,
                            format!("{} does not set {}", var.file, var.var),
                            Some(format!(
                                "add {}=... to {}; it must equal {}",
                                var.var,
                                var.file,
                                others.join(" and ")
                            )),
                        );
                    }
                    Some(value) => values.push((var, value.clone())),
                },
            }
        }
        if !group_ok {
            continue;
        }
        if let Some(((first, expected), rest)) = values.split_first() {
            for (var, value) in rest {
                if value != expected {
                    problem(
                        *line,
                        format!("{var} does not match {first} (values not shown)"),
                        Some(format!(
                            "set {} in {} to the value of {} in {}",
                            var.var, var.file, first.var, first.file
                        )),
                    );
                }
            }
        }
    }
    for (command, line) in &stack.checks.commands {
        if !program_exists(command, &stack.root) {
            problem(
                *line,
                format!("`{command}` is not installed (not found on PATH)"),
                Some(format!("install {command}, or add its directory to PATH")),
            );
        }
    }
    problems
}

/// Number of checks `stack` declares.
pub fn count(stack: &Stack) -> usize {
    stack.checks.files.len() + stack.checks.same.len() + stack.checks.commands.len()
}

fn create_hint(path: &Path, shown: &str) -> String {
    for suffix in [".example", ".sample", ".template", ".dist"] {
        let candidate = PathBuf::from(format!("{}{suffix}", path.display()));
        if candidate.is_file() {
            return format!("copy {shown}{suffix} to {shown} and fill it in");
        }
    }
    format!("create {shown}")
}

fn read_dotenv(path: &Path) -> Result<HashMap<String, String>, String> {
    crate::dotenv::read(path)
        .map(|vars| vars.into_iter().collect())
        .map_err(|e| e.to_string())
}

/// True when `program` is an executable file on PATH (or, with a path separator, relative to
/// `root`), found as a shell finds it (see [`os::find_program`]).
pub fn program_exists(program: &str, root: &Path) -> bool {
    os::find_program(program, root, std::env::var_os("PATH").as_deref()).is_some()
}
