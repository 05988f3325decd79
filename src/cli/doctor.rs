//! `reaper doctor`, `reaper kill`, `reaper emergency` and `reaper watch`.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use reaper::doctor::{self, FindingKind, FixOptions, FixOutcome, Report, ScanOptions, Scope};
use reaper::service::{self, Selection, StopOptions};
use reaper::signal::Signal;
use reaper::state::{StateDir, write_atomic};
use reaper::terminate::{self, StopPolicy, StopTarget};

use super::output::{self, escape};
use super::{CliError, CliResult, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, duration_arg};

/// Find zombies, orphans, port conflicts, hung processes and stale records.
///
/// Scans the machine once, plus a CPU sampling window (--sample, 0 skips the hung check).
/// Findings: zombie (state Z, with its parent and the fix; not on Windows, which has none),
/// orphan (a process carrying this project's marker without a record, a member of a service
/// whose keeper and parent are gone, or a `[doctor] orphan_patterns` match from reaper.toml whose
/// parent is gone), port_conflict (a declared port held by another process), hung (CPU above
/// --cpu for the whole window, or in D state throughout), stale_record. Exit 0 when clean, 1 when anything was found (or, with --fix, is left), 2 on
/// error: usable as-is in a pre-commit hook or a CI step.
///
/// --fix signals only what reaper can prove it owns (marker or record), only gracefully, and
/// never ends a running service's process (one that keeps zombies or hangs is reported with the
/// --force hint); --force escalates to SIGKILL, ends those, and may act on processes reaper does
/// not own.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper doctor
  reaper doctor --sample 0 --scope project        # fast, for a pre-commit hook
  reaper doctor --json --out zombie-detection-results.json
  reaper doctor --fix
  reaper doctor --fix --force --cpu 80 --sample 5s
  reaper doctor --sample 0 --format github        # a GitHub Actions step: annotations + job summary
  reaper doctor --on-finding 'jq -c \"{text: (.host + \\\": \\\" + (.summary.total|tostring) + \\\" process problems\\\")}\" | curl -fsS -H \"Content-Type: application/json\" --data-binary @- \"$SLACK_WEBHOOK_URL\"'")]
