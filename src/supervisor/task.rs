//! One-shot tasks (`kind = "task"`): after the task is spawned, wait for it to exit, stop
//! whatever it left running and remove its record. Exit 0 is done; anything else fails, with
//! the last lines of its log.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::ci::exit_code;
use super::up::TICK;
use super::worker::{Ctx, EXIT_RECORD_WAIT, Launch, stop_options, wait_exit_record, with_log_tail};
use crate::os;
use crate::service::describe_exit;
use crate::stack::control::stop_names;
use crate::stack::{RestartPolicy, Service};
use crate::state::Record;

/// Waits for the task of `record` (started at `began`) to end.
pub(super) fn await_completion(
    ctx: &Ctx,
    spec: &Service,
    record: &Record,
    began: Instant,
    notes: Vec<String>,
) -> Launch {
    let leader = record.leader.pin().ok();
    while let Some(leader) = leader.as_ref().filter(|l| !l.has_exited()) {
        if ctx.stop.load(Ordering::SeqCst) {
            // The stack's stop plan ends the task with the services.
            return Launch::Aborted;
        }
        os::wait_for_exit(&[leader], TICK);
    }
    let exit = wait_exit_record(ctx, record, EXIT_RECORD_WAIT);
    // A task is done when its leader exits: anything it left behind is ended with it.
    let _ = stop_names(&ctx.state, vec![spec.name.clone()], stop_options(spec));
    let ran_for = began.elapsed();
    match exit {
        Some(exit) if exit.code == Some(0) => Launch::Completed { ran_for, notes },
        exit => {
            let status = exit.as_ref().map_or_else(
                || "its exit status is unknown".to_string(),
                |e| describe_exit(e.code, e.signal),
            );
            Launch::Failed {
                why: with_log_tail(
                    format!(
                        "task {} failed after {} ({status})",
                        spec.name,
                        crate::units::format_duration(ran_for)
                    ),
                    record,
                ),
                retry: spec.restart == RestartPolicy::OnFailure,
                notes,
                code: Some(exit.map_or(1, |e| exit_code(e.code, e.signal))),
            }
        }
    }
}
