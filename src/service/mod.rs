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
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

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

/// The last `count` lines of a file (reads at most the last 1 MiB).
pub fn tail_lines(path: &Path, count: usize) -> io::Result<Vec<String>> {
    let mut file = crate::state::files::open_read(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(1 << 20);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(count);
    Ok(lines[skip..].iter().map(|l| l.to_string()).collect())
}

/// The last `count` lines of a log, reaching into its newest rotated file (`LOG.1`) when the
/// current one holds fewer lines (it may have been rotated a moment ago).
pub fn tail_log(path: &Path, count: usize) -> io::Result<Vec<String>> {
    let mut lines = tail_lines(path, count)?;
    if lines.len() < count {
        let rotated = std::path::PathBuf::from(format!("{}.1", path.display()));
        if let Ok(mut older) = tail_lines(&rotated, count - lines.len()) {
            older.append(&mut lines);
            lines = older;
        }
    }
    Ok(lines)
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
