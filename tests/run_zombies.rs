//! `reaper run` reaps what its command orphans: an orphan that exits while the command still
//! runs is reaped at once (so the command can see it vanish), and a zombie whose parent never
//! reaps it is reaped once that parent exits. None is left for the caller to inherit.
#![cfg(target_os = "linux")]

mod common;

use common::{Sandbox, stat};

#[test]
fn orphan_exiting_while_the_command_runs_is_reaped_at_once() {
    let sandbox = Sandbox::new();
    // The inner shell exits at once, orphaning `sleep 0.05`, which reaper adopts. The command
    // then waits until that pid has vanished from /proc — which only happens once someone
    // reaps it — and succeeds; the timeout only bounds a failure.
    sandbox
        .reaper()
        .args(["run", "--timeout", "20s", "--json-report", "report.json"])
        .args(["--", "sh", "-c"])
        .arg(
            "sh -c 'sleep 0.05 & echo $! > orphan.pid'; p=$(cat orphan.pid); \
             while [ -e /proc/$p ]; do sleep 0.01; done; echo reaped",
        )
        .assert()
        .code(0)
        .stdout("reaped\n");
    let text = std::fs::read_to_string(sandbox.path().join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(report["orphans_reaped"].as_u64().unwrap() >= 1, "{report}");
    sandbox.assert_nothing_left();
}

#[test]
fn zombie_of_a_parent_that_never_reaps_is_reaped_after_it() {
    let sandbox = Sandbox::new();
    // The command forks a child that exits at once, waits until it is a zombie, records its
    // pid and exits without reaping it: the zombie is reparented to reaper.
    sandbox
        .reaper()
        .args(["run", "--", "python3", "-c"])
        .arg(
            "import os, time\n\
             pid = os.fork()\n\
             if pid == 0:\n    os._exit(0)\n\
             while open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[0] != 'Z':\n    time.sleep(0.01)\n\
             open('zombie.pid', 'w').write(str(pid))\n\
             os._exit(0)\n",
        )
        .assert()
        .code(0);
    let pid: u32 = std::fs::read_to_string(sandbox.path().join("zombie.pid"))
        .unwrap()
        .parse()
        .unwrap();
    // Had reaper left it, it would now be a zombie child of this test process (a subreaper),
    // which has not reaped anything yet.
    assert_eq!(stat(pid), None, "zombie {pid} was not reaped by reaper");
    sandbox.assert_nothing_left();
}
