//! Foreground supervision: commands that run in the terminal and own everything their command
//! starts for as long as they run.
//!
//! - [`run`]: `reaper run`, a `timeout(1)` that understands process trees. The command runs in
//!   the foreground in a process group (or session) of its own with a marker; reaper is a child
//!   subreaper meanwhile, forwards signals to the whole tree, ends the tree on timeout, and when
//!   the command exits, ends (or reports) whatever it left running.
//! - [`up`]: `reaper up`, the stack supervisor's loop: it only waits (signals, workers, a
//!   front end's requests, a tick), hands each event to `dispatch` and carries out the effects
//!   it returns. One module per job beside it: `model` (the stack and each service's phase),
//!   `dispatch` (`handle(&mut StackModel, Event) -> Vec<Effect>`: scheduling, restarts and
//!   backoff, readiness results, dependency conditions, CI decisions; no processes, no files),
//!   `worker` (launch and readiness, what an exit means, on threads), `stop` (the stop plan
//!   and the forced stop), `prepare` (refuse or replace a running stack), `depends` (when a
//!   dependency's condition is met), `task` (one-shot tasks), [`ci`] (`--exit-with`,
//!   `--abort-on-exit`, `--timeout`, the leak audit), `watch` (restart on file change),
//!   [`printer`] (prefixed output to a sink, or to an attached front end), [`detach`]
//!   (`up -d`), and [`link`] (what a front end such as the terminal UI and the supervisor say
//!   to each other).
//!
//! A supervisor owns all of its children, so it reaps with a single `waitpid(-1)` loop and never
//! also waits through a `std::process::Child`: two waiters on the same children steal each
//! other's exit statuses.

pub mod ci;
mod depends;
pub mod detach;
mod dispatch;
pub mod link;
mod model;
mod prepare;
pub mod printer;
pub mod run;
mod stop;
mod task;
pub mod up;
mod watch;
mod worker;
