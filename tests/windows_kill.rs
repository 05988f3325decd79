//! Windows: `reaper kill PATTERN` ends exactly the processes whose command line matches (a
//! random token), after the graceful attempt, and leaves a look-alike alone. Runs under wine.
#![cfg(windows)]

mod windows_common;

use std::process::{Command, Stdio};

use windows_common::{Project, Terminator, alive, proctree, random_token};

fn sleeper(leftovers: &mut Terminator, tag: &str) -> u32 {
    #[expect(
        clippy::zombie_processes,
        reason = "Windows has no zombies; the Terminator ends and waits for it through its handle"
    )]
    let child = Command::new(proctree())
        .args(["sleep", "600", tag])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    leftovers.adopt(child.id());
    child.id()
}

#[test]
fn kill_ends_only_the_matching_processes() {
    let project = Project::new();
    let mut leftovers = Terminator::default();
    let token = random_token();
    let target = sleeper(&mut leftovers, &format!("{token}-target"));
    let bystander = sleeper(&mut leftovers, &format!("{token}-bystander"));
    let dry = project
        .reaper()
        .args(["kill", "--dry-run", &format!("{token}-target")])
        .assert()
        .success();
    let listed = String::from_utf8_lossy(&dry.get_output().stdout).into_owned();
    assert!(listed.contains(&target.to_string()), "{listed}");
    assert!(!listed.contains(&bystander.to_string()), "{listed}");
    assert!(alive(target), "--dry-run must not signal");
    project
        .reaper()
        .args([
            "kill",
            "--yes",
            "--timeout",
            "1s",
            &format!("{token}-target"),
        ])
        .assert()
        .success();
    assert!(!alive(target), "the matching process survived");
    assert!(alive(bystander), "the look-alike was ended");
}
