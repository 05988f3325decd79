//! `reaper doctor`: one scan of the machine (plus an optional CPU sampling window) that finds
//! zombies, orphans, port conflicts, hung processes and stale records, each with the evidence a
//! person needs to act, and fixes for what reaper can prove it owns.

mod alerts;
mod fix;
pub mod github;
mod hook;
mod patterns;

pub use alerts::*;
pub use fix::*;
pub use hook::*;
pub use patterns::*;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::actionlog::now_rfc3339;
use crate::containment::{Anchor, MarkerCache};
use crate::os;
use crate::process::{Pid, ProcessInfo, ProcessState, Snapshot};
use crate::service::{find_orphans, live_members};
use crate::state::{Entry, StateDir, StateError};

/// Version of the doctor JSON report.
pub const REPORT_SCHEMA: u32 = 1;

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A process in state Z whose parent has not reaped it.
    Zombie,
    /// A process that lost its owner: a marker without a record, a service member adopted out
    /// of its service's tree (by init or any subreaper) once the keeper is gone, or a
    /// configured pattern whose parent is gone.
    Orphan,
    /// A declared port held by a process that is not its service.
    PortConflict,
    /// CPU above the threshold for the whole window, or uninterruptible sleep for longer.
    Hung,
    /// A record or pid file whose process is gone or reused, or that cannot be read.
    StaleRecord,
}

/// One problem, with its evidence and the fix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// Kind of problem.
    pub kind: FindingKind,
    /// The process concerned, if any.
    pub pid: Option<Pid>,
    /// Its start-time token (identity), if there is a process.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start_time: Option<u64>,
    /// Its parent.
    pub ppid: Option<Pid>,
    /// Its command line, or its name.
    pub command: Option<String>,
    /// The managed service involved, if any.
    pub service: Option<String>,
    /// The run id from the marker, for orphans that carry one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub run_id: Option<String>,
    /// The port involved (port conflicts).
    pub port: Option<u16>,
    /// CPU use over the sampling window, in percent of one core (hung).
    pub cpu_percent: Option<f64>,
    /// Seconds since the process started, rounded to the nearest second.
    pub age_secs: Option<u64>,
    /// True when reaper can prove it owns the process (marker or record).
    pub owned: bool,
    /// What was seen, in words.
    pub evidence: String,
    /// What to do about it.
    pub fix: String,
}

/// Counts per kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Zombies.
    pub zombie: usize,
    /// Orphans.
    pub orphan: usize,
    /// Port conflicts.
    pub port_conflict: usize,
    /// Hung processes.
    pub hung: usize,
    /// Stale records.
    pub stale_record: usize,
    /// All findings.
    pub total: usize,
    /// Processes scanned.
    pub processes_scanned: usize,
}

/// The doctor report (`--json`, `--out`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_SCHEMA`].
    pub schema: u32,
    /// RFC 3339 time of the scan.
    pub scanned_at: String,
    /// Host name.
    pub host: String,
    /// Every finding, by kind then pid.
    pub findings: Vec<Finding>,
    /// Counts.
    pub summary: Summary,
    /// Checks that cannot find anything on this platform, with the reason, so that a zero in
    /// the summary is not read as a clean result (Windows: zombie).
    #[serde(default)]
    pub not_applicable: BTreeMap<FindingKind, String>,
}

/// The checks [`scan`] makes that this platform has no use for, and why.
fn not_applicable_checks() -> BTreeMap<FindingKind, String> {
    let mut checks = BTreeMap::new();
    if cfg!(windows) {
        checks.insert(
            FindingKind::Zombie,
            "Windows has no zombie processes: an exited process leaves nothing to reap (its \
             exit code stays readable through open handles)"
                .to_string(),
        );
    }
    checks
}

/// Which processes a scan looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every process on the machine.
    Machine,
    /// Only this project's managed services, their trees and marker carriers.
    Project,
}

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// CPU sampling window; zero skips the hung check.
    pub sample: Duration,
    /// CPU percent (of one core) above which a process is hung.
    pub cpu_threshold: f64,
    /// Regexes for `[doctor] orphan_patterns`: matching processes whose parent is gone.
    pub orphan_patterns: Vec<regex::Regex>,
    /// Which processes to look at.
    pub scope: Scope,
}

