//! `reaper port` and `reaper ports`.

use std::io::{self, Write};
use std::time::Duration;

use reaper::ports::{self, FreeOptions, FreeReport, Owner, PORT_SCHEMA, PortReport, SocketReport};
use reaper::service;
use reaper::signal::Signal;
use reaper::state::{Entry, StateDir};
use reaper::terminate::{StopPolicy, StopReport};
use reaper::units::format_duration;

use super::{
    CliError, CliResult, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, duration_arg, output, port_arg,
    signal_arg,
};

/// Show what holds a port, free it (--kill), or find a free one (--free-from).
///
/// Lists every TCP and UDP socket (IPv4 and IPv6, any state) whose local port is PORT, and
/// each process holding it: pid, user, name, full command line, start time, and the managed
/// service it belongs to. Says why when no owner can be shown (TIME-WAIT, permissions, another
/// namespace). PORT may also be the name of a managed service (its --port).
///
/// With --kill: ends the processes holding a TCP listener or a bound UDP socket on exactly that
/// port (all of them, when forked workers share the socket): the graceful signal, SIGKILL after
/// --timeout, and again up to --retries rounds. A managed service holding it is stopped through
/// its record (whole tree, record removed). Then every address they used is bound, to prove the
/// port free. Clients connected to the port, processes on other ports and the holders' other
/// children are never touched; pid 1, reaper itself and its ancestors never are either.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper port 8001
  reaper port 8001 --json | jq '.sockets[].owners[].pid'
  reaper port api
  reaper port 8001 --kill
  reaper port 8001 --kill --timeout 3s --retries 5
  reaper port 8001 --kill --force
  reaper port --free-from 8002
  PORT=$(reaper port --free-from 3000) && echo \"using $PORT\"
  reaper port --free-from 9000 --count 3 --json

Exit codes:
  0  the port is in use (--kill: it is free now; --free-from: found)
  1  the port is free (--kill: it could not be freed, or reaper refused; --free-from: none left)
  2  bad input (port 0, negative, above 65535, not a number nor a service name, --retries 0)")]
pub struct PortArgs {
    /// Port number (1-65535), or the name of a managed service.
    #[arg(
        value_name = "PORT",
        allow_negative_numbers = true,
        required_unless_present = "free_from",
        conflicts_with = "free_from"
    )]
    port: Option<String>,
    /// End the processes holding the port, then prove it free by binding it.
    #[arg(long)]
    kill: bool,
    /// With --kill: time the holders get after the graceful signal before SIGKILL.
    #[arg(long, default_value = "10s", value_parser = duration_arg, value_name = "DURATION", requires = "kill")]
    timeout: Duration,
    /// With --kill: the graceful signal.
    #[arg(long, default_value = "TERM", value_parser = signal_arg, value_name = "SIG", requires = "kill")]
    signal: Signal,
    /// With --kill: rounds of end-and-verify before giving up (at least 1); a supervisor may
    /// restart what was ended.
    #[arg(long, default_value_t = 3, value_parser = retries_arg, value_name = "N", requires = "kill")]
    retries: u32,
    /// With --kill: SIGKILL at once, no graceful signal.
    #[arg(long, requires = "kill")]
    force: bool,
    /// Print the first free port at or after P (no socket uses it, and it can be bound).
    #[arg(long, value_name = "P", value_parser = port_arg, allow_negative_numbers = true)]
    free_from: Option<u16>,
    /// With --free-from: how many free ports to print.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..), requires = "free_from")]
    count: u16,
    /// Print JSON (schema 1).
    #[arg(long)]
    json: bool,
}

/// List every listening port and the processes holding it; managed services are marked.
///
/// One line per listening TCP socket or bound UDP socket and process holding it (several
/// processes share a socket after a fork). With --all, every socket: connections, TIME-WAIT and
/// the rest, like `ss -a`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper ports
  reaper ports --all
  reaper ports --json | jq '.sockets[] | select(any(.owners[]; .service != null)) | .local'")]
pub struct PortsArgs {
    /// Every socket, not only listening ones.
    #[arg(long)]
    all: bool,
    /// Print JSON (schema 1).
    #[arg(long)]
    json: bool,
}

fn retries_arg(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(0) => Err("must be at least 1 (1 = a single round, no retry)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a number of rounds (1, 2, 3, …)")),
    }
}

fn usage(message: impl Into<String>) -> CliError {
    CliError::new(EXIT_USAGE, message)
}

