//! A Bitcoin Core JSON-RPC reply (HTTP status chosen by the first byte, then the body).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_coordinator::fuzz_entry::core_rpc_reply(data);
});
