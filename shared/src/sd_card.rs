//! The SD-card codec for PSBTs: what a `NAME.psbt` file holds. BIP174 binary is the
//! convention hardware wallets use; base64 text is accepted too, as Bitcoin Core and most
//! wallets export it. Both PSBT versions are read: 0 (BIP174) and 2 (BIP370, what Bitcoin
//! Core 31 makes by default).

use bitcoin::base64::prelude::{Engine, BASE64_STANDARD};
use bitcoin::psbt::Psbt;

use crate::psbt_v2::{self, PsbtVersion};

/// The bytes of a PSBT file were not a PSBT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PsbtBytesError {
    #[error("{origin} is empty or neither a binary nor a base64 PSBT")]
    Empty { origin: String },
    #[error("{origin} is not a valid PSBT (binary BIP174 or base64): {reason}")]
    Invalid { origin: String, reason: String },
}

/// Parses BIP174 binary, or base64 text, from `origin` (named in errors), of PSBT
/// version 0 or 2 (BIP370); a version 2 PSBT comes back as the version 0 `Psbt` of the
/// same transaction, with what writing it as version 2 again needs
/// ([`crate::psbt_v2::encode`]).
pub fn parse_psbt_versioned(bytes: &[u8], origin: &str) -> Result<(Psbt, PsbtVersion), PsbtBytesError> {
    let invalid = |reason: String| PsbtBytesError::Invalid {
        origin: origin.to_owned(),
        reason,
    };
    if bytes.starts_with(b"psbt\xff") {
        return psbt_v2::decode(bytes).map_err(|e| invalid(e.to_string()));
    }
    let text = std::str::from_utf8(bytes).map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(PsbtBytesError::Empty {
            origin: origin.to_owned(),
        });
    }
    let binary = BASE64_STANDARD
        .decode(text)
        .map_err(|e| invalid(format!("base64: {e}")))?;
    psbt_v2::decode(&binary).map_err(|e| invalid(e.to_string()))
}

/// [`parse_psbt_versioned`] for callers that write no PSBT back.
pub fn parse_psbt(bytes: &[u8], origin: &str) -> Result<Psbt, PsbtBytesError> {
    parse_psbt_versioned(bytes, origin).map(|(psbt, _)| psbt)
}
