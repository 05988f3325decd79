//! Opening files in the state directory as input that may have been planted: the last path
//! component is never followed when it is a symbolic link, only regular files are used, new
//! files are created 0600 (exclusively where they must be new) and directories 0700. Every open
//! of a log, lock, probe, record, pid file or action log goes through here.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

use crate::os;

/// Why a path in the state directory was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A symbolic link: following it would read or write whatever it points to.
    #[error("it is a symbolic link, which reaper does not follow (remove it)")]
    Symlink,
    /// A directory, FIFO, socket or device.
    #[error("it is not a regular file (remove it)")]
    NotRegular,
}

impl Refused {
    /// The refusal carried by `error`, if it is one.
    pub fn of(error: &io::Error) -> Option<Refused> {
        error.get_ref()?.downcast_ref::<Refused>().copied()
    }

    /// Why a file with metadata `meta` (not followed if a link) is refused; `None` for a
    /// regular file.
    pub fn by_type(meta: &std::fs::Metadata) -> Option<Refused> {
        let kind = meta.file_type();
        if kind.is_symlink() {
            Some(Refused::Symlink)
        } else if !kind.is_file() {
            Some(Refused::NotRegular)
        } else {
            None
        }
    }
}

fn refused(why: Refused) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Opens `path` with `options`, never through a symbolic link, and only if it is a regular
/// file. Files it creates get mode 0600.
fn open(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    let file = os::open_no_follow(path, options).map_err(|e| {
        if os::is_symlink_error(&e) {
            refused(Refused::Symlink)
        } else {
            e
        }
    })?;
    match Refused::by_type(&file.metadata()?) {
        Some(why) => Err(refused(why)),
        None => Ok(file),
    }
}

/// Opens an existing file for reading.
pub fn open_read(path: &Path) -> io::Result<File> {
    open(path, OpenOptions::new().read(true))
}

/// Reads a whole file.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_read(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Opens a file for appending, creating it (0600) if needed: logs and the action log.
pub fn open_append(path: &Path) -> io::Result<File> {
    open(path, OpenOptions::new().append(true).create(true))
}

/// Opens a lock file, creating it (0600) if needed; its contents are never used.
pub fn open_lock(path: &Path) -> io::Result<File> {
    open(
        path,
        OpenOptions::new().write(true).create(true).truncate(false),
    )
}

/// Creates a new file (0600) that must not exist yet, not even as a dangling link (`O_EXCL`).
pub fn create_new(path: &Path) -> io::Result<File> {
    open(path, OpenOptions::new().write(true).create_new(true))
}

/// Creates a directory and its missing parents with mode 0700.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    os::create_private_dir_all(path)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn links_are_refused_by_every_open() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "secret").unwrap();
        let link = dir.path().join("link");
        symlink(&target, &link).unwrap();
        let dangling = dir.path().join("dangling");
        symlink(dir.path().join("nowhere"), &dangling).unwrap();
        for result in [
            open_read(&link),
            open_append(&link),
            open_lock(&link),
            open_append(&dangling),
            open_lock(&dangling),
        ] {
            let error = result.unwrap_err();
            assert_eq!(Refused::of(&error), Some(Refused::Symlink), "{error}");
        }
        assert!(create_new(&dangling).is_err());
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn only_regular_files_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        for result in [open_read(&fifo), open_read(dir.path())] {
            assert_eq!(Refused::of(&result.unwrap_err()), Some(Refused::NotRegular));
        }
        // Without a reader, a non-blocking open for writing fails (ENXIO) instead of hanging.
        assert!(open_append(&fifo).is_err());
    }

    #[test]
    fn new_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        create_dir_all(&nested).unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        for (name, open) in [
            ("log", open_append as fn(&Path) -> io::Result<File>),
            ("lock", open_lock),
            ("new", create_new),
        ] {
            let path = nested.join(name);
            open(&path).unwrap();
            assert_eq!(mode(&path), 0o600, "{name}");
        }
        assert!(create_new(&nested.join("new")).is_err());
    }
}
