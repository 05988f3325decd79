//! `reaper start`: the keeper spawns the service; we record it, then wait until it is up.

use std::io::BufReader;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use crate::actionlog::{self, now_rfc3339};
use crate::containment::{self, Marker, MarkerCache};
use crate::dotenv::DotenvError;
use crate::identity::ProcessRef;
use crate::keeper::{self, KeeperEvent, KeeperSpec};
use crate::os;
use crate::state::{Entry, NameLock, RECORD_SCHEMA, Record, StateDir, StateError, write_atomic};
use crate::terminate::{self, StopPolicy, StopTarget};
use crate::units::format_duration;

use super::{live_members, random_id};

/// What to start.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// Service name.
    pub name: String,
    /// Command and arguments.
    pub argv: Vec<String>,
    /// Working directory (absolute).
    pub cwd: PathBuf,
    /// `--env K=V` pairs, applied after env files.
    pub env: Vec<(String, String)>,
    /// Env files, read in order.
    pub env_files: Vec<PathBuf>,
    /// Port: exported as `PORT`, and start waits until it accepts connections.
    pub port: Option<u16>,
    /// Log file (default `.logs/NAME.log`).
    pub log: Option<PathBuf>,
    /// How long the service must stay up before start reports success (without `port`).
    pub min_uptime: Duration,
    /// How long to wait for `port` to accept connections.
    pub ready_timeout: Duration,
    /// Log rotation threshold in bytes (0: never).
    pub log_max_bytes: u64,
    /// Rotated log files kept.
    pub log_keep: u32,
    /// Start each log line with its time.
    pub log_timestamps: bool,
    /// For a service of a stack (`reaper up`): the stack's configuration file, kept in the
    /// record so `reaper down` finds the service later.
    pub stack: Option<String>,
    /// With `port`: wait until the port accepts connections before returning. When false, start
    /// returns once the service has stayed up `min_uptime` and the caller checks readiness
    /// itself (the stack supervisor does, with its own probes).
    pub wait_for_port: bool,
}

/// A service that is up.
#[derive(Debug, Clone)]
pub struct Started {
    /// Its record.
    pub record: Record,
    /// Time from the start command to the service being up (port open or minimum uptime).
    pub ready_after: Duration,
    /// Set when the leader exited successfully but left its tree running (a daemonizing program).
    pub leader_exited: bool,
}

/// Why a start did not happen or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// State directory or record problem.
    #[error(transparent)]
    State(#[from] StateError),
    /// The name is taken by a live service.
    #[error(
        "{name} is already running (pid {pid}, up {uptime}); stop it first or use `reaper restart {name}`"
    )]
    AlreadyRunning {
        /// Service name.
        name: String,
        /// Its leader pid.
        pid: u32,
        /// How long it has been up.
        uptime: String,
    },
    /// A pid file from another tool names a live process reaper cannot verify.
    #[error(
        "{name}: .run/{name}.pid names live pid {pid} but has no reaper record, so its identity cannot be checked; stop that process yourself or remove the pid file"
    )]
    UnverifiedPidFile {
        /// Service name.
        name: String,
        /// The pid in the file.
        pid: u32,
    },
    /// Bad input: the working directory.
    #[error("working directory {0} does not exist or is not a directory")]
    BadCwd(PathBuf),
    /// Bad input: an env file.
    #[error("env file {path}: {why}")]
    EnvFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// Bad input: empty command.
    #[error("no command given: put it after `--`, e.g. reaper start api -- python3 -m http.server")]
    EmptyCommand,
    /// Bad input: the command cannot be found.
    #[error(
        "command not found: {} (check the spelling and PATH, or give a full path)",
        crate::text::escape(.0)
    )]
    CommandNotFound(String),
    /// Bad input: the command cannot be executed.
    #[error(
        "cannot execute {}: permission denied (is it executable?)",
        crate::text::escape(.0)
    )]
    NotExecutable(String),
    /// Bad input: the command names a directory.
    #[error(
        "cannot execute {}: it is a directory (name the program inside it)",
        crate::text::escape(.0)
    )]
    IsADirectory(String),
    /// The keeper failed.
    #[error("could not start {name}: {why}")]
    Spawn {
        /// Service name.
        name: String,
        /// What failed.
        why: String,
    },
    /// The service died during start-up.
    #[error("{name} exited during start-up ({status}){}", tail_block(.log, .tail))]
    ExitedEarly {
        /// Service name.
        name: String,
        /// Exit code or signal.
        status: String,
        /// Log file.
        log: PathBuf,
        /// Its last lines.
        tail: Vec<String>,
    },
    /// The port is already held by another process: the readiness check would pass because of
    /// it, and the service could not bind.
    #[error(
        "port {port} is already in use by {holder}; free it with `--kill-existing` or take the next free port with `--port-fallback` (see `reaper port {port}`)"
    )]
    PortInUse {
        /// The port.
        port: u16,
        /// Who holds it.
        holder: String,
    },
    /// The service started but its record could not be written (a full disk, an unwritable
    /// state directory); what it started was stopped again.
    #[error("cannot record {name}: {source}; {}", if *.stopped {
        "the processes it started were stopped"
    } else {
        "some processes it started could not be stopped (see `reaper doctor`)"
    })]
    NotRecorded {
        /// Service name.
        name: String,
        /// Why the record could not be written.
        source: StateError,
        /// Whether everything it started is gone.
        stopped: bool,
    },
    /// The port did not open in time; the service was stopped again.
    #[error("{name} did not accept connections on port {port} within {timeout}; it was stopped{}", tail_block(.log, .tail))]
    NotReady {
        /// Service name.
        name: String,
        /// The port.
        port: u16,
        /// The timeout.
        timeout: String,
        /// Log file.
        log: PathBuf,
        /// Its last lines.
        tail: Vec<String>,
    },
}

