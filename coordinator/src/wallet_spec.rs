//! Composing a wallet from its signers' exported keys (`[fingerprint/path]xpub`, what
//! `sluice-signer xpub` prints) into the descriptor every signer must register:
//! `wpkh(KEY/<0;1>/*)` or `wsh(sortedmulti(M,KEY1/<0;1>/*,...))`. The result is checked by
//! the same `WalletDescriptor` the signers use, so coordinator and signers agree on every
//! script.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use bitcoin::Network;
use miniscript::descriptor::{Descriptor, DescriptorPublicKey, Wildcard};
use sluice_shared::descriptor::{DescriptorError, WalletDescriptor};

/// The script template, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletKindArg {
    Wpkh,
    WshSortedMulti,
}

impl FromStr for WalletKindArg {
    type Err = WalletSpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "wpkh" => Ok(WalletKindArg::Wpkh),
            "wsh-sortedmulti" => Ok(WalletKindArg::WshSortedMulti),
            other => Err(WalletSpecError::UnknownKind(other.to_owned())),
        }
    }
}

impl fmt::Display for WalletKindArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WalletKindArg::Wpkh => "wpkh",
            WalletKindArg::WshSortedMulti => "wsh-sortedmulti",
        })
    }
}

/// The most cosigners a `wsh(sortedmulti)` wallet may have (Bitcoin's standardness limit
/// for segwit multisig).
pub const MAX_COSIGNERS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletSpecError {
    #[error("unknown wallet kind {0:?}: use wpkh or wsh-sortedmulti")]
    UnknownKind(String),
    #[error("key {key:?} is not `[fingerprint/path]xpub` as `sluice-signer xpub` prints it: {reason}")]
    BadKey { key: String, reason: String },
    #[error("the same key appears twice: {0}")]
    DuplicateKey(String),
    #[error("wpkh takes exactly one --key (found {0}) and no --threshold other than 1")]
    WpkhShape(usize),
    #[error("wsh-sortedmulti needs --threshold M with 1 <= M <= number of keys ({keys}) <= {MAX_COSIGNERS}, got M = {threshold:?}")]
    MultisigShape { threshold: Option<u32>, keys: usize },
    #[error("the composed descriptor was refused: {0}")]
    Descriptor(DescriptorError),
}

impl From<DescriptorError> for WalletSpecError {
    fn from(e: DescriptorError) -> Self {
        WalletSpecError::Descriptor(e)
    }
}

/// A descriptor written the way Bitcoin Core writes it: hardened steps as `h` (no quote
/// marks to trip up a shell) and a checksum over that text.
pub fn core_notation(descriptor: &Descriptor<DescriptorPublicKey>) -> Result<String, WalletSpecError> {
    let body = format!("{descriptor:#}").replace('\'', "h");
    let mut engine = miniscript::descriptor::checksum::Engine::new();
    engine
        .input(&body)
        .map_err(|e| WalletSpecError::Descriptor(DescriptorError::Parse(e.to_string())))?;
    Ok(format!("{body}#{}", engine.checksum()))
}

/// A composed, validated wallet.
#[derive(Debug, Clone)]
pub struct ComposedWallet {
    pub descriptor: WalletDescriptor,
    /// One multipath descriptor with checksum: what operators register on each signer.
    pub multipath: String,
    /// `wpkh` or `wsh-sortedmulti-M-of-N`.
    pub kind_label: String,
}

/// Checks one `[fingerprint/path]xpub` and returns it trimmed.
fn check_key(key: &str) -> Result<String, WalletSpecError> {
    let key = key.trim();
    let bad = |reason: &str| WalletSpecError::BadKey {
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = DescriptorPublicKey::from_str(key).map_err(|e| bad(&e.to_string()))?;
    match parsed {
        DescriptorPublicKey::XPub(xkey) => {
            if xkey.origin.is_none() {
                return Err(bad("the [fingerprint/path] origin is missing"));
            }
            if !xkey.derivation_path.is_empty() || xkey.wildcard != Wildcard::None {
                return Err(bad(
                    "give the account key without /0/* or /<0;1>/*; branches are added here",
                ));
            }
            Ok(key.to_owned())
        }
        _ => Err(bad("an extended public key (xpub/tpub) is needed")),
    }
}

/// Composes and validates a wallet for `network`.
pub fn compose(
    kind: WalletKindArg,
    threshold: Option<u32>,
    keys: &[String],
    network: Network,
) -> Result<ComposedWallet, WalletSpecError> {
    let keys: Vec<String> = keys.iter().map(|k| check_key(k)).collect::<Result<_, _>>()?;
    let mut seen = BTreeSet::new();
    for key in &keys {
        // Compare the xpub part: the same key under two origins is still one signer.
        let xpub = key.rsplit(']').next().unwrap_or(key);
        if !seen.insert(xpub.to_owned()) {
            return Err(WalletSpecError::DuplicateKey(key.clone()));
        }
    }
    let branches: Vec<String> = keys.iter().map(|k| format!("{k}/<0;1>/*")).collect();
    let (text, kind_label) = match kind {
        WalletKindArg::Wpkh => {
            if keys.len() != 1 || threshold.is_some_and(|m| m != 1) {
                return Err(WalletSpecError::WpkhShape(keys.len()));
            }
            (format!("wpkh({})", branches.join(",")), "wpkh".to_owned())
        }
        WalletKindArg::WshSortedMulti => {
            let n = keys.len();
            let m = match threshold {
                Some(m) if m >= 1 && (m as usize) <= n && n <= MAX_COSIGNERS => m,
                _ => return Err(WalletSpecError::MultisigShape { threshold, keys: n }),
            };
            (
                format!("wsh(sortedmulti({m},{}))", branches.join(",")),
                format!("wsh-sortedmulti-{m}-of-{n}"),
            )
        }
    };
    let descriptor = WalletDescriptor::parse(&text, None)?;
    descriptor.check_network(network)?;
    let multipath = core_notation(
        &Descriptor::<DescriptorPublicKey>::from_str(&text)
            .map_err(|e| DescriptorError::Parse(e.to_string()))?,
    )?;
    Ok(ComposedWallet {
        descriptor,
        multipath,
        kind_label,
    })
}

#[cfg(test)]
#[path = "wallet_spec_tests.rs"]
mod tests;
