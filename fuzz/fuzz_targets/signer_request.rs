//! A signer API request as the coordinator receives it: auth headers, method and path, body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_shared::fuzz_entry::signer_request(data);
});
