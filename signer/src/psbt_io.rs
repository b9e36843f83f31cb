//! PSBTs in and out: SD-card files (BIP174 binary; base64 accepted on input) and QR
//! images (BC-UR `ur:crypto-psbt`, animated when large).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bitcoin::psbt::Psbt;
use sluice_shared::qr;
use sluice_shared::ur_psbt::{encode_parts, PsbtPartDecoder, DEFAULT_MAX_FRAGMENT_LEN};

use crate::home::write_atomic;

/// Largest PSBT file accepted (a 100-input 2-of-3 PSBT is well under 1 MiB).
const MAX_PSBT_FILE: u64 = 16 * 1024 * 1024;

pub fn parse_psbt(bytes: &[u8], origin: &str) -> Result<Psbt> {
    if bytes.starts_with(b"psbt\xff") {
        return Psbt::deserialize(bytes).with_context(|| format!("{origin} is not a valid PSBT"));
    }
    let text = std::str::from_utf8(bytes).ok().map(str::trim).unwrap_or_default();
    if text.is_empty() {
        bail!("{origin} is empty or neither a binary nor a base64 PSBT");
    }
    text.parse::<Psbt>()
        .with_context(|| format!("{origin} is not a valid PSBT (binary BIP174 or base64)"))
}

/// Reads a PSBT file from an SD card.
pub fn read_file(path: &Path) -> Result<Psbt> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.len() > MAX_PSBT_FILE {
        bail!("{} is {} bytes: too large for a PSBT", path.display(), meta.len());
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse_psbt(&bytes, &path.display().to_string())
}

/// Reads a PSBT from QR images (photos or screenshots of the frames, any order).
pub fn read_qr(images: &[PathBuf]) -> Result<Psbt> {
    let mut decoder = PsbtPartDecoder::new();
    for path in images {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let texts = qr::decode_image_bytes(&bytes).with_context(|| format!("scanning {}", path.display()))?;
        for text in texts {
            decoder
                .receive(&text)
                .with_context(|| format!("QR code in {}", path.display()))?;
        }
    }
    let bytes = decoder
        .psbt_bytes()
        .context("reading the PSBT from the QR images")?;
    parse_psbt(&bytes, "the scanned QR codes")
}

/// Writes a signed PSBT in BIP174 binary, atomically.
pub fn write_file(path: &Path, psbt: &Psbt) -> Result<()> {
    write_atomic(path, &psbt.serialize())
}

/// Writes a PSBT as QR PNG frames `frame-001.png`, ... into `dir`.
pub fn write_qr(dir: &Path, psbt: &Psbt) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let parts = encode_parts(&psbt.serialize(), DEFAULT_MAX_FRAGMENT_LEN);
    let mut written = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let png = qr::render_png(part, 4).context("rendering a QR frame")?;
        let path = dir.join(format!("frame-{:03}.png", i + 1));
        write_atomic(&path, &png)?;
        written.push(path);
    }
    Ok(written)
}

/// `NAME.psbt` → `NAME-signed.psbt`, beside it.
pub fn default_signed_path(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "transaction".to_owned());
    input.with_file_name(format!("{stem}-signed.psbt"))
}
