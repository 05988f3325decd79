#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reaper::fuzzing::pid_file(data));
