//! The signer's home directory (`--home DIR`) and how files are written.
//!
//! The directory is readable only by its owner (0700) and every file in it 0600. Files are
//! written atomically (temporary file, fsync, rename, fsync of the directory): a crash
//! leaves either the old file or the new one, never half of one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What went wrong with the home directory or a file write.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("no signer in {dir}: run `sluice-signer --home {dir} init --network NET` first")]
    NotInitialized { dir: String },
    #[error("{path} is missing: the signer's state is gone; restore it from a backup")]
    StateMissing { path: String },
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

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> HomeError {
    let path = path.display().to_string();
    move |source| HomeError::Io { action, path, source }
}

/// Paths inside a signer home.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sealed seed and the settings fixed for the signer's life (network, officer
    /// keys), readable only with the passphrase.
    pub fn keystore(&self) -> PathBuf {
        self.dir.join("keystore.json")
    }

    /// Wallets, limits, reservations, applied commands and the journal.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.sqlite")
    }

    pub fn is_initialized(&self) -> bool {
        self.keystore().exists()
    }

    /// Whether anything of a signer is here (a half-finished `init` included).
    pub fn holds_a_signer(&self) -> bool {
        self.keystore().exists() || self.state().exists()
    }

    /// Fails with a clear message unless `init` was run here.
    pub fn require_initialized(&self) -> Result<(), HomeError> {
        if !self.is_initialized() {
            return Err(HomeError::NotInitialized {
                dir: self.dir.display().to_string(),
            });
        }
        if !self.state().exists() {
            return Err(HomeError::StateMissing {
                path: self.state().display().to_string(),
            });
        }
        Ok(())
    }

    /// Creates the directory, readable only by its owner.
    pub fn create(&self) -> Result<(), HomeError> {
        fs::create_dir_all(&self.dir).map_err(io_error("creating", &self.dir))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(io_error("restricting", &self.dir))
    }
}

/// Creates an empty file readable only by its owner, failing if it exists. SQLite then
/// opens it and gives its `-wal` and `-shm` files the same permissions.
pub fn create_private_file(path: &Path) -> Result<(), HomeError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => HomeError::AlreadyExists {
                path: path.display().to_string(),
            },
            _ => io_error("creating", path)(e),
        })
}

/// Writes `bytes` to `path` atomically, with owner-only permissions.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| HomeError::NotAFilePath {
        path: path.display().to_string(),
    })?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_error("creating", &tmp))?;
        file.write_all(bytes).map_err(io_error("writing", &tmp))?;
        file.sync_all().map_err(io_error("flushing", &tmp))?;
        fs::rename(&tmp, path).map_err(io_error("moving into place", path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error("flushing", dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes a new file that must not exist yet (never overwrites).
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    if path.exists() {
        return Err(HomeError::AlreadyExists {
            path: path.display().to_string(),
        });
    }
    write_atomic(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_private_and_never_overwritten_by_write_new() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        home.create().unwrap();
        let mode = fs::metadata(home.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let file = home.dir().join("a");
        write_new(&file, b"one").unwrap();
        assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(matches!(
            write_new(&file, b"two"),
            Err(HomeError::AlreadyExists { .. })
        ));
        write_atomic(&file, b"three").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"three");
        let leftovers: Vec<_> = fs::read_dir(home.dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
        assert!(matches!(
            home.require_initialized(),
            Err(HomeError::NotInitialized { .. })
        ));
    }
}
