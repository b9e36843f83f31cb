//! The only place the signer signs. It takes a [`ReservedOutflow`], never a raw PSBT, so
//! nothing can be signed that was not inspected and reserved first.

use anyhow::{bail, Result};
use bitcoin::psbt::{Psbt, SigningKeys};
use bitcoin::secp256k1::{All, Secp256k1};

use crate::keys::KeyMaterial;
use crate::reservation::ReservedOutflow;

/// Signs every input of the reserved PSBT with this signer's key.
pub fn sign(reserved: ReservedOutflow, keys: &KeyMaterial, secp: &Secp256k1<All>) -> Result<Psbt> {
    let inputs = reserved.review().inputs.len();
    let mut psbt = reserved.into_psbt();
    let signed = match psbt.sign(keys.master(), secp) {
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
