//! The only place the signer signs.
//!
//! [`sign`] takes a [`ReservedOutflow`], never a raw PSBT: that value exists only after
//! inspection, the signing plan ([`plan`]) and a durable reservation against the limits,
//! so nothing can be signed that skipped one of them. It signs with exactly the key paths
//! the plan fixed, and nothing else.
//!
//! The chain starts from a value only inspection makes: [`plan`] takes an
//! `InspectedPsbt`, never a PSBT and a review that nobody checked belong together.
//! Skipping inspection does not compile:
//!
//! ```compile_fail,E0308
//! use sluice_shared::bitcoin::bip32::Fingerprint;
//! use sluice_shared::bitcoin::psbt::Psbt;
//! use sluice_signer::signing;
//!
//! fn skip_inspection(psbt: Psbt, own: Fingerprint) {
//!     let _ = signing::plan(psbt, "hot", own);
//! }
//! ```
//!
//! and neither does signing a plan that was not reserved:
//!
//! ```compile_fail,E0308
//! use sluice_shared::bitcoin::secp256k1::{All, Secp256k1};
//! use sluice_signer::keys::KeyMaterial;
//! use sluice_signer::signing::{self, SigningPlan};
//!
//! fn skip_the_limits(plan: SigningPlan, keys: &KeyMaterial, secp: &Secp256k1<All>) {
//!     let _ = signing::sign(plan, keys, secp);
//! }
//! ```
//!
//! Private keys derived here live in [`SecretXpriv`]s, erased when the signing is done.

mod plan;

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::bip32::{DerivationPath, Fingerprint, Xpriv};
use bitcoin::psbt::{GetKey, GetKeyError, KeyRequest, Psbt, SigningKeys};
use bitcoin::secp256k1::{All, Secp256k1, Signing};
use bitcoin::PrivateKey;

pub use self::plan::{plan, SigningPlan, SigningRefusal};
use crate::keys::KeyMaterial;
use crate::reservation::ReservedOutflow;
use crate::secret_xpriv::SecretXpriv;

/// Why signing failed after the reservation (the reservation stands: fail closed).
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("the keystore's master key (fingerprint {found}) is not the key this PSBT was checked for ({expected})")]
    WrongKey {
        expected: Fingerprint,
        found: Fingerprint,
    },
    #[error("deriving a signing key: {0}")]
    Derivation(String),
    #[error("signing failed: {0}")]
    Failed(String),
    #[error("input {index} was not signed: the PSBT changed between checking and signing")]
    Unsigned { index: usize },
}

/// This signer's keys for one signing: each account (the key's origin path, e.g.
/// `84h/1h/0h`) derived from the master once, so each input needs only its last two
/// derivation steps; and only the full paths the signing plan allowed. This is the key
/// map `Psbt::sign` asks; each account key is a [`SecretXpriv`], erased on drop.
#[derive(Debug)]
pub struct AccountKeys {
    fingerprint: Fingerprint,
    allowed: BTreeSet<DerivationPath>,
    accounts: BTreeMap<DerivationPath, SecretXpriv>,
}

/// Splits `m/ACCOUNT/BRANCH/INDEX` into the account path and the last two steps.
fn split_account(path: &DerivationPath) -> Option<(DerivationPath, DerivationPath)> {
    let steps = path.as_ref();
    let at = steps.len().checked_sub(2)?;
    Some((
        DerivationPath::from(&steps[..at]),
        DerivationPath::from(&steps[at..]),
    ))
}

impl AccountKeys {
    /// Keys for exactly `allowed` (full paths below `master`).
    pub fn new<C: Signing>(
        master: &Xpriv,
        allowed: &BTreeSet<DerivationPath>,
        secp: &Secp256k1<C>,
    ) -> Result<AccountKeys, SigningError> {
        let mut accounts = BTreeMap::new();
        for path in allowed {
            let (account, _) = split_account(path)
                .ok_or_else(|| SigningError::Derivation(format!("{path} is not ACCOUNT/BRANCH/INDEX")))?;
            if let std::collections::btree_map::Entry::Vacant(slot) = accounts.entry(account) {
                let key = SecretXpriv::new(
                    master
                        .derive_priv(secp, slot.key())
                        .map_err(|e| SigningError::Derivation(e.to_string()))?,
                );
                slot.insert(key);
            }
        }
        Ok(AccountKeys {
            fingerprint: master.fingerprint(secp),
            allowed: allowed.clone(),
            accounts,
        })
    }
}

