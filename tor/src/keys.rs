//! The two kinds of Tor keys stealth mode needs, as 32 secret bytes each so that their
//! owners can keep them with their other secrets (the coordinator beside its identity key,
//! the signer sealed in its keystore) and hand them to arti at start.
//!
//! - [`OnionIdentityKey`] (ed25519): the coordinator's onion address is its public key, so
//!   the address a signer is given pins the coordinator.
//! - [`DiscoveryKey`] (x25519): a signer's restricted-discovery ("client authorization")
//!   key. The onion service encrypts its descriptor to the public halves of the registered
//!   signers' keys; without one, nobody learns how to reach the service.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use safelog::DisplayRedacted;
use tor_hscrypto::pk::{HsClientDescEncKey, HsClientDescEncSecretKey, HsId, HsIdKey, HsIdKeypair};
use tor_llcrypto::pk::{curve25519, ed25519};
use zeroize::Zeroizing;

use crate::TorError;

/// The coordinator's onion-service identity key (the ed25519 secret seed).
pub struct OnionIdentityKey(Zeroizing<[u8; 32]>);

impl OnionIdentityKey {
    pub fn generate(rng: &mut impl RngCore) -> OnionIdentityKey {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut seed[..]);
        OnionIdentityKey(seed)
    }

    pub fn from_bytes(seed: [u8; 32]) -> OnionIdentityKey {
        OnionIdentityKey(Zeroizing::new(seed))
    }

    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn keypair(&self) -> HsIdKeypair {
        let keypair = ed25519::Keypair::from_bytes(&self.0);
        HsIdKeypair::from(ed25519::ExpandedKeypair::from(&keypair))
    }

    pub(crate) fn hs_id(&self) -> HsId {
        HsId::from(HsIdKey::from(&self.keypair()))
    }

    /// `<56 characters>.onion`.
    pub fn onion_address(&self) -> String {
        self.hs_id().display_unredacted().to_string()
    }
}

impl fmt::Debug for OnionIdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OnionIdentityKey({})", self.onion_address())
    }
}

/// A signer's restricted-discovery secret key (x25519).
pub struct DiscoveryKey(Zeroizing<[u8; 32]>);

impl DiscoveryKey {
    pub fn generate(rng: &mut impl RngCore) -> DiscoveryKey {
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut secret[..]);
        DiscoveryKey(secret)
    }

    pub fn from_bytes(secret: [u8; 32]) -> DiscoveryKey {
        DiscoveryKey(Zeroizing::new(secret))
    }

    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn secret(&self) -> HsClientDescEncSecretKey {
        HsClientDescEncSecretKey::from(curve25519::StaticSecret::from(*self.0))
    }

    /// The public half, which the coordinator registers.
    pub fn public_key(&self) -> DiscoveryPublicKey {
        DiscoveryPublicKey(HsClientDescEncKey::from(&self.secret()))
    }
}

impl fmt::Debug for DiscoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DiscoveryKey({})", self.public_key())
    }
}

/// A restricted-discovery public key: `descriptor:x25519:<52 base32 characters>`, the
/// format C tor's `authorized_clients/*.auth` files and arti use.
#[derive(Clone, PartialEq, Eq)]
pub struct DiscoveryPublicKey(HsClientDescEncKey);

impl DiscoveryPublicKey {
    pub(crate) fn key(&self) -> &HsClientDescEncKey {
        &self.0
    }
}

impl FromStr for DiscoveryPublicKey {
    type Err = TorError;

    fn from_str(line: &str) -> Result<Self, TorError> {
        HsClientDescEncKey::from_str(line.trim())
            .map(DiscoveryPublicKey)
            .map_err(|_| TorError::BadDiscoveryKey(line.trim().to_owned()))
    }
}

impl fmt::Display for DiscoveryPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Lower case: the form C tor writes and the one we print for operators.
        write!(f, "{}", self.0.to_string().to_lowercase())
    }
}

impl fmt::Debug for DiscoveryPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DiscoveryPublicKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onion_address_is_56_characters_and_stable() {
        let key = OnionIdentityKey::from_bytes([7; 32]);
        let address = key.onion_address();
        assert_eq!(address.len(), 56 + ".onion".len(), "{address}");
        assert!(address.ends_with(".onion"));
        assert_eq!(OnionIdentityKey::from_bytes([7; 32]).onion_address(), address);
        assert_ne!(OnionIdentityKey::from_bytes([8; 32]).onion_address(), address);
    }

    #[test]
    fn discovery_public_key_line_round_trips_and_rejects_garbage() {
        let key = DiscoveryKey::from_bytes([9; 32]);
        let line = key.public_key().to_string();
        assert!(line.starts_with("descriptor:x25519:"), "{line}");
        let parsed: DiscoveryPublicKey = line.parse().expect("own line parses");
        assert_eq!(parsed, key.public_key());
        let upper: DiscoveryPublicKey = line
            .to_uppercase()
            .replace("DESCRIPTOR:X25519:", "descriptor:x25519:")
            .parse()
            .expect("case-insensitive");
        assert_eq!(upper, key.public_key());
        for bad in [
            "",
            "descriptor:x25519:",
            "descriptor:ed25519:aaaa",
            "x25519:abc",
            &line[..line.len() - 1],
        ] {
            let error = bad.parse::<DiscoveryPublicKey>().unwrap_err().to_string();
            assert!(error.contains("restricted-discovery key"), "{bad}: {error}");
        }
        // Secrets never reach Debug.
        let debug = format!("{key:?}");
        assert!(!debug.contains(&hex_of(&[9; 32])), "{debug}");
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
