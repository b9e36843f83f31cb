//! PSBT parsing and inspection against a 2-of-3 wallet on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_shared::fuzz_entry::psbt_inspect(data);
});
