//! What the UI shows, as plain data: the services (from the same documents `reaper ps --json`
//! and `reaper status --json` print), a bounded tail of their logs, and the view's state
//! (selection, follow, scroll, search, filter). Only [`App::handle`] changes it.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::SystemTime;

use crate::process::Pid;
use crate::service::{ServiceState, ServiceStatus};
use crate::stack::control::{PsDocument, PsEntry};

/// Lines kept in memory, all services together; older ones are only on disk.
pub const MAX_LINES: usize = 20_000;

/// Name under which the supervisor's own lines appear (as `reaper | …` in `reaper up`).
pub const SUPERVISOR_SOURCE: &str = crate::supervisor::printer::SUPERVISOR_PREFIX;

/// One service as the left pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    /// Service name.
    pub name: String,
    /// State, as `ps`/`status` name it (`ready`, `running`, `crashed`, …).
    pub state: String,
    /// `healthy` or `unhealthy`, when a probe ran.
    pub health: Option<String>,
    /// Leader pid while it runs.
    pub pid: Option<Pid>,
    /// Seconds since it started.
    pub uptime_secs: Option<u64>,
    /// Restarts by the supervisor.
    pub restarts: u32,
    /// CPU use of the tree (lifetime average), percent of one core.
    pub cpu_percent: Option<f64>,
    /// Resident memory of the tree.
    pub rss_bytes: Option<u64>,
    /// Ports its tree listens on.
    pub ports: Vec<u16>,
    /// What holds its processes (`cgroup`, `job`, `session`).
    pub containment: Option<&'static str>,
    /// Its log file.
    pub log: Option<PathBuf>,
}

impl From<&PsEntry> for ServiceRow {
    fn from(entry: &PsEntry) -> ServiceRow {
        ServiceRow {
            name: entry.name.clone(),
            state: entry.state.clone(),
            health: entry.health.clone(),
            pid: entry.pid,
            uptime_secs: entry.uptime_secs.filter(|_| entry.pid.is_some()),
            restarts: entry.restarts,
            cpu_percent: entry.cpu_percent,
            rss_bytes: entry.rss_bytes,
            ports: entry.ports.clone(),
            containment: entry.containment.as_ref().map(|c| c.label()),
            log: entry.log.clone(),
        }
    }
}

impl From<&ServiceStatus> for ServiceRow {
    fn from(status: &ServiceStatus) -> ServiceRow {
        let running = status.state == ServiceState::Running;
        ServiceRow {
            name: status.name.clone(),
            state: serde_json::to_value(status.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            health: None,
            pid: status.pid.filter(|_| running),
            uptime_secs: status.uptime_secs.filter(|_| running),
            restarts: 0,
            cpu_percent: status.cpu_percent,
            rss_bytes: status.rss_bytes,
            ports: status.ports.clone(),
            containment: status.containment.as_ref().map(|c| c.label()),
            log: status.log.clone(),
        }
    }
}

/// Everything the collection thread learns in one look at the state dir.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overview {
    /// One line about the stack or the state dir.
    pub headline: String,
    /// The services, in the order `ps` / `status` list them.
    pub services: Vec<ServiceRow>,
}

impl Overview {
    /// The overview of a stack, from `reaper ps`'s document.
    pub fn of_stack(document: &PsDocument) -> Overview {
        let headline = match &document.supervisor {
            Some(s) if s.running => format!(
                "stack {}: supervisor pid {}{}",
                serde_json::to_value(s.phase)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                s.pid,
                if s.detached { " (detached)" } else { "" }
            ),
            Some(s) => format!("stack not running (last supervisor pid {} is gone)", s.pid),
            None => "stack not running".to_string(),
        };
        Overview {
            headline,
            services: document.services.iter().map(ServiceRow::from).collect(),
        }
    }

