//! cgroup v2 containment, as systemd does it: every service run (and every `reaper run`) gets a
//! cgroup of its own. Membership is the cgroup's `cgroup.procs` (no heuristics: a process that
//! calls `setsid`, clears its environment and double-forks is still inside), emptiness is
//! `cgroup.events` (`populated 0`, watched with inotify), and the last resort is `cgroup.kill`.
//!
//! Nothing is assumed: the hierarchy is found in `/proc/self/mountinfo` (hybrid hosts mount v2
//! at `/sys/fs/cgroup/unified`), and a base directory `reaper/` is used only where this process
//! can create it and write `cgroup.procs` there: at the root of the hierarchy (root, or a
//! container with a writable cgroupfs), else below our own cgroup when it was delegated to us
//! (a systemd scope with `Delegate=yes`). Services go only into leaf cgroups that have no
//! controllers enabled, so the no-internal-processes rule never applies to them.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::fs::{Access, Mode, OFlags};

use crate::process::Pid;

/// Environment variable choosing the containment: `auto` (default: a cgroup where one is
/// usable, else session + marker), `fallback` (never a cgroup), `cgroup` (a cgroup or fail).
pub const CONTAINMENT_VAR: &str = "REAPER_CONTAINMENT";

/// Name of the directory that holds reaper's cgroups, at the base it is allowed to use.
const BASE_NAME: &str = "reaper";

/// How long the freeze fallback of [`kill_cgroup`] waits for a cgroup to report frozen.
const FREEZE_WAIT: Duration = Duration::from_secs(1);

/// A mounted cgroup v2 hierarchy.
#[derive(Debug, Clone)]
struct Hierarchy {
    /// Where it is mounted.
    mount: PathBuf,
    /// This process's cgroup in it (`/proc/self/cgroup`, `0::PATH`), as a directory.
    own: Option<PathBuf>,
}

fn hierarchies() -> &'static [Hierarchy] {
    static FOUND: OnceLock<Vec<Hierarchy>> = OnceLock::new();
    FOUND.get_or_init(|| {
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|line| line.strip_prefix("0::").map(str::to_string))
            });
        let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return Vec::new();
        };
        mountinfo
            .lines()
            .filter_map(|line| {
                // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER
                let (before, after) = line.split_once(" - ")?;
                let fstype = after.split_whitespace().next()?;
                let fields: Vec<&str> = before.split_whitespace().collect();
                let (root, mount, options) = (fields.get(3)?, fields.get(4)?, fields.get(5)?);
                // A read-only mount, or one that shows only part of the hierarchy (its root is
                // not ours to map paths into), is of no use.
                let usable =
                    fstype == "cgroup2" && *root == "/" && !options.split(',').any(|o| o == "ro");
                usable.then(|| {
                    let mount = PathBuf::from(unescape_mountinfo(mount));
                    let own = own
                        .as_deref()
                        .map(|path| mount.join(path.trim_start_matches('/')));
                    Hierarchy { mount, own }
                })
            })
            .collect()
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every directory where reaper's cgroups may live (for finding leftovers).
fn bases() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for hierarchy in hierarchies() {
        out.push(hierarchy.mount.join(BASE_NAME));
        if let Some(own) = &hierarchy.own {
            let delegated = own.join(BASE_NAME);
            if !out.contains(&delegated) {
                out.push(delegated);
            }
        }
    }
    out
}

/// The base this process may create cgroups in, or why there is none.
fn usable_base() -> Result<&'static Path, String> {
    static BASE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BASE.get_or_init(|| {
        if std::env::var(CONTAINMENT_VAR).is_ok_and(|v| v == "fallback") {
            return Err(format!("{CONTAINMENT_VAR}=fallback"));
        }
        let found = hierarchies();
        if found.is_empty() {
            return Err("no writable cgroup v2 hierarchy is mounted".into());
        }
        let mut why = Vec::new();
        for hierarchy in found {
            let candidates = std::iter::once(hierarchy.mount.clone()).chain(hierarchy.own.clone());
            for parent in candidates {
                match prepare_base(&parent) {
                    Ok(base) => return Ok(base),
                    Err(e) => why.push(format!("{}: {e}", parent.display())),
                }
            }
        }
        Err(format!(
            "no cgroup v2 directory is writable ({})",
            why.join("; ")
        ))
    })
    .as_ref()
    .map(PathBuf::as_path)
    .map_err(Clone::clone)
}

