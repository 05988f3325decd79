//! Harness of the Windows tests: a project directory that is also reaper's state directory,
//! the `proctree` helper program, and clean-up of every process a test learns of, through
//! handles opened when it learns of them (a handle pins the pid: it cannot be reused while open).
#![cfg(windows)]
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_TERMINATE,
    TerminateProcess,
};

/// `GetExitCodeProcess`'s code for a process that is still running.
const STILL_ACTIVE: u32 = 259;

/// The `proctree` example (see examples/proctree.rs), built by cargo beside the tests.
pub fn proctree() -> PathBuf {
    // Integration tests live in target/<triple>/debug/deps; cargo builds examples beside them.
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().unwrap().parent().unwrap();
    debug.join("examples").join("proctree.exe")
}

/// A temporary project directory, used as reaper's state directory. On drop, every managed
/// service is stopped and every process handed to [`Project::guard`] that is still running is
/// terminated through its handle.
pub struct Project {
    pub dir: tempfile::TempDir,
    guarded: Mutex<Vec<HANDLE>>,
}

impl Project {
    pub fn new() -> Project {
        Project {
            dir: tempfile::tempdir().unwrap(),
            guarded: Mutex::new(Vec::new()),
        }
    }

    /// `reaper` with the project as working and state directory.
    pub fn reaper(&self) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("reaper"));
        cmd.current_dir(self.dir.path())
            .env("REAPER_STATE_DIR", self.dir.path())
            .timeout(Duration::from_secs(60));
        cmd
    }

    /// Runs reaper with `args` and parses its standard output as JSON (`Null` if it is not).
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.reaper().args(args).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Opens a handle to `pid` now, so the process can be ended on drop if a test fails before
    /// it is gone (the handle keeps the pid from being reused meanwhile).
    pub fn guard(&self, pid: u32) {
        // SAFETY: plain values in; a null result is ignored.
        let handle = unsafe {
            OpenProcess(
                PROCESS_TERMINATE | PROCESS_QUERY_LIMITED_INFORMATION,
                0,
                pid,
            )
        };
        if !handle.is_null() {
            self.guarded.lock().unwrap().push(handle);
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self
            .reaper()
            .args(["stop", "--all", "--timeout", "1s"])
            .output();
        for handle in self.guarded.lock().unwrap().drain(..) {
            // SAFETY: the handle was opened by `guard` and is closed once, here.
            unsafe {
                let mut code = 0u32;
                if GetExitCodeProcess(handle, &mut code) != 0 && code == STILL_ACTIVE {
                    TerminateProcess(handle, 1);
                }
                CloseHandle(handle);
            }
        }
    }
}

/// True while process `pid` exists and has not exited.
pub fn alive(pid: u32) -> bool {
    // SAFETY: plain values in, a handle out that is closed below.
    unsafe {
        let handle = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
        if handle.is_null() {
            return false;
        }
        let mut code = 0u32;
        let ok = GetExitCodeProcess(handle, &mut code) != 0;
        CloseHandle(handle);
        ok && code == STILL_ACTIVE
    }
}