/// A port number, or the port of the managed service named `text`.
fn resolve(state: &StateDir, text: &str) -> Result<u16, CliError> {
    let text = text.trim();
    match ports::parse_port(text) {
        Ok(port) => return Ok(port),
        Err(ports::PortNumberError::NotANumber(_)) => {}
        Err(error) => return Err(usage(error.to_string())),
    }
    if reaper::state::validate_name(text).is_ok() {
        match state.load(text)? {
            Some(Entry::Record(record)) => {
                if let Some(port) = record.port {
                    return Ok(port);
                }
                let status = service::status(state, Some(text))?;
                let ports = status.first().map(|s| s.ports.clone()).unwrap_or_default();
                return match ports.as_slice() {
                    [port] => Ok(*port),
                    [] => Err(usage(format!(
                        "service {text} declares no port (start it with --port) and listens on none"
                    ))),
                    many => Err(usage(format!(
                        "service {text} listens on ports {}: give one of them",
                        many.iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))),
                };
            }
            Some(_) => {
                return Err(usage(format!(
                    "service {text} has no readable reaper record, so its port is unknown; give \
                     the port number"
                )));
            }
            None => {}
        }
    }
    Err(usage(format!(
        "'{text}' is neither a port (1-65535) nor the name of a managed service (see `reaper \
         status`)"
    )))
}

pub fn run_port(state: &StateDir, args: PortArgs) -> CliResult {
    if let Some(from) = args.free_from {
        return free_from(from, args.count, args.json);
    }
    let port = resolve(state, args.port.as_deref().unwrap_or_default())?;
    if args.kill {
        let options = FreeOptions {
            policy: if args.force {
                StopPolicy::forced()
            } else {
                StopPolicy::graceful(args.signal, args.timeout)
            },
            attempts: args.retries,
        };
        let report = ports::free(port, state, options)
            .map_err(|e| CliError::new(EXIT_FAILURE, e.to_string()))?;
        return print_free(&report, options, args.json);
    }
    let report = ports::lookup(port, state)?;
    let code = if report.held { EXIT_OK } else { EXIT_FAILURE };
    if args.json {
        output::json(&serde_json::json!({
            "schema": PORT_SCHEMA,
            "port": report.port,
            "held": report.held,
            "sockets": report.sockets,
            "bind": report.bind,
            "notes": report.notes,
        }))?;
    } else {
        print_lookup(&report)?;
    }
    Ok(code)
}

fn free_from(from: u16, count: u16, json: bool) -> CliResult {
    let found = ports::first_free(from, usize::from(count))?;
    if json {
        output::json(&serde_json::json!({"schema": PORT_SCHEMA, "from": from, "free": found}))?;
    } else {
        let mut out = io::stdout().lock();
        for port in &found {
            writeln!(out, "{port}")?;
        }
    }
    if found.len() < usize::from(count) {
        return Err(CliError::new(
            EXIT_FAILURE,
            format!(
                "only {} free port(s) from {from} to 65535, {count} asked for",
                found.len()
            ),
        ));
    }
    Ok(EXIT_OK)
}

fn owner_detail(owner: &Owner) -> String {
    let user = owner
        .user
        .clone()
        .unwrap_or_else(|| format!("uid {}", owner.uid));
    let mut line = format!(
        "pid {}  {user}  started {}  {}",
        owner.pid,
        owner.started_at,
        output::truncate(&owner.command_line(), 120)
    );
    if let Some(service) = &owner.service {
        line.push_str(&format!("  [service {service}]"));
    }
    if let Some(why) = &owner.protected {
        line.push_str(&format!("  [never signalled: {why}]"));
    }
    line
}

fn socket_line(socket: &SocketReport) -> String {
    let proto = serde_json::to_value(socket.protocol)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let peer = socket
        .remote
        .map(|r| format!(" <-> {r}"))
        .unwrap_or_default();
    let inode = if socket.inode == 0 {
        String::new()
    } else {
        format!("  inode {}", socket.inode)
    };
    format!(
        "{proto:<4} {}{peer}  {}{inode}",
        socket.local,
        socket.state.label()
    )
}

/// How many connection sockets the human view lists before summarising.
const MAX_CONNECTIONS_SHOWN: usize = 20;

