//! A camera's raw frame (YUYV or GREY, any claimed layout) read as a grey image.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_shared::fuzz_entry::camera_frame(data);
});
