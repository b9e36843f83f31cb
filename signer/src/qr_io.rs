//! PSBTs as QR codes, for a signer with no USB port: photos or screenshots of BC-UR
//! `ur:crypto-psbt` codes in (any order, one or several codes per image), PNG frames out
//! (`frame-001.png`, ...): a single code when the PSBT fits one comfortably, animated
//! multipart UR frames when it does not (what Sparrow, Keystone and SeedSigner speak).

use std::io;
use std::path::{Path, PathBuf};

use bitcoin::psbt::Psbt;
use sluice_fsutil::{write_file, Access, Existing, WriteError};
use sluice_shared::qr::{self, QrError};
use sluice_shared::ur_psbt::{PsbtPartDecoder, UrError};

use sluice_shared::psbt_v2::PsbtVersion;

use crate::sd::SdError;

pub use sluice_shared::ur_psbt::MAX_SINGLE_CODE_VERSION;

/// Pixels per QR module in written frames.
const MODULE_PX: u32 = 4;

/// Largest image file accepted.
const MAX_IMAGE_FILE: u64 = 64 * 1024 * 1024;

/// Why QR images could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum QrIoError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} is {size} bytes: too large for a QR image")]
    TooLarge { path: String, size: u64 },
    #[error("scanning {path}: {source}")]
    Scan {
        path: String,
        #[source]
        source: QrError,
    },
    #[error("the QR code in {path} is not part of a PSBT: {source}")]
    NotPsbt {
        path: String,
        #[source]
        source: UrError,
    },
    #[error("the scanned QR codes do not hold a whole PSBT yet: {0}; scan the missing frames too")]
    Incomplete(#[source] UrError),
    #[error("the scanned QR codes: {0}")]
    Psbt(#[from] SdError),
    #[error("{dir} already holds QR frames (frame-*.png): choose an empty directory, so frames of two PSBTs never mix")]
    FramesExist { dir: String },
    #[error("rendering a QR frame: {0}")]
    Render(#[source] QrError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

fn read_image(path: &Path) -> Result<Vec<u8>, QrIoError> {
    let read_error = |source| QrIoError::Read {
        path: path.display().to_string(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > MAX_IMAGE_FILE {
        return Err(QrIoError::TooLarge {
            path: path.display().to_string(),
            size,
        });
    }
    std::fs::read(path).map_err(read_error)
}

/// Reads a PSBT (version 0 or 2) from QR images (frames in any order; duplicates are
/// ignored), and the version it is in.
pub fn read_psbt_images(images: &[PathBuf]) -> Result<(Psbt, PsbtVersion), QrIoError> {
    let mut decoder = PsbtPartDecoder::new();
    for path in images {
        let bytes = read_image(path)?;
        let texts = qr::decode_image_bytes(&bytes).map_err(|source| QrIoError::Scan {
            path: path.display().to_string(),
            source,
        })?;
        for text in texts {
            decoder.receive(&text).map_err(|source| QrIoError::NotPsbt {
                path: path.display().to_string(),
                source,
            })?;
        }
    }
    let bytes = decoder.psbt_bytes().map_err(QrIoError::Incomplete)?;
    let parsed = sluice_shared::sd_card::parse_psbt_versioned(&bytes, "the scanned QR codes")
        .map_err(SdError::from)?;
    Ok(parsed)
}

/// The UR texts to show for `psbt` in PSBT `version`: one code when it fits, else
/// multipart fragments.
pub fn frames_for(psbt: &Psbt, version: &PsbtVersion) -> Result<Vec<String>, QrIoError> {
    let bytes = sluice_shared::psbt_v2::encode(psbt, version).map_err(SdError::from)?;
    Ok(sluice_shared::ur_psbt::frames_for(&bytes))
}

fn holds_frames(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("frame-") && name.ends_with(".png")
        })
    })
}

/// Writes `psbt` as QR PNG frames `frame-001.png`, ... into `dir` (created if needed,
/// refused if it already holds frames).
pub fn write_psbt_frames(dir: &Path, psbt: &Psbt, version: &PsbtVersion) -> Result<Vec<PathBuf>, QrIoError> {
    if holds_frames(dir) {
        return Err(QrIoError::FramesExist {
            dir: dir.display().to_string(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| QrIoError::Read {
        path: dir.display().to_string(),
        source,
    })?;
    let frames = frames_for(psbt, version)?;
    let mut written = Vec::with_capacity(frames.len());
    for (i, text) in frames.iter().enumerate() {
        let png = qr::render_png(text, MODULE_PX).map_err(QrIoError::Render)?;
        let path = dir.join(format!("frame-{:03}.png", i + 1));
        write_file(&path, &png, Access::OwnerOnly, Existing::Replace)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, ScriptBuf, Transaction, TxIn, TxOut};

    fn psbt_with_outputs(n: usize) -> Psbt {
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn::default()],
            output: (0..n)
                .map(|i| TxOut {
                    value: Amount::from_sat(1000 + i as u64),
                    script_pubkey: ScriptBuf::from_bytes(
                        vec![0x00, 0x14].into_iter().chain([i as u8; 20]).collect(),
                    ),
                })
                .collect(),
        };
        Psbt::from_unsigned_tx(tx).unwrap()
    }

    #[test]
    fn small_psbts_are_one_code_large_ones_animated_and_both_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let small = psbt_with_outputs(3);
        let frames = write_psbt_frames(&dir.path().join("small"), &small, &PsbtVersion::V0).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(
            read_psbt_images(&frames).unwrap(),
            (small.clone(), PsbtVersion::V0)
        );

        let large = psbt_with_outputs(80);
        let mut frames = write_psbt_frames(&dir.path().join("large"), &large, &PsbtVersion::V0).unwrap();
        assert!(frames.len() > 1, "{} frames", frames.len());
        frames.reverse();
        assert_eq!(
            read_psbt_images(&frames).unwrap(),
            (large.clone(), PsbtVersion::V0)
        );

        let err = read_psbt_images(&frames[1..]).unwrap_err();
        assert!(matches!(err, QrIoError::Incomplete(_)), "{err}");
        let err = write_psbt_frames(&dir.path().join("large"), &large, &PsbtVersion::V0).unwrap_err();
        assert!(matches!(err, QrIoError::FramesExist { .. }), "{err}");
    }

    #[test]
    fn a_code_that_is_not_a_psbt_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.png");
        std::fs::write(&path, qr::render_png("HELLO WORLD", 4).unwrap()).unwrap();
        let err = read_psbt_images(&[path]).unwrap_err();
        assert!(matches!(err, QrIoError::NotPsbt { .. }), "{err}");
        assert!(err.to_string().contains("other.png"), "{err}");
    }
}
