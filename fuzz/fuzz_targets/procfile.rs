#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reaper::fuzzing::procfile(data));
