//! cgroup containment for a user who is not root: reaper uses its own cgroup when that cgroup
//! was delegated to the user, as systemd does for `systemd-run --user --scope -p Delegate=yes`
//! (it hands the scope's directory and its `cgroup.procs`, `cgroup.subtree_control` and
//! `cgroup.threads` to the user). The test makes such a delegation itself, as root, in a cgroup
//! of its own that it removes afterwards, and runs reaper as `nobody` inside it.
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Sandbox, json_of};

const NOBODY: u32 = 65534;

/// A cgroup delegated to `nobody` the way systemd delegates a scope; removed (with what reaper
/// made below it) on drop, once empty.
struct Delegated(PathBuf);

impl Delegated {
    fn new(token: &str) -> Option<Delegated> {
        let mount = std::fs::read_to_string("/proc/self/mountinfo")
            .ok()?
            .lines()
            .find(|line| {
                line.split(" - ")
                    .nth(1)
                    .is_some_and(|fs| fs.starts_with("cgroup2 "))
            })
            .and_then(|line| line.split_whitespace().nth(4).map(PathBuf::from))?;
        let path = mount.join(format!("reaper-test-delegated-{token}"));
        std::fs::create_dir(&path).ok()?;
        let delegated = Delegated(path);
        for file in [
            "",
            "cgroup.procs",
            "cgroup.subtree_control",
            "cgroup.threads",
        ] {
            std::os::unix::fs::chown(delegated.0.join(file), Some(NOBODY), Some(NOBODY)).ok()?;
        }
        Some(delegated)
    }

    /// `reaper ARGS` as `nobody`, started inside the delegated cgroup.
    fn reaper(&self, sandbox: &Sandbox, args: &[&str]) -> assert_cmd::Command {
        let mut command = assert_cmd::Command::new("sh");
        command
            .arg("-c")
            .arg(r#"echo $$ > "$1/cgroup.procs" && shift && exec setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@""#)
            .arg("sh")
            .arg(&self.0)
            .arg(assert_cmd::cargo::cargo_bin("reaper"))
            .args(args)
            .current_dir(sandbox.path())
            .env("REAPER_STATE_DIR", sandbox.path())
            .env(common::TOKEN_VAR, &sandbox.token)
            .timeout(std::time::Duration::from_secs(60));
        command
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        fn remove(dir: &Path) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    remove(&entry.path());
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
        remove(&self.0);
    }
}

#[test]
fn a_user_with_a_delegated_cgroup_gets_cgroup_containment() {
    let usable = Command::new("setpriv").arg("--version").output().is_ok()
        && rustix::process::geteuid().is_root();
    let sandbox = Sandbox::new();
    let delegated = usable.then(|| Delegated::new(&sandbox.token)).flatten();
    let Some(delegated) = delegated else {
        eprintln!("skipped: needs root, setpriv(1) and a writable cgroup v2 hierarchy");
        return;
    };
    std::os::unix::fs::chown(sandbox.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let token = format!("REAPER_TEST_TOKEN={}", sandbox.token);
    delegated
        .reaper(&sandbox, &["start", "api", "--", "sh", "-c"])
        .arg(format!("setsid env -i {token} sleep 992 & exec sleep 1000"))
        .assert()
        .success();
    sandbox.note_tree();
    let status = json_of(
        &delegated
            .reaper(&sandbox, &["status", "api", "--json"])
            .assert()
            .success(),
    );
    let containment = &status["services"][0]["containment"];
    assert_eq!(containment["kind"], "cgroup", "{status}");
    let cgroup = PathBuf::from(containment["path"].as_str().unwrap());
    assert!(
        cgroup.starts_with(delegated.0.join("reaper")),
        "not below the delegated cgroup: {}",
        cgroup.display()
    );
    let members = std::fs::read_to_string(cgroup.join("cgroup.procs")).unwrap();
    assert_eq!(members.lines().count(), 2, "{members}");
    for pid in members.lines() {
        let owner = std::fs::metadata(format!("/proc/{pid}")).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&owner), NOBODY);
    }
    delegated
        .reaper(&sandbox, &["stop", "api"])
        .assert()
        .success();
    sandbox.assert_nothing_left();
    assert!(!cgroup.exists(), "the stop left {}", cgroup.display());
}
