//! `reaper status`.

use std::io::{self, Write};

use reaper::service::{self, STATUS_SCHEMA, ServiceState, StatusDocument};
use reaper::state::StateDir;
use reaper::units::format_duration;

use super::output::{self, escape};
use super::{CliError, CliResult, EXIT_NOT_FOUND, EXIT_OK};

/// Show managed services: state, pid, uptime, CPU, memory, processes, ports, log.
///
/// States: running (some process of the tree is alive), exited (the tree is gone; `reaper clean`
/// removes the record), stale (the recorded pid now belongs to another process), unverified (a
/// pid file without a reaper record), broken (an unreadable record). CPU is averaged over the
/// tree's lifetime; memory is the tree's resident set.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper status
  reaper status api
  reaper status --json | jq '.services[] | select(.state == \"running\") | .name'")]
pub struct Args {
    /// Show only this service (exit 3 if it does not exist).
    name: Option<String>,
    /// Print JSON (schema 1: {\"schema\": 1, \"services\": [...]}).
    #[arg(long)]
    json: bool,
}

pub fn run(state: &StateDir, args: Args) -> CliResult {
    let services = service::status(state, args.name.as_deref())?;
    if let Some(name) = args.name.as_ref().filter(|_| services.is_empty()) {
        return Err(CliError::new(
            EXIT_NOT_FOUND,
            format!("no managed service named '{name}' (see `reaper status`)"),
        ));
    }
    if args.json {
        output::json(&StatusDocument {
            schema: STATUS_SCHEMA,
            services,
        })?;
        return Ok(EXIT_OK);
    }
    if services.is_empty() {
        writeln!(
            io::stdout(),
            "no managed services (start one with `reaper start NAME -- CMD`)"
        )?;
        return Ok(EXIT_OK);
    }
    let mut table = output::table(&[
        "NAME",
        "STATE",
        "PID",
        "UPTIME",
        "CPU%",
        "RSS",
        "PROCS",
        "PORTS",
        "CONTAINED",
        "LOG",
    ]);
    for s in &services {
        let state = match (s.state, &s.exit) {
            (ServiceState::Exited, Some(exit)) => format!(
                "exited ({})",
                service::describe_exit(exit.code, exit.signal)
            ),
            (state, _) => serde_json::to_value(state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        };
        let dash = || "-".to_string();
        table.add_row(vec![
            escape(&s.name).into_owned(),
            state,
            s.pid.map_or_else(dash, |p| p.to_string()),
            s.uptime_secs.map_or_else(dash, |u| match u {
                0 => "<1s".to_string(),
                _ => format_duration(std::time::Duration::from_secs(u)),
            }),
            s.cpu_percent.map_or_else(dash, |c| format!("{c:.1}")),
            s.rss_bytes.map_or_else(dash, reaper::units::format_size),
            if s.processes > 0 {
                s.processes.to_string()
            } else {
                dash()
            },
            if s.ports.is_empty() {
                dash()
            } else {
                s.ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            },
            s.containment
                .as_ref()
                .map_or_else(dash, |c| c.label().into()),
            s.log
                .as_ref()
                .map_or_else(dash, |l| escape(&l.display().to_string()).into_owned()),
        ]);
    }
    output::print_table(&table)?;
    for s in services.iter().filter(|s| s.problem.is_some()) {
        writeln!(
            io::stdout(),
            "{}: {}",
            escape(&s.name),
            escape(s.problem.as_deref().unwrap_or_default())
        )?;
    }
    Ok(EXIT_OK)
}