fn tail_block(log: &Path, tail: &[String]) -> String {
    let log = crate::text::escape(&log.to_string_lossy()).into_owned();
    if tail.is_empty() {
        format!("; its log {log} is empty")
    } else {
        let mut out = format!("; last lines of {log}:");
        for line in tail {
            out.push_str("\n  | ");
            out.push_str(line);
        }
        out
    }
}

/// Exit status as people read it.
pub fn describe_exit(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "unknown status".to_string(),
    }
}

/// Starts a service, taking the name's lock.
pub fn start(state: &StateDir, request: &StartRequest) -> Result<Started, StartError> {
    crate::state::validate_name(&request.name)?;
    state.ensure()?;
    let lock = state.lock(&request.name)?;
    start_locked(state, request, &lock)
}

/// Starts a service while the caller holds its lock.
pub(crate) fn start_locked(
    state: &StateDir,
    request: &StartRequest,
    _lock: &NameLock,
) -> Result<Started, StartError> {
    let began = Instant::now();
    let name = &request.name;
    refuse_if_running(state, name)?;
    let env = check_request(request)?;
    if let Some(port) = request.port {
        refuse_if_port_held(state, name, port)?;
    }
    let log = request
        .log
        .clone()
        .unwrap_or_else(|| state.default_log_path(name));
    let log = if log.is_absolute() {
        log
    } else {
        request.cwd.join(log)
    };
    let run_id = random_id();
    let marker = Marker {
        run_id: run_id.clone(),
        name: name.clone(),
        run_dir: state.run_dir(),
    };
    let spawn_error = |why: String| StartError::Spawn {
        name: name.clone(),
        why,
    };
    // Everything that can fail without a running service is done before the spawn.
    let boot_id = os::boot_id().map_err(|e| spawn_error(e.to_string()))?;
    containment::service_marker_floor(&state.run_dir())
        .and_then(|floor| containment::record_marker_floor(&floor))
        .map_err(|e| spawn_error(e.to_string()))?;
    let cgroup = os::create_cgroup(&containment::service_cgroup_leaf(
        &state.run_dir(),
        name,
        &run_id,
    ))
    .map_err(|e| spawn_error(format!("cannot create the service's cgroup: {e}")))?;
    // Until the record names it, a failed start must not leave the cgroup behind.
    let remove_cgroup = || {
        if let Some(path) = &cgroup {
            let _ = os::remove_cgroup(path);
        }
    };
    let spec = KeeperSpec {
        name: name.clone(),
        run_id: run_id.clone(),
        state_root: state.root.clone(),
        argv: request.argv.clone(),
        cwd: request.cwd.clone(),
        env,
        marker: marker.encode(),
        log: log.clone(),
        log_max_bytes: request.log_max_bytes,
        log_keep: request.log_keep,
        log_timestamps: request.log_timestamps,
        cgroup: cgroup.clone(),
    };
    let exe = std::env::current_exe().map_err(|e| {
        remove_cgroup();
        spawn_error(e.to_string())
    })?;
    let mut command = Command::new(exe);
    command
        .arg("__keeper")
        .current_dir(&state.root)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    os::spawn_in_new_session(&mut command);
    os::keep_stdio_private();
    let mut keeper = command.spawn().map_err(|e| {
        remove_cgroup();
        spawn_error(format!("cannot run the keeper: {e}"))
    })?;
    let keeper_pid = keeper.id();
    let mut stdin = keeper.stdin.take().expect("piped");
    // stdin stays open until the record is written: a keeper that reads its end before
    // `recorded` (we died) stops the service, so no unrecorded service outlives us.
    keeper::write_spec(&mut stdin, &spec).map_err(|e| spawn_error(e.to_string()))?;
    let events = event_channel(keeper.stdout.take().expect("piped"));
    let (pid, start_time) = match events.recv_timeout(Duration::from_secs(10)) {
        Ok(KeeperEvent::Spawned { pid, start_time }) => (pid, start_time),
        Ok(KeeperEvent::SpawnFailed { kind, message }) => {
            let _ = keeper.wait();
            remove_cgroup();
            let program = &request.argv[0];
            return Err(match kind.as_str() {
                "not_found" => unrunnable_error(program, Some(os::Unrunnable::NotFound)),
                "is_a_directory" => unrunnable_error(program, Some(os::Unrunnable::IsADirectory)),
                "not_executable" => unrunnable_error(program, Some(os::Unrunnable::NotExecutable)),
                _ => spawn_error(message),
            });
        }
        _ => {
            let _ = keeper.kill();
            let _ = keeper.wait();
            return Err(spawn_error("the keeper did not report".into()));
        }
    };
    crate::fault::point(crate::fault::AFTER_LAUNCH);
    let keeper_ref = os::process_info(keeper_pid).map(|info| ProcessRef {
        pid: keeper_pid,
        start_time: info.start_time,
        boot_id: boot_id.clone(),
    });
    let record = Record {
        schema: RECORD_SCHEMA,
        name: name.clone(),
        run_id,
        leader: ProcessRef {
            pid,
            start_time,
            boot_id,
        },
        keeper: keeper_ref,
        argv: request.argv.clone(),
        cwd: request.cwd.clone(),
        env_names: request.env.iter().map(|(k, _)| k.clone()).collect(),
        env_files: request.env_files.clone(),
        port: request.port,
        log: log.clone(),
        started_at: now_rfc3339(),
        marker: marker.encode(),
        stack: request.stack.clone(),
        cgroup: cgroup.clone(),
    };
    if let Err(source) = state
        .save(&record)
        .and_then(|()| save_env_values(state, request))
    {
        // Never a running service without a record: stop what was started (the keeper, told
        // nothing, stops it too; both go through the stop engine).
        drop(stdin);
        let stopped = abandon(state, &record).unwrap_or(false);
        let error = StartError::NotRecorded {
            name: name.clone(),
            source,
            stopped,
        };
        actionlog::record(state, &format!("start {name} failed: {error}"));
        return Err(error);
    }
    // It fails only when the keeper is already gone; waiting for readiness below notices that.
    let _ = keeper::confirm_recorded(stdin);
    // The keeper outlives us; dropping the handle neither kills nor waits for it.
    drop(keeper);
    let outcome = wait_until_up(state, request, &record, &events, began);
    match &outcome {
        Ok(started) => actionlog::record(
            state,
            &format!(
                "start {name} pid={pid} keeper={keeper_pid} argv={:?} ready_after_ms={}",
                record.argv,
                started.ready_after.as_millis()
            ),
        ),
        Err(e) => actionlog::record(state, &format!("start {name} failed: {}", first_line(e))),
    }
    outcome
}