/// Why a scan could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// State directory problem.
    #[error(transparent)]
    State(#[from] StateError),
    /// The process table could not be read.
    #[error("cannot read the process table: {0}")]
    Scan(#[from] std::io::Error),
}

struct Ownership {
    /// pid → service name, for every live member of a managed tree.
    members: HashMap<Pid, String>,
    /// Run ids of the records that exist.
    runs: Vec<String>,
    /// Services whose record names no running keeper.
    unkept: HashSet<String>,
    /// Service name → its leader and keeper, the processes its members descend from.
    anchors: HashMap<String, Anchor>,
}

fn ownership(
    state: &StateDir,
    snapshot: &Snapshot,
    markers: &mut MarkerCache,
) -> Result<(Ownership, Vec<Entry>), StateError> {
    let entries = state.list()?;
    let mut members = HashMap::new();
    let mut runs = Vec::new();
    let mut unkept = HashSet::new();
    let mut anchors = HashMap::new();
    for entry in &entries {
        if let Entry::Record(record) = entry {
            runs.push(record.run_id.clone());
            anchors.insert(record.name.clone(), record.anchor());
            // A keeper that exited and is not reaped yet (a zombie) does not keep anything.
            let keeper_runs = record.keeper.as_ref().is_some_and(|keeper| {
                snapshot
                    .get(keeper.pid)
                    .is_some_and(|info| info.state.is_alive() && keeper.matches(info))
            });
            if !keeper_runs {
                unkept.insert(record.name.clone());
            }
            for pid in live_members(snapshot, record, markers) {
                members.insert(pid, record.name.clone());
            }
        }
    }
    Ok((
        Ownership {
            members,
            runs,
            unkept,
            anchors,
        },
        entries,
    ))
}

/// True when the parent, grandparent, … of `info` include `anchor`'s leader or keeper: the
/// process is still in its service's tree, whatever exited in between. A process that was
/// adopted elsewhere (by init, by `systemd --user` or another subreaper) is not.
fn descends_from(snapshot: &Snapshot, info: &ProcessInfo, anchor: &Anchor) -> bool {
    let mut seen = HashSet::new();
    let mut current = snapshot.get(info.ppid);
    while let Some(parent) = current {
        if anchor.leader.matches(parent)
            || anchor.keeper.as_ref().is_some_and(|k| k.matches(parent))
        {
            return true;
        }
        if !seen.insert(parent.pid) || parent.ppid == 0 {
            break;
        }
        current = snapshot.get(parent.ppid);
    }
    false
}

fn command_of(info: &ProcessInfo) -> String {
    os::command_line(info.pid)
        .filter(|argv| !argv.is_empty())
        .map(|argv| argv.join(" "))
        .unwrap_or_else(|| format!("[{}]", info.name))
}

/// Time since the process started (None when its start time is in the future: a clock step).
fn age(info: &ProcessInfo) -> Option<Duration> {
    SystemTime::now().duration_since(info.started_at).ok()
}

/// A finding about `info` with its command line read (see [`finding_with`]).
fn finding(kind: FindingKind, info: Option<&ProcessInfo>) -> Finding {
    finding_with(kind, info, info.map(command_of))
}

/// A finding about `info` with a command the caller already has (a command line is a read of
/// the process's memory: done once per process, and only for findings).
fn finding_with(kind: FindingKind, info: Option<&ProcessInfo>, command: Option<String>) -> Finding {
    Finding {
        kind,
        pid: info.map(|p| p.pid),
        start_time: info.map(|p| p.start_time),
        ppid: info.map(|p| p.ppid),
        command,
        service: None,
        run_id: None,
        port: None,
        cpu_percent: None,
        age_secs: info
            .and_then(age)
            .map(|age| age.as_secs_f64().round() as u64),
        owned: false,
        evidence: String::new(),
        fix: String::new(),
    }
}

/// Scans once and reports every finding.
pub fn scan(state: &StateDir, options: &ScanOptions) -> Result<Report, ScanError> {
    let first = os::snapshot()?;
    let (lowest_marked, gone_runs) = crate::containment::marked_scope(&state.run_dir());
    let mut markers = MarkerCache::from_lowest_start(lowest_marked);
    let (owned, entries) = ownership(state, &first, &mut markers)?;
    let in_scope = |pid: Pid| options.scope == Scope::Machine || owned.members.contains_key(&pid);
    let mut findings = Vec::new();

    // A parent that does not reap usually leaves many zombies: its command line is read once.
    let mut parents: HashMap<Pid, String> = HashMap::new();
    for info in first.iter().filter(|p| p.state == ProcessState::Zombie) {
        let parent = first.get(info.ppid);
        let parent_service = owned.members.get(&info.ppid);
        if !in_scope(info.pid) && parent_service.is_none() {
            continue;
        }
        let mut f = finding_with(
            FindingKind::Zombie,
            Some(info),
            Some(format!("[{}]", info.name)),
        );
        f.service = parent_service.cloned();
        f.owned = parent_service.is_some();
        let parent_text = parent.map_or_else(
            || "gone".to_string(),
            |p| {
                let command = parents.entry(p.pid).or_insert_with(|| command_of(p));
                format!("{} ({command})", p.pid)
            },
        );
        f.evidence = format!(
            "exited, not reaped by its parent {parent_text}{}; the kernel does not record when it exited (started {} ago)",
            parent_service
                .map(|s| format!(" of service {s}"))
                .unwrap_or_default(),
            age(info).map_or_else(|| "?".into(), crate::units::format_duration)
        );
        f.fix = format!(
            "the parent must reap it: send SIGCHLD to {} ({}); if that does not help, end the parent so init reaps it (`reaper doctor --fix --force`)",
            info.ppid,
            if f.owned {
                "`reaper doctor --fix` does"
            } else {
                "not reaper's: `reaper doctor --fix` leaves it alone"
            }
        );
        findings.push(f);
    }

    let orphans = find_orphans(&first, &mut markers, &state.run_dir(), &owned.runs);
    // Every environment that could carry a gone run's marker was just read: a gone run none of
    // whose processes is left need not be looked for again.
    let orphan_names: Vec<&str> = orphans.iter().map(|o| o.name.as_str()).collect();
    crate::containment::forget_abandoned_runs(&gone_runs, &orphan_names);
    for orphan in &orphans {
        let Some(info) = first.get(orphan.pid) else {
            continue;
        };
        let mut f = finding(FindingKind::Orphan, Some(info));
        f.service = Some(orphan.name.clone());
        f.run_id = Some(orphan.run_id.clone());
        f.owned = true;
        f.evidence = match crate::containment::abandoning_run(&orphan.name) {
            Some(pid) => format!(
                "left by `reaper run` pid {pid} (run {}), which is gone",
                orphan.run_id
            ),
            None => format!(
                "carries the marker of service {} (run {}) but no record of that run exists",
                orphan.name, orphan.run_id
            ),
        };
        f.fix = "`reaper clean --kill` or `reaper doctor --fix` ends it with its tree".into();
        findings.push(f);
    }
    for leftover in crate::containment::leftover_cgroups(&state.run_dir(), &owned.runs, false) {
        for pid in &leftover.pids {
            let Some(info) = first.get(*pid) else {
                continue;
            };
            if findings
                .iter()
                .any(|f: &Finding| f.kind == FindingKind::Orphan && f.pid == Some(*pid))
            {
                continue;
            }
            let mut f = finding(FindingKind::Orphan, Some(info));
            f.run_id = Some(leftover.run_id.clone());
            f.owned = true;
            f.evidence = format!(
                "in reaper's cgroup {}, created for {}",
                leftover.path.display(),
                leftover.owner
            );
            f.fix = "`reaper clean --kill` ends everything in that cgroup".into();
            findings.push(f);
        }
    }
    for (pid, service) in &owned.members {
        let Some(info) = first.get(*pid) else {
            continue;
        };
        // While the keeper runs, a member whose parent exited is still kept (Windows and macOS
        // do not hand it to the keeper); only a tree without its keeper is orphaned: a member
        // whose ancestors no longer include the service's leader or keeper, whoever adopted it
        // (init, `systemd --user`, another subreaper).
        let adopted_elsewhere = owned
            .anchors
            .get(service)
            .is_some_and(|anchor| !descends_from(&first, info, anchor));
        if adopted_elsewhere && owned.unkept.contains(service) {
            let mut f = finding(FindingKind::Orphan, Some(info));
            f.service = Some(service.clone());
            f.owned = true;
            let adopter = first
                .get(info.ppid)
                .filter(|_| !info.outlived_parent())
                .map(|p| format!(" (adopted by {} {})", p.pid, p.name))
                .unwrap_or_default();
            f.evidence = format!(
                "member of service {service} that is no longer in its tree: neither the \
                 service's leader nor its keeper is among its ancestors{adopter}, and the keeper \
                 is gone"
            );
            f.fix = format!("`reaper stop {service}` still finds and ends it (session and marker)");
            findings.push(f);
        }
    }
    if !options.orphan_patterns.is_empty() {
        for info in first
            .iter()
            .filter(|p| p.outlived_parent() && p.state.is_alive())
        {
            if owned.members.contains_key(&info.pid) || !in_scope(info.pid) {
                continue;
            }
            let command = command_of(info);
            if let Some(pattern) = options
                .orphan_patterns
                .iter()
                .find(|re| re.is_match(&command))
            {
                let mut f = finding_with(FindingKind::Orphan, Some(info), Some(command.clone()));
                f.evidence = format!("matches orphan pattern /{pattern}/ and its parent is gone");
                f.fix = format!(
                    "`reaper kill --exact '{}'`, or `reaper doctor --fix --force`",
                    regex::escape(&command)
                );
                findings.push(f);
            }
        }
    }

    findings.extend(port_conflicts(state, &entries, &owned));
    findings.extend(stale_records(&first, entries, &owned));

    if !options.sample.is_zero() {
        std::thread::sleep(options.sample);
        let second = os::snapshot()?;
        findings.extend(hung(&first, &second, options, &owned, &in_scope));
    }

    findings.sort_by_key(|f| (f.kind, f.pid));
    let mut summary = Summary {
        processes_scanned: first.len(),
        total: findings.len(),
        ..Summary::default()
    };
    for f in &findings {
        *match f.kind {
            FindingKind::Zombie => &mut summary.zombie,
            FindingKind::Orphan => &mut summary.orphan,
            FindingKind::PortConflict => &mut summary.port_conflict,
            FindingKind::Hung => &mut summary.hung,
            FindingKind::StaleRecord => &mut summary.stale_record,
        } += 1;
    }
    Ok(Report {
        schema: REPORT_SCHEMA,
        scanned_at: now_rfc3339(),
        host: os::host_name(),
        findings,
        summary,
        not_applicable: not_applicable_checks(),
    })
}

/// Ports declared by records, held by a process that is not part of the declaring service.
fn port_conflicts(state: &StateDir, entries: &[Entry], owned: &Ownership) -> Vec<Finding> {
    let mut out = Vec::new();
    for entry in entries {
        let Entry::Record(record) = entry else {
            continue;
        };
        let Some(port) = record.port else { continue };
        let Ok(report) = crate::ports::lookup(port, state) else {
            continue;
        };
        for socket in report.sockets.iter().filter(|s| s.holds_port) {
            for holder in &socket.owners {
                if owned.members.get(&holder.pid) == Some(&record.name) {
                    continue;
                }
                let mut f = finding(FindingKind::PortConflict, None);
                f.pid = Some(holder.pid);
                f.start_time = Some(holder.identity.start_time);
                f.command = Some(holder.command.join(" "));
                f.service = Some(record.name.clone());
                f.port = Some(port);
                f.owned = holder.service.is_some();
                f.evidence = format!(
                    "port {port} is declared by service {} but {} {} holds it ({})",
                    record.name,
                    match &holder.service {
                        Some(other) => format!("service {other}'s process"),
                        None => "process".to_string(),
                    },
                    holder.pid,
                    socket.local
                );
                f.fix = format!(
                    "free it with `reaper port {port} --kill`, or move {} to another port (`reaper start --port-fallback`)",
                    record.name
                );
                out.push(f);
            }
        }
    }
    out
}

/// Records none of whose processes is alive (the trees were computed once, in [`ownership`]).
fn stale_records(snapshot: &Snapshot, entries: Vec<Entry>, owned: &Ownership) -> Vec<Finding> {
    let mut out = Vec::new();
    for entry in entries {
        let mut f = finding(FindingKind::StaleRecord, None);
        f.service = Some(entry.name().to_string());
        f.owned = true;
        match entry {
            Entry::Record(record) => {
                if owned.members.values().any(|name| *name == record.name) {
                    continue;
                }
                f.pid = Some(record.leader.pid);
                f.evidence = match snapshot.get(record.leader.pid) {
                    Some(other) if !record.leader.matches(other) => format!(
                        "record names pid {}, which now belongs to another process ({})",
                        other.pid, other.name
                    ),
                    _ => format!(
                        "record names pid {}, and nothing of the service is alive",
                        record.leader.pid
                    ),
                };
                f.fix = "`reaper clean` or `reaper doctor --fix` removes the record".into();
            }
            Entry::PidOnly { pid: Ok(pid), .. } => {
                if snapshot.get(pid).is_some_and(|p| p.state.is_alive()) {
                    continue;
                }
                f.pid = Some(pid);
                f.evidence = format!("pid file names pid {pid}, which is gone");
                f.fix = "`reaper clean` or `reaper doctor --fix` removes the pid file".into();
            }
            Entry::PidOnly { pid: Err(e), name } => {
                f.owned = false;
                f.evidence = format!("{name}.pid is not a valid pid file: {e}");
                f.fix = "inspect it and remove it by hand".into();
            }
            Entry::Broken { error, .. } => {
                f.owned = false;
                f.evidence = error.to_string();
                f.fix = "inspect the record and remove it by hand".into();
            }
        }
        out.push(f);
    }
    out
}

fn hung(
    first: &Snapshot,
    second: &Snapshot,
    options: &ScanOptions,
    owned: &Ownership,
    in_scope: &dyn Fn(Pid) -> bool,
) -> Vec<Finding> {
    let window = options.sample.as_secs_f64();
    let mut out = Vec::new();
    for before in first.iter().filter(|p| !p.kernel_thread && in_scope(p.pid)) {
        let Some(after) = second
            .get(before.pid)
            .filter(|a| a.start_time == before.start_time)
        else {
            continue;
        };
        let cpu = after.cpu_time.saturating_sub(before.cpu_time).as_secs_f64() / window * 100.0;
        let busy = cpu >= options.cpu_threshold;
        let stuck =
            before.state == ProcessState::DiskSleep && after.state == ProcessState::DiskSleep;
        if !busy && !stuck {
            continue;
        }
        let mut f = finding(FindingKind::Hung, Some(after));
        f.cpu_percent = Some((cpu * 10.0).round() / 10.0);
        f.service = owned.members.get(&after.pid).cloned();
        f.owned = f.service.is_some();
        f.evidence = if busy {
            format!(
                "{cpu:.0}% CPU over the whole {}s window (threshold {}%)",
                window, options.cpu_threshold
            )
        } else {
            format!(
                "in uninterruptible sleep (D) for the whole {}s window, usually stuck I/O",
                window
            )
        };
        f.fix = if f.owned {
            format!(
                "`reaper restart {}`, or `reaper doctor --fix --force` ends it",
                f.service.as_deref().unwrap_or_default()
            )
        } else {
            format!(
                "inspect it (e.g. {}), then `reaper doctor --fix --force` ends it",
                inspection_hint(after.pid)
            )
        };
        out.push(f);
    }
    out
}

/// `[doctor]` settings from `reaper.toml` (the type lives with the rest of the configuration).
pub use crate::stack::DoctorConfig;

/// Reads `[doctor]` from `reaper.toml` in `root`, if there is one (other tables are ignored).
pub fn load_config(root: &Path) -> Result<DoctorConfig, String> {
    crate::stack::config::load_doctor_config(root)
}

/// Groups findings by kind, for the human report.
pub fn by_kind(findings: &[Finding]) -> BTreeMap<FindingKind, Vec<&Finding>> {
    let mut map: BTreeMap<FindingKind, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        map.entry(f.kind).or_default().push(f);
    }
    map
}

/// How to see what a busy or stuck process is doing, with this platform's tools.
fn inspection_hint(pid: Pid) -> String {
    let native = if cfg!(target_os = "linux") {
        format!("`cat /proc/{pid}/stack`")
    } else if cfg!(target_os = "macos") {
        format!("`sample {pid}`")
    } else {
        "Process Explorer's Threads tab".to_string()
    };
    format!("{native}, `py-spy dump --pid {pid}`")
}
