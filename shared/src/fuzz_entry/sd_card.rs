//! A PSBT file from the SD card, binary or base64, as the signer reads it.

use super::{check_inspection, check_psbt_round_trip};
use crate::psbt_v2;
use crate::sd_card::{parse_psbt_versioned, PsbtBytesError};

/// Parses the file; a PSBT that comes out survives a round trip (in the version it came
/// in, too) and is inspected; a refusal names the file.
pub fn sd_card_psbt(data: &[u8]) {
    match parse_psbt_versioned(data, "fuzz.psbt") {
        Ok((psbt, version)) => {
            let written = psbt_v2::encode(&psbt, &version).expect("a PSBT read is written in its version");
            let (again, same) = psbt_v2::decode(&written).expect("a PSBT written re-reads");
            assert_eq!((&again, &same), (&psbt, &version));
            check_psbt_round_trip(&psbt);
            check_inspection(&psbt);
        }
        Err(PsbtBytesError::Empty { origin } | PsbtBytesError::Invalid { origin, .. }) => {
            assert_eq!(origin, "fuzz.psbt");
        }
    }
}
