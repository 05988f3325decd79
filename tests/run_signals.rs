//! Signals sent to `reaper run` reach every process of the command's tree (SIGINT, SIGUSR1,
//! SIGTERM), a second SIGINT escalates to SIGKILL, and SIGTSTP suspends the tree with reaper
//! until SIGCONT resumes both.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration;

use common::{Sandbox, TOKEN_VAR, stat, wait_until};
use rustix::process::{Pid, Signal, kill_process};

/// `reaper run` started directly (not through assert_cmd), so the test can signal it while it
/// runs; killed and reaped on drop if a test fails half-way.
struct Running {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Running {
    fn start(sandbox: &Sandbox, args: &[&str]) -> Running {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("reaper"))
            .current_dir(sandbox.path())
            .env("REAPER_STATE_DIR", sandbox.path())
            .env(TOKEN_VAR, &sandbox.token)
            .arg("run")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("reaper runs");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Running { child, lines }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, signal: Signal) {
        kill_process(Pid::from_raw(self.pid() as i32).unwrap(), signal).unwrap();
    }

    /// The next line the command printed.
    fn line(&mut self) -> String {
        self.lines
            .next()
            .expect("the command printed a line")
            .unwrap()
    }

    /// Reads lines until one equals `want`, returning those before it.
    fn expect_line(&mut self, want: &str) -> Vec<String> {
        let mut before = Vec::new();
        loop {
            let line = self.line();
            if line == want {
                return before;
            }
            before.push(line);
        }
    }

    fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A python process that reports SIGUSR1 and SIGINT as `NAME got SIG`, exiting on SIGINT; as
/// `parent` it first starts a `child` of the same kind and waits for it to be ready.
const OBSERVER: &str = r#"
import os, signal, subprocess, sys, time
name = sys.argv[1]
def say(text):
    # One write per line: the two processes share stdout (and PYTHONUNBUFFERED may be set).
    os.write(1, (text + "\n").encode())
def report(signum, frame):
    say(f"{name} got {signal.Signals(signum).name}")
    if signum == signal.SIGINT:
        os._exit(0)
signal.signal(signal.SIGUSR1, report)
signal.signal(signal.SIGINT, report)
if name == "parent":
    child = subprocess.Popen([sys.executable, "-c", sys.argv[2], "child", sys.argv[2]])
    # The child prints its own "ready" line on the shared stdout.
    while True:
        time.sleep(0.01)
        if os.path.exists("child.ready"):
            break
else:
    open("child.ready", "w").close()
say(f"{name} ready")
while True:
    time.sleep(0.1)
"#;

fn state_of(pid: u32) -> Option<char> {
    stat(pid).map(|(_, state)| state)
}

#[test]
fn sigusr1_and_sigint_reach_every_process_of_the_tree() {
    let sandbox = Sandbox::new();
    let mut run = Running::start(
        &sandbox,
        &["--", "python3", "-c", OBSERVER, "parent", OBSERVER],
    );
    run.expect_line("parent ready");
    run.signal(Signal::USR1);
    let mut got = vec![run.line(), run.line()];
    got.sort();
    assert_eq!(got, ["child got SIGUSR1", "parent got SIGUSR1"]);
    run.signal(Signal::INT);
    let mut got = vec![run.line(), run.line()];
    got.sort();
    assert_eq!(got, ["child got SIGINT", "parent got SIGINT"]);
    let status = run.wait();
    assert_eq!(status.code(), Some(0), "the command exited 0 on SIGINT");
    sandbox.assert_nothing_left();
}

#[test]
fn sigterm_to_reaper_ends_the_command_with_143() {
    let sandbox = Sandbox::new();
    let mut run = Running::start(
        &sandbox,
        &["--", "sh", "-c", "echo ready; sleep 1000 & wait"],
    );
    run.expect_line("ready");
    sandbox.note_tree();
    run.signal(Signal::TERM);
    assert_eq!(run.wait().code(), Some(143));
    sandbox.assert_nothing_left();
}

#[test]
fn second_sigint_escalates_to_sigkill() {
    let sandbox = Sandbox::new();
    let mut run = Running::start(
        &sandbox,
        &[
            "--",
            "python3",
            "-c",
            "import signal,time\nsignal.signal(signal.SIGINT, lambda *a: print('ignored INT', flush=True))\nprint('ready', flush=True)\ntime.sleep(1000)",
        ],
    );
    run.expect_line("ready");
    run.signal(Signal::INT);
    run.expect_line("ignored INT");
    run.signal(Signal::INT);
    assert_eq!(run.wait().code(), Some(137), "killed by SIGKILL: 128 + 9");
    sandbox.assert_nothing_left();
}

#[test]
fn sigtstp_suspends_the_tree_with_reaper_and_sigcont_resumes_both() {
    let sandbox = Sandbox::new();
    let mut run = Running::start(
        &sandbox,
        &["--", "sh", "-c", "sleep 1000 & echo $!; echo ready; wait"],
    );
    let grandchild: u32 = run.line().parse().unwrap();
    run.expect_line("ready");
    sandbox.note_tree();
    let reaper = run.pid();
    run.signal(Signal::TSTP);
    assert!(
        wait_until(Duration::from_secs(10), || {
            state_of(reaper) == Some('T') && state_of(grandchild) == Some('T')
        }),
        "reaper {:?}, sleep {:?}",
        state_of(reaper),
        state_of(grandchild)
    );
    run.signal(Signal::CONT);
    assert!(
        wait_until(Duration::from_secs(10), || {
            state_of(reaper) == Some('S') && state_of(grandchild) == Some('S')
        }),
        "reaper {:?}, sleep {:?}",
        state_of(reaper),
        state_of(grandchild)
    );
    run.signal(Signal::TERM);
    assert_eq!(run.wait().code(), Some(143));
    sandbox.assert_nothing_left();
}
