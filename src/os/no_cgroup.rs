//! Platforms without cgroups (macOS, Windows): the cgroup functions of the platform set, each
//! saying there is no cgroup. Windows contains runs in job objects instead; macOS relies on
//! session + marker.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Pinned, wait_for_exit};
use crate::process::Pid;

/// Environment variable choosing the containment (see the Linux version); only the fallback
/// exists here.
pub const CONTAINMENT_VAR: &str = "REAPER_CONTAINMENT";

/// Always the fallback here, with the reason.
pub fn cgroup_support() -> Result<(), String> {
    Err("cgroups exist only on Linux".into())
}

/// No cgroup is ever created here.
pub fn create_cgroup(_leaf: &str) -> io::Result<Option<PathBuf>> {
    Ok(None)
}

/// Never called without a cgroup; does nothing.
pub fn spawn_in_cgroup(_command: &mut std::process::Command, _cgroup: &Path) -> io::Result<()> {
    Ok(())
}

/// No path names a cgroup here.
pub fn is_reaper_cgroup(_path: &Path, _run_id: &str) -> bool {
    false
}

/// No cgroup, no members.
pub fn cgroup_processes(_cgroup: &Path) -> io::Result<Vec<Pid>> {
    Ok(Vec::new())
}

/// No cgroup is ever populated.
pub fn cgroup_is_populated(_cgroup: &Path) -> io::Result<bool> {
    Ok(false)
}

/// No process is in a cgroup.
pub fn process_in_cgroup(_pid: Pid, _cgroup: &Path) -> bool {
    false
}

/// Nothing to kill.
pub fn kill_cgroup(_cgroup: &Path) -> io::Result<()> {
    Ok(())
}

/// Nothing to remove.
pub fn remove_cgroup(_cgroup: &Path) -> io::Result<()> {
    Ok(())
}

/// No leftovers can exist.
pub fn reaper_cgroups() -> Vec<PathBuf> {
    Vec::new()
}

/// Never constructed here: [`CgroupWatch::new`] always fails.
#[derive(Debug)]
pub struct CgroupWatch(());

impl CgroupWatch {
    /// Fails: there are no cgroups to watch.
    pub fn new(_cgroup: &Path) -> io::Result<CgroupWatch> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no cgroups here",
        ))
    }
}

/// [`wait_for_exit`]; there are no cgroup events to wait for.
pub fn wait_for_events(pinned: &[&Pinned], _cgroups: &[&CgroupWatch], timeout: Duration) {
    wait_for_exit(pinned, timeout);
}
