//! The SD-card codec for PSBTs: what a `NAME.psbt` file holds. BIP174 binary is the
//! convention hardware wallets use; base64 text is accepted too, as Bitcoin Core and most
//! wallets export it.

use bitcoin::psbt::Psbt;

/// The bytes of a PSBT file were not a PSBT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PsbtBytesError {
    #[error("{origin} is empty or neither a binary nor a base64 PSBT")]
    Empty { origin: String },
    #[error("{origin} is not a valid PSBT (binary BIP174 or base64): {reason}")]
    Invalid { origin: String, reason: String },
}

/// Parses BIP174 binary, or base64 text, from `origin` (named in errors).
pub fn parse_psbt(bytes: &[u8], origin: &str) -> Result<Psbt, PsbtBytesError> {
    let invalid = |reason: String| PsbtBytesError::Invalid {
        origin: origin.to_owned(),
        reason,
    };
    if bytes.starts_with(b"psbt\xff") {
        return Psbt::deserialize(bytes).map_err(|e| invalid(e.to_string()));
    }
    let text = std::str::from_utf8(bytes).map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(PsbtBytesError::Empty {
            origin: origin.to_owned(),
        });
    }
    text.parse::<Psbt>().map_err(|e| invalid(e.to_string()))
}
