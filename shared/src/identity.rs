//! Identities: the signer's identity key and id, and fingerprints of officer keys.
//!
//! A signer's identity key is a BIP32 child of its seed at [`SIGNER_IDENTITY_PATH`]. Its
//! x-only public key names the signer: limit commands target a [`SignerId`], and online
//! signers authenticate requests with it. Officer keys are plain BIP340 keys held by
//! `limitctl`.

use std::fmt;
use std::str::FromStr;

use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::secp256k1::XOnlyPublicKey;

/// Hardened path of the identity key below the signer's master key. Outside BIP44's
/// purpose numbers so it never collides with a wallet account.
pub const SIGNER_IDENTITY_PATH: &str = "m/1936482662h/0h";

/// Hardened path whose child key, hashed under the tag `sluice/tor-discovery-key`, is the
/// signer's restricted-discovery (x25519) secret for stealth mode. A seed restored from
/// its backup gives the same key, so a restored signer needs no new registration.
pub const SIGNER_TOR_KEY_PATH: &str = "m/1936482662h/1h";

/// Tagged SHA-256 as in BIP340: `sha256(sha256(tag) || sha256(tag) || data)`.
pub fn tagged_hash(tag: &str, data: &[u8]) -> [u8; 32] {
    let tag_hash = sha256::Hash::hash(tag.as_bytes());
    let mut engine = sha256::Hash::engine();
    engine.input(tag_hash.as_ref());
    engine.input(tag_hash.as_ref());
    engine.input(data);
    sha256::Hash::from_engine(engine).to_byte_array()
}

/// The name of one signer: the first 8 bytes of a tagged hash of its identity key,
/// written as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignerId(pub [u8; 8]);

impl SignerId {
    pub fn from_identity_key(key: &XOnlyPublicKey) -> SignerId {
        let hash = tagged_hash("sluice/signer-id", &key.serialize());
        let mut id = [0u8; 8];
        id.copy_from_slice(&hash[..8]);
        SignerId(id)
    }
}

impl fmt::Display for SignerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// The text was not a signer id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid signer id {0:?}: expected 16 hex digits as printed by `sluice-signer id`")]
pub struct InvalidSignerId(pub String);

impl FromStr for SignerId {
    type Err = InvalidSignerId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s.trim()).map_err(|_| InvalidSignerId(s.to_owned()))?;
        let id: [u8; 8] = bytes.try_into().map_err(|_| InvalidSignerId(s.to_owned()))?;
        Ok(SignerId(id))
    }
}

/// Short fingerprint of an officer's public key as printed on sheets and by
/// `limitctl pubkey`: the first 4 bytes of a tagged hash, 8 hex digits.
pub fn officer_key_fingerprint(key: &XOnlyPublicKey) -> String {
    let hash = tagged_hash("sluice/officer-key", &key.serialize());
    hex::encode(&hash[..4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signer_id_round_trips_and_is_stable() {
        // BIP340 test vector 0's public key.
        let key =
            XOnlyPublicKey::from_str("F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9")
                .expect("valid key");
        let id = SignerId::from_identity_key(&key);
        assert_eq!(id.to_string().len(), 16);
        assert_eq!(id.to_string().parse::<SignerId>(), Ok(id));
        assert!("xyz".parse::<SignerId>().is_err());
        assert_eq!(officer_key_fingerprint(&key).len(), 8);
    }
}
