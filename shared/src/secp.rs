//! One secp256k1 context for the public-key work of the shared rules.
//!
//! Deriving scripts from xpubs (BIP32 public derivation, taproot output keys) needs a
//! verification context. The workspace enables `rand-std`, so every
//! `Secp256k1::verification_only()` is allocated and randomized with fresh randomness:
//! made per input, that cost as much as the derivation itself. Blinding protects secret
//! keys, and this context never sees one, so one context made once serves every caller.

use std::sync::OnceLock;

use bitcoin::secp256k1::{Secp256k1, VerifyOnly};

/// The process-wide verification context (public keys only: never sign with it).
pub fn verification() -> &'static Secp256k1<VerifyOnly> {
    static CONTEXT: OnceLock<Secp256k1<VerifyOnly>> = OnceLock::new();
    CONTEXT.get_or_init(Secp256k1::verification_only)
}