/// Creates (or reuses) `parent/reaper` and checks processes can be moved into cgroups below it.
fn prepare_base(parent: &Path) -> io::Result<PathBuf> {
    let base = parent.join(BASE_NAME);
    match rustix::fs::mkdir(&base, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    // A move needs write access to cgroup.procs of the common ancestor of source and target.
    for dir in [parent, &base] {
        rustix::fs::access(dir.join("cgroup.procs"), Access::WRITE_OK)?;
    }
    Ok(base)
}

/// Which containment new runs get here: `Ok(())` for cgroups, `Err(why)` for the session +
/// marker fallback (`why` says what is missing, for `status` and the README's table).
pub fn cgroup_support() -> Result<(), String> {
    usable_base().map(drop)
}

/// Creates the cgroup `leaf` for a new run. `Ok(None)` when cgroups are not usable here (or
/// [`CONTAINMENT_VAR`] asks for the fallback); an error when they are required and unusable,
/// or when creating it failed.
pub fn create_cgroup(leaf: &str) -> io::Result<Option<PathBuf>> {
    let base = match usable_base() {
        Ok(base) => base,
        Err(why) if std::env::var(CONTAINMENT_VAR).is_ok_and(|v| v == "cgroup") => {
            return Err(io::Error::other(format!(
                "{CONTAINMENT_VAR}=cgroup, but cgroup containment is not usable: {why}"
            )));
        }
        Err(_) => return Ok(None),
    };
    let path = base.join(leaf);
    // The base is removed when its last cgroup goes (see `remove_cgroup`): another reaper may
    // have removed it since it was checked, so it is made again.
    for _ in 0..3 {
        match rustix::fs::mkdir(&path, Mode::from_raw_mode(0o755)) {
            Err(rustix::io::Errno::NOENT) => {
                let parent = base.parent().unwrap_or(base);
                prepare_base(parent)?;
            }
            result => return result.map(|()| Some(path)).map_err(Into::into),
        }
    }
    Err(io::Error::other(format!(
        "{} keeps disappearing",
        base.display()
    )))
}

/// Arranges for `command`'s child to move itself into `cgroup` between fork and exec, before it
/// can fork anything itself.
pub fn spawn_in_cgroup(command: &mut std::process::Command, cgroup: &Path) -> io::Result<()> {
    use std::os::unix::process::CommandExt;
    let procs = rustix::fs::open(
        cgroup.join("cgroup.procs"),
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: the closure runs between fork and exec and only calls write(2) on a descriptor
    // opened before the fork, which is async-signal-safe and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            rustix::io::write(&procs, b"0")?;
            Ok(())
        });
    }
    Ok(())
}

