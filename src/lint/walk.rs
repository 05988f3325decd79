//! Which files to lint and in which language: a parallel, `.gitignore`-aware walk.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ignore::{WalkBuilder, WalkState, overrides::OverrideBuilder};

use super::javascript::JavaScriptRule;
use super::powershell::PowerShellRule;
use super::python::PythonRule;
use super::shell::ShellRule;
use super::{Finding, Rule, Selection, lint_with};

/// The languages `reaper lint` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `.py`, `.pyi`, or a `python` shebang.
    Python,
    /// `.js`, `.mjs`, `.cjs`, `.jsx`, or a `node` shebang.
    JavaScript,
    /// `.ts`, `.mts`, `.cts`.
    TypeScript,
    /// `.tsx`.
    Tsx,
    /// `.sh`, `.bash`, or an `sh`/`bash`/`dash`/`ksh` shebang.
    Shell,
    /// `.ps1`, `.psm1`, or a `pwsh` shebang.
    PowerShell,
}

impl FileKind {
    /// The kind a file name's extension says.
    pub fn from_extension(path: &Path) -> Option<FileKind> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match extension.as_str() {
            "py" | "pyi" => FileKind::Python,
            "js" | "mjs" | "cjs" | "jsx" => FileKind::JavaScript,
            "ts" | "mts" | "cts" => FileKind::TypeScript,
            "tsx" => FileKind::Tsx,
            "sh" | "bash" => FileKind::Shell,
            "ps1" | "psm1" => FileKind::PowerShell,
            _ => return None,
        })
    }

    /// The kind a `#!` line names (`#!/usr/bin/env python3`, `#!/bin/sh -eu`).
    pub fn from_shebang(first_line: &str) -> Option<FileKind> {
        let command = first_line.strip_prefix("#!")?;
        let mut words = command.split_whitespace();
        let mut program = words.next()?.rsplit('/').next()?;
        if program == "env" {
            program = words.find(|w| !w.starts_with('-'))?;
        }
        let program = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        Some(match program {
            "python" => FileKind::Python,
            "node" | "nodejs" | "deno" | "bun" => FileKind::JavaScript,
            "sh" | "bash" | "dash" | "ksh" | "ash" => FileKind::Shell,
            "pwsh" | "powershell" => FileKind::PowerShell,
            _ => return None,
        })
    }

    pub(super) fn grammar(self) -> tree_sitter::Language {
        match self {
            FileKind::Python => tree_sitter_python::LANGUAGE.into(),
            FileKind::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            FileKind::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            FileKind::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            FileKind::Shell => tree_sitter_bash::LANGUAGE.into(),
            FileKind::PowerShell => tree_sitter_powershell::LANGUAGE.into(),
        }
    }

    pub(super) fn rule(self) -> &'static dyn Rule {
        match self {
            FileKind::Python => &PythonRule,
            FileKind::JavaScript | FileKind::TypeScript | FileKind::Tsx => &JavaScriptRule,
            FileKind::Shell => &ShellRule,
            FileKind::PowerShell => &PowerShellRule,
        }
    }
}

/// Why a path could not be linted.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// A path given on the command line does not exist.
    #[error("{0}: no such file or directory (check the path)")]
    NotFound(PathBuf),
    /// A file or directory could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The walk failed (a directory that cannot be listed, a bad exclude pattern, …).
    #[error("{0}")]
    Walk(String),
}

/// What to lint and how.
#[derive(Debug, Default)]
pub struct LintOptions {
    /// Which rules run.
    pub selection: Selection,
    /// Gitignore-style patterns of paths to skip (`[lint] exclude`).
    pub exclude: Vec<String>,
    /// The directory the exclude patterns are relative to.
    pub exclude_root: PathBuf,
}

/// The result of a lint run: findings sorted by file and position.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Findings of enabled rules that no inline comment suppresses.
    pub findings: Vec<Finding>,
    /// Files read.
    pub files: usize,
    /// Files or directories that could not be read.
    pub errors: Vec<LintError>,
}

