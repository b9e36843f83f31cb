//! PSBT files on an SD card, the convention hardware wallets use: `NAME.psbt` in (BIP174
//! binary; base64 text accepted too) and `NAME-signed.psbt` out (binary), written
//! atomically so a pulled card or a crash never leaves half a file.

use std::io;
use std::path::{Path, PathBuf};

use bitcoin::psbt::Psbt;
use sluice_shared::psbt_v2::{self, PsbtVersion};

use sluice_fsutil::{write_file, Access, Existing, WriteError};

/// Largest PSBT file accepted (a 100-input 2-of-3 PSBT with full previous transactions is
/// well under 1 MiB).
pub const MAX_PSBT_FILE: u64 = 16 * 1024 * 1024;

/// Why a PSBT file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SdError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} is {size} bytes: too large for a PSBT (at most {MAX_PSBT_FILE})")]
    TooLarge { path: String, size: u64 },
    #[error(transparent)]
    NotPsbt(#[from] sluice_shared::sd_card::PsbtBytesError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("writing the PSBT in the version it came in: {0}")]
    Version(#[from] sluice_shared::psbt_v2::PsbtV2Error),
}

/// Parses BIP174 binary, or base64 text, from `origin` (named in errors).
pub fn parse_psbt(bytes: &[u8], origin: &str) -> Result<Psbt, SdError> {
    Ok(sluice_shared::sd_card::parse_psbt(bytes, origin)?)
}

/// Reads a PSBT file, of PSBT version 0 or 2, and the version it is in.
pub fn read_psbt_file(path: &Path) -> Result<(Psbt, PsbtVersion), SdError> {
    let read_error = |source| SdError::Read {
        path: path.display().to_string(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > MAX_PSBT_FILE {
        return Err(SdError::TooLarge {
            path: path.display().to_string(),
            size,
        });
    }
    let bytes = std::fs::read(path).map_err(read_error)?;
    Ok(sluice_shared::sd_card::parse_psbt_versioned(
        &bytes,
        &path.display().to_string(),
    )?)
}

/// Writes a PSBT in binary, in PSBT `version` (the one it was read in), atomically,
/// owner-only, never through a symlink (a re-signed PSBT replaces the earlier output).
pub fn write_psbt_file(path: &Path, psbt: &Psbt, version: &PsbtVersion) -> Result<(), SdError> {
    let bytes = psbt_v2::encode(psbt, version)?;
    Ok(write_file(path, &bytes, Access::OwnerOnly, Existing::Replace)?)
}

/// `NAME.psbt` → `NAME-signed.psbt`, beside it.
pub fn default_signed_path(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "transaction".to_owned());
    input.with_file_name(format!("{stem}-signed.psbt"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_shared::sd_card::PsbtBytesError;

    // The BIP174 test vector "PSBT with one P2PKH input and one P2SH-P2WPKH input", base64.
    const BIP174_VALID: &str = "cHNidP8BAKACAAAAAqsJSaCMWvfEm4IS9Bfi8Vqz9cM9zxU4IagTn4d6W3vkAAAAAAD+////qwlJoIxa98SbghL0F+LxWrP1wz3PFTghqBOfh3pbe+QBAAAAAP7///8CYDvqCwAAAAAZdqkUdopAu9dAy+gdmI5x3ipNXHE5ax2IrI4kAAAAAAAAGXapFG9GILVT+glechue4O/p+gOcykWXiKwAAAAAAAEHakcwRAIgR1lmF5fAGwNrJZKJSGhiGDR9iYZLcZ4ff89X0eURZYcCIFMJ6r9Wqk2Ikf/REf3xM286KdqGbX+EhtdVRs7tr5MZASEDXNxh/HupccC1AaZGoqg7ECy0OIEhfKaC3Ibi1z+ogpIAAQEgAOH1BQAAAAAXqRQ1RebjO4MsRwUPJNPuuTycA5SLx4cBBBYAFIXRNTfy4mVAWjTbr6nj3aAfuCMIAAAA";

    #[test]
    fn binary_and_base64_read_the_same_and_garbage_is_named() {
        let from_text = parse_psbt(BIP174_VALID.as_bytes(), "text").unwrap();
        let from_binary = parse_psbt(&from_text.serialize(), "binary").unwrap();
        assert_eq!(from_text, from_binary);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.psbt");
        write_psbt_file(&path, &from_text, &PsbtVersion::V0).unwrap();
        assert_eq!(read_psbt_file(&path).unwrap(), (from_text, PsbtVersion::V0));
        assert_eq!(default_signed_path(&path), dir.path().join("w-signed.psbt"));
        let err = parse_psbt(b"psbt\xff\x00junk", "card.psbt").unwrap_err();
        assert!(err.to_string().contains("card.psbt is not a valid PSBT"), "{err}");
        assert!(matches!(
            parse_psbt(b"  \n", "x"),
            Err(SdError::NotPsbt(PsbtBytesError::Empty { .. }))
        ));
        assert!(matches!(
            parse_psbt(b"not base64 at all!", "x"),
            Err(SdError::NotPsbt(PsbtBytesError::Invalid { .. }))
        ));
    }
}