    /// The overview of services started with `reaper start`, from `reaper status`'s entries.
    pub fn of_records(statuses: &[ServiceStatus]) -> Overview {
        let running = statuses
            .iter()
            .filter(|s| s.state == ServiceState::Running)
            .count();
        Overview {
            headline: if statuses.is_empty() {
                "no managed services yet: `reaper start NAME -- COMMAND` or `reaper up -d` starts some"
                    .to_string()
            } else {
                format!("{running} of {} managed services running", statuses.len())
            },
            services: statuses.iter().map(ServiceRow::from).collect(),
        }
    }
}

/// One log line in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Increasing number: positions in the log survive the eviction of older lines.
    pub seq: u64,
    /// The service it belongs to ([`SUPERVISOR_SOURCE`] for the supervisor).
    pub source: String,
    /// When it was written, if the log says.
    pub time: Option<SystemTime>,
    /// The text (invalid UTF-8 already replaced).
    pub text: String,
    /// Whether the service wrote it to stderr.
    pub stderr: bool,
}

/// A line as it arrives from a log or the supervisor, before it gets its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    /// See [`LogEntry::source`].
    pub source: String,
    /// See [`LogEntry::time`].
    pub time: Option<SystemTime>,
    /// See [`LogEntry::text`].
    pub text: String,
    /// See [`LogEntry::stderr`].
    pub stderr: bool,
}

/// Whose log the right pane shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogView {
    /// Every service, interleaved, with prefixes.
    All,
    /// One service.
    Service(String),
}

/// What a line being typed at the bottom is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// `/`: highlight matches, `n`/`N` jump between them.
    Search,
    /// `&`: show only matching lines.
    Filter,
}

/// A line being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// What it is for.
    pub prompt: Prompt,
    /// Typed so far.
    pub text: String,
}

/// How the status line reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Something is under way.
    Busy,
    /// It worked.
    Done,
    /// It failed.
    Failed,
}

/// Who runs the services the UI shows, which decides what `q` and `S` do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `reaper up` on a terminal: quitting stops the stack; `S` asks the supervisor.
    Foreground,
    /// `reaper ui`: quitting leaves everything running.
    Attached,
}

/// What the user asked for, from a key or the mouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Select the previous service.
    SelectPrevious,
    /// Select the next service.
    SelectNext,
    /// Select the service in this row of the list.
    SelectRow(usize),
    /// Show the selected service's log.
    ShowSelected,
    /// Show every service's log.
    ShowAll,
    /// Restart the selected service.
    Restart,
    /// Stop the selected service.
    Stop,
    /// Start the selected service again.
    Start,
    /// Toggle follow mode.
    ToggleFollow,
    /// Scroll the log up by this many lines.
    ScrollUp(usize),
    /// Scroll the log down by this many lines.
    ScrollDown(usize),
    /// Go to the oldest line kept.
    Top,
    /// Go to the newest line and follow.
    Bottom,
    /// Start typing a search or a filter.
    Begin(Prompt),
    /// A character typed into the prompt.
    Type(char),
    /// Backspace in the prompt.
    Erase,
    /// Enter in the prompt.
    Submit,
    /// Esc: close the prompt or the help, else clear search and filter.
    Cancel,
    /// Jump to the next match (`n`).
    NextMatch,
    /// Jump to the previous match (`N`).
    PreviousMatch,
    /// Toggle line wrapping.
    ToggleWrap,
    /// Toggle timestamps.
    ToggleTimestamps,
    /// Show or hide the key help.
    ToggleHelp,
    /// `q` or Ctrl-C.
    Quit,
    /// The terminal has a new size.
    Resize(u16, u16),
}

/// What [`App::handle`] asks the loop to do outside the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Restart this service (library `service::restart`, readiness awaited).
    Restart(String),
    /// Stop this service (library `service::stop`).
    Stop(String),
    /// Start this service again.
    Start(String),
    /// Quit: leave the UI ([`Mode::Attached`]) or stop the stack ([`Mode::Foreground`]).
    Quit,
}