/// Lints every file under `paths` (files given directly are always read), in parallel.
pub fn lint_paths(paths: &[PathBuf], options: &LintOptions) -> Result<Outcome, LintError> {
    let (first, rest) = paths
        .split_first()
        .ok_or_else(|| LintError::Walk("no path to lint".into()))?;
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        return Err(LintError::NotFound(missing.clone()));
    }
    let mut overrides = OverrideBuilder::new(&options.exclude_root);
    for pattern in &options.exclude {
        overrides
            .add(&format!("!{pattern}"))
            .map_err(|e| LintError::Walk(format!("[lint] exclude {pattern:?}: {e}")))?;
    }
    let overrides = overrides
        .build()
        .map_err(|e| LintError::Walk(format!("[lint] exclude: {e}")))?;
    let mut builder = WalkBuilder::new(first);
    for path in rest {
        builder.add(path);
    }
    builder.overrides(overrides);

    let findings = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    let files = AtomicUsize::new(0);
    builder.build_parallel().run(|| {
        let mut parser = tree_sitter::Parser::new();
        let (findings, errors, files) = (&findings, &errors, &files);
        Box::new(move |entry| {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    lock(errors).push(LintError::Walk(e.to_string()));
                    return WalkState::Continue;
                }
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return WalkState::Continue;
            }
            let path = entry.path();
            match lint_file(&mut parser, path, &options.selection) {
                Ok(Some(found)) => {
                    files.fetch_add(1, Ordering::Relaxed);
                    if !found.is_empty() {
                        lock(findings).extend(found);
                    }
                }
                Ok(None) => {}
                Err(e) => lock(errors).push(e),
            }
            WalkState::Continue
        })
    });
    let mut findings = findings.into_inner().unwrap_or_else(|e| e.into_inner());
    findings.sort_by(|a, b| {
        (&a.path, a.line, a.column, a.rule.id).cmp(&(&b.path, b.line, b.column, b.rule.id))
    });
    Ok(Outcome {
        findings,
        files: files.into_inner(),
        errors: errors.into_inner().unwrap_or_else(|e| e.into_inner()),
    })
}

/// A lock that a panicked walker thread did not poison for good: the data is plain lists.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lints one file; `None` if it is in no language reaper lint reads.
fn lint_file(
    parser: &mut tree_sitter::Parser,
    path: &Path,
    selection: &Selection,
) -> Result<Option<Vec<Finding>>, LintError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| LintError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let (kind, bytes) = match FileKind::from_extension(path) {
        Some(kind) => (kind, read(path)?),
        // Only files without an extension may be scripts named by their shebang.
        None if path.extension().is_none() => {
            let bytes = read(path)?;
            let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
            match FileKind::from_shebang(&String::from_utf8_lossy(first_line)) {
                Some(kind) => (kind, bytes),
                None => return Ok(None),
            }
        }
        None => return Ok(None),
    };
    let source = String::from_utf8_lossy(&bytes);
    let mut findings = lint_with(parser, kind, path, &source);
    findings.retain(|f| selection.enabled(f.rule.id));
    Ok(Some(findings))
}

#[cfg(test)]
mod tests {
    use super::FileKind;

    #[test]
    fn shebangs() {
        let kind = FileKind::from_shebang;
        assert_eq!(kind("#!/usr/bin/env python3"), Some(FileKind::Python));
        assert_eq!(kind("#!/usr/bin/python3.12 -u"), Some(FileKind::Python));
        assert_eq!(kind("#!/bin/sh -eu"), Some(FileKind::Shell));
        assert_eq!(
            kind("#!/usr/bin/env -S node --harmony"),
            Some(FileKind::JavaScript)
        );
        assert_eq!(kind("#!/usr/bin/env pwsh"), Some(FileKind::PowerShell));
        assert_eq!(kind("#!/usr/bin/env ruby"), None);
        assert_eq!(kind("import os"), None);
    }
}
