//! Managed services: start, stop, restart, status and clean, on top of records, identity,
//! containment and stop plans.

mod clean;
mod restart;
mod start;
mod status;
mod stop;

pub use clean::*;
pub use restart::*;
pub use start::*;
pub use status::*;
pub use stop::*;

use std::collections::{BTreeMap, BTreeSet};

use crate::containment::{self, Anchor, MarkerCache};
use crate::process::{Pid, Snapshot};
use crate::state::{NameLock, Record, StateDir, StateError};

impl Record {
    /// The anchor that identifies this record's tree.
    pub fn anchor(&self) -> Anchor {
        Anchor {
            leader: self.leader.clone(),
            keeper: self.keeper.clone(),
            run_id: self.run_id.clone(),
            cgroup: self.cgroup.clone(),
        }
    }
}

/// Takes the locks of `names`, each once, in sorted order: a name given twice does not wait on
/// its own lock, and two commands locking overlapping names in different orders (`stop a b`
/// beside `stop b a`) cannot deadlock.
pub(crate) fn lock_names<'a>(
    state: &StateDir,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, NameLock>, StateError> {
    let sorted: BTreeSet<&str> = names.into_iter().collect();
    let mut locks = BTreeMap::new();
    for name in sorted {
        locks.insert(name.to_string(), state.lock(name)?);
    }
    Ok(locks)
}

/// Live (non-zombie) members of a record's tree.
pub(crate) fn live_members(
    snapshot: &Snapshot,
    record: &Record,
    markers: &mut MarkerCache,
) -> BTreeSet<Pid> {
    let mut members = containment::members(snapshot, &record.anchor(), markers).pids;
    members.retain(|pid| snapshot.get(*pid).is_some_and(|p| p.state.is_alive()));
    members
}

/// A random hexadecimal id (64 bits from the OS-seeded hasher keys).
pub(crate) fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}
