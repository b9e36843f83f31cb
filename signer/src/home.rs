//! The signer's home directory and how files in it are written.
//!
//! Every file is written atomically (temporary file, fsync, rename, fsync of the
//! directory): a crash leaves either the old file or the new one, never half of one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Paths inside a signer home (`--home DIR`).
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

    /// The sealed seed and trust settings (officer keys), readable only with the passphrase.
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

    /// Fails with a clear message unless `init` was run here.
    pub fn require_initialized(&self) -> Result<()> {
        if !self.is_initialized() {
            bail!(
                "no signer in {}: run `sluice-signer --home {} init --network NET` first",
                self.dir.display(),
                self.dir.display()
            );
        }
        if !self.state().exists() {
            bail!(
                "{} is missing: the signer's state is gone; restore it from a backup",
                self.state().display()
            );
        }
        Ok(())
    }

    /// Creates the directory, readable only by its owner.
    pub fn create(&self) -> Result<()> {
        fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", self.dir.display()))?;
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically, with owner-only permissions.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| -> Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        file.sync_all()
            .with_context(|| format!("flushing {}", tmp.display()))?;
        fs::rename(&tmp, path).with_context(|| format!("moving {} into place", path.display()))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("flushing {}", dir.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes a new file that must not exist yet (never overwrites).
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.exists() {
        bail!("{} already exists: refusing to overwrite it", path.display());
    }
    write_atomic(path, bytes)
}
