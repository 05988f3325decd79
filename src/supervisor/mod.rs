//! Foreground supervision: commands that run in the terminal and own everything their command
//! starts for as long as they run.
//!
//! - [`run`]: `reaper run`, a `timeout(1)` that understands process trees. The command runs in
//!   the foreground in a process group (or session) of its own with a marker; reaper is a child
//!   subreaper meanwhile, forwards signals to the whole tree, ends the tree on timeout, and when
//!   the command exits, ends (or reports) whatever it left running.
//!
//! A supervisor owns all of its children, so it reaps with a single `waitpid(-1)` loop and never
//! also waits through a `std::process::Child`: two waiters on the same children steal each
//! other's exit statuses.

pub mod ci;
mod depends;
mod prepare;
pub mod printer;
pub mod run;
mod task;
pub mod up;
mod watch;
