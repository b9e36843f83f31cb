//! The video reader (APNG, YUV4MPEG2) on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_shared::fuzz_entry::video_frames(data);
});