/// `clone3(2)` arguments, as far as `cgroup` (`CLONE_ARGS_SIZE_VER2`, Linux 5.7).
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Starts `launch` as a new process created inside `cgroup` (`clone3` with
/// `CLONE_INTO_CGROUP`), in a session of its own, with every signal disposition at its default
/// and no signal blocked. `Ok(None)` when this kernel cannot (before 5.7): the caller moves the
/// process in instead.
pub(super) fn spawn_into_cgroup(
    launch: &super::super::ServiceLaunch<'_>,
    cgroup: &Path,
) -> io::Result<Option<Pid>> {
    use std::ffi::{CString, OsStr};
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;

    let c_string = |bytes: &[u8]| {
        CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte"))
    };
    // The search a shell (and std's Command) makes, done here because only exec is left to do
    // in the new process.
    let search_path = launch
        .env
        .iter()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| OsStr::new(value.as_str()));
    let named = Path::new(&launch.program);
    let program = if launch.program.as_bytes().contains(&b'/') {
        launch.cwd.join(named)
    } else {
        super::super::find_program(&named.to_string_lossy(), launch.cwd, search_path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?
    };
    let program = c_string(program.as_os_str().as_bytes())?;
    let mut argv = vec![c_string(launch.program.as_bytes())?];
    for arg in launch.args {
        argv.push(c_string(arg.as_bytes())?);
    }
    let envp: Vec<CString> = launch
        .env
        .iter()
        .map(|(name, value)| c_string(format!("{name}={value}").as_bytes()))
        .collect::<io::Result<_>>()?;
    let cwd = c_string(launch.cwd.as_os_str().as_bytes())?;
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp_ptrs: Vec<*const libc::c_char> = envp
        .iter()
        .map(|e| e.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let null = std::fs::File::open("/dev/null")?;
    let directory = rustix::fs::open(
        cgroup,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // The new process reports a failed exec here; a successful one closes it (close-on-exec).
    let (report_read, report_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: directory.as_raw_fd() as u64,
    };
    let (null, stdout, stderr, report) = (
        null.as_raw_fd(),
        launch.stdout.as_raw_fd(),
        launch.stderr.as_raw_fd(),
        report_write.as_raw_fd(),
    );
    // SAFETY: clone3 without CLONE_VM gives the new process a copy of this one, as fork does.
    // Until it execs, it calls only async-signal-safe system calls on memory prepared above
    // (no allocation, no lock), then execs or exits with _exit.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid == 0 {
        // SAFETY: see above; every pointer refers to memory that lives until exec.
        unsafe {
            let ok = libc::setsid() >= 0
                && libc::dup2(null, 0) >= 0
                && libc::dup2(stdout, 1) >= 0
                && libc::dup2(stderr, 2) >= 0
                && libc::chdir(cwd.as_ptr()) == 0;
            if ok && super::super::unix::reset_signals().is_ok() {
                libc::execve(program.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr());
            }
            let errno = *libc::__errno_location();
            libc::write(report, (&errno as *const i32).cast(), 4);
            libc::_exit(127);
        }
    }
    if pid < 0 {
        let error = io::Error::last_os_error();
        // No clone3 (before 5.3), or no CLONE_INTO_CGROUP (before 5.7), or a seccomp filter
        // that refuses clone3 (as some container runtimes do).
        return match error.raw_os_error() {
            Some(libc::ENOSYS | libc::EINVAL | libc::E2BIG | libc::EPERM) => Ok(None),
            _ => Err(error),
        };
    }
    drop(report_write);
    let mut errno = [0u8; 4];
    let mut read = 0;
    while read < 4 {
        match rustix::io::read(&report_read, &mut errno[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let pid = pid as Pid;
    if read == 4 {
        // The exec failed: reap the process that reported it.
        let _ = rustix::process::waitpid(
            rustix::process::Pid::from_raw(pid as i32),
            rustix::process::WaitOptions::empty(),
        );
        return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno)));
    }
    Ok(Some(pid))
}

/// True when `path` may name one of reaper's cgroups for run `run_id`: an absolute path with no
/// `..`, on a cgroup v2 mount, directly in a `reaper` directory, ending in `.RUN_ID`. Paths come
/// from records, which are files anyone with write access to the state dir could forge.
pub fn is_reaper_cgroup(path: &Path, run_id: &str) -> bool {
    let plain = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let in_base = path.parent().and_then(Path::file_name) == Some(OsStr::new(BASE_NAME));
    let named = !run_id.is_empty()
        && path
            .file_name()
            .and_then(OsStr::to_str)
            .is_some_and(|leaf| leaf.ends_with(&format!(".{run_id}")));
    let mounted = hierarchies()
        .iter()
        .any(|hierarchy| path.starts_with(&hierarchy.mount));
    plain && in_base && named && mounted
}

/// Every process in `cgroup` and the cgroups below it.
pub fn cgroup_processes(cgroup: &Path) -> io::Result<Vec<Pid>> {
    let mut pids = Vec::new();
    let mut dirs = vec![cgroup.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let text = std::fs::read_to_string(dir.join("cgroup.procs"))?;
        pids.extend(
            text.lines()
                .filter_map(|line| line.trim().parse::<Pid>().ok()),
        );
        dirs.extend(child_cgroups(&dir));
    }
    Ok(pids)
}

fn child_cgroups(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.path())
        .collect()
}

/// True while any process is in `cgroup` or below it (`cgroup.events`). A cgroup that no longer
/// exists holds nothing.
pub fn cgroup_is_populated(cgroup: &Path) -> io::Result<bool> {
    match std::fs::read_to_string(cgroup.join("cgroup.events")) {
        Ok(text) => Ok(events_field(&text, "populated") == Some(true)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn events_field(text: &str, key: &str) -> Option<bool> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim() == "1")
    })
}

/// True when process `pid` is in `cgroup` or below it now.
pub fn process_in_cgroup(pid: Pid, cgroup: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return false;
    };
    let Some(relative) = text.lines().find_map(|line| line.strip_prefix("0::")) else {
        return false;
    };
    hierarchies().iter().any(|hierarchy| {
        hierarchy
            .mount
            .join(relative.trim_start_matches('/'))
            .starts_with(cgroup)
    })
}

