//! Extended private keys held by the signer, erased when dropped.
//!
//! `Xpriv` is `Copy` and implements neither `Zeroize` nor a redacted `Debug`, so every
//! copy of one the signer keeps (the master key, the account keys derived for one
//! signing, each key derived from them) lives in a [`SecretXpriv`]: its secret key and
//! chain code are overwritten on drop (`non_secure_erase`, best effort: the compiler may
//! have left copies, and keys handed to `Psbt::sign` are copied inside the library), and
//! its `Debug` prints a placeholder. Drop them as soon as they are no longer needed.

use std::fmt;

use bitcoin::bip32::{ChainCode, DerivationPath, Xpriv};
use bitcoin::secp256k1::{Secp256k1, Signing};

/// An extended private key, erased on drop, never printed.
pub struct SecretXpriv(Xpriv);

impl SecretXpriv {
    pub fn new(key: Xpriv) -> SecretXpriv {
        SecretXpriv(key)
    }

    /// The key itself, for deriving and signing; keep no copy of it.
    pub fn expose(&self) -> &Xpriv {
        &self.0
    }

    /// The key at `path` below this one, wrapped in turn.
    pub fn derive<C: Signing>(
        &self,
        secp: &Secp256k1<C>,
        path: &DerivationPath,
    ) -> Result<SecretXpriv, bitcoin::bip32::Error> {
        self.0.derive_priv(secp, path).map(SecretXpriv)
    }

    /// Overwrites the secret key and the chain code.
    fn erase(&mut self) {
        self.0.private_key.non_secure_erase();
        self.0.chain_code = ChainCode::from([0u8; 32]);
    }
}

impl Drop for SecretXpriv {
    fn drop(&mut self) {
        self.erase();
    }
}

impl fmt::Debug for SecretXpriv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretXpriv(<secret>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::Network;
    use std::str::FromStr;

    fn key() -> Xpriv {
        Xpriv::new_master(Network::Regtest, &[7u8; 32]).unwrap()
    }

    #[test]
    fn erasing_overwrites_the_secret_key_and_chain_code() {
        let mut secret = SecretXpriv::new(key());
        assert_eq!(
            secret.expose().private_key.secret_bytes(),
            key().private_key.secret_bytes()
        );
        secret.erase();
        assert_ne!(
            secret.expose().private_key.secret_bytes(),
            key().private_key.secret_bytes()
        );
        assert_eq!(
            secret.expose().private_key.secret_bytes(),
            [1u8; 32],
            "secp256k1's erased value"
        );
        assert_eq!(secret.expose().chain_code, ChainCode::from([0u8; 32]));
    }

    #[test]
    fn derived_keys_are_wrapped_and_nothing_secret_is_printed() {
        let secp = Secp256k1::new();
        let master = SecretXpriv::new(key());
        let path = DerivationPath::from_str("m/84'/1'/0'").unwrap();
        let child = master.derive(&secp, &path).unwrap();
        assert_eq!(*child.expose(), key().derive_priv(&secp, &path).unwrap());
        for shown in [format!("{master:?}"), format!("{child:?}"), format!("{child:#?}")] {
            assert_eq!(shown, "SecretXpriv(<secret>)");
            assert!(!shown.contains("tprv"));
            assert!(!shown.contains(&hex::encode(key().private_key.secret_bytes())));
        }
    }
}
