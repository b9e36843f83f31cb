//! Command files: the command's text form (`SLC1…`) on one line, exactly what the QR code
//! holds and what `sluice-signer limits apply --text` accepts. Officers pass this file
//! from machine to machine to collect signatures.

use std::path::Path;

use anyhow::{bail, Context, Result};
use sluice_fsutil::{write_file, Access, Existing};
use sluice_shared::limit_command::{decode_text, SignedLimitCommand, TEXT_PREFIX};

/// No command file or sheet image an officer handles comes near this.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a command file.
pub fn read(path: &Path) -> Result<SignedLimitCommand> {
    let text = read_bounded(path)?;
    let text = String::from_utf8(text)
        .with_context(|| format!("{} is not a limit command file (not text)", path.display()))?;
    decode_text(&text).with_context(|| format!("reading {}", path.display()))
}

/// Writes a command file atomically, owner-only (a signed command is as good as the
/// paper); `new` refuses to replace an existing file.
pub fn write(path: &Path, command: &SignedLimitCommand, new: bool) -> Result<()> {
    let text = format!("{}\n", command.encode_text()?);
    let existing = if new { Existing::Refuse } else { Existing::Replace };
    Ok(write_file(path, text.as_bytes(), Access::OwnerOnly, existing)?)
}

/// What `inspect` was given.
#[derive(Debug)]
pub enum Source {
    CommandFile,
    /// A PNG or JPEG image, with the number of QR codes found in it.
    Image {
        codes_found: usize,
    },
}

/// Reads a command from a command file or from a PNG/JPEG image of its QR code (a printed
/// sheet photographed or scanned).
pub fn read_any(path: &Path) -> Result<(SignedLimitCommand, Source)> {
    let bytes = read_bounded(path)?;
    let is_png = bytes.starts_with(b"\x89PNG\r\n\x1a\n");
    let is_jpeg = bytes.starts_with(&[0xff, 0xd8, 0xff]);
    if !is_png && !is_jpeg {
        return Ok((read(path)?, Source::CommandFile));
    }
    let texts =
        sluice_shared::qr_scan::scan_bytes(&bytes).with_context(|| format!("scanning {}", path.display()))?;
    let codes_found = texts.len();
    let mut commands: Vec<String> = texts
        .into_iter()
        .filter(|t| t.trim().to_ascii_uppercase().starts_with(TEXT_PREFIX))
        .collect();
    commands.dedup();
    match commands.as_slice() {
        [] => bail!(
            "{}: {codes_found} QR code(s) found, none of them a limit command",
            path.display()
        ),
        [text] => Ok((
            decode_text(text).with_context(|| format!("reading the QR code in {}", path.display()))?,
            Source::Image { codes_found },
        )),
        _ => bail!(
            "{}: {} different limit commands in one image: photograph one at a time",
            path.display(),
            commands.len()
        ),
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.len() > MAX_INPUT_BYTES {
        bail!("{} is too large to be a command or a sheet image", path.display());
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}