fn first_line(error: &StartError) -> String {
    error
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn refuse_if_running(state: &StateDir, name: &str) -> Result<(), StartError> {
    match state.load(name)? {
        None => Ok(()),
        Some(Entry::Broken { error, .. }) => Err(error.into()),
        Some(Entry::PidOnly { pid: Ok(pid), .. })
            if os::process_info(pid).is_some_and(|p| p.state.is_alive()) =>
        {
            Err(StartError::UnverifiedPidFile {
                name: name.to_string(),
                pid,
            })
        }
        Some(Entry::PidOnly { .. }) => {
            state.remove(name)?;
            actionlog::record(
                state,
                &format!("start {name}: replaced a pid file whose process is gone"),
            );
            Ok(())
        }
        Some(Entry::Record(record)) => {
            let snapshot = os::snapshot().map_err(|e| StartError::Spawn {
                name: name.to_string(),
                why: e.to_string(),
            })?;
            let live = live_members(&snapshot, &record, &mut MarkerCache::default());
            if let Some(first) = live.iter().next() {
                let pid = if live.contains(&record.leader.pid) {
                    record.leader.pid
                } else {
                    *first
                };
                let uptime = snapshot
                    .get(pid)
                    .and_then(|p| SystemTime::now().duration_since(p.started_at).ok())
                    .map(format_duration)
                    .unwrap_or_default();
                return Err(StartError::AlreadyRunning {
                    name: name.to_string(),
                    pid,
                    uptime,
                });
            }
            state.remove(name)?;
            actionlog::record(
                state,
                &format!(
                    "start {name}: replaced the record of an ended run (pid {})",
                    record.leader.pid
                ),
            );
            Ok(())
        }
    }
}

/// Checks what a start needs from its input — a command, the working directory, every env file,
/// the program (found as the keeper's exec will find it) — and returns the service's
/// environment. `restart` calls it before it stops anything, so a restart that cannot start
/// again leaves the old run alone.
pub(crate) fn check_request(request: &StartRequest) -> Result<Vec<(String, String)>, StartError> {
    let Some(program) = request.argv.first().filter(|p| !p.is_empty()) else {
        return Err(StartError::EmptyCommand);
    };
    if !request.cwd.is_dir() {
        return Err(StartError::BadCwd(request.cwd.clone()));
    }
    let env = build_env(request)?;
    let path = env
        .iter()
        .find(|(key, _)| key == "PATH" || (cfg!(windows) && key.eq_ignore_ascii_case("PATH")))
        .map(|(_, value)| std::ffi::OsStr::new(value));
    // Without a PATH the exec's own default search decides; the keeper reports what it finds.
    if path.is_some() && os::find_program(program, &request.cwd, path).is_none() {
        return Err(unrunnable_error(
            program,
            os::unrunnable(program, &request.cwd, None),
        ));
    }
    Ok(env)
}

fn build_env(request: &StartRequest) -> Result<Vec<(String, String)>, StartError> {
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k != crate::containment::MARKER_VAR && k != crate::fault::FAULT_VAR)
        .collect();
    let mut set = |key: String, value: String| {
        env.retain(|(k, _)| *k != key);
        env.push((key, value));
    };
    for path in &request.env_files {
        let path = if path.is_absolute() {
            path.clone()
        } else {
            request.cwd.join(path)
        };
        let env_error = |why: String| StartError::EnvFile {
            path: path.clone(),
            why,
        };
        for (key, value) in
            crate::dotenv::read(&path).map_err(|e| env_error(describe_dotenv(&e)))?
        {
            set(key, value);
        }
    }
    for (key, value) in &request.env {
        set(key.clone(), value.clone());
    }
    if let Some(port) = request.port {
        set("PORT".into(), port.to_string());
    }
    Ok(env)
}

