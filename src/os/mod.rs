//! The platform layer. Every platform module offers the same function set:
//!
//! - [`boot_id`]: identifies the current boot, so identities from an earlier boot are stale.
//! - [`snapshot`] / [`process_info`]: the process table, or one process.
//! - [`command_line`] / [`marker_of`]: a process's argv, and the reaper marker in its environment.
//! - [`Pinned`]: a process pinned after an identity check; the only way to signal or wait.
//! - [`wait_for_exit`]: event-driven wait on pinned processes.
//! - [`listening_sockets`] / [`socket_inodes`]: listening sockets and their owners.
//! - [`sockets`] / [`read_sockets`] / [`socket_owners`] / [`try_bind`]: the socket tables
//!   filtered by port, the processes holding given sockets (permission problems reported), and
//!   bind checks; [`user_name`], [`in_foreign_network_namespace`] for explanations.
//! - [`become_subreaper`] / [`detach_into_new_session`]: containment primitives.
//!
//! No platform type leaks out of this module.

#[cfg_attr(target_os = "linux", path = "linux.rs")]
mod platform;

pub use platform::*;
