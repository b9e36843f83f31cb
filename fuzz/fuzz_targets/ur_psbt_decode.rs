//! The UR/base64 PSBT part decoder on arbitrary scanned text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_shared::fuzz_entry::ur_psbt(data);
});
