//! A record reaper writes reads back equal, whatever its fields hold: names, arguments, paths
//! and times with quotes, control characters, non-ASCII text and extreme numbers, saved into a
//! real state directory and loaded as every command loads it.

use std::path::PathBuf;

use proptest::prelude::*;
use reaper::identity::ProcessRef;
use reaper::state::{Entry, ExitRecord, Record, StateDir, parse_exit_record};

fn process_ref() -> impl Strategy<Value = ProcessRef> {
    (2u32..=4_194_304, any::<u64>(), any::<String>()).prop_map(|(pid, start_time, boot_id)| {
        ProcessRef {
            pid,
            start_time,
            boot_id,
        }
    })
}

/// Paths as the OS gives them: any text (records store paths as JSON strings).
fn path() -> impl Strategy<Value = PathBuf> {
    any::<String>().prop_map(PathBuf::from)
}

prop_compose! {
    fn record()(
        name in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,40}",
        run_id in any::<String>(),
        leader in process_ref(),
        keeper in proptest::option::of(process_ref()),
        argv in proptest::collection::vec(any::<String>(), 0..5),
        cwd in path(),
        env_names in proptest::collection::vec(any::<String>(), 0..4),
        env_files in proptest::collection::vec(path(), 0..3),
        port in proptest::option::of(any::<u16>()),
        log in path(),
        started_at in any::<String>(),
        marker in any::<String>(),
        stack in proptest::option::of(any::<String>()),
        cgroup in proptest::option::of(path()),
    ) -> Record {
        Record {
            schema: reaper::state::RECORD_SCHEMA,
            name, run_id, leader, keeper, argv, cwd, env_names, env_files, port, log,
            started_at, marker, stack, cgroup,
        }
    }
}

proptest! {
    #[test]
    fn a_saved_record_loads_back_equal(record in record()) {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir { root: dir.path().to_path_buf() };
        state.ensure().unwrap();
        state.save(&record).unwrap();
        match state.load(&record.name).unwrap() {
            Some(Entry::Record(loaded)) => prop_assert_eq!(*loaded, record),
            other => prop_assert!(false, "loaded {:?}", other),
        }
    }

    #[test]
    fn an_exit_record_reads_back_equal(
        run_id in any::<String>(),
        code in proptest::option::of(any::<i32>()),
        signal in proptest::option::of(any::<i32>()),
        at in any::<String>(),
    ) {
        let exit = ExitRecord { run_id, code, signal, at };
        let written = serde_json::to_vec(&exit).unwrap();
        prop_assert_eq!(parse_exit_record(&written), Some(exit));
    }
}
