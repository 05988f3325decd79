//! Restart on file change (`watch`) in `reaper up`, on real files in a temp dir: a burst of 20
//! writes is exactly one restart (new pid, old one gone), its port is freed before the new run
//! binds it, the dependent is restarted after it; .gitignore'd and `watch_ignore`d files never
//! count; a change during a restart is coalesced into exactly one more; `--no-watch` turns it
//! off.
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use std::time::Duration;

use common::{Sandbox, alive, free_port, wait_until};
use stack_common::{Up, write_config};

fn count(up: &Up, needle: &str) -> usize {
    up.output().iter().filter(|l| l.contains(needle)).count()
}

fn wait_count(up: &Up, needle: &str, expected: usize) {
    assert!(
        wait_until(Duration::from_secs(60), || count(up, needle) >= expected),
        "expected {expected} lines with {needle:?} in:\n{}",
        up.text()
    );
}

fn write(sandbox: &Sandbox, path: &str, text: &str) {
    let path = sandbox.path().join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn leader_pid(sandbox: &Sandbox, name: &str) -> u32 {
    sandbox.record(name)["leader"]["pid"].as_u64().unwrap() as u32
}

#[test]
fn a_burst_of_writes_is_one_restart_and_the_dependent_follows() {
    let sandbox = Sandbox::new();
    let port = free_port();
    write(&sandbox, ".gitignore", "build/\n");
    write(&sandbox, "src/app.py", "v = 0\n");
    write_config(
        &sandbox,
        &format!(
            r#"[services.api]
command = ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
port = {port}
watch = ["src/**/*.py", "build/**"]
watch_ignore = ["src/skip_*.py"]
restart_dependents = true

[services.web]
command = "echo web: up; exec sleep 1000"
depends_on = ["api"]
ready = {{ log = "web: up" }}
"#
        ),
    );
    let mut up = Up::start(&sandbox, &[]);
    up.wait_for("all 2 services are ready");
    sandbox.note_tree();
    let first_api = leader_pid(&sandbox, "api");
    let first_web = leader_pid(&sandbox, "web");
    // Ignored by .gitignore and by watch_ignore: no restart.
    write(&sandbox, "build/out.py", "x\n");
    write(&sandbox, "src/skip_me.py", "x\n");
    // The burst.
    for i in 0..20 {
        write(&sandbox, "src/app.py", &format!("v = {i}\n"));
    }
    wait_count(&up, "api is ready after", 2);
    wait_count(&up, "web is ready after", 2);
    sandbox.note_tree();
    // Long after the debounce (200ms), still exactly one restart.
    std::thread::sleep(Duration::from_secs(1));
    let text = up.text();
    assert_eq!(count(&up, "changed: restarting"), 1, "{text}");
    assert!(
        text.contains("src/app.py changed: restarting api, web"),
        "{text}"
    );
    assert!(!text.contains("build/out.py"), "{text}");
    assert!(!text.contains("skip_me"), "{text}");
    // New processes; the old ones are gone.
    let second_api = leader_pid(&sandbox, "api");
    assert_ne!(second_api, first_api);
    assert_ne!(leader_pid(&sandbox, "web"), first_web);
    assert!(!alive(first_api) && !alive(first_web));
    // Dependents first, then api; api ready before web starts again. The new api bound the same
    // port (no fallback): it was free in between.
    let lines = up.output();
    let at = |needle: &str| lines.iter().rposition(|l| l.contains(needle)).unwrap();
    assert!(at("stopped web in") < at("stopped api in"), "{text}");
    assert!(at("stopped api in") < at("api is ready after"), "{text}");
    assert!(at("api is ready after") < at("web: up"), "{text}");
    assert!(lines[at("api is ready after")].contains(&format!("port {port}")));
    let ps = sandbox.ps_json();
    let api = &ps["services"][0];
    assert_eq!(api["name"], "api", "{ps}");
    assert_eq!(api["last_trigger"], "src/app.py", "{ps}");
    assert_eq!(api["restarts"], 1, "{ps}");
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    sandbox.assert_nothing_left();
}

#[test]
fn a_change_during_a_restart_is_one_more_restart() {
    let sandbox = Sandbox::new();
    write(&sandbox, "src/main.sh", "1\n");
    // Ready only after a second: changes made while it starts again come in mid-restart.
    write_config(
        &sandbox,
        r#"[services.slow]
command = "sleep 1; echo slow: ready; exec sleep 1000"
ready = { log = "slow: ready" }
watch = ["src/*.sh"]
watch_debounce = "50ms"
"#,
    );
    let mut up = Up::start(&sandbox, &[]);
    up.wait_for("all 1 service is ready");
    sandbox.note_tree();
    write(&sandbox, "src/main.sh", "2\n");
    up.wait_for("src/main.sh changed: restarting slow");
    for i in 0..5 {
        write(&sandbox, "src/main.sh", &format!("during {i}\n"));
        std::thread::sleep(Duration::from_millis(60));
    }
    // The first run, the restart, and exactly one more.
    wait_count(&up, "slow is ready after", 3);
    sandbox.note_tree();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count(&up, "slow is ready after"), 3, "{}", up.text());
    assert_eq!(count(&up, "changed: restarting"), 2, "{}", up.text());
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    sandbox.assert_nothing_left();
}

#[test]
fn no_watch_turns_restarts_on_change_off() {
    let sandbox = Sandbox::new();
    write(&sandbox, "app.txt", "1\n");
    write_config(
        &sandbox,
        r#"[services.app]
command = "echo app: up; exec sleep 1000"
ready = { log = "app: up" }
watch = ["app.txt"]
"#,
    );
    let mut up = Up::start(&sandbox, &["--no-watch"]);
    up.wait_for("all 1 service is ready");
    sandbox.note_tree();
    write(&sandbox, "app.txt", "2\n");
    std::thread::sleep(Duration::from_secs(1));
    let text = up.text();
    assert!(!text.contains("watching files"), "{text}");
    assert!(!text.contains("changed"), "{text}");
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    sandbox.assert_nothing_left();
}
