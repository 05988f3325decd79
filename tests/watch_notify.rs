//! `reaper watch --notify`: a desktop notification reaches org.freedesktop.Notifications on the
//! session bus once per new finding (not once per scan), and without a bus reaper says so once
//! and goes on. The bus is a private `dbus-daemon` of the test, the notification service a tiny
//! one the test serves on it; skipped, with the reason, where dbus-daemon cannot be started.
#![cfg(target_os = "linux")]

mod alerts_common;
mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use alerts_common::{start_zombie_factory, stop_factory};
use common::{KillOnDrop, Sandbox};
use zbus::zvariant::Value;

/// A notification service that records (summary, body) of every Notify call.
struct FakeNotifications {
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl FakeNotifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        _app_name: &str,
        _replaces_id: u32,
        _app_icon: &str,
        summary: &str,
        body: &str,
        _actions: Vec<&str>,
        _hints: HashMap<&str, Value<'_>>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut seen = self.seen.lock().unwrap();
        seen.push((summary.to_string(), body.to_string()));
        seen.len() as u32
    }
}

/// A private session bus: the daemon (killed on drop) and its address.
fn private_bus() -> Option<(KillOnDrop, String)> {
    let daemon = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn();
    let mut daemon = match daemon {
        Ok(child) => KillOnDrop(child),
        Err(e) => {
            eprintln!("skipped: cannot start dbus-daemon: {e}");
            return None;
        }
    };
    let mut address = String::new();
    BufReader::new(daemon.0.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    if address.trim().is_empty() {
        eprintln!("skipped: dbus-daemon printed no address");
        return None;
    }
    Some((daemon, address.trim().to_string()))
}

/// `reaper watch --notify` for `count` quick scans, on the session bus at `address`.
fn watch_notify(sandbox: &Sandbox, address: &str, count: &str) -> std::process::Output {
    sandbox
        .reaper()
        .args([
            "watch",
            "--sample",
            "0",
            "--interval",
            "10ms",
            "--count",
            count,
        ])
        .arg("--notify")
        .env("DBUS_SESSION_BUS_ADDRESS", address)
        .output()
        .unwrap()
}

#[test]
fn new_finding_is_notified_once() {
    let Some((_daemon, address)) = private_bus() else {
        return;
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let _service = zbus::blocking::connection::Builder::address(address.as_str())
        .unwrap()
        .name("org.freedesktop.Notifications")
        .unwrap()
        .serve_at(
            "/org/freedesktop/Notifications",
            FakeNotifications { seen: seen.clone() },
        )
        .unwrap()
        .build()
        .unwrap();
    let sandbox = Sandbox::new();
    let (_, zombie) = start_zombie_factory(&sandbox);
    let out = watch_notify(&sandbox, &address, "3");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("--notify"), "{stderr}");
    let about_it: Vec<(String, String)> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, body)| body.contains(&format!("zombie pid {zombie} ")))
        .cloned()
        .collect();
    // Three scans saw it; one notification said so.
    assert_eq!(about_it.len(), 1, "{about_it:?}");
    assert!(about_it[0].0.starts_with("reaper: "), "{about_it:?}");
    assert!(about_it[0].0.ends_with(" found"), "{about_it:?}");
    stop_factory(&sandbox);
}

#[test]
fn without_a_bus_watch_says_so_once_and_goes_on() {
    let sandbox = Sandbox::new();
    start_zombie_factory(&sandbox);
    let missing = sandbox.path().join("no-bus-here");
    let out = watch_notify(&sandbox, &format!("unix:path={}", missing.display()), "2");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("--notify:").count(), 1, "{stderr}");
    assert!(
        stderr.contains("going on without notifications"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches(" total=").count(), 2, "{stdout}");
    stop_factory(&sandbox);
}
