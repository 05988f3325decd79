//! Windows: a managed tree of real processes (the `proctree` example) is started in a job
//! object, stopped, and nothing of it is left; a port held by a managed service is freed.
//! Runs under wine in `.ci/run` (see README, "Platforms").
#![cfg(windows)]

use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

fn proctree() -> PathBuf {
    // Integration tests live in target/<triple>/debug/deps; cargo builds examples beside them.
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().unwrap().parent().unwrap();
    debug.join("examples").join("proctree.exe")
}

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        Project {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn reaper(&self) -> Command {
        let mut cmd = Command::cargo_bin("reaper").unwrap();
        cmd.current_dir(self.dir.path())
            .env("REAPER_STATE_DIR", self.dir.path())
            .timeout(Duration::from_secs(60));
        cmd
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.reaper().args(args).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
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

fn alive(pid: u32) -> bool {
    use windows_sys::Win32::Foundation::CloseHandle;
    use windows_sys::Win32::System::Threading::{
        GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    };
    // SAFETY: plain values in, a handle out that is closed below.
    unsafe {
        let handle = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
        if handle.is_null() {
            return false;
        }
        let mut code = 0u32;
        let ok = GetExitCodeProcess(handle, &mut code) != 0;
        CloseHandle(handle);
        ok && code == 259
    }
}

#[test]
fn tree_is_stopped_and_nothing_is_left() {
    let project = Project::new();
    project
        .reaper()
        .args(["start", "tree", "--min-uptime", "500ms", "--"])
        .arg(proctree())
        .args(["tree", "3", "600"])
        .assert()
        .success();
    let status = project.json(&["status", "tree", "--json"]);
    assert_eq!(status["services"][0]["state"], "running", "{status}");
    assert_eq!(status["services"][0]["processes"], 4, "{status}");
    let report = project.json(&["stop", "tree", "--timeout", "1s", "--json"]);
    let pids: Vec<u32> = report["stopped"][0]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(pids.len(), 4, "{report}");
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived the stop");
    }
    assert!(!project.dir.path().join(".run").join("tree.json").exists());
}

#[test]
fn port_held_by_a_service_is_freed() {
    let project = Project::new();
    project
        .reaper()
        .args(["start", "web", "--min-uptime", "500ms", "--"])
        .arg(proctree())
        .args(["listen", "600"])
        .assert()
        .success();
    let log = std::fs::read_to_string(project.dir.path().join(".logs").join("web.log")).unwrap();
    let port: u16 = log
        .lines()
        .find_map(|line| line.strip_prefix("port "))
        .and_then(|p| p.trim().parse().ok())
        .expect("the listener printed its port");
    project
        .reaper()
        .args(["port", &port.to_string(), "--kill", "--timeout", "1s"])
        .assert()
        .success();
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
}
