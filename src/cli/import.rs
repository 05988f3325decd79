//! `reaper import`: a process-compose.yaml, Procfile or package.json printed as reaper.toml.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use reaper::stack::import::{self, ImportError};

use super::{CliError, CliResult, EXIT_OK, EXIT_USAGE};

/// Print a reaper.toml translated from a process-compose.yaml, a Procfile or a package.json.
///
/// process-compose: command, working_dir, environment (global and per process), depends_on,
/// availability (restart, backoff_seconds, max_restarts), readiness_probe.http_get (and its
/// port), ready_log_line, shutdown (signal, timeout_seconds), replicas and disabled (as the
/// profile `disabled`). A Procfile: each process with PORT numbered as `reaper up` numbers it
/// in Procfile mode, and env_file = ".env" when there is one beside it. A package.json: each
/// script as a service run by `npm run NAME` (pnpm, yarn or bun when its lock file is there);
/// npm lifecycle scripts and pre/post hooks are left to npm. Whatever has no equivalent is
/// listed as a `# not translated:` comment where it belongs. Nothing is written: redirect the
/// output, then `reaper check`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper import process-compose.yaml > reaper.toml
  reaper import Procfile > reaper.toml && reaper check
  reaper import package.json

Exit codes:
  0  the reaper.toml was printed
  2  the file cannot be read, is not one of the three kinds, does not parse
     (FILE:LINE:COLUMN: problem (hint: fix)) or declares nothing to import")]
pub struct Args {
    /// The file: a .yaml/.yml of process-compose, a file named Procfile…, or a package.json.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn run(cwd: &Path, args: Args) -> CliResult {
    let shown = args.file.display().to_string();
    match import::import(&cwd.join(&args.file), &shown) {
        Ok(text) => {
            io::stdout().write_all(text.as_bytes())?;
            Ok(EXIT_OK)
        }
        Err(ImportError::Invalid(problems)) => {
            for problem in &problems {
                eprintln!("reaper: {problem}");
            }
            Err(CliError::new(
                EXIT_USAGE,
                format!("{shown} cannot be imported; nothing was printed"),
            ))
        }
        Err(other) => Err(CliError::new(EXIT_USAGE, other.to_string())),
    }
}