/// SIGKILLs every process in `cgroup` and below it, atomically: `cgroup.kill` (Linux ≥ 5.14);
/// before that, freeze the cgroup so nothing can fork, SIGKILL every member through a pidfd
/// checked to be in the cgroup, and thaw.
pub fn kill_cgroup(cgroup: &Path) -> io::Result<()> {
    match std::fs::write(cgroup.join("cgroup.kill"), b"1") {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !cgroup.exists() => return Ok(()),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    std::fs::write(cgroup.join("cgroup.freeze"), b"1")?;
    let deadline = Instant::now() + FREEZE_WAIT;
    while Instant::now() < deadline {
        let events = std::fs::read_to_string(cgroup.join("cgroup.events"))?;
        if events_field(&events, "frozen") == Some(true) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    for pid in cgroup_processes(cgroup)? {
        let Some(raw) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            continue;
        };
        // Pinned first, then checked: a pid reused outside the cgroup is never signalled.
        let Ok(fd) = rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()) else {
            continue;
        };
        if process_in_cgroup(pid, cgroup) {
            let _ = rustix::process::pidfd_send_signal(&fd, rustix::process::Signal::KILL);
        }
    }
    std::fs::write(cgroup.join("cgroup.freeze"), b"0")
}

/// Removes `cgroup` and the cgroups below it once they are empty, and reaper's base directory
/// when that was its last cgroup (nothing of reaper is left in the hierarchy). Gone already is
/// success.
pub fn remove_cgroup(cgroup: &Path) -> io::Result<()> {
    remove_tree(cgroup)?;
    if let Some(base) = cgroup
        .parent()
        .filter(|base| base.file_name() == Some(OsStr::new(BASE_NAME)))
    {
        // Fails (EBUSY) while other runs' cgroups are in it, as it should.
        let _ = rustix::fs::rmdir(base);
    }
    Ok(())
}

fn remove_tree(cgroup: &Path) -> io::Result<()> {
    for child in child_cgroups(cgroup) {
        remove_tree(&child)?;
    }
    match rustix::fs::rmdir(cgroup) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Every cgroup reaper created that still exists, in every base (leftovers of killed keepers
/// and `reaper run`s are among them).
pub fn reaper_cgroups() -> Vec<PathBuf> {
    bases()
        .iter()
        .flat_map(|base| child_cgroups(base))
        .collect()
}

/// Wakes a waiter when a cgroup's `cgroup.events` changes (it becomes empty, or frozen): the
/// file is pollable (`POLLPRI`), as the cgroup v2 documentation describes. Any wake-up is a hint;
/// emptiness is read again. (Not inotify: closing an inotify instance whose watched file was
/// removed waits for an SRCU grace period, ~18 ms here, and every stop removes its cgroup.)
#[derive(Debug)]
pub struct CgroupWatch {
    events: OwnedFd,
}

impl CgroupWatch {
    /// Watches `cgroup`'s `cgroup.events`.
    pub fn new(cgroup: &Path) -> io::Result<CgroupWatch> {
        let events = rustix::fs::open(
            cgroup.join("cgroup.events"),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let watch = CgroupWatch { events };
        watch.drain();
        Ok(watch)
    }

    /// The descriptor to poll for `POLLPRI` (the events file changed, or the cgroup is gone).
    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.events.as_fd()
    }

    /// Reads the file, which re-arms the notification: the next poll waits for a new change.
    pub(super) fn drain(&self) {
        let mut buf = [0u8; 256];
        let _ = rustix::io::pread(&self.events, &mut buf, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), r"/a b\c");
        assert_eq!(unescape_mountinfo("/sys/fs/cgroup"), "/sys/fs/cgroup");
        assert_eq!(unescape_mountinfo(r"/x\0"), r"/x\0");
    }

    #[test]
    fn events_are_parsed() {
        let text = "populated 1\nfrozen 0\n";
        assert_eq!(events_field(text, "populated"), Some(true));
        assert_eq!(events_field(text, "frozen"), Some(false));
        assert_eq!(events_field(text, "missing"), None);
    }

    #[test]
    fn forged_cgroup_paths_are_refused() {
        let Some(hierarchy) = hierarchies().first() else {
            return;
        };
        let base = hierarchy.mount.join(BASE_NAME);
        assert!(is_reaper_cgroup(&base.join("svc.x.api.00ff"), "00ff"));
        assert!(!is_reaper_cgroup(&base.join("svc.x.api.00ff"), "11ff"));
        assert!(!is_reaper_cgroup(&base.join("svc.x.api.00ff"), ""));
        assert!(!is_reaper_cgroup(
            &base.join("..").join("system.slice.00ff"),
            "00ff"
        ));
        assert!(!is_reaper_cgroup(
            &hierarchy.mount.join("system.slice/sshd.service.00ff"),
            "00ff"
        ));
        assert!(!is_reaper_cgroup(Path::new("/tmp/reaper/x.00ff"), "00ff"));
    }
}
