//! The fuzz corpora under `fuzz/corpus/` (minimised by `cargo fuzz cmin`, with every input that
//! once crashed a parser) replayed through the same entry points the fuzz targets call, with the
//! stable toolchain, on every platform: a parser that regresses on any of them fails here.

use std::path::Path;

fn replay(target: &str, entry: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for file in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = file.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| entry(&data));
        assert!(outcome.is_ok(), "{} fails on {}", target, path.display());
        count += 1;
    }
    assert!(count > 0, "no corpus in {}", dir.display());
}

#[test]
fn pid_files() {
    replay("pid_file", reaper::fuzzing::pid_file);
    replay("utf16_pid_file", reaper::fuzzing::utf16_pid_file);
}

#[test]
fn records() {
    replay("record", reaper::fuzzing::record);
    replay("exit_record", reaper::fuzzing::exit_record);
}

#[test]
fn configs_and_procfiles() {
    replay("config", reaper::fuzzing::config);
    replay("procfile", reaper::fuzzing::procfile);
}

#[test]
fn dotenv_files() {
    replay("dotenv", reaper::fuzzing::dotenv);
}

#[test]
fn durations_sizes_signals_and_ports() {
    replay("units", reaper::fuzzing::units);
}

#[cfg(target_os = "linux")]
#[test]
fn proc_files() {
    replay("proc_stat", reaper::fuzzing::proc_stat);
    replay("proc_environ", reaper::fuzzing::proc_environ);
}

#[cfg(target_os = "linux")]
#[test]
fn sock_diag_datagrams() {
    replay("sock_diag", reaper::fuzzing::sock_diag);
}