/// The UI's whole state.
#[derive(Debug, Clone)]
pub struct App {
    /// Who runs the services.
    pub mode: Mode,
    /// The last overview.
    pub overview: Overview,
    /// Why the last look at the state dir failed, if it did.
    pub overview_error: Option<String>,
    /// Index of the selected service.
    pub selected: usize,
    /// Whose log is shown.
    pub view: LogView,
    /// Lines in memory, oldest first, at most [`MAX_LINES`].
    pub lines: VecDeque<LogEntry>,
    next_seq: u64,
    /// Sources in order of first appearance: their prefix colour.
    pub sources: BTreeMap<String, usize>,
    /// `None`: follow the newest line; else the `seq` of the last line shown.
    pub bottom: Option<u64>,
    /// The search pattern (highlighted; `n`/`N`).
    pub search: Option<String>,
    /// The filter pattern (non-matching lines are hidden).
    pub filter: Option<String>,
    /// The prompt being typed, if any.
    pub input: Option<Input>,
    /// Whether long lines wrap.
    pub wrap: bool,
    /// Whether lines show their time.
    pub timestamps: bool,
    /// Whether the key help is shown.
    pub help: bool,
    /// The status line: the last action's progress or result.
    pub status: Option<(String, Tone)>,
    /// Services with an action under way.
    pub busy: BTreeMap<String, &'static str>,
    /// Whether quitting was asked for (the foreground stack is stopping).
    pub quitting: bool,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    /// Whether colours are used (`NO_COLOR` unset, `TERM` not dumb).
    pub color: bool,
}

impl App {
    /// An empty UI of `mode` for a terminal of `size`.
    pub fn new(mode: Mode, size: (u16, u16), color: bool) -> App {
        App {
            mode,
            overview: Overview::default(),
            overview_error: None,
            selected: 0,
            view: LogView::All,
            lines: VecDeque::new(),
            next_seq: 0,
            sources: BTreeMap::new(),
            bottom: None,
            search: None,
            filter: None,
            input: None,
            wrap: false,
            timestamps: false,
            help: false,
            status: None,
            busy: BTreeMap::new(),
            quitting: false,
            size,
            color,
        }
    }

    /// The selected service.
    pub fn selected_service(&self) -> Option<&ServiceRow> {
        self.overview.services.get(self.selected)
    }

    /// Takes a new overview, keeping the selection on the same service. A service that was
    /// listed and is no longer (its record was removed by a stop) stays in its place as
    /// `stopped`, so it can still be selected and started again.
    pub fn set_overview(&mut self, mut overview: Overview) {
        let name = self.selected_service().map(|s| s.name.clone());
        for (index, old) in self.overview.services.iter().enumerate() {
            if !overview.services.iter().any(|s| s.name == old.name) {
                let gone = ServiceRow {
                    state: "stopped".to_string(),
                    health: None,
                    pid: None,
                    uptime_secs: None,
                    cpu_percent: None,
                    rss_bytes: None,
                    ports: Vec::new(),
                    ..old.clone()
                };
                let at = index.min(overview.services.len());
                overview.services.insert(at, gone);
            }
        }
        for service in &overview.services {
            self.source_index(&service.name);
        }
        self.overview = overview;
        self.overview_error = None;
        self.selected = name
            .and_then(|n| self.overview.services.iter().position(|s| s.name == n))
            .unwrap_or(self.selected)
            .min(self.overview.services.len().saturating_sub(1));
    }

    /// The colour slot of `source`, assigned on first sight.
    fn source_index(&mut self, source: &str) -> usize {
        let next = self.sources.len();
        *self.sources.entry(source.to_string()).or_insert(next)
    }

