//! Readiness and health probes: a TCP connect to the port on 127.0.0.1 and ::1, a minimal
//! HTTP/1.0 GET over a plain TCP stream (no HTTP client needed for a status line), and a regex
//! over the lines a service wrote to its log since it started.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{HttpTarget, Readiness};
use crate::logfile::LogFollower;

/// Connect timeout of one TCP probe (a local refusal is immediate).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
/// Time an HTTP server gets to answer one probe.
const HTTP_TIMEOUT: Duration = Duration::from_secs(2);

/// True when `port` accepts TCP connections on 127.0.0.1 or ::1.
pub fn tcp_accepts(port: u16) -> bool {
    [
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
    ]
    .iter()
    .any(|addr| TcpStream::connect_timeout(addr, CONNECT_TIMEOUT).is_ok())
}

/// The HTTP status of a GET of `url` (plain http only), or why there is none.
pub fn http_status(url: &str) -> Result<u16, String> {
    let target = HttpTarget::parse(url).ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let host = target.host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (host, target.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = String::from("no address");
    for addr in addrs {
        let mut stream = match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => stream,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        let _ = stream.set_read_timeout(Some(HTTP_TIMEOUT));
        let _ = stream.set_write_timeout(Some(HTTP_TIMEOUT));
        let request = format!(
            "GET {} HTTP/1.0\r\nHost: {}:{}\r\nUser-Agent: reaper\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            target.path, target.host, target.port
        );
        if let Err(e) = stream.write_all(request.as_bytes()) {
            last = e.to_string();
            continue;
        }
        let mut head = Vec::new();
        let mut buf = [0u8; 256];
        while !head.contains(&b'\n') && head.len() < 4096 {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
                Err(e) => {
                    last = e.to_string();
                    break;
                }
            }
        }
        let line = String::from_utf8_lossy(&head);
        let status = line
            .lines()
            .next()
            .filter(|l| l.starts_with("HTTP/"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|code| code.parse::<u16>().ok());
        match status {
            Some(code) => return Ok(code),
            None if head.is_empty() => {}
            None => last = "the answer is not HTTP".into(),
        }
    }
    Err(last)
}

/// True when a GET of `url` answers with a 2xx or 3xx status.
pub fn http_ok(url: &str) -> bool {
    http_status(url).is_ok_and(|code| (200..400).contains(&code))
}

/// Follows a service's log from an offset, line by line (the text as the service wrote it),
/// across rotations.
#[derive(Debug)]
pub struct LogTail {
    follower: LogFollower,
}

impl LogTail {
    /// Starts at byte `offset` of `path` (the size of the log before the service started).
    pub fn new(path: &Path, offset: u64) -> LogTail {
        LogTail {
            follower: LogFollower::from_offset(path, offset),
        }
    }

    /// The lines written since the last call.
    pub fn lines(&mut self) -> Vec<String> {
        Self::texts(self.follower.poll())
    }

    /// Like [`LogTail::lines`], plus what a writer that is gone left unaccounted for (call when
    /// the keeper has exited).
    pub fn drain(&mut self) -> Vec<String> {
        Self::texts(self.follower.poll_final())
    }

    fn texts(followed: std::io::Result<crate::logfile::Followed>) -> Vec<String> {
        followed.map_or_else(
            |_| Vec::new(),
            |f| f.lines.iter().map(|l| l.text().to_string()).collect(),
        )
    }
}

/// A readiness probe in progress.
#[derive(Debug)]
pub enum Probe {
    /// Ready as soon as the service runs.
    Running,
    /// TCP connect.
    Tcp(u16),
    /// HTTP GET.
    Http(String),
    /// Log line.
    Log(regex::Regex, LogTail),
}

impl Probe {
    /// A probe for `readiness` (`None`: ready once running); log probes read `log` from
    /// `offset`.
    pub fn new(readiness: Option<Readiness>, log: &Path, offset: u64) -> Probe {
        match readiness {
            None => Probe::Running,
            Some(Readiness::Tcp(port)) => Probe::Tcp(port),
            Some(Readiness::Http(url)) => Probe::Http(url),
            Some(Readiness::Log(regex)) => Probe::Log(regex, LogTail::new(log, offset)),
        }
    }

    /// Checks once.
    pub fn check(&mut self) -> bool {
        match self {
            Probe::Running => true,
            Probe::Tcp(port) => tcp_accepts(*port),
            Probe::Http(url) => http_ok(url),
            Probe::Log(regex, tail) => tail.lines().iter().any(|line| regex.is_match(line)),
        }
    }

    /// How long to wait between checks.
    pub fn interval(&self) -> Duration {
        match self {
            Probe::Http(_) => Duration::from_millis(100),
            _ => Duration::from_millis(20),
        }
    }
}

/// What `reaper probe` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeVerdict {
    /// The probe passed; what it checked.
    Ready(String),
    /// The probe did not pass (within the wait, if any); what it checked.
    NotReady(String),
}

/// Runs the readiness probe of `service` — once, or until it passes or `wait` has gone by —
/// as `reaper up` would: a tcp or http probe against the port the running service got (its
/// record's, after a fallback; else the declared one), a log probe over its current log file
/// (`.logs/NAME.log`, from the start), and for a service without a probe, whether it runs as a
/// managed service. The state directory is only read; without one (`None`: not trusted) the
/// declared port is probed and a service without a probe is never ready.
pub fn probe_service(
    service: &super::Service,
    state: Option<&crate::state::StateDir>,
    wait: Option<Duration>,
) -> ProbeVerdict {
    let live_record = || match state.map(|s| s.load(&service.name)) {
        Some(Ok(Some(crate::state::Entry::Record(record)))) if record.leader.pin().is_ok() => {
            Some(record)
        }
        _ => None,
    };
    let live = live_record();
    let port = live.as_ref().and_then(|r| r.port).or(service.port);
    let readiness = service.probe(port);
    let described = match &readiness {
        Some(readiness) => readiness.to_string(),
        None => "running as a managed service".to_string(),
    };
    let log = match (&live, state) {
        (Some(record), _) => record.log.clone(),
        (None, Some(state)) => state.default_log_path(&service.name),
        (None, None) => PathBuf::new(),
    };
    let mut probe = Probe::new(readiness, &log, 0);
    let deadline = wait.map(|w| std::time::Instant::now() + w);
    loop {
        let ready = match probe {
            // Without a probe a service is ready once it runs: ask the state directory again.
            Probe::Running => live_record().is_some(),
            _ => probe.check(),
        };
        if ready {
            return ProbeVerdict::Ready(described);
        }
        match deadline {
            Some(deadline) if std::time::Instant::now() < deadline => {
                std::thread::sleep(probe.interval().max(Duration::from_millis(100)));
            }
            _ => return ProbeVerdict::NotReady(described),
        }
    }
}