/// The error for a program that cannot be run, for the reason [`os::unrunnable`] found.
fn unrunnable_error(program: &str, why: Option<os::Unrunnable>) -> StartError {
    let program = program.to_string();
    match why {
        Some(os::Unrunnable::IsADirectory) => StartError::IsADirectory(program),
        Some(os::Unrunnable::NotExecutable) => StartError::NotExecutable(program),
        _ => StartError::CommandNotFound(program),
    }
}

fn describe_dotenv(error: &DotenvError) -> String {
    match error {
        DotenvError::NotFound => "no such file (create it, or drop --env-file)".into(),
        other => other.to_string(),
    }
}

fn save_env_values(state: &StateDir, request: &StartRequest) -> Result<(), StateError> {
    if request.env.is_empty() {
        return crate::state::remove_if_present(&state.env_path(&request.name));
    }
    let mut text = String::new();
    for (key, value) in &request.env {
        text.push_str(&format!("{key}={}\n", quote_env_value(value)));
    }
    write_atomic(&state.env_path(&request.name), text.as_bytes())
}

/// Quotes a value so dotenvy reads it back unchanged.
fn quote_env_value(value: &str) -> String {
    if !value.contains('\'') {
        format!("'{value}'")
    } else {
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
            .replace('\n', "\\n");
        format!("\"{escaped}\"")
    }
}