impl GetKey for AccountKeys {
    type Error = GetKeyError;

    fn get_key<C: Signing>(
        &self,
        request: KeyRequest,
        secp: &Secp256k1<C>,
    ) -> Result<Option<PrivateKey>, Self::Error> {
        // Keys are handed out only by (fingerprint, path), and only for planned paths.
        let KeyRequest::Bip32((fingerprint, path)) = request else {
            return Ok(None);
        };
        if fingerprint != self.fingerprint || !self.allowed.contains(&path) {
            return Ok(None);
        }
        let Some((account, rest)) = split_account(&path) else {
            return Ok(None);
        };
        match self.accounts.get(&account) {
            // The derived key is erased when `leaf` drops; the `PrivateKey` handed to the
            // library is a copy it uses for one signature and drops.
            Some(key) => {
                let leaf = key.derive(secp, &rest).map_err(GetKeyError::Bip32)?;
                Ok(Some(leaf.expose().to_priv()))
            }
            None => Ok(None),
        }
    }
}

/// Signs a PSBT in place with `keys` and checks that every input got a signature.
/// Public for the benchmark; the signer itself reaches it only through [`sign`].
pub fn sign_inputs(psbt: &mut Psbt, keys: &AccountKeys, secp: &Secp256k1<All>) -> Result<(), SigningError> {
    let signed = psbt
        .sign(keys, secp)
        .map_err(|(_, errors)| SigningError::Failed(format!("{errors:?}")))?;
    for index in 0..psbt.inputs.len() {
        let count = match signed.get(&index) {
            Some(SigningKeys::Ecdsa(keys)) => keys.len(),
            Some(SigningKeys::Schnorr(keys)) => keys.len(),
            None => 0,
        };
        if count == 0 {
            return Err(SigningError::Unsigned { index });
        }
    }
    Ok(())
}

/// Signs every input of the reserved PSBT with the planned keys of this signer.
pub fn sign(
    reserved: ReservedOutflow,
    keys: &KeyMaterial,
    secp: &Secp256k1<All>,
) -> Result<Psbt, SigningError> {
    let plan = reserved.into_plan();
    let found = keys.fingerprint();
    if found != plan.fingerprint {
        return Err(SigningError::WrongKey {
            expected: plan.fingerprint,
            found,
        });
    }
    let account_keys = AccountKeys::new(keys.master(), &plan.key_paths, secp)?;
    let mut psbt = plan.psbt;
    let signed = sign_inputs(&mut psbt, &account_keys, secp);
    // Erase the derived keys now, not when the caller is done with the signed PSBT.
    drop(account_keys);
    signed?;
    Ok(psbt)
}

/// A signing context blinded with fresh randomness (side-channel hardening).
pub fn signing_context() -> Secp256k1<All> {
    let mut secp = Secp256k1::new();
    secp.randomize(&mut rand::thread_rng());
    secp
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::Network;
    use std::str::FromStr;

    #[test]
    fn the_key_map_signs_only_planned_paths_and_prints_no_key() {
        let secp = Secp256k1::new();
        let master = Xpriv::new_master(Network::Regtest, &[3u8; 32]).unwrap();
        let planned = DerivationPath::from_str("m/84'/1'/0'/1/5").unwrap();
        let keys = AccountKeys::new(&master, &BTreeSet::from([planned.clone()]), &secp).unwrap();
        let shown = format!("{keys:?}");
        assert!(shown.contains("<secret>"), "{shown}");
        let account = master
            .derive_priv(&secp, &DerivationPath::from_str("m/84'/1'/0'").unwrap())
            .unwrap();
        assert!(!shown.contains(&account.to_string()), "{shown}");
        assert!(!shown.contains(&hex::encode(account.private_key.secret_bytes())));
        let fingerprint = master.fingerprint(&secp);
        let leaf = keys
            .get_key(KeyRequest::Bip32((fingerprint, planned.clone())), &secp)
            .unwrap()
            .unwrap();
        assert_eq!(leaf, master.derive_priv(&secp, &planned).unwrap().to_priv());
        let unplanned = DerivationPath::from_str("m/84'/1'/0'/1/6").unwrap();
        assert_eq!(
            keys.get_key(KeyRequest::Bip32((fingerprint, unplanned)), &secp)
                .unwrap(),
            None
        );
    }
}
