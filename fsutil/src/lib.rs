//! The one way a Sluice binary writes a file (signer, limitctl, coordinator): a crash or a
//! full disk leaves the old file or the new one, never half of one, and nothing is ever
//! written through a symlink someone planted (an SD card is a hostile place).
//!
//! How: the output directory and the destination must not be symlinks; the bytes go to a
//! temporary file with a random name created with `O_EXCL` in the same directory (so a
//! symlink planted under a guessed name is never opened), with the requested mode from
//! the start; the file is fsynced, then renamed into place — `persist_noclobber` (fails
//! atomically if the destination exists) or `persist` (replaces it) — and the directory
//! is fsynced. A rename replaces a directory entry and never follows a symlink, so even a
//! symlink planted after the check is replaced, not written through.
//!
//! It lives in its own crate because `sluice-shared` does no I/O and every binary crate
//! needs it; it depends only on `tempfile` (and `zeroize`, for [`read_secret_line`], the
//! one way a passphrase is read from a file). [`proc_status`] reads a process's memory
//! figures from `/proc` for the benchmarks.
#![forbid(unsafe_code)]

pub mod proc_status;

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Who may read the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// 0600: keys, state, signed PSBTs, limit commands, printed sheets.
    OwnerOnly,
    /// 0644 (less the umask): files meant to be shared.
    Readable,
}

impl Access {
    fn mode(self) -> u32 {
        match self {
            Access::OwnerOnly => 0o600,
            Access::Readable => 0o644,
        }
    }
}

/// What to do when the destination already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace it atomically.
    Replace,
    /// Refuse, atomically (even against a race with another process).
    Refuse,
}

/// Why a file was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{dir} is a symlink: refusing to write into it; give the directory's real path")]
    SymlinkDirectory { dir: String },
    #[error("{path} is a symlink: refusing to write through or replace it; remove it or give another path")]
    SymlinkDestination { path: String },
    #[error("{path} already exists: refusing to overwrite it")]
    AlreadyExists { path: String },
    #[error("{path} is not a file path")]
    NotAFilePath { path: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WriteError {
    let path = path.display().to_string();
    move |source| WriteError::Io { action, path, source }
}

/// The directory `path` goes into, after checking neither it nor `path` is a symlink.
fn checked_directory(path: &Path) -> Result<&Path, WriteError> {
    if path.file_name().is_none() {
        return Err(WriteError::NotAFilePath {
            path: path.display().to_string(),
        });
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let meta = dir
        .symlink_metadata()
        .map_err(io_error("opening the directory", dir))?;
    if meta.file_type().is_symlink() {
        return Err(WriteError::SymlinkDirectory {
            dir: dir.display().to_string(),
        });
    }
    if let Ok(meta) = path.symlink_metadata() {
        if meta.file_type().is_symlink() {
            return Err(WriteError::SymlinkDestination {
                path: path.display().to_string(),
            });
        }
    }
    Ok(dir)
}

/// Writes `bytes` to `path` atomically with the given access; see the module comment.
pub fn write_file(path: &Path, bytes: &[u8], access: Access, existing: Existing) -> Result<(), WriteError> {
    let dir = checked_directory(path)?;
    let already_exists = || WriteError::AlreadyExists {
        path: path.display().to_string(),
    };
    if existing == Existing::Refuse && path.symlink_metadata().is_ok() {
        return Err(already_exists());
    }
    let prefix = format!(".{}.", path.file_name().unwrap_or_default().to_string_lossy());
    let mut temp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .permissions(Permissions::from_mode(access.mode()))
        .tempfile_in(dir)
        .map_err(io_error("creating a temporary file in", dir))?;
    temp.write_all(bytes).map_err(io_error("writing", temp.path()))?;
    temp.as_file()
        .sync_all()
        .map_err(io_error("flushing", temp.path()))?;
    // On failure `PersistError` hands the temporary file back; dropping it deletes it.
    let persisted = match existing {
        Existing::Replace => temp.persist(path).map(drop).map_err(|e| e.error),
        Existing::Refuse => temp.persist_noclobber(path).map(drop).map_err(|e| e.error),
    };
    persisted.map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => already_exists(),
        _ => io_error("moving into place", path)(e),
    })?;
    sync_directory(dir)
}

