//! Writing files so that a crash or a full disk leaves the old file or the new one,
//! never half of one: temporary file in the same directory, fsync, rename, fsync of the
//! directory.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// How the finished temporary file takes the place of the target.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// `rename`: atomically replaces whatever is there.
    Replace,
    /// `link`: atomically fails if the target exists, so nothing is ever clobbered, even
    /// by a race between two processes.
    CreateOnly,
}

/// Replaces (or creates) `path` with `bytes`, created with permissions `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write(path, bytes, mode, Placement::Replace)
}

/// Writes a file that must not exist yet.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write(path, bytes, mode, Placement::CreateOnly)
}

fn write(path: &Path, bytes: &[u8], mode: u32, placement: Placement) -> Result<()> {
    if placement == Placement::CreateOnly && path.symlink_metadata().is_ok() {
        bail!("{} already exists: refusing to overwrite it", path.display());
    }
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
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        file.sync_all()
            .with_context(|| format!("flushing {}", tmp.display()))?;
        match placement {
            Placement::Replace => {
                fs::rename(&tmp, path).with_context(|| format!("moving {} into place", path.display()))?
            }
            Placement::CreateOnly => {
                fs::hard_link(&tmp, path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        anyhow::anyhow!("{} already exists: refusing to overwrite it", path.display())
                    } else {
                        anyhow::Error::new(e).context(format!("creating {}", path.display()))
                    }
                })?;
                let _ = fs::remove_file(&tmp);
            }
        }
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
