//! A PSBT file from the SD card, binary or base64, as the signer reads it.

use super::{check_inspection, check_psbt_round_trip};
use crate::sd_card::{parse_psbt, PsbtBytesError};

/// Parses the file; a PSBT that comes out survives a round trip and is inspected; a
/// refusal names the file.
pub fn sd_card_psbt(data: &[u8]) {
    match parse_psbt(data, "fuzz.psbt") {
        Ok(psbt) => {
            check_psbt_round_trip(&psbt);
            check_inspection(&psbt);
        }
        Err(PsbtBytesError::Empty { origin } | PsbtBytesError::Invalid { origin, .. }) => {
            assert_eq!(origin, "fuzz.psbt");
        }
    }
}
