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

/// A `.env` line with an error after non-ASCII text: dotenvy gives the index in characters,
/// reaper took it as bytes, landed inside a character and panicked (`reaper start --env-file`,
/// `up` with `env_file`). Now the error names the right column.
#[test]
fn dotenv_error_after_non_ascii_text_names_its_column() {
    // The `x` after the closed quote is the error: column 9, counted in characters.
    match reaper::dotenv::parse("A=\"ééé\" x\n") {
        Err(reaper::dotenv::DotenvError::Parse { line, column }) => {
            assert_eq!((line, column), (1, 9));
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

/// The fuzzer's input: a byte-order mark inside the file, after the error's text.
#[test]
fn dotenv_with_a_byte_order_mark_inside_is_an_error_not_a_panic() {
    reaper::fuzzing::dotenv(include_bytes!(
        "../fuzz/corpus/dotenv/regression-bom-inside"
    ));
    reaper::fuzzing::dotenv(include_bytes!("../fuzz/corpus/dotenv/regression-non-ascii"));
}

/// A sock_diag `NLMSG_ERROR` carrying i32::MIN: negating it overflowed (a panic in debug
/// builds). The kernel sends -errno; a bad datagram is now an error.
#[cfg(target_os = "linux")]
#[test]
fn sock_diag_error_of_i32_min_does_not_overflow() {
    let mut datagram = vec![0u8]; // TCP
    datagram.extend_from_slice(&20u32.to_ne_bytes()); // length: header + the code
    datagram.extend_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
    datagram.extend_from_slice(&[0; 10]); // flags, seq, port id
    datagram.extend_from_slice(&i32::MIN.to_ne_bytes());
    reaper::fuzzing::sock_diag(&datagram);
    reaper::fuzzing::sock_diag(include_bytes!(
        "../fuzz/corpus/sock_diag/regression-error-i32-min"
    ));
}

/// `$VAR` references doubling a value at each line (`A=z$A$A`): 685 bytes of `.env` grew to
/// gigabytes inside dotenvy before reaper saw the value (found as an out-of-memory). Expansion
/// now stops at the first value past what an environment can hold, naming its line.
#[test]
fn dotenv_substitution_chain_stops_at_the_environment_limit() {
    let text = include_str!("../fuzz/corpus/dotenv/regression-substitution-blowup");
    match reaper::dotenv::parse(text) {
        Err(reaper::dotenv::DotenvError::TooLarge { line, .. }) => {
            assert!(line >= 1 && line <= text.lines().count(), "line {line}");
        }
        other => panic!("expected the expansion to be refused, got {other:?}"),
    }
}
