//! Support for the end-to-end tests in `tests/tests/`: locating the built binaries, a real
//! Bitcoin Core node, driving a signer home, the Bitcoin Core fixtures, the hostile
//! coordinator, replaying calls through simnet and Core, and making images look like phone
//! photos or webcam frames.
#![forbid(unsafe_code)]

pub mod binaries;
pub mod bitcoind;
pub mod degrade;
pub mod fixtures;
pub mod hostile;
pub mod hot_wallet;
pub mod replay;
pub mod signer;
pub mod test_chain;
pub mod tor;