    /// Appends lines, dropping the oldest beyond [`MAX_LINES`].
    pub fn push_lines(&mut self, lines: impl IntoIterator<Item = NewLine>) {
        for line in lines {
            self.source_index(&line.source);
            self.lines.push_back(LogEntry {
                seq: self.next_seq,
                source: line.source,
                time: line.time,
                text: line.text,
                stderr: line.stderr,
            });
            self.next_seq += 1;
        }
        let excess = self.lines.len().saturating_sub(MAX_LINES);
        self.lines.drain(..excess);
    }

    /// Whether `line` belongs to the current view and passes the filter.
    pub fn visible(&self, line: &LogEntry) -> bool {
        let in_view = match &self.view {
            LogView::All => true,
            LogView::Service(name) => &line.source == name,
        };
        in_view
            && self
                .filter
                .as_deref()
                .is_none_or(|pattern| !matches(&line.text, pattern).is_empty())
    }

    /// Lines of the view, oldest first.
    pub fn visible_lines(&self) -> impl DoubleEndedIterator<Item = &LogEntry> {
        self.lines.iter().filter(|line| self.visible(line))
    }

    /// Whether the view follows the newest line.
    pub fn following(&self) -> bool {
        self.bottom.is_none()
    }

    /// Handles one action; returns what the loop must do beyond the model.
    pub fn handle(&mut self, action: Action) -> Option<Effect> {
        match action {
            Action::SelectPrevious => self.selected = self.selected.saturating_sub(1),
            Action::SelectNext => {
                self.selected =
                    (self.selected + 1).min(self.overview.services.len().saturating_sub(1));
            }
            Action::SelectRow(row) if row < self.overview.services.len() => self.selected = row,
            Action::SelectRow(_) => {}
            Action::ShowSelected => {
                if let Some(name) = self.selected_service().map(|s| s.name.clone()) {
                    self.view = LogView::Service(name);
                    self.bottom = None;
                }
            }
            Action::ShowAll => {
                self.view = LogView::All;
                self.bottom = None;
            }
            Action::Restart => return self.service_action("restarting", Effect::Restart),
            Action::Stop => return self.service_action("stopping", Effect::Stop),
            Action::Start => return self.service_action("starting", Effect::Start),
            Action::ToggleFollow => {
                self.bottom = match self.bottom {
                    Some(_) => None,
                    None => self.visible_lines().next_back().map(|l| l.seq),
                };
            }
            Action::ScrollUp(n) => self.scroll_up(n),
            Action::ScrollDown(n) => self.scroll_down(n),
            Action::Top => {
                let page = usize::from(self.size.1).max(1);
                self.bottom = self.visible_lines().take(page).last().map(|l| l.seq);
            }
            Action::Bottom => self.bottom = None,
            Action::Begin(prompt) => {
                self.input = Some(Input {
                    prompt,
                    text: String::new(),
                })
            }
            Action::Type(c) => {
                if let Some(input) = &mut self.input {
                    input.text.push(c);
                }
            }
            Action::Erase => {
                if let Some(input) = &mut self.input {
                    input.text.pop();
                }
            }
            Action::Submit => {
                if let Some(input) = self.input.take() {
                    let pattern = Some(input.text).filter(|t| !t.is_empty());
                    match input.prompt {
                        Prompt::Search => {
                            self.search = pattern;
                            if self.search.is_some() {
                                self.jump(Direction::Backward, true);
                            }
                        }
                        Prompt::Filter => {
                            self.filter = pattern;
                            self.bottom = None;
                        }
                    }
                }
            }
            Action::Cancel => {
                if self.input.take().is_none() && !std::mem::take(&mut self.help) {
                    self.search = None;
                    self.filter = None;
                }
            }
            Action::NextMatch => self.jump(Direction::Forward, false),
            Action::PreviousMatch => self.jump(Direction::Backward, false),
            Action::ToggleWrap => self.wrap = !self.wrap,
            Action::ToggleTimestamps => self.timestamps = !self.timestamps,
            Action::ToggleHelp => self.help = !self.help,
            Action::Quit => {
                if self.mode == Mode::Foreground {
                    self.quitting = true;
                    self.status = Some(("stopping the stack…".to_string(), Tone::Busy));
                }
                return Some(Effect::Quit);
            }
            Action::Resize(columns, rows) => self.size = (columns, rows),
        }
        None
    }

