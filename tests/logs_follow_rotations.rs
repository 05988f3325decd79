//! `reaper logs -f` loses no line over many rotations: a fast producer with a 2 KB log limit,
//! every line numbered, and the follower must print each number once, in order, whole.
#![cfg(target_os = "linux")]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{KillOnDrop, Sandbox, wait_until};

const LINES: usize = 20_000;

#[test]
fn follower_sees_every_line_across_many_rotations() {
    let sandbox = Sandbox::new();
    // Waits for the follower, then writes numbered lines as fast as the shell can, pausing
    // 10 ms every 100 lines (a follower more than --log-keep files behind misses some, and
    // says so: the pauses keep a follower on a loaded machine within reach).
    let producer = format!(
        "while [ ! -e go ]; do sleep 0.01; done; i=1; while [ $i -le {LINES} ]; do \
         echo \"seq $i\"; if [ $((i % 100)) -eq 0 ]; then sleep 0.01; fi; i=$((i+1)); done; \
         exec sleep 1000"
    );
    sandbox
        .reaper()
        .args(["start", "fast", "--log-max-size", "2KB", "--log-keep", "20"])
        .args(["--", "sh", "-c", &producer])
        .assert()
        .success();
    sandbox.note_tree();
    let followed = sandbox.path().join("followed.txt");
    let complaints = sandbox.path().join("complaints.txt");
    let _follower = KillOnDrop(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("reaper"))
            .current_dir(sandbox.path())
            .env("REAPER_STATE_DIR", sandbox.path())
            .args(["logs", "fast", "-f", "-n", "0"])
            .stdout(std::fs::File::create(&followed).unwrap())
            .stderr(std::fs::File::create(&complaints).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The follower is following once it has printed nothing for a moment; lines written
    // before it opened the log would be missing from its output, so it must be first.
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(sandbox.path().join("go"), "").unwrap();
    let last = format!("seq {LINES}\n");
    assert!(
        wait_until(Duration::from_secs(120), || std::fs::read_to_string(
            &followed
        )
        .is_ok_and(|text| text.ends_with(&last))),
        "the follower did not reach line {LINES}"
    );
    let text = std::fs::read_to_string(&followed).unwrap();
    let numbers: Vec<usize> = text
        .lines()
        .map(|line| {
            line.strip_prefix("seq ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a line that is not whole: {line:?}"))
        })
        .collect();
    let expected: Vec<usize> = (1..=LINES).collect();
    if numbers != expected {
        let missing = expected.iter().filter(|n| !numbers.contains(n)).count();
        panic!(
            "{} lines followed, {missing} missing, first difference at {:?}; stderr: {:?}",
            numbers.len(),
            numbers.iter().zip(&expected).position(|(a, b)| a != b),
            std::fs::read_to_string(&complaints).unwrap_or_default()
        );
    }
    assert_eq!(std::fs::read_to_string(&complaints).unwrap(), "");
    // Many rotations happened (about 100 of 2 KB), and no rotated file holds a cut line or
    // goes past the limit.
    let logs = sandbox.path().join(".logs");
    assert!(logs.join("fast.log.20").exists());
    for n in 1..=20 {
        let bytes = std::fs::read(logs.join(format!("fast.log.{n}"))).unwrap();
        assert!(
            bytes.len() <= 2048 && bytes.ends_with(b"\n"),
            "fast.log.{n}"
        );
        assert!(bytes.starts_with(b"seq "), "fast.log.{n}");
    }
    sandbox.reaper().args(["stop", "fast"]).assert().success();
    sandbox.assert_nothing_left();
}
