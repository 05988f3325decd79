//! # reaper
//!
//! A process manager that makes orphaned and zombie processes impossible: it starts named
//! services detached, and stops them so that nothing of them is left — no child, no grandchild,
//! no daemon that called `setsid`, no zombie, no stale PID file.
//!
//! ## Theory of operation
//!
//! **Identity.** A process is `(pid, start time, boot id)` ([`identity::ProcessRef`]). Records
//! store all three, and every signal goes through [`identity::ProcessRef::pin`]: on Linux it opens
//! a pidfd first, then compares the start time (the pidfd pins the pid, so the check cannot be
//! raced by pid reuse), then signals through the pidfd. A pid whose identity does not match is
//! never signalled. PIDs ≤ 1, our own pid and our ancestors are never targets.
//!
//! **Keeper.** `reaper start` does not leave the service to whatever init happens to adopt it
//! (many container inits, and some sandboxes, never reap, so every exited orphan stays a zombie).
//! It starts a small *keeper* (`reaper __keeper`) in a session of its own; the keeper marks itself
//! a child subreaper (Linux), spawns the service in a new session, reaps the service and every
//! descendant that gets orphaned, records the service's exit status, writes its log from its
//! output pipes ([`logfile`]), and exits when the whole tree is gone.
//!
//! **Containment.** A service's tree is the union of: its session, every descendant of the
//! keeper and of the leader by parent links, and every process carrying its marker environment
//! variable ([`containment::MARKER_VAR`]), plus all their descendants. A daemon that double-forks
//! and calls `setsid` is still a descendant of the keeper (subreaper) and still carries the
//! marker.
//!
//! **Stopping** ([`terminate`]) is a plan: graceful signal to every member, wait until the *whole
//! tree* is gone (pidfd events, re-scanning for processes forked meanwhile), SIGKILL whatever is
//! left, verify, remove the record. Escalation is decided by the tree being empty, never by the
//! leader having exited. A stop still waiting after a second is reported to an observer
//! ([`terminate::StopObserver`]); the binary installs [`stopwatch`], which shows what it waits
//! for on stderr.
//!
//! **State** ([`state`]) is plain files: `.run/NAME.pid` (the bare pid, for every tool that reads
//! pid files), `.run/NAME.json` (identity and metadata), written atomically; a lock file per name
//! serialises concurrent commands. Every action is appended to `.logs/reaper.log`.
//!
//! **Stacks** ([`stack`], [`supervisor::up`]): `reaper up` reads `reaper.toml` (or a Procfile)
//! and starts each service as an ordinary managed service (record, keeper, marker, log) in
//! dependency order, waiting for readiness probes; the supervisor, itself a child subreaper,
//! only orchestrates: restarts with backoff, output multiplexing, reverse-order stop. Since all
//! state is in records, `reaper down` ends everything even after the supervisor was killed.
//!
//! **The terminal UI** ([`ui`]) is a reader of the same documents `reaper ps` and `reaper
//! status` print and of the keepers' log files, beside `up`'s supervisor (through
//! [`supervisor::link`]) or attached to a running stack (`reaper ui`); its actions are the
//! library's restart, stop and start, with the CLI's locks.
//!
//! ## Platform notes
//! Linux is the reference platform: pidfds, `PR_SET_CHILD_SUBREAPER`, `/proc`. Other platforms
//! implement the same function set in [`os`].
#![deny(missing_docs)]

pub mod actionlog;
pub mod containment;
pub mod doctor;
pub mod dotenv;
pub mod export;
pub mod fault;
pub mod fuzzing;
pub mod identity;
pub mod keeper;
#[cfg(feature = "lint")]
pub mod lint;
pub mod logfile;
pub mod os;
pub mod ports;
pub mod process;
pub mod service;
pub mod signal;
pub mod stack;
pub mod state;
pub mod stopwatch;
pub mod supervisor;
pub mod terminate;
pub mod text;
pub mod ui;
pub mod units;
