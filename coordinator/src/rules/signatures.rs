//! Which partial signatures a signing session accepts. The coordinator checks each one
//! itself against the transaction it built before storing it: a signer (or a file from an
//! SD card) cannot slip in a signature for another transaction, by a key outside the
//! wallet, with a sighash type that lets it be reused, or one that does not verify.
//!
//! Wallets here are `wpkh` and `wsh(sortedmulti)`: ECDSA over BIP143 sighashes.

use bitcoin::bip32::Fingerprint;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{Message, Secp256k1, Verification};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{ecdsa, PublicKey, ScriptBuf};

/// A signature that verified against the session's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    pub input_index: u32,
    pub pubkey: PublicKey,
    pub signature: ecdsa::Signature,
}

/// Why signatures were refused. Nothing of a refused submission is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureRefusal {
    #[error("the PSBT is for another transaction ({found}), not this session's ({expected})")]
    OtherTransaction { expected: String, found: String },
    #[error("the PSBT carries no partial signature")]
    NoSignatures,
    #[error("input {index}: sighash type {found} is not SIGHASH_ALL")]
    SighashType { index: usize, found: String },
    #[error("input {index}: key {pubkey} is not one of this wallet's keys for the input")]
    ForeignKey { index: usize, pubkey: PublicKey },
    #[error(
        "input {index}: key {pubkey} belongs to signer {owner}, not to the signer that sent it ({sender})"
    )]
    NotSendersKey {
        index: usize,
        pubkey: PublicKey,
        owner: Fingerprint,
        sender: Fingerprint,
    },
    #[error("input {index}: the signature by {pubkey} does not verify against this transaction")]
    BadSignature { index: usize, pubkey: PublicKey },
    #[error("input {index}: taproot signatures are not accepted for this wallet kind")]
    Taproot { index: usize },
    #[error(
        "input {index}: the session's PSBT lacks what the sighash needs ({what}); the session is damaged"
    )]
    SessionIncomplete { index: usize, what: &'static str },
}

/// Checks every partial signature in `submitted` against `session` (the PSBT the
/// coordinator built and stored). With `sender`, every key must be under that master
/// fingerprint: an online signer posts only its own signatures. Returns them all, or
/// the first refusal.
pub fn verify_partial_signatures<C: Verification>(
    secp: &Secp256k1<C>,
    session: &Psbt,
    submitted: &Psbt,
    sender: Option<Fingerprint>,
) -> Result<Vec<VerifiedSignature>, SignatureRefusal> {
    let expected = session.unsigned_tx.compute_txid();
    let found = submitted.unsigned_tx.compute_txid();
    // The txid ignores witnesses but covers every input, output, amount and lock time;
    // sequence numbers and version are in it too.
    if expected != found || submitted.inputs.len() != session.inputs.len() {
        return Err(SignatureRefusal::OtherTransaction {
            expected: expected.to_string(),
            found: found.to_string(),
        });
    }
    let mut cache = SighashCache::new(&session.unsigned_tx);
    let mut verified = Vec::new();
    for (index, (ours, theirs)) in session.inputs.iter().zip(&submitted.inputs).enumerate() {
        if theirs.tap_key_sig.is_some() || !theirs.tap_script_sigs.is_empty() {
            return Err(SignatureRefusal::Taproot { index });
        }
        for (pubkey, signature) in &theirs.partial_sigs {
            if signature.sighash_type != EcdsaSighashType::All {
                return Err(SignatureRefusal::SighashType {
                    index,
                    found: signature.sighash_type.to_string(),
                });
            }
            let Some((owner, _path)) = ours.bip32_derivation.get(&pubkey.inner) else {
                return Err(SignatureRefusal::ForeignKey {
                    index,
                    pubkey: *pubkey,
                });
            };
            if let Some(sender) = sender {
                if *owner != sender {
                    return Err(SignatureRefusal::NotSendersKey {
                        index,
                        pubkey: *pubkey,
                        owner: *owner,
                        sender,
                    });
                }
            }
            let sighash = sighash_for(&mut cache, ours, index)?;
            let message = Message::from_digest(sighash);
            if secp
                .verify_ecdsa(&message, &signature.signature, &pubkey.inner)
                .is_err()
            {
                return Err(SignatureRefusal::BadSignature {
                    index,
                    pubkey: *pubkey,
                });
            }
            verified.push(VerifiedSignature {
                input_index: u32::try_from(index).unwrap_or(u32::MAX),
                pubkey: *pubkey,
                signature: *signature,
            });
        }
    }
    if verified.is_empty() {
        return Err(SignatureRefusal::NoSignatures);
    }
    Ok(verified)
}

