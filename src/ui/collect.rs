//! The collection thread: looks at the state dir on a timer with the same calls `reaper ps` and
//! `reaper status` make, and follows each service's log file as the keeper writes it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use crate::logfile::{LogFollower, LogLine, Stream};
use crate::process::Pid;
use crate::stack::control;
use crate::state::{SUPERVISOR_NAME, StateDir};

use super::Event;
use super::model::{MAX_LINES, NewLine, Overview, SUPERVISOR_SOURCE, clean_text};

/// How often the services are looked at while nothing happens. A look scans the process table,
/// so its cost grows with the machine's processes (most of the UI's idle CPU).
pub const IDLE_OVERVIEW_INTERVAL: Duration = Duration::from_secs(1);
/// How often they are looked at for [`BUSY_FOR`] after an action began or ended.
pub const BUSY_OVERVIEW_INTERVAL: Duration = Duration::from_millis(250);
/// How long looks stay frequent after an action.
pub const BUSY_FOR: Duration = Duration::from_secs(5);
/// How often running services' readiness probes run (an HTTP probe is a request the service
/// logs: every look would fill its log).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(5);
/// How often the logs are read.
pub const LOG_INTERVAL: Duration = Duration::from_millis(100);
/// Lines of each log shown when the UI first sees it.
const INITIAL_TAIL: usize = 200;

/// What the UI looks at.
#[derive(Debug, Clone)]
pub enum Source {
    /// A stack's services, as `reaper ps` shows them (its status file exists).
    Stack(StateDir),
    /// Services started with `reaper start`, as `reaper status` shows them.
    Records(StateDir),
}

impl Source {
    /// The state dir it reads.
    pub fn state(&self) -> &StateDir {
        match self {
            Source::Stack(state) | Source::Records(state) => state,
        }
    }

    /// One look at the services; `probe`: run the stack's readiness probes (else no health).
    pub fn overview(&self, probe: bool) -> Result<Overview, String> {
        match self {
            Source::Stack(state) => control::ps_probing(state, None, probe)
                .map(|document| Overview::of_stack(&document))
                .map_err(|e| e.to_string()),
            Source::Records(state) => crate::service::status(state, None)
                .map(|mut statuses| {
                    statuses.retain(|s| s.name != SUPERVISOR_NAME);
                    Overview::of_records(&statuses)
                })
                .map_err(|e| e.to_string()),
        }
    }
}

/// A log being followed.
struct Tail {
    path: PathBuf,
    follower: LogFollower,
}

fn new_line(source: &str, line: &LogLine) -> NewLine {
    NewLine {
        source: source.to_string(),
        time: line.time,
        text: clean_text(line.text()),
        stderr: line.stream == Stream::Stderr,
    }
}

/// Starts following `path` as `source`; returns its last lines.
fn follow(
    tails: &mut BTreeMap<String, Tail>,
    source: &str,
    path: PathBuf,
    found: &mut Vec<NewLine>,
) {
    if tails.get(source).is_some_and(|t| t.path == path) {
        return;
    }
    let Ok((follower, lines)) = LogFollower::with_tail(&path, Some(INITIAL_TAIL), |_| true, false)
    else {
        // Not written yet: the next look tries again.
        return;
    };
    found.extend(lines.iter().map(|line| new_line(source, line)));
    tails.insert(source.to_string(), Tail { path, follower });
}

/// Health by service: the pid it was probed at and the result.
type KnownHealth = BTreeMap<String, (Option<Pid>, Option<String>)>;

/// After a probing look, remembers each service's health; after one without probes, gives each
/// service the health last probed, as long as its pid is the same.
fn carry_health(known: &mut KnownHealth, overview: &mut Overview, probed: bool) {
    for service in &mut overview.services {
        if probed {
            known.insert(service.name.clone(), (service.pid, service.health.clone()));
        } else if let Some((pid, health)) = known.get(&service.name) {
            service.health = health.clone().filter(|_| *pid == service.pid);
        }
    }
}

/// Makes the collection thread look at once, and often for [`BUSY_FOR`]: an action began or
/// ended, and its effect should show without waiting for the idle interval.
#[derive(Debug, Clone)]
pub struct Hurry(Sender<()>);

impl Hurry {
    /// Asks for a look now.
    pub fn now(&self) {
        let _ = self.0.send(());
    }
}

