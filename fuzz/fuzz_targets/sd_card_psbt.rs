//! A PSBT file from the SD card, BIP174 binary or base64.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_shared::fuzz_entry::sd_card_psbt(data);
});