fn print_lookup(report: &PortReport) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let port = report.port;
    let listeners: Vec<&SocketReport> = report.sockets.iter().filter(|s| s.holds_port).collect();
    let holders = report.holders();
    if !listeners.is_empty() {
        let who = if holders.is_empty() {
            "by a process reaper cannot see".to_string()
        } else {
            let names: Vec<String> = holders
                .iter()
                .map(|o| format!("{} ({})", o.pid, o.name))
                .collect();
            format!(
                "by {} process{} ({})",
                holders.len(),
                if holders.len() == 1 { "" } else { "es" },
                names.join(", ")
            )
        };
        writeln!(
            out,
            "port {port} is in use: {} listening socket{}, held {who}",
            listeners.len(),
            if listeners.len() == 1 { "" } else { "s" }
        )?;
    } else if report.held {
        writeln!(
            out,
            "port {port} is in use: nothing listens, but it cannot be bound now"
        )?;
    } else {
        writeln!(out, "port {port} is free")?;
    }
    for socket in &listeners {
        writeln!(out, "  {}", socket_line(socket))?;
        for owner in &socket.owners {
            writeln!(out, "      {}", owner_detail(owner))?;
        }
        if let Some(why) = &socket.unseen {
            writeln!(out, "      owner unknown: {why}")?;
        }
    }
    let others: Vec<&SocketReport> = report
        .sockets
        .iter()
        .filter(|s| !s.holds_port && s.state != reaper::ports::SocketState::TimeWait)
        .collect();
    for socket in others.iter().take(MAX_CONNECTIONS_SHOWN) {
        let owners = if socket.owners.is_empty() {
            format!(
                "owner unknown: {}",
                socket.unseen.as_deref().unwrap_or_default()
            )
        } else {
            socket
                .owners
                .iter()
                .map(|o| {
                    let service = o
                        .service
                        .as_ref()
                        .map(|s| format!(", service {s}"))
                        .unwrap_or_default();
                    format!("pid {} ({}{service})", o.pid, o.name)
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(out, "  {}  {owners}", socket_line(socket))?;
    }
    if others.len() > MAX_CONNECTIONS_SHOWN {
        writeln!(
            out,
            "  … and {} more connection(s) (--json lists them all)",
            others.len() - MAX_CONNECTIONS_SHOWN
        )?;
    }
    for note in &report.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

fn print_free(report: &FreeReport, options: FreeOptions, json: bool) -> CliResult {
    let ok = report.freed && report.refused.is_none();
    if json {
        let mut value = serde_json::to_value(report).map_err(io::Error::other)?;
        value["schema"] = serde_json::json!(PORT_SCHEMA);
        output::json(&value)?;
        return Ok(if ok { EXIT_OK } else { EXIT_FAILURE });
    }
    print_ended(report, options)?;
    let port = report.port;
    if let Some(why) = &report.refused {
        return Err(CliError::new(EXIT_FAILURE, format!("refusing: {why}")));
    }
    if let Some(problem) = &report.problem {
        return Err(CliError::new(
            EXIT_FAILURE,
            not_free_message(report, problem),
        ));
    }
    let mut out = io::stdout().lock();
    if report.attempts == 0 {
        writeln!(
            out,
            "port {port} was already free (bound {} to check)",
            report.verified.join(", ")
        )?;
    } else {
        writeln!(
            out,
            "port {port} is free in {} (bound {} to check){}",
            format_duration(report.elapsed),
            report.verified.join(", "),
            if report.attempts > 1 {
                format!(" after {} rounds", report.attempts)
            } else {
                String::new()
            }
        )?;
    }
    Ok(EXIT_OK)
}

/// Why the port is not free, with the sockets still using it.
pub fn not_free_message(report: &FreeReport, problem: &str) -> String {
    let mut message = format!("port {} is not free: {problem}", report.port);
    for socket in &report.remaining {
        message.push_str(&format!("\n  {}", socket_line(socket)));
        for owner in &socket.owners {
            message.push_str(&format!("\n      {}", owner_detail(owner)));
        }
    }
    message
}

/// Prints one line per process a `--kill` ended (managed services first, whole trees).
pub fn print_ended(report: &FreeReport, options: FreeOptions) -> io::Result<()> {
    let signal = options.policy.signal;
    for service in &report.services {
        output::stop_report(&service.report, signal)?;
    }
    if !report.ended.is_empty() {
        let elapsed = report
            .ended
            .iter()
            .map(|p| p.after)
            .max()
            .unwrap_or_default();
        output::stop_report(
            &StopReport {
                name: format!("holders of port {}", report.port),
                processes: report.ended.clone(),
                unreaped_zombies: Vec::new(),
                elapsed,
                refused: None,
            },
            signal,
        )?;
    }
    Ok(())
}

/// `reaper start --kill-existing`: frees `port` for service `name` before it starts. Refuses,
/// ending nothing, when `name` already runs without holding the port (the start would fail).
pub fn free_for_start(state: &StateDir, name: &str, port: u16) -> Result<(), CliError> {
    reaper::state::validate_name(name)?;
    let running = service::status(state, Some(name))?
        .iter()
        .any(|s| s.state == service::ServiceState::Running);
    if running {
        let report = ports::lookup(port, state)?;
        let holds = report.holders().iter().any(|o| {
            o.service.as_deref() == Some(name) && o.state_dir.as_deref() == Some(&state.root)
        });
        if !holds {
            return Err(CliError::new(
                super::EXIT_ALREADY_RUNNING,
                format!(
                    "{name} is already running, and not on port {port}; nothing was ended (stop \
                     it first, or use `reaper restart {name}`)"
                ),
            ));
        }
    }
    let options = FreeOptions {
        policy: StopPolicy::graceful(Signal::Term, Duration::from_secs(10)),
        attempts: 3,
    };
    let report = ports::free(port, state, options)
        .map_err(|e| CliError::new(EXIT_FAILURE, e.to_string()))?;
    print_ended(&report, options)?;
    if let Some(why) = &report.refused {
        return Err(CliError::new(
            EXIT_FAILURE,
            format!("{name} was not started: refusing to free port {port}: {why}"),
        ));
    }
    if let Some(problem) = &report.problem {
        return Err(CliError::new(
            EXIT_FAILURE,
            format!(
                "{name} was not started: {}",
                not_free_message(&report, problem)
            ),
        ));
    }
    if report.attempts > 0 {
        writeln!(io::stdout(), "port {port} is free")?;
    }
    Ok(())
}

/// `reaper start --port-fallback`: `wanted` if it is free, else the first free port after it
/// (saying what holds `wanted`).
pub fn fallback_for_start(state: &StateDir, wanted: u16, argv: &[String]) -> Result<u16, CliError> {
    let choice =
        ports::choose(wanted, state).map_err(|e| CliError::new(EXIT_FAILURE, e.to_string()))?;
    let Some(report) = &choice.wanted_in_use else {
        return Ok(wanted);
    };
    let holders = report.holders();
    let who = if holders.is_empty() {
        "its holder is not visible; `reaper port` explains".to_string()
    } else {
        holders
            .iter()
            .map(|o| format!("pid {} {}", o.pid, o.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "port {wanted} is in use ({who}); using port {}",
        choice.port
    )?;
    let literal = wanted.to_string();
    let mentions = argv.iter().any(|arg| {
        arg.split(|c: char| !c.is_ascii_digit())
            .any(|token| token == literal)
    });
    if mentions {
        writeln!(
            out,
            "note: the command line mentions {wanted}: it must listen on $PORT ({}) instead for \
             the start to succeed",
            choice.port
        )?;
    }
    Ok(choice.port)
}

pub fn run_ports(state: &StateDir, args: PortsArgs) -> CliResult {
    let report = ports::listeners(args.all, state)?;
    if args.json {
        output::json(&serde_json::json!({
            "schema": PORT_SCHEMA,
            "sockets": report.sockets,
            "notes": report.notes,
        }))?;
        return Ok(EXIT_OK);
    }
    if report.sockets.is_empty() {
        writeln!(io::stdout(), "nothing listens on any port")?;
    }
    let mut headers = vec!["PROTO", "LOCAL"];
    if args.all {
        headers.extend(["PEER", "STATE"]);
    }
    headers.extend(["PID", "USER", "SERVICE", "COMMAND"]);
    let mut table = output::table(&headers);
    for socket in &report.sockets {
        let proto = serde_json::to_value(socket.protocol)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let mut lead = vec![proto, socket.local.to_string()];
        if args.all {
            lead.push(socket.remote.map_or_else(|| "-".into(), |r| r.to_string()));
            lead.push(socket.state.label().to_string());
        }
        if socket.owners.is_empty() {
            let why = match &socket.unseen {
                Some(why) if socket.inode == 0 => why.clone(),
                _ => "owner not visible (see `reaper port PORT`)".to_string(),
            };
            let mut row = lead.clone();
            row.extend([
                "-".into(),
                "-".into(),
                "-".into(),
                output::truncate(&why, 80),
            ]);
            table.add_row(row);
        }
        for owner in &socket.owners {
            let mut row = lead.clone();
            row.extend([
                owner.pid.to_string(),
                owner.user.clone().unwrap_or_else(|| owner.uid.to_string()),
                owner
                    .service
                    .as_deref()
                    .map_or_else(|| "-".into(), |s| output::escape(s).into_owned()),
                output::truncate(&owner.command_line(), 80),
            ]);
            table.add_row(row);
        }
    }
    if !report.sockets.is_empty() {
        output::print_table(&table)?;
    }
    for note in &report.notes {
        writeln!(io::stdout(), "note: {note}")?;
    }
    Ok(EXIT_OK)
}
