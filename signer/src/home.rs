//! The signer's home directory (`--home DIR`) and how files are written.
//!
//! The directory is readable only by its owner (0700) and every file in it 0600. Files are
//! written with `sluice_fsutil::write_file`: atomically, never through a symlink.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sluice_fsutil::WriteError;

/// What went wrong with the home directory or a file write.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("nothing initialised in {dir}: run `{program} --home {dir} init --network NET` first")]
    NotInitialized { dir: String, program: String },
    #[error("{path} is missing: the signer's state is gone; restore it from a backup")]
    StateMissing { path: String },
    #[error("{path} already exists: refusing to overwrite it")]
    AlreadyExists { path: String },
    #[error(transparent)]
    Write(#[from] WriteError),
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

/// The name this process was started as (`sluice-signer`, or `sluice-shadow`, whose home
/// is a signer home too), for messages that tell the user what to run.
fn running_program() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .map(Path::new)
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| name.starts_with("sluice-"))
        .unwrap_or_else(|| "sluice-signer".to_owned())
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

    /// The coordinator's identity key, given at setup (`coordinator trust`): the online
    /// signer acts only on replies it signed.
    pub fn coordinator_key(&self) -> PathBuf {
        self.dir.join("coordinator-key")
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
                program: running_program(),
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

/// Creates an empty file readable only by its owner, failing if it (or a symlink) exists.
/// SQLite then opens it and gives its `-wal` and `-shm` files the same permissions.
pub fn create_private_file(path: &Path) -> Result<(), HomeError> {
    sluice_fsutil::create_private_empty(path).map_err(|e| match e {
        WriteError::AlreadyExists { path } => HomeError::AlreadyExists { path },
        e => HomeError::Write(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_home_is_private_and_its_state_file_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        home.create().unwrap();
        let mode = fs::metadata(home.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let file = home.dir().join("a");
        create_private_file(&file).unwrap();
        assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(matches!(
            create_private_file(&file),
            Err(HomeError::AlreadyExists { .. })
        ));
        assert!(matches!(
            home.require_initialized(),
            Err(HomeError::NotInitialized { .. })
        ));
    }
}
