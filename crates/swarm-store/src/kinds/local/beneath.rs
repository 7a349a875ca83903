//! File system calls confined to a store's directory: every path inside it is walked one
//! component at a time, each opened relative to its parent without following symbolic links,
//! so a link planted in the store (by anyone who can write the disk) never leads out of it, and
//! what is not a plain file or directory is reported as such instead of being read, written or
//! deleted. The store's root itself may be a link: that is the user's choice of path.
//!
//! All of it is blocking; callers run it on the blocking pool.

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, Dir, Mode, OFlags, openat};

/// What went wrong at a path inside the store.
#[derive(Debug)]
pub(super) enum Fault {
    /// Nothing there (or a directory on the way is missing).
    Missing,
    /// Something is there that the store did not put there: a link, a device, a FIFO, a file
    /// where a directory belongs, or the reverse.
    Stray(&'static str),
    Io(io::Error),
}

impl From<rustix::io::Errno> for Fault {
    fn from(e: rustix::io::Errno) -> Self {
        match e {
            rustix::io::Errno::NOENT => Fault::Missing,
            // O_NOFOLLOW on a link, or a link or file where a directory belongs.
            rustix::io::Errno::LOOP | rustix::io::Errno::MLINK => Fault::Stray("a symbolic link"),
            rustix::io::Errno::NOTDIR => Fault::Stray("not a directory"),
            other => Fault::Io(other.into()),
        }
    }
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// The store's root directory.
pub(super) fn root(path: &Path) -> Result<OwnedFd, Fault> {
    Ok(openat(
        rustix::fs::CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The directory `dirs` (components) below `root`; created when `create` (as plain directories).
pub(super) fn dir(root: &OwnedFd, dirs: &[&str], create: bool) -> Result<OwnedFd, Fault> {
    let mut at = openat(root, ".", DIR_FLAGS, Mode::empty())?;
    for name in dirs {
        let next = match openat(&at, *name, DIR_FLAGS, Mode::empty()) {
            Err(rustix::io::Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&at, *name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                openat(&at, *name, DIR_FLAGS, Mode::empty()).map_err(|e| not_a_dir(&at, name, e))?
            }
            other => other.map_err(|e| not_a_dir(&at, name, e))?,
        };
        at = next;
    }
    Ok(at)
}

/// Why `name` in `dir` could not be opened as a directory: what it is, when it is something.
fn not_a_dir(dir: &OwnedFd, name: &str, e: rustix::io::Errno) -> Fault {
    match e {
        rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP => match stat(dir, name) {
            Ok(m) => Fault::Stray(kind_of(&m)),
            Err(_) => e.into(),
        },
        other => other.into(),
    }
}

/// Opens the plain file `name` in `dir` for reading (without blocking on a FIFO).
pub(super) fn open_file(dir: &OwnedFd, name: &str) -> Result<File, Fault> {
    let fd = openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(Fault::Io)?;
    if !meta.is_file() {
        return Err(Fault::Stray(kind_of(&meta)));
    }
    Ok(file)
}

/// Creates `name` in `dir`, which must not exist (no one can make us write through a link).
pub(super) fn create_new(dir: &OwnedFd, name: &str) -> Result<File, Fault> {
    let fd = openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )?;
    Ok(File::from(fd))
}

/// What `name` in `dir` is, without following a link.
pub(super) fn stat(dir: &OwnedFd, name: &str) -> Result<Metadata, Fault> {
    let fd = openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    File::from(fd).metadata().map_err(Fault::Io)
}

/// Moves `from` in `from_dir` to `to` in `to_dir`, replacing a plain file there.
pub(super) fn rename(
    from_dir: &OwnedFd,
    from: &str,
    to_dir: &OwnedFd,
    to: &str,
) -> Result<(), Fault> {
    Ok(rustix::fs::renameat(from_dir, from, to_dir, to)?)
}

/// Removes the plain file `name` in `dir` (a link there is removed as the link, never
/// followed; anything else is left and reported).
pub(super) fn unlink(dir: &OwnedFd, name: &str) -> Result<(), Fault> {
    match stat(dir, name) {
        Ok(m) if m.is_file() || m.file_type().is_symlink() => {
            Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?)
        }
        Ok(m) => Err(Fault::Stray(kind_of(&m))),
        Err(e) => Err(e),
    }
}

/// The entries of `dir` (names, without `.` and `..`).
pub(super) fn entries(dir: &OwnedFd) -> Result<Vec<String>, Fault> {
    let mut out = Vec::new();
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if name == "." || name == ".." {
            continue;
        }
        out.push(name.to_string_lossy().into_owned());
    }
    Ok(out)
}

pub(super) fn kind_of(m: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_file() {
        "a file"
    } else {
        "not a plain file"
    }
}
