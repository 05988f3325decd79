//! Testing-only fault points: `REAPER_FAULT=POINT` makes `reaper` SIGKILL itself (or panic) at
//! `POINT`, so a test can fail it at an exact step instead of after a random delay. Points:
//!
//! - `after-launch`: `start` (and `up -d`, which starts its supervisor the same way) dies after
//!   the keeper reported the service running and before the record is written.
//! - `ui-panic`: the terminal UI panics once it has drawn its first frame (the terminal must be
//!   given back, and under `up` the stack stopped).
//!
//! The variable is never passed on to a service, so a detached supervisor does not inherit it.

use crate::os;

/// The environment variable naming the fault point.
pub const FAULT_VAR: &str = "REAPER_FAULT";

/// Where `start` has launched the keeper but not yet written the record.
pub const AFTER_LAUNCH: &str = "after-launch";

/// Where the terminal UI has drawn its first frame.
pub const UI_PANIC: &str = "ui-panic";

/// Dies at once, as `kill -9` would make us, when [`FAULT_VAR`] names `point`.
pub fn point(point: &str) {
    if std::env::var_os(FAULT_VAR).is_some_and(|value| value == point) {
        os::kill_self();
    }
}

/// Panics, as a defect would, when [`FAULT_VAR`] names `point`.
pub fn panic_point(point: &str) {
    if std::env::var_os(FAULT_VAR).is_some_and(|value| value == point) {
        panic!("{FAULT_VAR}={point}: a panic injected for testing");
    }
}