/// Starts the collection thread; it ends once `events` has no receiver. `supervisor_log`: a
/// detached supervisor's own log, shown as [`SUPERVISOR_SOURCE`].
pub fn spawn(
    source: Source,
    supervisor_log: Option<PathBuf>,
    events: Sender<Event>,
) -> std::io::Result<Hurry> {
    let (hurry, hurried) = mpsc::channel();
    std::thread::Builder::new()
        .name("ui-collect".to_string())
        .spawn(move || collect(&source, supervisor_log, &events, &hurried))?;
    Ok(Hurry(hurry))
}

/// The interval between looks: short until `busy_until`.
fn overview_interval(busy_until: Option<Instant>, now: Instant) -> Duration {
    if busy_until.is_some_and(|until| now < until) {
        BUSY_OVERVIEW_INTERVAL
    } else {
        IDLE_OVERVIEW_INTERVAL
    }
}

fn collect(
    source: &Source,
    supervisor_log: Option<PathBuf>,
    events: &Sender<Event>,
    hurried: &Receiver<()>,
) {
    let mut tails: BTreeMap<String, Tail> = BTreeMap::new();
    let mut last_overview: Option<Instant> = None;
    let mut last_probe: Option<Instant> = None;
    // Health from the last probe, by service and pid: kept until the pid changes.
    let mut health = KnownHealth::new();
    // Services are starting when the UI opens: look often from the start.
    let mut busy_until = Some(Instant::now() + BUSY_FOR);
    loop {
        let mut found = Vec::new();
        if hurried.try_iter().count() > 0 {
            busy_until = Some(Instant::now() + BUSY_FOR);
            last_overview = None;
        }
        let interval = overview_interval(busy_until, Instant::now());
        if last_overview.is_none_or(|at| at.elapsed() >= interval) {
            last_overview = Some(Instant::now());
            let probe = last_probe.is_none_or(|at| at.elapsed() >= PROBE_INTERVAL);
            if probe {
                last_probe = last_overview;
            }
            let mut overview = source.overview(probe);
            if let Ok(overview) = &mut overview {
                carry_health(&mut health, overview, probe);
            }
            if let Ok(overview) = &overview {
                if let Some(path) = &supervisor_log {
                    follow(&mut tails, SUPERVISOR_SOURCE, path.clone(), &mut found);
                }
                for service in &overview.services {
                    if let Some(path) = &service.log {
                        follow(&mut tails, &service.name, path.clone(), &mut found);
                    }
                }
            }
            if events.send(Event::Overview(overview)).is_err() {
                return;
            }
        }
        for (name, tail) in &mut tails {
            if let Ok(followed) = tail.follower.poll() {
                found.extend(followed.lines.iter().map(|line| new_line(name, line)));
            }
        }
        if !found.is_empty() {
            // Interleave by the time the keepers wrote them (stable: one log keeps its order).
            found.sort_by_key(|line| line.time);
            let excess = found.len().saturating_sub(MAX_LINES);
            found.drain(..excess);
            if events.send(Event::Lines(found)).is_err() {
                return;
            }
        }
        std::thread::sleep(LOG_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::model::ServiceRow;

    fn overview(pid: Option<Pid>, health: Option<&str>) -> Overview {
        Overview {
            headline: String::new(),
            services: vec![ServiceRow {
                name: "api".to_string(),
                state: "ready".to_string(),
                health: health.map(str::to_string),
                pid,
                uptime_secs: None,
                restarts: 0,
                cpu_percent: None,
                rss_bytes: None,
                ports: Vec::new(),
                containment: None,
                log: None,
            }],
        }
    }

    #[test]
    fn looks_are_frequent_only_while_busy() {
        let now = Instant::now();
        assert_eq!(overview_interval(None, now), IDLE_OVERVIEW_INTERVAL);
        assert_eq!(
            overview_interval(Some(now + BUSY_FOR), now),
            BUSY_OVERVIEW_INTERVAL
        );
        assert_eq!(
            overview_interval(Some(now), now + BUSY_FOR),
            IDLE_OVERVIEW_INTERVAL
        );
    }

    #[test]
    fn health_is_carried_between_probes_until_the_pid_changes() {
        let mut known = KnownHealth::new();
        carry_health(&mut known, &mut overview(Some(7), Some("healthy")), true);
        let mut same = overview(Some(7), None);
        carry_health(&mut known, &mut same, false);
        assert_eq!(same.services[0].health.as_deref(), Some("healthy"));
        let mut restarted = overview(Some(8), None);
        carry_health(&mut known, &mut restarted, false);
        assert_eq!(
            restarted.services[0].health, None,
            "a new run is not known healthy"
        );
    }
}
