//! A signer's restricted-discovery public key for stealth mode: the x25519 key the
//! coordinator's onion service encrypts its descriptor to, written as Tor writes it,
//! `descriptor:x25519:<52 base32 characters>` (C tor's `authorized_clients/*.auth` lines;
//! arti reads the same). Only parsing and printing here; the Tor side is `sluice-tor`.

use std::fmt;
use std::str::FromStr;

use crate::limit_command::base32;

const PREFIX: &str = "descriptor:x25519:";

/// The public half of a signer's restricted-discovery key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TorClientKey([u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a restricted-discovery key: give the line `sluice-signer id` prints after `tor-key`, descriptor:x25519: followed by 52 base32 characters")]
pub struct TorClientKeyError(String);

impl TorClientKey {
    pub fn from_bytes(bytes: [u8; 32]) -> TorClientKey {
        TorClientKey(bytes)
    }

    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }
}

impl FromStr for TorClientKey {
    type Err = TorClientKeyError;

    fn from_str(text: &str) -> Result<Self, TorClientKeyError> {
        let text = text.trim();
        let error = || TorClientKeyError(text.chars().take(100).collect());
        let encoded = text.strip_prefix(PREFIX).ok_or_else(error)?;
        // Tor's base32 is case-insensitive; ours is canonical upper case.
        let bytes = base32::decode(&encoded.to_ascii_uppercase()).ok_or_else(error)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| error())?;
        Ok(TorClientKey(bytes))
    }
}

impl fmt::Display for TorClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", base32::encode(&self.0))
    }
}

impl fmt::Debug for TorClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TorClientKey({self})")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report

    use super::*;

    #[test]
    fn tor_format_round_trips() {
        // arti's documentation example (tor-hscrypto `HsClientDescEncKey`), both cases.
        let upper = "descriptor:x25519:ZPRRMIV6DV6SJFL7SFBSVLJ5VUNPGCDFEVZ7M23LTLVTCCXJQBKA";
        let key: TorClientKey = upper.parse().unwrap();
        assert_eq!(key.to_string(), upper);
        assert_eq!(
            upper
                .to_lowercase()
                .replace("descriptor:x25519:", PREFIX)
                .parse::<TorClientKey>()
                .unwrap(),
            key
        );
        assert_eq!(format!(" {upper}\n").parse::<TorClientKey>().unwrap(), key);
    }

    #[test]
    fn anything_else_is_refused_with_what_to_give() {
        let good = "descriptor:x25519:ZPRRMIV6DV6SJFL7SFBSVLJ5VUNPGCDFEVZ7M23LTLVTCCXJQBKA";
        for bad in [
            "",
            "descriptor:x25519:",
            &good[..good.len() - 1],
            &format!("{good}A"),
            &good.replace("x25519", "ed25519"),
            &good.replace("descriptor", "intro"),
            "descriptor:x25519:ZPRRMIV6DV6SJFL7SFBSVLJ5VUNPGCDFEVZ7M23LTLVTCCXJQBK1",
        ] {
            let error = bad.parse::<TorClientKey>().unwrap_err().to_string();
            assert!(error.contains("restricted-discovery key"), "{bad}: {error}");
        }
    }
}
