//! [`ProcessRef`]: the only way to signal a process. It carries the identity a record stores
//! (`pid`, start time, boot id) and re-verifies it right before every signal.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::os::{self, PinError, Pinned};
use crate::process::{Pid, ProcessInfo};

/// Who a process is: pid numbers get reused, `(pid, start time, boot id)` does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    /// Process id.
    pub pid: Pid,
    /// Platform start-time token (see [`ProcessInfo::start_time`]).
    pub start_time: u64,
    /// Boot the process was seen in.
    pub boot_id: String,
}

/// Why a process reference cannot be used to signal.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Never signalled: pid ≤ 1, reaper itself, or one of its ancestors.
    #[error("refusing to signal pid {pid}: {why}")]
    Protected {
        /// The pid.
        pid: Pid,
        /// Which protection applies.
        why: &'static str,
    },
    /// The identity is from an earlier boot: whatever has that pid now is someone else.
    #[error("pid {0} was recorded during an earlier boot")]
    OtherBoot(Pid),
    /// Gone, reused, or the OS refused.
    #[error(transparent)]
    Pin(#[from] PinError),
}

impl ProcessRef {
    /// The identity of a process seen in a snapshot.
    pub fn of(info: &ProcessInfo) -> std::io::Result<ProcessRef> {
        Ok(ProcessRef {
            pid: info.pid,
            start_time: info.start_time,
            boot_id: os::boot_id()?,
        })
    }

    /// True when `info` is this very process (same pid and start time).
    pub fn matches(&self, info: &ProcessInfo) -> bool {
        info.pid == self.pid && info.start_time == self.start_time && self.same_boot()
    }

    fn same_boot(&self) -> bool {
        os::boot_id().is_ok_and(|id| id == self.boot_id)
    }

    /// Verifies identity and pins the process, so a signal reaches exactly this process.
    pub fn pin(&self) -> Result<Pinned, IdentityError> {
        if let Some(why) = protection(self.pid) {
            return Err(IdentityError::Protected { pid: self.pid, why });
        }
        if !self.same_boot() {
            return Err(IdentityError::OtherBoot(self.pid));
        }
        Ok(Pinned::open(self.pid, self.start_time)?)
    }
}

/// Why `pid` must never be signalled by this process, if it must not.
pub fn protection(pid: Pid) -> Option<&'static str> {
    if pid <= 1 {
        return Some("pid 0 and 1 are never targets");
    }
    if pid == std::process::id() {
        return Some("it is this reaper process");
    }
    if protected_ancestors().contains(&pid) {
        return Some("it is an ancestor of this reaper process");
    }
    None
}

fn protected_ancestors() -> &'static HashSet<Pid> {
    static ANCESTORS: OnceLock<HashSet<Pid>> = OnceLock::new();
    ANCESTORS.get_or_init(|| {
        let mut set = HashSet::new();
        let mut pid = std::process::id();
        while let Some(info) = os::process_info(pid) {
            if info.ppid == 0 || !set.insert(info.ppid) {
                break;
            }
            pid = info.ppid;
        }
        set
    })
}
