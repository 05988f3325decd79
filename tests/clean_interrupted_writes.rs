//! A `reaper start`, `restart` or `up` killed while it wrote a record left the temporary file of
//! that write in `.run/` (`.web.json.Ab12Cd`) for ever: 2 of 35 runs of `scripts/soak/faults.py`
//! (SIGKILL at random points). `clean` removes such files — only those of the record, pid and env
//! files, which are written under the name's lock, and of the stack status file
//! (`..stack.json.Ab12Cd`, left by a killed supervisor), written under its own lock — and leaves
//! the service's record alone.
#![cfg(target_os = "linux")]

mod common;

use common::Sandbox;

#[test]
fn clean_removes_temporary_files_of_interrupted_writes() {
    let sandbox = Sandbox::new();
    let record = sandbox.start_sh("web", "exec sleep 300");
    let run = sandbox.path().join(".run");
    let interrupted = [
        ".web.json.Ab12Cd",
        ".web.pid.x9Y8z7",
        ".gone.env.QQ00qq",
        "..stack.json.Ab12Cd",
    ];
    // Exit records are written by keepers without the lock; a file not shaped like the crate's
    // temporary files is not ours.
    let others = [".web.exit.json.Ab12Cd", ".web.json.Ab12C-"];
    for file in interrupted.iter().chain(&others) {
        std::fs::write(run.join(file), b"{\"schema\": 1, \"na").unwrap();
    }

    let output = sandbox.reaper().arg("clean").assert().success();
    let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();

    for file in interrupted {
        assert!(!run.join(file).exists(), "{file} is still there");
        assert!(
            stdout.contains(file),
            "clean does not name {file}: {stdout}"
        );
    }
    for file in others {
        assert!(run.join(file).exists(), "{file} was removed");
    }
    assert_eq!(sandbox.record("web")["run_id"], record["run_id"]);
    sandbox.reaper().args(["stop", "web"]).assert().success();
    sandbox.assert_nothing_left();
}
