//! The only place the signer signs. It takes a [`ReservedOutflow`], never a raw PSBT, so
//! nothing can be signed that was not inspected and reserved first.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use bitcoin::bip32::{DerivationPath, Fingerprint, Xpriv};
use bitcoin::psbt::{GetKey, GetKeyError, KeyRequest, Psbt, SigningKeys};
use bitcoin::secp256k1::{All, Secp256k1, Signing};
use bitcoin::PrivateKey;

use crate::keys::KeyMaterial;
use crate::reservation::ReservedOutflow;

/// This signer's account keys for one signing: each account (the key origin path, e.g.
/// `84h/1h/0h`) is derived from the master once, so each input needs only its last two
/// derivation steps. Erased when dropped.
#[allow(missing_debug_implementations)] // holds private keys: no Debug at all
pub struct AccountKeys {
    fingerprint: Fingerprint,
    accounts: BTreeMap<DerivationPath, Xpriv>,
}

impl Drop for AccountKeys {
    fn drop(&mut self) {
        for key in self.accounts.values_mut() {
            key.private_key.non_secure_erase();
        }
    }
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
    pub fn for_psbt<C: Signing>(psbt: &Psbt, master: &Xpriv, secp: &Secp256k1<C>) -> Result<AccountKeys> {
        let fingerprint = master.fingerprint(secp);
        let mut accounts = BTreeMap::new();
        let claims = psbt.inputs.iter().flat_map(|i| {
            i.bip32_derivation
                .values()
                .chain(i.tap_key_origins.values().map(|(_, origin)| origin))
        });
        for (fp, path) in claims {
            if *fp != fingerprint {
                continue;
            }
            if let Some((account, _)) = split_account(path) {
                if let std::collections::btree_map::Entry::Vacant(slot) = accounts.entry(account) {
                    let key = master.derive_priv(secp, slot.key())?;
                    slot.insert(key);
                }
            }
        }
        Ok(AccountKeys {
            fingerprint,
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
        let KeyRequest::Bip32((fingerprint, path)) = request else {
            return Ok(None);
        };
        if fingerprint != self.fingerprint {
            return Ok(None);
        }
        let Some((account, rest)) = split_account(&path) else {
            return Ok(None);
        };
        match self.accounts.get(&account) {
            Some(key) => Ok(Some(
                key.derive_priv(secp, &rest)
                    .map_err(GetKeyError::Bip32)?
                    .to_priv(),
            )),
            None => Ok(None),
        }
    }
}

/// Signs every input of the reserved PSBT with this signer's key.
pub fn sign(reserved: ReservedOutflow, keys: &KeyMaterial, secp: &Secp256k1<All>) -> Result<Psbt> {
    let inputs = reserved.review().inputs.len();
    let mut psbt = reserved.into_psbt();
    let account_keys = AccountKeys::for_psbt(&psbt, keys.master(), secp)?;
    let signed = match psbt.sign(&account_keys, secp) {
        Ok(signed) => signed,
        Err((_, errors)) => bail!("signing failed: {errors:?}"),
    };
    for index in 0..inputs {
        let count = match signed.get(&index) {
            Some(SigningKeys::Ecdsa(keys)) => keys.len(),
            Some(SigningKeys::Schnorr(keys)) => keys.len(),
            None => 0,
        };
        if count == 0 {
            bail!("input {index} names none of this signer's keys: nothing was signed for it");
        }
    }
    Ok(psbt)
}

/// A signing context blinded with fresh randomness (side-channel hardening).
pub fn signing_context() -> Secp256k1<All> {
    let mut secp = Secp256k1::new();
    secp.randomize(&mut rand::thread_rng());
    secp
}
