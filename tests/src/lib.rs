//! Support for the end-to-end tests in `tests/tests/`: locating the built binaries, a real
//! Bitcoin Core node, and making images look like phone photos or webcam frames.
#![forbid(unsafe_code)]

pub mod binaries;
pub mod bitcoind;
pub mod degrade;
