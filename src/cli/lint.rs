//! `reaper lint`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use reaper::lint::{self, LintOptions, Selection, report};
use reaper::state::StateDir;

use super::{CliError, CliResult, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, output};

/// Find spawning that leaves orphans or hangs, in Python, shell, JavaScript/TypeScript and
/// PowerShell.
///
/// Checks subprocess calls without a timeout, children nobody waits for, background jobs with no
/// wait or trap, detaching commands (nohup, setsid, start_new_session, detached + unref) and
/// SIGKILL without a graceful attempt. Files are parsed with tree-sitter; the walk honours
/// .gitignore; files are picked by extension, and files without one by their #! line.
///
/// Rules come from the command line and from `[lint]` in reaper.toml (select, ignore, exclude);
/// --select replaces the file's select, --ignore adds to its ignore. One line is exempt with a
/// comment `reaper: ignore[ID]` (or `reaper: ignore` for every rule) on it or alone on the line
/// above.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper lint
  reaper lint scripts/ deploy.sh --select PY,SH
  reaper lint --ignore JS004 --format json
  reaper lint --format sarif > reaper.sarif
  reaper lint --explain PY001
  reaper lint --explain all

Exit codes:
  0  no warnings (info findings do not fail)
  1  at least one warning
  2  bad input: a path that does not exist, an unreadable file, an unknown rule id, a bad [lint] table")]
pub struct Args {
    /// Files and directories to lint (default: the current directory).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Output format: human (file:line:col, rule, message, the line), json or sarif (2.1.0).
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// Only these rule ids or prefixes (comma-separated: PY,SH001).
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    select: Vec<String>,
    /// Skip these rule ids or prefixes (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    ignore: Vec<String>,
    /// Explain a rule (why it matters, how to fix it), or list all with `all`; lints nothing.
    #[arg(long, value_name = "ID", conflicts_with_all = ["paths", "select", "ignore"])]
    explain: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Human,
    Json,
    Sarif,
}

pub fn run(state: &StateDir, cwd: &Path, args: Args) -> CliResult {
    if let Some(id) = &args.explain {
        return explain(id);
    }
    let config = reaper::stack::config::load_lint_config(&state.root)
        .map_err(|e| CliError::new(EXIT_USAGE, format!("[lint] in reaper.toml: {e}")))?;
    let select = if args.select.is_empty() {
        config.select
    } else {
        args.select
    };
    let ignore = config.ignore.into_iter().chain(args.ignore).collect();
    let selection = Selection::new(select, ignore).map_err(|e| CliError::new(EXIT_USAGE, e))?;
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths
    };
    let options = LintOptions {
        selection,
        exclude: config.exclude,
        exclude_root: if state.root.is_absolute() {
            state.root.clone()
        } else {
            cwd.join(&state.root)
        },
    };
    let outcome =
        lint::lint_paths(&paths, &options).map_err(|e| CliError::new(EXIT_USAGE, e.to_string()))?;
    match args.format {
        Format::Human => {
            report::human(&mut io::stdout().lock(), &outcome)?;
            eprintln!("{}", report::summary(&outcome));
        }
        Format::Json => output::json(&report::json(&outcome))?,
        Format::Sarif => output::json(&report::sarif(&outcome))?,
    }
    for error in &outcome.errors {
        eprintln!("reaper: {error}");
    }
    if !outcome.errors.is_empty() {
        Ok(EXIT_USAGE)
    } else if outcome
        .findings
        .iter()
        .any(|f| f.severity == lint::Severity::Warning)
    {
        Ok(EXIT_FAILURE)
    } else {
        Ok(EXIT_OK)
    }
}

fn explain(id: &str) -> CliResult {
    let mut out = io::stdout().lock();
    if id.eq_ignore_ascii_case("all") {
        for rule in lint::RULES {
            report::explain(&mut out, rule)?;
            writeln!(out)?;
        }
        return Ok(EXIT_OK);
    }
    let rule = lint::rule_info(id).ok_or_else(|| {
        CliError::new(
            EXIT_USAGE,
            format!("unknown rule {id:?}: `reaper lint --explain all` lists the rules"),
        )
    })?;
    report::explain(&mut out, rule)?;
    Ok(EXIT_OK)
}
