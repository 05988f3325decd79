//! Helpers for the stack tests: writing reaper.toml into a sandbox, ephemeral ports, and a
//! foreground `reaper up` started as a child of the test (same environment as
//! `Sandbox::reaper()`), whose output is collected line by line.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{Sandbox, TOKEN_VAR};

/// The index of the first of `lines` that contains `needle` (panics, showing them all, if none).
pub fn position(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{}", lines.join("\n")))
}

/// Writes `reaper.toml` into the sandbox.
pub fn write_config(sandbox: &Sandbox, text: &str) {
    std::fs::write(sandbox.path().join("reaper.toml"), text).unwrap();
}

/// A stack whose one service ignores SIGTERM and has a long stop timeout, so only a second
/// Ctrl-C ends it.
pub const STUBBORN: &str = r#"[services.stubborn]
command = ["sh", "-c", "trap 'echo ignoring TERM' TERM; echo started; while true; do sleep 0.1; done"]
stop_timeout = "10m"
"#;

/// A foreground `reaper up` run by the test.
pub struct Up {
    child: Option<Child>,
    status: Option<ExitStatus>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Up {
    /// Starts `reaper up ARGS` in the sandbox.
    pub fn start(sandbox: &Sandbox, args: &[&str]) -> Up {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("reaper"))
            .arg("up")
            .args(args)
            .current_dir(sandbox.path())
            .env("REAPER_STATE_DIR", sandbox.path())
            .env(TOKEN_VAR, &sandbox.token)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("reaper up starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Up {
            child: Some(child),
            status: None,
            lines,
        }
    }

    /// Every line printed so far (stdout and stderr).
    pub fn output(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The output so far, as one string.
    pub fn text(&self) -> String {
        self.output().join("\n")
    }

    /// Waits until a printed line contains `needle`; panics with the output if none does
    /// within a minute or `reaper up` exits first.
    pub fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.output().iter().any(|l| l.contains(needle)) {
                return;
            }
            let exited = match (&self.status, self.child.as_mut()) {
                (None, Some(child)) => child.try_wait().ok().flatten(),
                _ => None,
            };
            if let Some(status) = exited {
                self.status = Some(status);
                self.child = None;
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            if self.status.is_some() && self.child.is_none() {
                std::thread::sleep(Duration::from_millis(100));
                if self.output().iter().any(|l| l.contains(needle)) {
                    return;
                }
                panic!(
                    "up exited ({:?}) without printing {needle:?}:\n{}",
                    self.status,
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no line with {needle:?} in:\n{}", self.text());
    }

    /// The pid of the `reaper up` process.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends `signal` to the `reaper up` process this test started.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// Sends SIGINT (Ctrl-C).
    pub fn interrupt(&self) {
        self.signal(rustix::process::Signal::INT);
    }

    /// Writes the [`STUBBORN`] stack, starts `reaper up` on it and waits for its service.
    pub fn stubborn(sandbox: &Sandbox) -> Up {
        write_config(sandbox, STUBBORN);
        let mut up = Up::start(sandbox, &[]);
        up.wait_for("started");
        sandbox.note_tree();
        up
    }

    /// Ctrl-C, and once the graceful stop is under way (the [`STUBBORN`] service says it
    /// ignores SIGTERM), Ctrl-C again; returns once `up` says it sent SIGKILL.
    pub fn interrupt_twice(&mut self) {
        self.interrupt();
        self.wait_for("ignoring TERM");
        self.interrupt();
        self.wait_for("SIGINT received again: SIGKILL sent to");
    }

    /// Waits for `reaper up` to exit (panics after a minute); returns its status and gives the
    /// output readers a moment to finish.
    pub fn wait(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let child = self.child.as_mut().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                self.status = Some(status);
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.child = None;
                panic!("reaper up did not exit; output:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