    fn service_action(
        &mut self,
        doing: &'static str,
        effect: fn(String) -> Effect,
    ) -> Option<Effect> {
        let name = self.selected_service()?.name.clone();
        if let Some(under_way) = self.busy.get(&name) {
            self.status = Some((format!("{name} is already {under_way}"), Tone::Failed));
            return None;
        }
        self.busy.insert(name.clone(), doing);
        self.status = Some((format!("{doing} {name}…"), Tone::Busy));
        Some(effect(name))
    }

    /// Records the end of an action on `name`.
    pub fn action_done(&mut self, name: &str, message: String, ok: bool) {
        self.busy.remove(name);
        self.status = Some((message, if ok { Tone::Done } else { Tone::Failed }));
    }

    fn scroll_up(&mut self, n: usize) {
        let bottom = self.bottom.unwrap_or(u64::MAX);
        let above: Vec<u64> = self
            .visible_lines()
            .filter(|l| l.seq <= bottom)
            .map(|l| l.seq)
            .collect();
        if let Some(seq) = above.len().checked_sub(n + 1).map(|i| above[i]) {
            self.bottom = Some(seq);
        } else if let Some(first) = above.first() {
            self.bottom = Some(*first);
        }
    }

    fn scroll_down(&mut self, n: usize) {
        let Some(bottom) = self.bottom.filter(|_| n > 0) else {
            return;
        };
        let below: Vec<u64> = self
            .visible_lines()
            .filter(|l| l.seq > bottom)
            .map(|l| l.seq)
            .take(n + 1)
            .collect();
        // Reaching the newest line follows again, as `less +F` does.
        self.bottom = below.get(n - 1).copied().filter(|_| below.len() > n);
    }

    /// Moves the view to the next match in `direction` from the bottom line (`inclusive`: the
    /// bottom line itself counts).
    fn jump(&mut self, direction: Direction, inclusive: bool) {
        let Some(pattern) = self.search.clone() else {
            return;
        };
        let from = self.bottom.unwrap_or(u64::MAX);
        let hit = |l: &&LogEntry| !matches(&l.text, &pattern).is_empty();
        let found = match direction {
            Direction::Backward => self
                .visible_lines()
                .rev()
                .filter(|l| l.seq < from || (inclusive && l.seq == from))
                .find(hit)
                .map(|l| l.seq),
            Direction::Forward => self
                .visible_lines()
                .filter(|l| l.seq > from)
                .find(hit)
                .map(|l| l.seq),
        };
        match found {
            Some(seq) => self.bottom = Some(seq),
            None => {
                self.status = Some((format!("no more matches for '{pattern}'"), Tone::Failed));
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Forward,
    Backward,
}

/// Byte ranges of `pattern` in `text`, ignoring ASCII case (empty for an empty pattern).
pub fn matches(text: &str, pattern: &str) -> Vec<(usize, usize)> {
    if pattern.is_empty() || pattern.len() > text.len() {
        return Vec::new();
    }
    let hay = text.as_bytes();
    let needle = pattern.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at + needle.len() <= hay.len() {
        if hay[at..at + needle.len()].eq_ignore_ascii_case(needle)
            && text.is_char_boundary(at)
            && text.is_char_boundary(at + needle.len())
        {
            found.push((at, at + needle.len()));
            at += needle.len();
        } else {
            at += 1;
        }
    }
    found
}

/// A line of a service's output made safe to draw: colour codes removed (the UI colours by
/// itself), tabs expanded, other control characters shown escaped so none reaches the terminal.
pub fn clean_text(raw: &str) -> String {
    let plain = anstream::adapter::strip_str(raw)
        .to_string()
        .replace('\t', "    ");
    crate::text::escape(&plain).into_owned()
}
