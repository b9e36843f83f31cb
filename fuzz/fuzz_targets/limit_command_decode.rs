//! Limit-command decoding and verification on arbitrary text and bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_shared::fuzz_entry::limit_command(data);
});
