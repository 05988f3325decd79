//! Test harness: every test gets its own state directory and a random token that every process
//! it starts carries (in its environment). On drop, the sandbox ends whatever still carries the
//! token — by pid, after re-checking the token — and reaps what was reparented to the test.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitOptions, kill_process, waitpid};
use serde_json::Value;

/// Environment variable carrying the sandbox token into every process a test starts.
pub const TOKEN_VAR: &str = "REAPER_TEST_TOKEN";

/// Makes the test process a child subreaper, so keepers and orphans of this test binary come
/// back to it (and are reaped by pid) instead of going to an init that may never reap them.
fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .expect("PR_SET_CHILD_SUBREAPER");
    });
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub token: String,
    seen: std::sync::Mutex<BTreeSet<u32>>,
}

fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("tok{:016x}", h.finish())
}

impl Sandbox {
    pub fn new() -> Sandbox {
        become_subreaper();
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
            token: random_token(),
            seen: Default::default(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `reaper` with this sandbox's state directory, working directory and token.
    pub fn reaper(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("reaper").expect("reaper binary");
        cmd.current_dir(self.path())
            .env("REAPER_STATE_DIR", self.path())
            .env(TOKEN_VAR, &self.token)
            .timeout(Duration::from_secs(60));
        cmd
    }

    /// `reaper status --json`, asserting success.
    pub fn status_json(&self) -> Value {
        json_of(&self.reaper().args(["status", "--json"]).assert().success())
    }

    /// `reaper ps --json`, asserting success.
    pub fn ps_json(&self) -> Value {
        json_of(&self.reaper().args(["ps", "--json"]).assert().success())
    }

    /// `reaper start NAME -- sh -c SCRIPT`, asserting success; returns the record.
    pub fn start_sh(&self, name: &str, script: &str) -> Value {
        self.reaper()
            .args(["start", name, "--", "sh", "-c", script])
            .assert()
            .success();
        self.note_tree();
        self.record(name)
    }

    pub fn record_path(&self, name: &str) -> PathBuf {
        self.path().join(".run").join(format!("{name}.json"))
    }

    pub fn record(&self, name: &str) -> Value {
        let text = std::fs::read_to_string(self.record_path(name)).expect("record exists");
        let value: Value = serde_json::from_str(&text).expect("record is JSON");
        if let Some(pid) = value["keeper"]["pid"].as_u64() {
            self.seen.lock().unwrap().insert(pid as u32);
        }
        value
    }

    /// Live processes carrying this sandbox's token, as (pid, ppid, state, cmdline).
    pub fn token_processes(&self) -> Vec<(u32, u32, char, String)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("/proc") {
            let Ok(entry) = entry else { continue };
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((ppid, state)) = stat(pid).filter(|_| self.carries_token(pid)) {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                    .unwrap_or_default();
                out.push((pid, ppid, state, cmd));
            }
        }
        out
    }

    fn carries_token(&self, pid: u32) -> bool {
        let needle = format!("{TOKEN_VAR}={}", self.token);
        std::fs::read(format!("/proc/{pid}/environ"))
            .map(|env| env.split(|b| *b == 0).any(|e| e == needle.as_bytes()))
            .unwrap_or(false)
    }

    /// Remembers every pid of the tree now, so the final check can tell whether any of them is
    /// left as a zombie.
    pub fn note_tree(&self) {
        let pids: Vec<u32> = self.token_processes().iter().map(|p| p.0).collect();
        self.seen.lock().unwrap().extend(pids);
    }

    /// Waits until nothing carries the token and every pid seen is gone (reaping the ones that
    /// were reparented to this test process), or panics with what is left.
    pub fn assert_nothing_left(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            self.reap_seen();
            let live = self.token_processes();
            let zombies: Vec<u32> = self
                .seen
                .lock()
                .unwrap()
                .iter()
                .copied()
                .filter(|pid| stat(*pid).is_some_and(|(_, state)| state == 'Z'))
                .collect();
            if live.is_empty() && zombies.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!("left behind: live {live:?}, zombies {zombies:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Reaps the pids this test saw, and every exited keeper reparented to this test process.
    /// Keepers are session leaders; the `reaper` commands assert_cmd is still waiting for never
    /// are, so their exit statuses are never taken from it.
    fn reap_seen(&self) {
        let me = std::process::id();
        let keepers = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| session_of(*pid) == Some(*pid) && stat(*pid) == Some((me, 'Z')));
        let pids: Vec<u32> = self
            .seen
            .lock()
            .unwrap()
            .iter()
            .copied()
            .chain(keepers)
            .collect();
        for pid in pids {
            if let Some(pid) = Pid::from_raw(pid as i32) {
                let _ = waitpid(Some(pid), WaitOptions::NOHANG);
            }
        }
    }

    /// Ends everything that still carries the token (SIGKILL by pid, after re-checking it).
    pub fn kill_leftovers(&self) {
        for _ in 0..50 {
            self.note_tree();
            let live = self.token_processes();
            if live.is_empty() {
                break;
            }
            for (pid, ..) in live {
                if let Some(raw) = Pid::from_raw(pid as i32).filter(|_| self.carries_token(pid)) {
                    let _ = kill_process(raw, Signal::KILL);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
            self.reap_seen();
        }
        // Keepers exit once their tree is gone; give them a moment and reap them.
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            self.reap_seen();
            let me = std::process::id();
            let left = self.seen.lock().unwrap().iter().any(|pid| {
                stat(*pid).is_some_and(|(ppid, _)| ppid == me) && session_of(*pid) == Some(*pid)
            });
            if !left {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Sandbox {
    /// The cgroups reaper made for this sandbox's services that still exist.
    pub fn cgroups(&self) -> Vec<PathBuf> {
        let prefix = format!(
            "svc.{}.",
            reaper::containment::project_hash(&self.path().join(".run"))
        );
        reaper::os::reaper_cgroups()
            .into_iter()
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .collect()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.kill_leftovers();
        // Only this sandbox's cgroups, and only once empty (rmdir refuses a populated one).
        for cgroup in self.cgroups() {
            let _ = reaper::os::remove_cgroup(&cgroup);
        }
    }
}

/// (ppid, state letter) of a process, if it exists.
pub fn stat(pid: u32) -> Option<(u32, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// Session id of a process, if it exists.
pub fn session_of(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text[text.rfind(')')? + 2..]
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

/// The zombie children of `parent` (a zombie's environment is gone, so it carries no token to
/// find it by).
pub fn zombie_children(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat(*pid) == Some((parent, 'Z')))
        .collect()
}

/// True where `unshare --mount` works (root), for tests that mount over the state directory in
/// a private mount namespace.
pub fn mount_namespaces_usable() -> bool {
    std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// True while the process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(_, state)| state != 'Z' && state != 'X')
}

/// Waits until `condition` holds, up to `limit`; returns whether it did.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    condition()
}

/// Parses stdout of a successful command as JSON.
pub fn json_of(assert: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&assert.get_output().stdout).expect("stdout is JSON")
}

/// A child process of the test (not managed by reaper), killed and reaped on drop.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An ephemeral port that was free a moment ago (bound to 127.0.0.1:0 and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local address")
        .port()
}

/// An unrelated process of the test (`sleep 1000`, not managed by reaper), for checking that
/// reaper leaves it alone; killed and reaped on drop.
pub fn bystander() -> KillOnDrop {
    KillOnDrop(
        std::process::Command::new("sleep")
            .arg("1000")
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("spawn sleep"),
    )
}
