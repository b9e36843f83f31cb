//! The Sluice coordinator: withdrawal intake and approval, batching, signing sessions,
//! broadcasting, chain monitoring, and the simnet chain used for development and tests.
#![forbid(unsafe_code)]

pub mod chain;
pub mod simnet;
