//! A coordinator reply as the online signer receives it: session list, receipt, error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_shared::fuzz_entry::signer_reply(data);
});
