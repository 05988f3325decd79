//! `reaper run` in a terminal (a pseudo-terminal driven by a python script): the command's
//! group is the terminal's foreground group, so it can read the terminal; reaper takes the
//! terminal back when the command exits; and in an interactive shell Ctrl-Z stops the command
//! and reaper together, `fg` resumes both, Ctrl-C reaches the command, and a run started in
//! the background hands the terminal to its command on `fg`.
#![cfg(target_os = "linux")]

mod common;

use std::process::Command;

use common::{Sandbox, TOKEN_VAR};

/// Shared part of the drivers: a pty session, output collection, and waiting for a pattern.
const PTY_LIB: &str = r#"
import os, pty, re, select, signal, sys, time
REAPER = sys.argv[1]
out = b""
def start(argv):
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    return pid, fd
def read_until(fd, pattern, limit=20):
    global out
    deadline = time.time() + limit
    while time.time() < deadline:
        if re.search(pattern, out):
            return True
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return bool(re.search(pattern, out))
            if not data:
                return bool(re.search(pattern, out))
            out += data
    return bool(re.search(pattern, out))
def state(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
def until(condition, limit=20):
    deadline = time.time() + limit
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
def finish(pid, fd):
    global out
    deadline = time.time() + 5
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    sys.stdout.write(out.decode(errors="replace"))
"#;

const FOREGROUND_DRIVER: &str = r#"
inner = ("import os, sys; print('inner', os.tcgetpgrp(0) == os.getpgrp(), os.getpgrp() != os.getsid(0), flush=True); "
         "print('read', sys.stdin.readline().strip(), flush=True)")
after = "import os; print('after', os.tcgetpgrp(0) == os.getpgrp(), flush=True)"
script = f"'{REAPER}' run -- python3 -c \"{inner}\"; echo rc=$?; python3 -c \"{after}\""
pid, fd = start(["sh", "-c", script])
if read_until(fd, rb"inner \w+ \w+"):
    os.write(fd, b"typed\n")
read_until(fd, rb"after \w+")
finish(pid, fd)
"#;

const JOB_CONTROL_DRIVER: &str = r#"
pid, fd = start(["bash", "--norc", "--noprofile", "-i"])
os.write(fd, b"PS1='PROMPT> '\n")
read_until(fd, rb"PROMPT> $")
command = "import os, time; print('child', os.getpid(), flush=True); time.sleep(1000)"
os.write(fd, f"'{REAPER}' run -- python3 -c \"{command}\"\n".encode())
ok = read_until(fd, rb"child (\d+)")
child = int(re.search(rb"child (\d+)", out).group(1)) if ok else None
reaper = int(open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[1]) if child else None
os.write(fd, b"\x1a")
stopped = read_until(fd, rb"Stopped") and until(lambda: state(child) == "T" and state(reaper) == "T")
print("STOPPED", stopped, state(child), state(reaper), file=sys.stderr)
os.write(fd, b"fg\n")
resumed = until(lambda: state(child) in ("S", "R") and state(reaper) in ("S", "R"))
print("RESUMED", resumed, state(child), state(reaper), file=sys.stderr)
os.write(fd, b"\x03")
read_until(fd, rb"KeyboardInterrupt")
read_until(fd, rb"PROMPT> $")
os.write(fd, b"echo rc=$?\n")
read_until(fd, rb"rc=\d+")
print("GONE", until(lambda: state(child) is None and state(reaper) is None), file=sys.stderr)
os.write(fd, b"exit\n")
finish(pid, fd)
"#;

const BACKGROUND_THEN_FG_DRIVER: &str = r#"
pid, fd = start(["bash", "--norc", "--noprofile", "-i"])
os.write(fd, b"PS1='PROMPT> '\n")
read_until(fd, rb"PROMPT> $")
command = "import sys; print('started', flush=True); print('got', sys.stdin.readline().strip(), flush=True)"
os.write(fd, f"'{REAPER}' run -- python3 -c \"{command}\" &\n".encode())
read_until(fd, rb"started")
read_until(fd, rb"PROMPT> $")
# Reading the terminal from the background stops the command, and reaper stops with it.
job = re.search(rb"\[1\] (\d+)", out)
reaper = int(job.group(1)) if job else None
print("REAPER STOPPED", until(lambda: state(reaper) == "T"), file=sys.stderr)
os.write(fd, b"fg\n")
os.write(fd, b"hello\n")
print("READ", read_until(fd, rb"got hello"), file=sys.stderr)
os.write(fd, b"echo rc=$?\n")
read_until(fd, rb"rc=\d+")
os.write(fd, b"exit\n")
finish(pid, fd)
"#;

fn drive(sandbox: &Sandbox, driver: &str) -> (String, String) {
    let output = Command::new("python3")
        .current_dir(sandbox.path())
        .env(TOKEN_VAR, &sandbox.token)
        .env("REAPER_STATE_DIR", sandbox.path())
        .args(["-c", &format!("{PTY_LIB}\n{driver}")])
        .arg(assert_cmd::cargo::cargo_bin("reaper"))
        .output()
        .expect("python3 runs");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn command_holds_the_terminal_and_reaper_takes_it_back() {
    let sandbox = Sandbox::new();
    let (out, err) = drive(&sandbox, FOREGROUND_DRIVER);
    assert!(
        out.contains("inner True True"),
        "the command is not the foreground group of its own: {out}{err}"
    );
    assert!(
        out.contains("read typed"),
        "the command could not read the terminal: {out}{err}"
    );
    assert!(out.contains("rc=0"), "{out}{err}");
    assert!(
        out.contains("after True"),
        "the terminal was not taken back: {out}{err}"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn ctrl_z_stops_command_and_reaper_fg_resumes_both_ctrl_c_ends() {
    if Command::new("bash").arg("--version").output().is_err() {
        eprintln!("skipped: no bash");
        return;
    }
    let sandbox = Sandbox::new();
    let (out, err) = drive(&sandbox, JOB_CONTROL_DRIVER);
    assert!(err.contains("STOPPED True"), "{err}\n{out}");
    assert!(err.contains("RESUMED True"), "{err}\n{out}");
    assert!(
        out.contains("rc=130"),
        "Ctrl-C should end the command: {out}"
    );
    assert!(err.contains("GONE True"), "{err}\n{out}");
    sandbox.assert_nothing_left();
}

#[test]
fn run_started_in_the_background_gets_the_terminal_on_fg() {
    if Command::new("bash").arg("--version").output().is_err() {
        eprintln!("skipped: no bash");
        return;
    }
    let sandbox = Sandbox::new();
    let (out, err) = drive(&sandbox, BACKGROUND_THEN_FG_DRIVER);
    assert!(err.contains("REAPER STOPPED True"), "{err}\n{out}");
    assert!(err.contains("READ True"), "{err}\n{out}");
    assert!(out.contains("rc=0"), "{out}");
    sandbox.assert_nothing_left();
}
