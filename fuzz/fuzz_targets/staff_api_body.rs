//! The staff API's JSON bodies (requests the coordinator decodes, replies clients decode).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_shared::fuzz_entry::staff_api_body(data);
});
