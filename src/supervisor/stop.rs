//! Shutdown: the stack's services stopped in reverse dependency order, and the forced stop a
//! second interrupt asks for. Both run on threads of their own and report back as events.

use std::sync::Arc;
use std::time::Duration;

use super::dispatch::Event;
use super::worker::{Ctx, Reply};
use crate::service::StopOptions;
use crate::signal::Signal;
use crate::stack::control::{stop_level, stop_names};
use crate::state::{Entry, Record};
use crate::terminate::{self, StopPolicy, StopTarget};

/// The stop plan: the levels of services, each with its own stop signal and timeout, in the
/// order they are stopped.
pub(super) type StopPlan = Vec<Vec<(String, StopOptions)>>;

/// The records of this `up`'s own services: written for its stack file, under the name of one
/// of the services it runs. Whatever else is in the state directory (another stack's services,
/// plain `reaper start` services) is not this `up`'s to stop or kill.
pub(super) fn own_records(ctx: &Ctx, names: &[String]) -> Vec<Record> {
    ctx.state
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| match entry {
            Entry::Record(record)
                if record.stack.as_deref() == Some(ctx.stack_id.as_str())
                    && names.contains(&record.name) =>
            {
                Some(*record)
            }
            _ => None,
        })
        .collect()
}

/// Ends the trees of this `up`'s own services at once (a forced stop plan each); returns how
/// many processes were ended.
fn force_kill(ctx: &Ctx, names: &[String]) -> usize {
    let targets: Vec<StopTarget> = own_records(ctx, names)
        .into_iter()
        .map(|record| StopTarget::tree(&record.name, record.anchor(), StopPolicy::forced()))
        .collect();
    terminate::stop_trees(&targets)
        .map(|reports| reports.iter().map(|r| r.processes.len()).sum())
        .unwrap_or(0)
}

/// Stops the stack's services level by level, in reverse dependency order (each level in
/// parallel, each service with its own signal and timeout), then sweeps any stack record left.
fn stop_stack(ctx: &Ctx, plan: &StopPlan, names: &[String], reply: &Reply) {
    for level in plan {
        if !level
            .iter()
            .any(|(name, _)| ctx.state.record_path(name).exists())
        {
            continue;
        }
        let reports = stop_level(&ctx.state, level);
        reply.send(Event::Stopped(reports));
    }
    // Sweep: any record of this stack still there (a service adopted from a restart that raced
    // with the stop, for instance).
    let left: Vec<String> = own_records(ctx, names)
        .into_iter()
        .map(|record| record.name)
        .collect();
    if !left.is_empty() {
        let options = StopOptions {
            signal: Signal::Term,
            timeout: Duration::from_secs(10),
        };
        let reports = stop_names(&ctx.state, left, options)
            .into_iter()
            .map(|r| (r, Signal::Term))
            .collect();
        reply.send(Event::Stopped(reports));
    }
}

/// Stops the stack on a thread of its own (the loop keeps reaping and printing meanwhile), then
/// reports [`Event::StopFinished`].
pub(super) fn spawn_stop_stack(ctx: &Arc<Ctx>, reply: &Reply, plan: StopPlan, names: Vec<String>) {
    let (ctx, reply) = (ctx.clone(), reply.clone());
    std::thread::spawn(move || {
        stop_stack(&ctx, &plan, &names, &reply);
        reply.send(Event::StopFinished);
    });
}

/// Kills the services' trees on a thread of its own: the loop keeps reaping while the plans
/// wait for the exits.
pub(super) fn spawn_force_kill(ctx: &Arc<Ctx>, reply: &Reply, names: Vec<String>) {
    let (ctx, reply) = (ctx.clone(), reply.clone());
    std::thread::spawn(move || reply.send(Event::ForceKilled(force_kill(&ctx, &names))));
}
