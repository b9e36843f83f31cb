//! The process-wide secp256k1 contexts: one for the public-key work of the shared rules, one
//! for the Schnorr signatures a program makes with its own keys.
//!
//! Deriving scripts from xpubs (BIP32 public derivation, taproot output keys) needs a
//! verification context. The workspace enables `rand-std`, so every
//! `Secp256k1::verification_only()` is allocated and randomized with fresh randomness:
//! made per input, that cost as much as the derivation itself. Blinding protects secret
//! keys, and this context never sees one, so one context made once serves every caller.

use std::sync::OnceLock;

use bitcoin::secp256k1::{All, Secp256k1, VerifyOnly};

/// The process-wide verification context (public keys only: never sign with it).
pub fn verification() -> &'static Secp256k1<VerifyOnly> {
    static CONTEXT: OnceLock<Secp256k1<VerifyOnly>> = OnceLock::new();
    CONTEXT.get_or_init(Secp256k1::verification_only)
}

/// The process-wide signing context: every signature a program makes with its own keys
/// (the signer's PSBT signatures and request authentication, the coordinator's audit log
/// entries, limit commands). Made once and blinded with fresh randomness (side-channel
/// hardening) when first used, as Bitcoin Core makes one per process: making one costs an
/// allocation and a randomization, as much as a signature.
pub fn signing() -> &'static Secp256k1<All> {
    static CONTEXT: OnceLock<Secp256k1<All>> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        let mut secp = Secp256k1::new();
        secp.randomize(&mut bitcoin::secp256k1::rand::thread_rng());
        secp
    })
}
