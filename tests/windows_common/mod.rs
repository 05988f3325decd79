//! Helpers for the Windows tests (run under wine in `.ci/run`): the `proctree` example, a
//! project directory with its own state, and process checks by pid.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, GetProcessId, INFINITE, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    PROCESS_SYNCHRONIZE, PROCESS_TERMINATE, TerminateProcess, WaitForSingleObject,
};

/// `GetExitCodeProcess`'s code for a process that has not exited.
const STILL_ACTIVE: u32 = 259;

pub fn proctree() -> PathBuf {
    // Integration tests live in target/<triple>/debug/deps; cargo builds examples beside them.
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().unwrap().parent().unwrap();
    debug.join("examples").join("proctree.exe")
}

/// Pids of the `proctree` processes in a list of ended or leaked processes.
pub fn proctree_pids(processes: &Value) -> Vec<u32> {
    processes
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["command"]
                .as_str()
                .unwrap_or_default()
                .contains("proctree")
        })
        .map(|p| p["pid"].as_u64().unwrap() as u32)
        .collect()
}

/// A random token for command lines, so a test finds its own processes and nothing else.
pub fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("tok{:016x}", h.finish())
}

/// A project directory holding reaper's state; every service still recorded is stopped on drop.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        Project {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn reaper(&self) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("reaper"));
        cmd.current_dir(self.dir.path())
            .env("REAPER_STATE_DIR", self.dir.path())
            .timeout(Duration::from_secs(60));
        cmd
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.reaper().args(args).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Starts service `lost` (a proctree leader with two children) and removes its record and
    /// pid file, so its tree is an orphan finding; its leader and keeper go to `leftovers`.
    /// Returns the record that was removed.
    pub fn orphaned_tree(&self, leftovers: &mut Terminator) -> Value {
        self.reaper()
            .args(["start", "lost", "--min-uptime", "500ms", "--"])
            .arg(proctree())
            .args(["tree", "2", "600"])
            .assert()
            .success();
        let run = self.dir.path().join(".run");
        let record: Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("lost.json")).unwrap()).unwrap();
        for role in ["leader", "keeper"] {
            leftovers.adopt(record[role]["pid"].as_u64().unwrap() as u32);
        }
        // The record goes; the processes keep the marker of its run in their environments.
        std::fs::remove_file(run.join("lost.json")).unwrap();
        std::fs::remove_file(run.join("lost.pid")).unwrap();
        record
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self
            .reaper()
            .args(["stop", "--all", "--timeout", "1s"])
            .output();
    }
}

fn has_exited(handle: HANDLE) -> bool {
    let mut code = 0u32;
    // SAFETY: a live handle and an out-pointer to a local.
    let ok = unsafe { GetExitCodeProcess(handle, &mut code) } != 0;
    !ok || code != STILL_ACTIVE
}

pub fn alive(pid: u32) -> bool {
    // SAFETY: plain values in, a handle out that is closed below.
    unsafe {
        let handle = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
        if handle.is_null() {
            return false;
        }
        let running = !has_exited(handle);
        CloseHandle(handle);
        running
    }
}

/// Processes a test started outside reaper's records, each held by an open handle from the
/// moment its pid is learned (Windows does not reuse a pid while a handle is open), and
/// terminated on drop (and waited for), so they end even when the test fails.
#[derive(Default)]
pub struct Terminator {
    handles: Vec<HANDLE>,
}

impl Terminator {
    /// Takes charge of `pid`, which must be running; panics otherwise.
    pub fn adopt(&mut self, pid: u32) {
        assert!(self.adopt_if_running(pid), "pid {pid} is not running");
    }

    /// Takes charge of `pid` if it is still running, and says whether it did: for pids learned
    /// after the fact (from a report), where the process may rightly be gone already.
    pub fn adopt_if_running(&mut self, pid: u32) -> bool {
        let access = PROCESS_TERMINATE | PROCESS_SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION;
        // SAFETY: plain values in; the handle is closed here or on drop.
        let handle = unsafe { OpenProcess(access, 0, pid) };
        if handle.is_null() {
            return false;
        }
        if has_exited(handle) {
            // SAFETY: opened above, closed once.
            unsafe { CloseHandle(handle) };
            return false;
        }
        self.handles.push(handle);
        true
    }

    /// Terminates `pid`, adopted earlier, now, and waits until it has exited.
    pub fn end(&mut self, pid: u32) {
        let index = self
            .handles
            .iter()
            // SAFETY: a live handle owned by this guard.
            .position(|handle| unsafe { GetProcessId(*handle) } == pid)
            .unwrap_or_else(|| panic!("pid {pid} was not adopted"));
        let handle = self.handles.swap_remove(index);
        // SAFETY: the handle was opened by `adopt` with PROCESS_TERMINATE and
        // PROCESS_SYNCHRONIZE, pinning the pid, and is closed once, here.
        unsafe {
            TerminateProcess(handle, 1);
            WaitForSingleObject(handle, INFINITE);
            CloseHandle(handle);
        }
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        for handle in self.handles.drain(..) {
            // SAFETY: each handle was opened by `adopt` with PROCESS_TERMINATE and
            // PROCESS_SYNCHRONIZE and is closed once, here; waiting on an exited process
            // returns at once.
            unsafe {
                if !has_exited(handle) {
                    TerminateProcess(handle, 1);
                }
                WaitForSingleObject(handle, INFINITE);
                CloseHandle(handle);
            }
        }
    }
}
