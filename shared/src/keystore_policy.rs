//! What a keystore holding real keys must meet: key derivation at full strength unless
//! the network's coins are worthless, and a passphrase that is not trivially guessed.
//!
//! The weak key derivation ([`KdfParams::DANGEROUS_WEAK_FOR_TESTS`]) lets tests seal a
//! keystore in microseconds. A stolen keystore sealed with it falls to a brute force of
//! the passphrase just as fast, so it is a danger path: allowed on regtest and signet
//! only, refused at creation and again every time a keystore is opened.

use bitcoin::Network;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::keystore::KdfParams;
use crate::network::network_name;

/// The weakest key derivation a keystore on a real network may use: OWASP's minimum
/// for Argon2id (19 MiB, 2 passes). New keystores use [`KdfParams::RECOMMENDED`].
pub const MINIMUM_REAL_KDF: KdfParams = KdfParams {
    memory_kib: 19 * 1024,
    iterations: 2,
    parallelism: 1,
};

/// Shortest passphrase accepted for a new keystore.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// A passphrase this long may use a single character class (a diceware-style phrase of
/// lowercase words).
pub const ONE_CLASS_PASSPHRASE_CHARS: usize = 20;

/// Fewest different characters in a new passphrase.
pub const MIN_DISTINCT_CHARS: usize = 5;

/// Why a keystore is refused. Never contains the passphrase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeystorePolicyError {
    #[error("the keystore for {network} is sealed with {kdf}, the dangerous weak key derivation for tests: it is allowed only on regtest or signet (a stolen file would be brute-forced in moments); create a keystore without --dangerous-weak-kdf")]
    WeakKdfOnRealNetwork { network: String, kdf: KdfParams },
    #[error("the passphrase is too weak: {rule}; choose at least 12 characters mixing letters, digits, spaces or symbols (or a phrase of 20 characters or more)")]
    WeakPassphrase { rule: &'static str },
}

/// Whether `network`'s coins are worthless, so test shortcuts are acceptable there.
pub fn is_test_network(network: Network) -> bool {
    matches!(network, Network::Regtest | Network::Signet)
}

/// Refuses key derivation weaker than [`MINIMUM_REAL_KDF`] outside regtest and signet.
/// Checked when a keystore is created and whenever one is opened.
pub fn check_kdf(kdf: &KdfParams, network: Network) -> Result<(), KeystorePolicyError> {
    let weak = kdf.memory_kib < MINIMUM_REAL_KDF.memory_kib || kdf.iterations < MINIMUM_REAL_KDF.iterations;
    if weak && !is_test_network(network) {
        return Err(KeystorePolicyError::WeakKdfOnRealNetwork {
            network: network_name(network).to_owned(),
            kdf: *kdf,
        });
    }
    Ok(())
}

/// The strength a new keystore's passphrase needs: at least [`MIN_PASSPHRASE_CHARS`]
/// characters, at least [`MIN_DISTINCT_CHARS`] different ones, and two character classes
/// (lowercase, uppercase, digits, anything else including spaces) unless it has
/// [`ONE_CLASS_PASSPHRASE_CHARS`] or more. A floor against the trivially guessed, not an
/// estimate of entropy: the key derivation does the rest.
pub fn check_new_passphrase(passphrase: &SecretString) -> Result<(), KeystorePolicyError> {
    let text = passphrase.expose_secret();
    let weak = |rule| Err(KeystorePolicyError::WeakPassphrase { rule });
    let chars = text.chars().count();
    if chars < MIN_PASSPHRASE_CHARS {
        return weak("it is shorter than 12 characters");
    }
    let mut distinct: Zeroizing<Vec<u32>> = Zeroizing::new(text.chars().map(u32::from).collect());
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_DISTINCT_CHARS {
        return weak("it repeats fewer than 5 different characters");
    }
    let classes = [
        text.chars().any(|c| c.is_lowercase()),
        text.chars().any(|c| c.is_uppercase()),
        text.chars().any(|c| c.is_numeric()),
        text.chars().any(|c| !c.is_alphanumeric()),
    ]
    .into_iter()
    .filter(|&present| present)
    .count();
    if classes < 2 && chars < ONE_CLASS_PASSPHRASE_CHARS {
        return weak("it uses one kind of character only (all lowercase, all digits, ...)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), KeystorePolicyError> {
        check_new_passphrase(&SecretString::from(text.to_owned()))
    }

    #[test]
    fn trivially_guessed_passphrases_are_refused_and_the_error_does_not_show_them() {
        for weak in [
            "",
            "qwert",
            "short1!",
            "aaaaaaaaaaaaaaaa",
            "abcdefghijklm",
            "123456789012",
            "aaaaaaaaaaa1",
        ] {
            let err = check(weak).unwrap_err();
            assert!(
                matches!(err, KeystorePolicyError::WeakPassphrase { .. }),
                "{weak}"
            );
            if !weak.is_empty() {
                assert!(!err.to_string().contains(weak), "{err}");
            }
        }
        for fine in [
            "test passphrase",
            "Tr0ub4dor&3x!",
            "correcthorsebatterystaple",
            "e2e passphrase",
        ] {
            assert_eq!(check(fine), Ok(()), "{fine}");
        }
    }

    #[test]
    fn the_weak_kdf_is_for_regtest_and_signet_only() {
        let weak = KdfParams::DANGEROUS_WEAK_FOR_TESTS;
        for network in [Network::Regtest, Network::Signet] {
            assert_eq!(check_kdf(&weak, network), Ok(()));
        }
        for network in [Network::Bitcoin, Network::Testnet, Network::Testnet4] {
            assert!(matches!(
                check_kdf(&weak, network),
                Err(KeystorePolicyError::WeakKdfOnRealNetwork { .. })
            ));
            assert_eq!(check_kdf(&KdfParams::RECOMMENDED, network), Ok(()));
            assert_eq!(check_kdf(&MINIMUM_REAL_KDF, network), Ok(()));
        }
        let below = KdfParams {
            iterations: 1,
            ..KdfParams::RECOMMENDED
        };
        assert!(check_kdf(&below, Network::Bitcoin).is_err());
    }
}
