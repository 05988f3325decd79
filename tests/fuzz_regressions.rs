//! Inputs that crashed a parser under fuzzing (or, written alongside the fuzz targets, would
//! have), each run through the same entry point as its fuzz target. Each is also in the target's
//! corpus under `fuzz/corpus/`.

/// utime + stime both u64::MAX: their sum overflowed (a panic in debug builds).
#[cfg(target_os = "linux")]
#[test]
fn proc_stat_with_huge_cpu_times_does_not_overflow() {
    let max = u64::MAX;
    let stat = format!("7 (x) S 1 7 7 0 -1 4194304 0 0 0 0 {max} {max} 0 0 20 0 1 0 5 0 0\n");
    reaper::fuzzing::proc_stat(stat.as_bytes());
}