pub struct DoctorArgs {
    /// Print the report as JSON (schema 1); the same as --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// human: tables; json: the report (schema 1); github: GitHub Actions annotations, plus a
    /// Markdown table appended to $GITHUB_STEP_SUMMARY when it is set.
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<FormatArg>,
    #[command(flatten)]
    hook: HookArgs,
    /// Also write the JSON report to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// CPU sampling window for the hung check (0 skips it).
    #[arg(long, default_value = "2s", value_parser = duration_arg, value_name = "DURATION")]
    sample: Duration,
    /// CPU percent (of one core) over the whole window that counts as hung.
    #[arg(long = "cpu", default_value_t = 90.0, value_name = "PERCENT")]
    cpu_threshold: f64,
    /// machine: every process; project: only this project's services and marker carriers.
    #[arg(long, value_enum, default_value = "machine")]
    scope: ScopeArg,
    /// Fix what was found (safe mode: only what reaper owns, only gracefully, never a running
    /// service's process).
    #[arg(long)]
    fix: bool,
    /// With --fix: escalate to SIGKILL, end services' processes that keep zombies or hang, and
    /// act on processes reaper does not own.
    #[arg(long, requires = "fix")]
    force: bool,
    /// With --fix: time a process gets after the graceful signal.
    #[arg(long, default_value = "5s", value_parser = duration_arg, value_name = "DURATION")]
    timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FormatArg {
    Human,
    Json,
    Github,
}

/// `--on-finding` and its time limit (doctor and watch).
#[derive(Debug, clap::Args)]
struct HookArgs {
    /// Run CMD (through the shell) when something is found, with the JSON report (schema 1) on
    /// its stdin and its stdout sent to stderr. It runs in a session of its own; past
    /// --on-finding-timeout, or if it leaves processes running, its whole tree is ended and
    /// reported. A failing hook is reported on stderr and does not change the exit code.
    #[arg(long, value_name = "CMD")]
    on_finding: Option<String>,
    /// Time the --on-finding command gets before its tree is ended.
    #[arg(long, default_value = "10s", value_parser = duration_arg, value_name = "DURATION", requires = "on_finding")]
    on_finding_timeout: Duration,
}

impl HookArgs {
    /// Runs the hook, if there is one, with `report` on its stdin, and says on stderr what went
    /// wrong with it, if anything did.
    fn run(&self, report: &Report) {
        let Some(command) = &self.on_finding else {
            return;
        };
        let input = serde_json::to_vec_pretty(report).expect("reports serialise");
        let mut err = io::stderr().lock();
        let outcome = match doctor::run_hook(command, &input, self.on_finding_timeout) {
            Ok(outcome) => outcome,
            Err(e) => {
                let _ = writeln!(err, "reaper: {}", escape(&e.to_string()));
                return;
            }
        };
        if outcome.timed_out {
            let _ = writeln!(
                err,
                "reaper: the --on-finding command did not finish within {} and was ended",
                reaper::units::format_duration(self.on_finding_timeout)
            );
        } else if outcome.exit_code != Some(0) {
            let _ = writeln!(
                err,
                "reaper: the --on-finding command failed ({})",
                outcome.exit_code.map_or_else(
                    || "ended by a signal".to_string(),
                    |code| format!("exit code {code}")
                )
            );
        }
        if let Some(stop) = &outcome.stopped {
            if !outcome.timed_out {
                let _ = writeln!(
                    err,
                    "reaper: the --on-finding command left processes running"
                );
            }
            let _ = output::stop_report_to(&mut err, stop, doctor::HOOK_SIGNAL);
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ScopeArg {
    Machine,
    Project,
}

fn scan_options(
    state: &StateDir,
    sample: Duration,
    cpu: f64,
    scope: ScopeArg,
) -> Result<ScanOptions, CliError> {
    if cpu.is_nan() || cpu <= 0.0 {
        return Err(CliError::new(
            EXIT_USAGE,
            format!("--cpu must be above 0, not {cpu}"),
        ));
    }
    let config = doctor::load_config(&state.root).map_err(|e| CliError::new(EXIT_USAGE, e))?;
    let orphan_patterns = doctor::compile(&config.orphan_patterns, false)
        .map_err(|e| CliError::new(EXIT_USAGE, format!("[doctor] orphan_patterns: {e}")))?;
    Ok(ScanOptions {
        sample,
        cpu_threshold: cpu,
        orphan_patterns,
        scope: match scope {
            ScopeArg::Machine => Scope::Machine,
            ScopeArg::Project => Scope::Project,
        },
    })
}

fn scan(state: &StateDir, options: &ScanOptions) -> Result<Report, CliError> {
    doctor::scan(state, options).map_err(|e| CliError::new(EXIT_USAGE, e.to_string()))
}

pub fn doctor(state: &StateDir, args: DoctorArgs) -> CliResult {
    let options = scan_options(state, args.sample, args.cpu_threshold, args.scope)?;
    let report = scan(state, &options)?;
    if let Some(path) = &args.out {
        let json = serde_json::to_vec_pretty(&report).expect("reports serialise");
        write_atomic(path, &json)?;
    }
    let fixes = if args.fix {
        doctor::fix(
            state,
            &report,
            FixOptions {
                force: args.force,
                timeout: args.timeout,
            },
        )
    } else {
        Vec::new()
    };
    let format = match args.format {
        Some(format) => format,
        None if args.json => FormatArg::Json,
        None => FormatArg::Human,
    };
    match format {
        FormatArg::Json if args.fix => {
            output::json(&serde_json::json!({"schema": 1, "report": report, "fixes": fixes}))?
        }
        FormatArg::Json => output::json(&report)?,
        FormatArg::Github => {
            print_github(&report)?;
            print_fixes(&fixes)?;
        }
        FormatArg::Human => {
            print_report(&report)?;
            print_fixes(&fixes)?;
        }
    }
    if !report.findings.is_empty() {
        args.hook.run(&report);
    }
    let clean = if args.fix {
        fixes.iter().all(|f| f.resolved)
    } else {
        report.findings.is_empty()
    };
    Ok(if clean { EXIT_OK } else { EXIT_FAILURE })
}

/// Environment variable GitHub Actions sets to the file a step appends its job summary to.
const STEP_SUMMARY_VAR: &str = "GITHUB_STEP_SUMMARY";

/// `--format github`: one workflow command per finding, the summary line, and the job summary
/// table appended to `$GITHUB_STEP_SUMMARY` when it is set.
fn print_github(report: &Report) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(doctor::github::annotations(report).as_bytes())?;
    writeln!(out, "{}", summary_line(report))?;
    if let Some(path) = std::env::var_os(STEP_SUMMARY_VAR).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        reaper::state::files::open_append(&path)
            .and_then(|mut file| file.write_all(doctor::github::step_summary(report).as_bytes()))
            .map_err(|e| {
                CliError::new(
                    EXIT_USAGE,
                    format!("{STEP_SUMMARY_VAR} ({}): {e}", path.display()),
                )
            })?;
    }
    Ok(())
}

fn print_report(report: &Report) -> io::Result<()> {
    let mut out = io::stdout().lock();
    for (kind, findings) in doctor::by_kind(&report.findings) {
        writeln!(out, "{} ({}):", kind.title(), findings.len())?;
        let mut table = output::table(&["PID", "PPID", "SERVICE", "COMMAND", "EVIDENCE"]);
        for f in &findings {
            let dash = || "-".to_string();
            table.add_row(vec![
                f.pid.map_or_else(dash, |p| p.to_string()),
                f.ppid.map_or_else(dash, |p| p.to_string()),
                f.service
                    .as_deref()
                    .map_or_else(dash, |s| escape(s).into_owned()),
                output::truncate(f.command.as_deref().unwrap_or("-"), 40),
                escape(&f.evidence).into_owned(),
            ]);
        }
        for line in table.lines() {
            writeln!(out, "{}", line.trim_end())?;
        }
        let mut fixes: Vec<&str> = findings.iter().map(|f| f.fix.as_str()).collect();
        fixes.dedup();
        for fix in fixes {
            writeln!(out, "  fix: {}", escape(fix))?;
        }
        writeln!(out)?;
    }
    writeln!(out, "{}", summary_line(report))?;
    for (kind, why) in &report.not_applicable {
        writeln!(out, "no {} check here: {why}", kind.title())?;
    }
    Ok(())
}

/// `clean: 0 zombie, … (N processes scanned)` or `found problems: …`.
fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    let counts: Vec<String> = [
        (FindingKind::Zombie, s.zombie, "zombie"),
        (FindingKind::Orphan, s.orphan, "orphan"),
        (FindingKind::PortConflict, s.port_conflict, "port conflict"),
        (FindingKind::Hung, s.hung, "hung"),
        (FindingKind::StaleRecord, s.stale_record, "stale record"),
    ]
    .into_iter()
    .filter(|(kind, _, _)| !report.not_applicable.contains_key(kind))
    .map(|(_, count, label)| format!("{count} {label}"))
    .collect();
    format!(
        "{}: {} ({} processes scanned)",
        if s.total == 0 {
            "clean"
        } else {
            "found problems"
        },
        counts.join(", "),
        s.processes_scanned
    )
}

fn print_fixes(fixes: &[FixOutcome]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    for f in fixes {
        writeln!(
            out,
            "{} {} {}: {}",
            if f.resolved { "fixed" } else { "NOT FIXED" },
            f.kind.title(),
            f.pid.map_or_else(|| "-".into(), |p| p.to_string()),
            f.action
        )?;
    }
    Ok(())
}

/// End processes whose command line matches a pattern, each with its whole tree.
///
/// Patterns are regular expressions matched against the full command line (--exact: the whole
/// command line must match). Matches are shown first; on a terminal reaper asks before acting,
/// elsewhere it needs --yes. Never matches pid 1, kernel threads, reaper itself or its ancestors,
/// and only your own processes unless --user names another user. Each match is ended with its
/// whole tree: graceful signal, SIGKILL after --timeout (--force: SIGKILL at once).
///
/// Exit 0 when every match is gone (or listed, with --dry-run), 1 when nothing matched (as
/// pkill) or a process survived, 2 on bad input.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper kill uvicorn --dry-run
  reaper kill 'npm.*dev' uvicorn --yes
  reaper kill --exact 'python3 -m http.server 8001' --yes
  reaper kill celery --user www-data --force --yes")]
pub struct KillArgs {
    /// Regular expressions matched against full command lines.
    #[arg(required = true, value_name = "PATTERN")]
    patterns: Vec<String>,
    /// The pattern must match the whole command line.
    #[arg(long)]
    exact: bool,
    /// Match this user's processes instead of yours (name or uid; repeatable).
    #[arg(long = "user", value_name = "U")]
    users: Vec<String>,
    /// Show what would be ended, and end nothing.
    #[arg(long)]
    dry_run: bool,
    /// SIGKILL at once instead of a graceful signal first.
    #[arg(long)]
    force: bool,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    yes: bool,
    /// Time each tree gets after the graceful signal before SIGKILL.
    #[arg(long, default_value = "10s", value_parser = duration_arg, value_name = "DURATION")]
    timeout: Duration,
}

fn confirm(question: &str) -> io::Result<bool> {
    eprint!("{question} [y/N] ");
    io::stderr().flush()?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}

/// Ends processes matching `patterns` (used by `kill` and `emergency`); returns how many
/// matched and whether every tree acted on is gone.
fn kill_matching(
    patterns: &[regex::Regex],
    uids: &[u32],
    force: bool,
    timeout: Duration,
    ask: Option<bool>,
    dry_run: bool,
) -> Result<(usize, bool), CliError> {
    let snapshot = reaper::os::snapshot()?;
    let matches = doctor::matching_processes(&snapshot, patterns, uids);
    let mut out = io::stdout().lock();
    if matches.is_empty() {
        writeln!(out, "no process matches")?;
        return Ok((0, true));
    }
    writeln!(
        out,
        "{} matching process{} (each is ended with its tree):",
        matches.len(),
        if matches.len() == 1 { "" } else { "es" }
    )?;
    for m in &matches {
        writeln!(
            out,
            "  {:>7}  /{}/  {}",
            m.info.pid,
            m.pattern,
            output::truncate(&m.command, 100)
        )?;
    }
    drop(out);
    if dry_run {
        println_safe("dry run: nothing was signalled")?;
        return Ok((matches.len(), true));
    }
    match ask {
        Some(true) if !confirm(&format!("End these {} process trees?", matches.len()))? => {
            println_safe("nothing was signalled")?;
            return Ok((matches.len(), true));
        }
        Some(false) => {
            return Err(CliError::new(
                EXIT_USAGE,
                "not a terminal, so reaper cannot ask: pass --yes to end the processes listed above (or --dry-run)",
            ));
        }
        _ => {}
    }
    let policy = if force {
        StopPolicy::forced()
    } else {
        StopPolicy::graceful(Signal::Term, timeout)
    };
    let targets = matches
        .iter()
        .map(|m| {
            let anchor = reaper::containment::Anchor::adopted(
                reaper::identity::ProcessRef::of(&m.info)?,
                String::new(),
            );
            Ok(StopTarget::tree(
                format!("pid {}", m.info.pid),
                anchor,
                policy,
            ))
        })
        .collect::<io::Result<Vec<_>>>()?;
    let reports = terminate::stop_trees(&targets)?;
    let mut complete = true;
    for report in &reports {
        output::stop_report(report, policy.signal)?;
        complete &= report.complete();
    }
    Ok((matches.len(), complete))
}

fn println_safe(text: &str) -> io::Result<()> {
    writeln!(io::stdout(), "{text}")
}

fn resolve_uids(users: &[String]) -> Result<Vec<u32>, CliError> {
    if users.is_empty() {
        return Ok(vec![reaper::os::current_uid()]);
    }
    users
        .iter()
        .map(|u| {
            reaper::os::uid_of_user(u)
                .ok_or_else(|| CliError::new(EXIT_USAGE, format!("unknown user '{u}'")))
        })
        .collect()
}

pub fn kill(args: KillArgs) -> CliResult {
    let patterns =
        doctor::compile(&args.patterns, args.exact).map_err(|e| CliError::new(EXIT_USAGE, e))?;
    let uids = resolve_uids(&args.users)?;
    let ask = if args.yes {
        None
    } else {
        Some(io::stdin().is_terminal())
    };
    let (matched, complete) = kill_matching(
        &patterns,
        &uids,
        args.force,
        args.timeout,
        ask,
        args.dry_run,
    )?;
    // As pkill: nothing matched is a failure (a script learns its target was not there).
    Ok(if complete && matched > 0 {
        EXIT_OK
    } else {
        EXIT_FAILURE
    })
}

/// Emergency clean-up: stop everything, end orphans, free ports, remove stale records.
///
/// In order: stop every managed service (whole trees), end processes carrying this project's
/// marker without a record, free each --port (its holders are ended),
/// end processes matching each
/// --pattern (your own processes only), and remove stale records and pid files. Prints a summary
/// of everything done. Graceful first; SIGKILL after --timeout (--force: SIGKILL at once).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper emergency
  reaper emergency --port 8001 --port 3000
  reaper emergency --pattern uvicorn --pattern 'npm.*dev' --force")]
pub struct EmergencyArgs {
    /// Free this port too (repeatable).
    #[arg(long = "port", value_name = "P", value_parser = super::port_arg, allow_negative_numbers = true)]
    ports: Vec<u16>,
    /// End your processes matching this regex too (repeatable).
    #[arg(long = "pattern", value_name = "REGEX")]
    patterns: Vec<String>,
    /// SIGKILL at once.
    #[arg(long)]
    force: bool,
    /// Time trees get after the graceful signal before SIGKILL.
    #[arg(long, default_value = "5s", value_parser = duration_arg, value_name = "DURATION")]
    timeout: Duration,
}

pub fn emergency(state: &StateDir, args: EmergencyArgs) -> CliResult {
    let patterns =
        doctor::compile(&args.patterns, false).map_err(|e| CliError::new(EXIT_USAGE, e))?;
    let stop = if args.force {
        StopOptions::forced()
    } else {
        StopOptions {
            signal: Signal::Term,
            timeout: args.timeout,
        }
    };
    let mut ok = true;
    let mut summary = Vec::new();
    let stopped = service::stop(state, &Selection::All, stop)
        .map_err(|e| CliError::new(EXIT_FAILURE, e.to_string()))?;
    for report in &stopped.reports {
        output::stop_report(report, stop.signal)?;
    }
    super::stop::print_unremoved(&stopped);
    ok &= stopped.complete() && stopped.unremoved.is_empty();
    summary.push(format!("{} service(s) stopped", stopped.reports.len()));
    let cleaned = service::clean(state, true, stop)?;
    for report in &cleaned.stopped {
        output::stop_report(report, stop.signal)?;
        ok &= report.complete();
    }
    summary.push(format!(
        "{} orphan process(es) ended",
        cleaned.orphans.len()
    ));
    let removed = cleaned
        .actions
        .iter()
        .filter(|a| a.action == "removed")
        .count();
    summary.push(format!("{removed} stale record(s) removed"));
    for port in &args.ports {
        let options = reaper::ports::FreeOptions {
            policy: if args.force {
                StopPolicy::forced()
            } else {
                StopPolicy::graceful(Signal::Term, args.timeout)
            },
            attempts: 3,
        };
        let freed = reaper::ports::free(*port, state, options)
            .map(|report| report.freed)
            .unwrap_or(false);
        ok &= freed;
        summary.push(format!(
            "port {port} {}",
            if freed { "free" } else { "STILL HELD" }
        ));
    }
    if !patterns.is_empty() {
        let (count, complete) = kill_matching(
            &patterns,
            &[reaper::os::current_uid()],
            args.force,
            args.timeout,
            None,
            false,
        )?;
        ok &= complete;
        summary.push(format!("{count} pattern match(es) ended"));
    }
    println_safe(&format!("emergency clean-up: {}", summary.join(", ")))?;
    Ok(if ok { EXIT_OK } else { EXIT_FAILURE })
}

/// Scheduled detection: run the doctor scan in a loop and log each scan.
///
/// Appends one summary line per scan, and one line per finding, to .logs/zombie-detection.log,
/// plus a `new` line when a finding first appears and a `resolved` line when it is gone
/// (a finding is the same across scans by kind and identity: pid and start time, the port and
/// its service for port conflicts, the name for stale records). --notify shows a desktop
/// notification for new and resolved findings, once each; --on-finding runs a command when
/// they change. With --fix, applies safe-mode fixes after each scan. Runs until interrupted
/// (Ctrl-C).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  reaper watch --interval 5m
  reaper watch --interval 1h --fix
  reaper watch --interval 1m --notify
  reaper watch --on-finding 'jq -c \"{text: (.host + \\\": \\\" + (.summary.total|tostring) + \\\" process problems\\\")}\" | curl -fsS -H \"Content-Type: application/json\" --data-binary @- \"$TEAMS_WEBHOOK_URL\"'
  cron:     */15 * * * * cd /path/to/project && reaper doctor --sample 0 --json --out .logs/zombie-detection-results.json
  systemd:  systemd-run --user --on-calendar=weekly --working-directory=%h/project reaper doctor --fix")]
pub struct WatchArgs {
    /// Time between scans.
    #[arg(long, default_value = "10m", value_parser = duration_arg, value_name = "DURATION")]
    interval: Duration,
    /// CPU sampling window of each scan.
    #[arg(long, default_value = "2s", value_parser = duration_arg, value_name = "DURATION")]
    sample: Duration,
    /// CPU percent that counts as hung.
    #[arg(long = "cpu", default_value_t = 90.0, value_name = "PERCENT")]
    cpu_threshold: f64,
    /// Apply safe-mode fixes after each scan.
    #[arg(long)]
    fix: bool,
    /// Stop after this many scans (default: run until interrupted).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Show a desktop notification when a finding appears and when it is gone (Linux:
    /// freedesktop notifications over the D-Bus session bus; macOS: Notification Center via
    /// osascript; Windows: a toast). Without a reachable notification service, says so once on
    /// stderr and goes on.
    #[arg(long)]
    notify: bool,
    #[command(flatten)]
    hook: HookArgs,
}

/// Desktop notifications for `watch --notify`: where they cannot be shown, say so once.
struct Notifications {
    notifier: Option<reaper::os::Notifier>,
    warned: bool,
}

impl Notifications {
    fn new(enabled: bool) -> Notifications {
        let mut notifications = Notifications {
            notifier: None,
            warned: false,
        };
        if enabled {
            match reaper::os::Notifier::connect() {
                Ok(notifier) => notifications.notifier = Some(notifier),
                Err(e) => notifications.warn(&e),
            }
        }
        notifications
    }

