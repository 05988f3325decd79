//! Windows: `reaper run` on real process trees of the `proctree` helper — exit codes passed
//! through, a timeout ends the whole tree, processes the command leaves behind are ended (or
//! reported, or turned into a failure) — and `reaper up` runs a stack in the foreground and
//! detached. Runs under wine in `.ci/run`. Console events (Ctrl-C, Ctrl-Break) cannot be typed
//! into a test's pipes; the tree is ended through the same `Pinned::signal_group` path.
#![cfg(windows)]

mod windows_common;

use serde_json::Value;
use windows_common::{Project, Terminator, alive, proctree, proctree_pids};

fn report(project: &Project) -> Value {
    let text = std::fs::read_to_string(project.dir.path().join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn exit_codes_are_passed_through() {
    let project = Project::new();
    project
        .reaper()
        .args(["run", "--"])
        .arg(proctree())
        .args(["exit", "3"])
        .assert()
        .code(3);
    project
        .reaper()
        .args(["run", "--", "no-such-command-7f3a9c"])
        .assert()
        .code(127)
        .stderr(predicates::str::contains("command not found"));
}

#[test]
fn timeout_ends_the_whole_tree() {
    let project = Project::new();
    let mut leftovers = Terminator::default();
    let out = project
        .reaper()
        .args([
            "run",
            "--timeout",
            "2s",
            "--kill-after",
            "2s",
            "--json-report",
            "report.json",
            "--",
        ])
        .arg(proctree())
        .args(["tree", "3", "600"])
        .output()
        .unwrap();
    let report = report(&project);
    let ended = proctree_pids(&report["timeout_stop"]["processes"]);
    for pid in &ended {
        leftovers.adopt_if_running(*pid);
    }
    // 124 when the tree exited after Ctrl-Break, 137 when some process had to be terminated.
    let code = out.status.code();
    assert!(matches!(code, Some(124 | 137)), "{code:?} {report}");
    assert_eq!(report["timed_out"], true, "{report}");
    assert_eq!(ended.len(), 4, "the command and its 3 children: {report}");
    for pid in ended {
        assert!(!alive(pid), "pid {pid} survived the timeout");
    }
}

#[test]
fn processes_left_behind_are_ended() {
    let project = Project::new();
    let mut leftovers = Terminator::default();
    let out = project
        .reaper()
        .args([
            "run",
            "--kill-after",
            "1s",
            "--json-report",
            "report.json",
            "--",
        ])
        .arg(proctree())
        .args(["leave", "2", "600"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let children: Vec<u32> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("pid "))
        .map(|pid| pid.trim().parse().unwrap())
        .collect();
    for pid in &children {
        leftovers.adopt_if_running(*pid);
    }
    let report = report(&project);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(children.len(), 2, "{stdout}");
    let mut leaked = proctree_pids(&report["leaks"]);
    leaked.sort_unstable();
    let mut expected = children.clone();
    expected.sort_unstable();
    assert_eq!(leaked, expected, "{report}");
    for pid in children {
        assert!(!alive(pid), "leaked pid {pid} is still running");
    }
}

#[test]
fn leaks_fail_and_report_policies() {
    let project = Project::new();
    let mut leftovers = Terminator::default();
    project
        .reaper()
        .args(["run", "--leaks", "fail", "--kill-after", "1s", "--"])
        .arg(proctree())
        .args(["leave", "1", "600"])
        .assert()
        .code(122);
    // Windows children inherit every inheritable handle, so the process left running keeps
    // reaper's output pipes open: a test reading them would wait for it. Output goes nowhere.
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("reaper"))
        .current_dir(project.dir.path())
        .env("REAPER_STATE_DIR", project.dir.path())
        .args([
            "run",
            "--leaks",
            "report",
            "--json-report",
            "report.json",
            "--",
        ])
        .arg(proctree())
        .args(["leave", "1", "600"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    let report = report(&project);
    let child = report["leaks"][0]["pid"].as_u64().expect("one leak") as u32;
    leftovers.adopt_if_running(child);
    assert_eq!(status.code(), Some(0), "{report}");
    assert!(
        report["leaks"][0]["command"]
            .as_str()
            .unwrap()
            .contains("proctree"),
        "{report}"
    );
    assert_eq!(report["leaks"][0]["action"], "left_running", "{report}");
    assert!(alive(child), "--leaks report must leave it running");
}

fn write_stack(project: &Project, toml: &str) {
    std::fs::write(project.dir.path().join("reaper.toml"), toml).unwrap();
}

#[test]
fn up_runs_a_stack_in_the_foreground_until_it_ends() {
    let project = Project::new();
    let exe = proctree().display().to_string().replace('\\', "/");
    // A shell string runs through `cmd /C`. (No `tree` here: a leader that exits before its
    // children counts as daemonized, and their later exit as a crash.)
    let shell_line = format!("{} sleep 2", proctree().display());
    write_stack(
        &project,
        &format!(
            "[services.first]\ncommand = '{shell_line}'\n\n\
             [services.second]\ncommand = [\"{exe}\", \"sleep\", \"2\"]\n\
             depends_on = [\"first\"]\n"
        ),
    );
    let out = project.reaper().arg("up").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("first"), "{stdout}");
    assert!(stdout.contains("second"), "{stdout}");
    assert!(!project.dir.path().join(".run").join("second.json").exists());
}

#[test]
fn up_detached_then_down_leaves_nothing() {
    let project = Project::new();
    let mut leftovers = Terminator::default();
    let exe = proctree().display().to_string().replace('\\', "/");
    write_stack(
        &project,
        &format!(
            "[services.api]\ncommand = [\"{exe}\", \"tree\", \"2\", \"600\"]\nstop_timeout = \"1s\"\n\n\
             [services.web]\ncommand = [\"{exe}\", \"sleep\", \"600\"]\nstop_timeout = \"1s\"\n\
             depends_on = [\"api\"]\n"
        ),
    );
    project.reaper().args(["up", "-d"]).assert().success();
    let ps = project.json(&["ps", "--json"]);
    let services = ps["services"].as_array().expect("ps lists services");
    assert_eq!(services.len(), 2, "{ps}");
    let status = project.json(&["status", "--json"]);
    let mut pids = Vec::new();
    for service in status["services"].as_array().unwrap() {
        if let Some(pid) = service["pid"].as_u64() {
            leftovers.adopt_if_running(pid as u32);
            pids.push(pid as u32);
        }
    }
    assert!(pids.len() >= 2, "{status}");
    project.reaper().arg("down").assert().success();
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived `reaper down`");
    }
    let status = project.json(&["status", "--json"]);
    assert_eq!(
        status["services"].as_array().map(Vec::len),
        Some(0),
        "{status}"
    );
}

#[test]
fn down_stops_a_foreground_up_through_its_stop_event() {
    let project = Project::new();
    let mut leftovers = Terminator::default();
    let exe = proctree().display().to_string().replace('\\', "/");
    write_stack(
        &project,
        &format!(
            "[services.api]\ncommand = [\"{exe}\", \"tree\", \"2\", \"600\"]\nstop_timeout = \"1s\"\n"
        ),
    );
    // The supervisor's children inherit its output handles (see leaks_fail_and_report_policies).
    let mut up = std::process::Command::new(assert_cmd::cargo::cargo_bin("reaper"))
        .current_dir(project.dir.path())
        .env("REAPER_STATE_DIR", project.dir.path())
        .arg("up")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    leftovers.adopt(up.id());
    let began = std::time::Instant::now();
    let pid = loop {
        let status = project.json(&["status", "api", "--json"]);
        if let Some(pid) = status["services"][0]["pid"].as_u64() {
            break pid as u32;
        }
        assert!(
            began.elapsed() < std::time::Duration::from_secs(30),
            "the stack never came up"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    leftovers.adopt_if_running(pid);
    project
        .reaper()
        .arg("down")
        .assert()
        .success()
        .stdout(predicates::str::contains("SIGTERM to its supervisor"));
    // The supervisor stopped the stack itself and exited cleanly (not killed by `down`).
    assert_eq!(up.wait().unwrap().code(), Some(0));
    assert!(!alive(pid), "the service survived `reaper down`");
}

#[test]
fn check_finds_programs_with_their_extension() {
    let project = Project::new();
    write_stack(
        &project,
        "[services.a]\ncommand = [\"cmd\", \"/C\", \"exit\"]\n\n[checks]\ncommands = [\"cmd\"]\n",
    );
    project.reaper().arg("check").assert().success();
    write_stack(
        &project,
        "[services.a]\ncommand = [\"cmd\", \"/C\", \"exit\"]\n\n[checks]\ncommands = [\"no-such-program-5d1e\"]\n",
    );
    project
        .reaper()
        .arg("check")
        .assert()
        .code(1)
        .stdout(predicates::str::contains("no-such-program-5d1e"));
}

#[test]
fn batch_files_are_found_as_a_shell_finds_them() {
    // `npm` is `npm.cmd` on Windows: std's Command alone only tries `.exe`.
    let project = Project::new();
    let bin = project.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("exit-seven.cmd"), "@exit /b 7\r\n").unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    project
        .reaper()
        .env("PATH", path)
        .args(["run", "--", "exit-seven"])
        .assert()
        .code(7);
}
