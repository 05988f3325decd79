#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reaper::fuzzing::utf16_pid_file(data));