    fn warn(&mut self, error: &reaper::os::NotifyError) {
        if !self.warned {
            self.warned = true;
            eprintln!("reaper: --notify: {error}; going on without notifications");
        }
    }

    /// One notification for what is new and one for what is gone.
    fn changes(&mut self, changes: &doctor::Changes) {
        let Some(notifier) = &self.notifier else {
            return;
        };
        let mut errors = Vec::new();
        for (findings, what) in [(&changes.new, "found"), (&changes.resolved, "resolved")] {
            if findings.is_empty() {
                continue;
            }
            let summary = format!(
                "reaper: {} {what}",
                match findings.as_slice() {
                    [one] => one.kind.title(),
                    many => format!("{} problems", many.len()),
                }
            );
            let body = notification_body(findings);
            if let Err(e) = notifier.send(&summary, &body) {
                errors.push(e);
            }
        }
        for e in errors {
            self.warn(&e);
        }
    }
}

/// Up to five findings, one a line, and how many more there are.
fn notification_body(findings: &[doctor::Finding]) -> String {
    const SHOWN: usize = 5;
    let mut lines: Vec<String> = findings
        .iter()
        .take(SHOWN)
        .map(|f| output::truncate(&f.headline(), 200))
        .collect();
    if findings.len() > SHOWN {
        lines.push(format!("and {} more", findings.len() - SHOWN));
    }
    lines.join("\n")
}

pub fn watch(state: &StateDir, args: WatchArgs) -> CliResult {
    if args.interval.is_zero() {
        return Err(CliError::new(EXIT_USAGE, "--interval must be above 0"));
    }
    let options = scan_options(state, args.sample, args.cpu_threshold, ScopeArg::Machine)?;
    state.ensure()?;
    let log_path = state.log_dir().join(reaper::state::WATCH_LOG);
    let mut tracker = doctor::FindingTracker::default();
    let mut notifications = Notifications::new(args.notify);
    let mut scans = 0u64;
    loop {
        let report = scan(state, &options)?;
        let changes = tracker.update(&report.findings);
        let fixes = if args.fix {
            doctor::fix(
                state,
                &report,
                FixOptions {
                    force: false,
                    timeout: Duration::from_secs(5),
                },
            )
        } else {
            Vec::new()
        };
        let s = &report.summary;
        let mut text = format!(
            "{} zombie={} orphan={} port_conflict={} hung={} stale_record={} total={} scanned={}\n",
            report.scanned_at,
            s.zombie,
            s.orphan,
            s.port_conflict,
            s.hung,
            s.stale_record,
            s.total,
            s.processes_scanned
        );
        for f in &report.findings {
            text.push_str(&format!(
                "{}   {:?} pid={} {}\n",
                report.scanned_at,
                f.kind,
                f.pid.map_or_else(|| "-".into(), |p| p.to_string()),
                escape(&f.evidence)
            ));
        }
        for (findings, what) in [(&changes.new, "new"), (&changes.resolved, "resolved")] {
            for f in findings {
                text.push_str(&format!(
                    "{}   {what} {}\n",
                    report.scanned_at,
                    escape(&f.headline())
                ));
            }
        }
        for f in &fixes {
            text.push_str(&format!(
                "{}   fix {:?} pid={} resolved={} {}\n",
                report.scanned_at,
                f.kind,
                f.pid.map_or_else(|| "-".into(), |p| p.to_string()),
                f.resolved,
                escape(&f.action)
            ));
        }
        reaper::state::files::open_append(&log_path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .map_err(|e| CliError::new(EXIT_FAILURE, format!("{}: {e}", log_path.display())))?;
        write!(io::stdout(), "{text}")?;
        io::stdout().flush()?;
        notifications.changes(&changes);
        if !changes.is_empty() {
            args.hook.run(&report);
        }
        scans += 1;
        if args.count.is_some_and(|n| scans >= n) {
            return Ok(EXIT_OK);
        }
        std::thread::sleep(args.interval);
    }
}