/// Creates an empty file readable only by its owner, failing if anything (a symlink
/// included) is already there. For SQLite, which then opens it and gives its `-wal` and
/// `-shm` files the same permissions.
pub fn create_private_empty(path: &Path) -> Result<(), WriteError> {
    let dir = checked_directory(path)?;
    // `create_new` is O_CREAT|O_EXCL: it never follows a symlink, even a dangling one.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(Access::OwnerOnly.mode())
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => WriteError::AlreadyExists {
                path: path.display().to_string(),
            },
            _ => io_error("creating", path)(e),
        })?
        .sync_all()
        .map_err(io_error("flushing", path))?;
    sync_directory(dir)
}

/// Creates the directory that will hold `path` (and its parents) with mode 0700 if it is
/// missing; an existing one is left as it is. For homes that hold keys and databases.
pub fn create_private_parent(path: &Path) -> Result<(), WriteError> {
    use std::os::unix::fs::DirBuilderExt as _;
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if dir.symlink_metadata().is_ok() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error("creating the directory", dir))
}

fn sync_directory(dir: &Path) -> Result<(), WriteError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("flushing", dir))
}

/// The permission bits of `path` (for tests and checks).
pub fn mode_of(path: &Path) -> io::Result<u32> {
    Ok(fs::symlink_metadata(path)?.permissions().mode() & 0o777)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use super::*;
    use std::os::unix::fs::symlink;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn writes_replace_or_refuse_with_the_requested_mode_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        write_file(&file, b"one", Access::OwnerOnly, Existing::Refuse).unwrap();
        assert_eq!(mode_of(&file).unwrap(), 0o600);
        assert!(matches!(
            write_file(&file, b"two", Access::OwnerOnly, Existing::Refuse),
            Err(WriteError::AlreadyExists { .. })
        ));
        assert_eq!(fs::read(&file).unwrap(), b"one");
        write_file(&file, b"three", Access::OwnerOnly, Existing::Replace).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"three");
        let shared = dir.path().join("b");
        write_file(&shared, b"x", Access::Readable, Existing::Replace).unwrap();
        assert_eq!(mode_of(&shared).unwrap() & 0o600, 0o600);
        assert!(leftovers(dir.path()).is_empty());
        assert!(matches!(
            write_file(Path::new("/"), b"x", Access::OwnerOnly, Existing::Replace),
            Err(WriteError::NotAFilePath { .. })
        ));
    }

    #[test]
    fn symlinked_directories_and_destinations_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        symlink(&real, &link).unwrap();
        for existing in [Existing::Replace, Existing::Refuse] {
            assert!(matches!(
                write_file(&link.join("f"), b"x", Access::OwnerOnly, existing),
                Err(WriteError::SymlinkDirectory { .. })
            ));
        }
        assert!(matches!(
            create_private_empty(&link.join("db")),
            Err(WriteError::SymlinkDirectory { .. })
        ));
        assert_eq!(fs::read_dir(&real).unwrap().count(), 0);

        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let planted = dir.path().join("out");
        symlink(&victim, &planted).unwrap();
        for existing in [Existing::Replace, Existing::Refuse] {
            assert!(matches!(
                write_file(&planted, b"x", Access::OwnerOnly, existing),
                Err(WriteError::SymlinkDestination { .. })
            ));
        }
        assert!(matches!(
            create_private_empty(&planted),
            Err(WriteError::SymlinkDestination { .. })
        ));
        let dangling = dir.path().join("dangling");
        symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(create_private_empty(&dangling).is_err());
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn temporary_names_are_random_so_a_planted_one_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        // The old helper's predictable name: `.NAME.tmp-<pid>`.
        let guessed = dir.path().join(format!(".out.tmp-{}", std::process::id()));
        symlink(&victim, &guessed).unwrap();
        let out = dir.path().join("out");
        write_file(&out, b"new", Access::OwnerOnly, Existing::Replace).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"new");
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_private_empty_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.sqlite");
        create_private_empty(&db).unwrap();
        assert_eq!(mode_of(&db).unwrap(), 0o600);
        assert!(matches!(
            create_private_empty(&db),
            Err(WriteError::AlreadyExists { .. })
        ));
    }
}

/// Why a secret could not be read from its file. Never contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} is empty: its first line is the passphrase")]
    Empty { path: String },
}

/// A secret kept in a file (a passphrase, e.g. a systemd credential): the file's first
/// line, without its line end. The file's contents are wiped from memory after reading.
pub fn read_secret_line(path: &Path) -> Result<zeroize::Zeroizing<String>, SecretFileError> {
    let text = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(|source| SecretFileError::Read {
        path: path.display().to_string(),
        source,
    })?);
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(SecretFileError::Empty {
            path: path.display().to_string(),
        });
    }
    Ok(zeroize::Zeroizing::new(line.to_owned()))
}
