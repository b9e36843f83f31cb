//! Strict parsing of BIP32 extended keys (`xpub`/`tpub`, `xprv`/`tprv`).
//!
//! `bitcoin::bip32` is Sluice's BIP32 implementation, but its 0.32 parser accepts seven of
//! the sixteen keys BIP32 test vector 5 lists as invalid: a master key (depth 0) with a
//! non-zero parent fingerprint or child number, and an xprv whose key data does not start
//! with the 0x00 padding byte. A key that breaks the encoding rules was not made by a
//! correct wallet, so Sluice refuses it before handing the rest to `bitcoin::bip32`.

use std::str::FromStr;

use bitcoin::base58;
use bitcoin::bip32::{ChildNumber, Fingerprint, Xpriv, Xpub};

/// Why an extended key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtendedKeyError {
    #[error("not a valid extended key: {0}")]
    Invalid(String),
    #[error("a master key (depth 0) must have parent fingerprint 00000000 and child number 0")]
    MasterWithParent,
    #[error("the private key data of an xprv must start with a 0x00 byte")]
    PrivateKeyPadding,
}

/// Byte offsets in the 78-byte BIP32 serialization.
const DEPTH: usize = 4;
const PARENT_FINGERPRINT: std::ops::Range<usize> = 5..9;
const CHILD_NUMBER: std::ops::Range<usize> = 9..13;
const KEY_DATA: usize = 45;

/// Parses an xpub/tpub, refusing what BIP32 calls invalid even where `bitcoin` accepts it.
pub fn parse_xpub(text: &str) -> Result<Xpub, ExtendedKeyError> {
    let xpub = Xpub::from_str(text.trim()).map_err(|e| ExtendedKeyError::Invalid(e.to_string()))?;
    check_xpub(&xpub)?;
    Ok(xpub)
}

/// Parses an xprv/tprv, refusing what BIP32 calls invalid even where `bitcoin` accepts it.
/// The caller owns the secret: keep the text and the result in zeroizing storage.
pub fn parse_xpriv(text: &str) -> Result<Xpriv, ExtendedKeyError> {
    let data = base58::decode_check(text.trim()).map_err(|e| ExtendedKeyError::Invalid(e.to_string()))?;
    if data.len() == 78 && data[KEY_DATA] != 0 {
        return Err(ExtendedKeyError::PrivateKeyPadding);
    }
    let xpriv = Xpriv::decode(&data).map_err(|e| ExtendedKeyError::Invalid(e.to_string()))?;
    if data.len() == 78 {
        let is_master = data[DEPTH] == 0;
        let has_parent =
            data[PARENT_FINGERPRINT].iter().any(|b| *b != 0) || data[CHILD_NUMBER].iter().any(|b| *b != 0);
        if is_master && has_parent {
            return Err(ExtendedKeyError::MasterWithParent);
        }
    }
    Ok(xpriv)
}

/// Checks the fields of an already decoded xpub (e.g. one miniscript parsed inside a
/// descriptor) against the rules `bitcoin` does not enforce.
pub fn check_xpub(xpub: &Xpub) -> Result<(), ExtendedKeyError> {
    if xpub.depth == 0
        && (xpub.parent_fingerprint != Fingerprint::default()
            || xpub.child_number != ChildNumber::Normal { index: 0 })
    {
        return Err(ExtendedKeyError::MasterWithParent);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER_XPRV: &str = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi";
    const MASTER_XPUB: &str = "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8";

    #[test]
    fn valid_keys_parse() {
        assert_eq!(parse_xpriv(MASTER_XPRV).unwrap().to_string(), MASTER_XPRV);
        assert_eq!(parse_xpub(MASTER_XPUB).unwrap().to_string(), MASTER_XPUB);
        // A derived key (depth 1, with a parent) is fine.
        let child = "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw";
        assert!(parse_xpub(child).is_ok());
    }

    #[test]
    fn refuses_what_bitcoin_accepts() {
        // From BIP32 test vector 5.
        assert_eq!(
            parse_xpriv("xprv9s21ZrQH143K24Mfq5zL5MhWK9hUhhGbd45hLXo2Pq2oqzMMo63oStZzFGTQQD3dC4H2D5GBj7vWvSQaaBv5cxi9gafk7NF3pnBju6dwKvH"),
            Err(ExtendedKeyError::PrivateKeyPadding)
        );
        assert_eq!(
            parse_xpub("xpub661no6RGEX3uJkY4bNnPcw4URcQTrSibUZ4NqJEw5eBkv7ovTwgiT91XX27VbEXGENhYRCf7hyEbWrR3FewATdCEebj6znwMfQkhRYHRLpJ"),
            Err(ExtendedKeyError::MasterWithParent)
        );
        assert_eq!(
            parse_xpriv("xprv9s21ZrQH4r4TsiLvyLXqM9P7k1K3EYhA1kkD6xuquB5i39AU8KF42acDyL3qsDbU9NmZn6MsGSUYZEsuoePmjzsB3eFKSUEh3Gu1N3cqVUN"),
            Err(ExtendedKeyError::MasterWithParent)
        );
        assert!(matches!(
            parse_xpub(MASTER_XPRV),
            Err(ExtendedKeyError::Invalid(_))
        ));
    }
}