/// Reads back the `--env` values saved for `restart`.
pub fn saved_env_values(state: &StateDir, name: &str) -> Result<Vec<(String, String)>, StartError> {
    let path = state.env_path(name);
    let file = match crate::state::files::open_read(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(StartError::EnvFile {
                path,
                why: e.to_string(),
            });
        }
    };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut { file }, &mut text)
        .map_err(DotenvError::Io)
        .and_then(|_| crate::dotenv::parse(&text))
        .map_err(|e| StartError::EnvFile {
            path,
            why: describe_dotenv(&e),
        })
}

fn event_channel(stdout: std::process::ChildStdout) -> mpsc::Receiver<KeeperEvent> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        while let Some(event) = keeper::read_event(&mut reader) {
            if sender.send(event).is_err() {
                break;
            }
        }
    });
    receiver
}

fn port_accepts(port: u16) -> bool {
    let timeout = Duration::from_millis(100);
    [
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
    ]
    .iter()
    .any(|addr| TcpStream::connect_timeout(addr, timeout).is_ok())
}

/// How often the port is probed while waiting for readiness.
const PORT_PROBE: Duration = Duration::from_millis(20);

fn wait_until_up(
    state: &StateDir,
    request: &StartRequest,
    record: &Record,
    events: &mpsc::Receiver<KeeperEvent>,
    began: Instant,
) -> Result<Started, StartError> {
    let probe_port = request.port.filter(|_| request.wait_for_port);
    let deadline = began
        + match probe_port {
            Some(_) => request.ready_timeout,
            None => request.min_uptime,
        };
    let mut leader_exited = false;
    loop {
        if probe_port.is_some_and(port_accepts) {
            return Ok(Started {
                record: record.clone(),
                ready_after: began.elapsed(),
                leader_exited,
            });
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let wait = match probe_port {
            Some(_) => PORT_PROBE.min(deadline - now),
            None => deadline - now,
        };
        match events.recv_timeout(wait) {
            Ok(KeeperEvent::Exited { code, signal }) => {
                leader_exited = true;
                let tree_alive = os::snapshot().is_ok_and(|snapshot| {
                    !live_members(&snapshot, record, &mut MarkerCache::default()).is_empty()
                });
                if code != Some(0) || !tree_alive {
                    abandon(state, record)?;
                    return Err(StartError::ExitedEarly {
                        name: record.name.clone(),
                        status: describe_exit(code, signal),
                        log: record.log.clone(),
                        tail: crate::logfile::tail_log(&record.log, 10).unwrap_or_default(),
                    });
                }
            }
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // The keeper is gone: nothing more will be reported; wait out the deadline.
                std::thread::sleep(wait);
            }
        }
    }
    match probe_port {
        None => Ok(Started {
            record: record.clone(),
            ready_after: began.elapsed(),
            leader_exited,
        }),
        Some(port) => {
            abandon(state, record)?;
            Err(StartError::NotReady {
                name: record.name.clone(),
                port,
                timeout: format_duration(request.ready_timeout),
                log: record.log.clone(),
                tail: crate::logfile::tail_log(&record.log, 10).unwrap_or_default(),
            })
        }
    }
}

/// Stops whatever is left of a failed start and, once its tree is gone, removes its record
/// (a record is never removed while a process it vouches for survives). Returns whether the tree
/// is gone.
fn abandon(state: &StateDir, record: &Record) -> Result<bool, StateError> {
    let target = StopTarget::tree(
        &record.name,
        record.anchor(),
        StopPolicy::graceful(crate::signal::Signal::Term, Duration::from_secs(5)),
    );
    let stopped = terminate::stop_trees(&[target])
        .is_ok_and(|reports| reports.iter().all(terminate::StopReport::complete));
    if stopped {
        state.remove(&record.name)?;
    }
    Ok(stopped)
}

fn refuse_if_port_held(state: &StateDir, name: &str, port: u16) -> Result<(), StartError> {
    let Ok(report) = crate::ports::lookup(port, state) else {
        return Ok(());
    };
    if !report.held {
        return Ok(());
    }
    let holder = report
        .sockets
        .iter()
        .filter(|s| s.holds_port)
        .flat_map(|s| s.owners.iter())
        .next()
        .map(|owner| match &owner.service {
            Some(service) => format!("service {service} (pid {})", owner.pid),
            None => format!("pid {} ({})", owner.pid, owner.command.join(" ")),
        })
        .unwrap_or_else(|| "a process reaper cannot see".to_string());
    actionlog::record(
        state,
        &format!("start {name}: port {port} held by {holder}"),
    );
    Err(StartError::PortInUse { port, holder })
}