/// The BIP143 SIGHASH_ALL digest of input `index`, from the session's own data.
fn sighash_for(
    cache: &mut SighashCache<&bitcoin::Transaction>,
    input: &bitcoin::psbt::Input,
    index: usize,
) -> Result<[u8; 32], SignatureRefusal> {
    use bitcoin::hashes::Hash;
    let spent = input
        .witness_utxo
        .as_ref()
        .ok_or(SignatureRefusal::SessionIncomplete {
            index,
            what: "witness_utxo",
        })?;
    let incomplete = |what| SignatureRefusal::SessionIncomplete { index, what };
    let hash = if spent.script_pubkey.is_p2wpkh() {
        cache
            .p2wpkh_signature_hash(index, &spent.script_pubkey, spent.value, EcdsaSighashType::All)
            .map_err(|_| incomplete("a p2wpkh sighash"))?
    } else if spent.script_pubkey.is_p2wsh() {
        let script: &ScriptBuf = input
            .witness_script
            .as_ref()
            .ok_or(incomplete("witness_script"))?;
        cache
            .p2wsh_signature_hash(index, script, spent.value, EcdsaSighashType::All)
            .map_err(|_| incomplete("a p2wsh sighash"))?
    } else {
        return Err(incomplete("a p2wpkh or p2wsh spent output"));
    };
    Ok(hash.to_byte_array())
}

