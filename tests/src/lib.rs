//! Support for the end-to-end tests in `tests/tests/`: locating the built binaries and
//! making images look like phone photos or webcam frames.
#![forbid(unsafe_code)]

pub mod binaries;
pub mod degrade;