/// Signatures an input needs: 1 for p2wpkh, M for a `wsh(sortedmulti(M, ...))` witness
/// script. `None` if the input is neither.
pub fn signatures_needed(input: &bitcoin::psbt::Input) -> Option<usize> {
    let spent = input.witness_utxo.as_ref()?;
    if spent.script_pubkey.is_p2wpkh() {
        return Some(1);
    }
    let script = input.witness_script.as_ref()?;
    // A multisig witness script starts with OP_M (OP_1 .. OP_16).
    let first = *script.as_bytes().first()?;
    let op_1 = bitcoin::opcodes::all::OP_PUSHNUM_1.to_u8();
    let op_16 = bitcoin::opcodes::all::OP_PUSHNUM_16.to_u8();
    (op_1..=op_16)
        .contains(&first)
        .then(|| usize::from(first - op_1 + 1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use std::str::FromStr;

    use serde_json::Value;

    use super::*;

    fn fixtures() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/bitcoin-core/psbt_fixtures.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn psbt(value: &Value) -> Psbt {
        Psbt::from_str(value.as_str().unwrap()).unwrap()
    }

    fn fingerprint(fx: &Value, key: &str) -> Fingerprint {
        Fingerprint::from_str(fx["keys"][key]["fingerprint"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn bitcoin_cores_own_partial_signatures_verify_and_complete_the_inputs() {
        let fx = fixtures();
        let secp = Secp256k1::verification_only();
        let w = &fx["wallets"]["wsh_2of3"];
        let session = psbt(&w["unsigned_psbt"]);
        let mut total = 0;
        for key in ["A", "B"] {
            let signed = psbt(&w["partially_signed"][key]);
            let sigs =
                verify_partial_signatures(&secp, &session, &signed, Some(fingerprint(&fx, key))).unwrap();
            assert_eq!(sigs.len(), session.inputs.len(), "{key}: one signature per input");
            total += sigs.len();
        }
        for input in &session.inputs {
            assert_eq!(signatures_needed(input), Some(2));
        }
        assert_eq!(total, 2 * session.inputs.len());
        let single = &fx["wallets"]["wpkh_single"];
        let session = psbt(&single["unsigned_psbt"]);
        let signed = psbt(&single["partially_signed"]["A"]);
        verify_partial_signatures(&secp, &session, &signed, Some(fingerprint(&fx, "A"))).unwrap();
        assert!(session.inputs.iter().all(|i| signatures_needed(i) == Some(1)));
    }

    #[test]
    fn forged_misattributed_and_foreign_signatures_are_refused() {
        let fx = fixtures();
        let secp = Secp256k1::verification_only();
        let w = &fx["wallets"]["wsh_2of3"];
        let session = psbt(&w["unsigned_psbt"]);
        let signed_by_a = psbt(&w["partially_signed"]["A"]);

        // A's signatures posted by B.
        assert!(matches!(
            verify_partial_signatures(&secp, &session, &signed_by_a, Some(fingerprint(&fx, "B"))),
            Err(SignatureRefusal::NotSendersKey { .. })
        ));

        // A signature moved onto another key of the wallet.
        let mut moved = signed_by_a.clone();
        let (key_a, sig) = moved.inputs[0].partial_sigs.pop_first().unwrap();
        let other = session.inputs[0]
            .bip32_derivation
            .keys()
            .find(|k| **k != key_a.inner)
            .unwrap();
        moved.inputs[0].partial_sigs.insert(PublicKey::new(*other), sig);
        assert!(matches!(
            verify_partial_signatures(&secp, &session, &moved, None),
            Err(SignatureRefusal::BadSignature { index: 0, .. })
        ));

        // A key that is not the wallet's.
        let mut foreign = signed_by_a.clone();
        let (_, sig) = foreign.inputs[0].partial_sigs.pop_first().unwrap();
        let stranger = bitcoin::secp256k1::Keypair::from_seckey_slice(&Secp256k1::new(), &[9; 32]).unwrap();
        foreign.inputs[0]
            .partial_sigs
            .insert(PublicKey::new(stranger.public_key()), sig);
        assert!(matches!(
            verify_partial_signatures(&secp, &session, &foreign, None),
            Err(SignatureRefusal::ForeignKey { index: 0, .. })
        ));

        // A reusable sighash type.
        let mut anyone = signed_by_a.clone();
        for sig in anyone.inputs[0].partial_sigs.values_mut() {
            sig.sighash_type = EcdsaSighashType::AllPlusAnyoneCanPay;
        }
        assert!(matches!(
            verify_partial_signatures(&secp, &session, &anyone, None),
            Err(SignatureRefusal::SighashType { index: 0, .. })
        ));

        // Signatures for another transaction (the wpkh fixture's).
        let other_tx = psbt(&fx["wallets"]["wpkh_single"]["partially_signed"]["A"]);
        assert!(matches!(
            verify_partial_signatures(&secp, &session, &other_tx, None),
            Err(SignatureRefusal::OtherTransaction { .. })
        ));

        // The same transaction with an output changed is another transaction.
        let mut edited = signed_by_a.clone();
        edited.unsigned_tx.output[0].value += bitcoin::Amount::from_sat(1);
        assert!(matches!(
            verify_partial_signatures(&secp, &session, &edited, None),
            Err(SignatureRefusal::OtherTransaction { .. })
        ));

        // Nothing to store.
        assert_eq!(
            verify_partial_signatures(&secp, &session, &session, None),
            Err(SignatureRefusal::NoSignatures)
        );

        // Taproot signatures are not for these wallets.
        let tr = &fx["wallets"]["tr_single"];
        assert!(matches!(
            verify_partial_signatures(
                &secp,
                &psbt(&tr["unsigned_psbt"]),
                &psbt(&tr["partially_signed"]["A"]),
                None
            ),
            Err(SignatureRefusal::Taproot { index: 0 })
        ));
    }
}
