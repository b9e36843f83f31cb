//! Script verification of finalized transactions, with every soft fork up to taproot on.
//!
//! With the `bitcoinconsensus` feature (the default) the check is Bitcoin Core's own
//! interpreter (`bitcoinconsensus`, the library built from Bitcoin Core's C++ source).
//! Without it (the cold signer's static musl build, which has no C++ toolchain) the check
//! is pure Rust: miniscript's interpreter runs each input's script and verifies every
//! ECDSA and Schnorr signature against its sighash with libsecp256k1. It understands the
//! scripts Sluice makes (miniscript descriptors); a script that is not miniscript is
//! refused, never passed.

use bitcoin::{Transaction, TxOut};

/// The interpreter `verify_transaction` runs, for messages shown to the operator.
#[cfg(feature = "bitcoinconsensus")]
pub const SCRIPT_CHECKER: &str = "Bitcoin Core's script interpreter (bitcoinconsensus)";
/// The interpreter `verify_transaction` runs, for messages shown to the operator.
#[cfg(not(feature = "bitcoinconsensus"))]
pub const SCRIPT_CHECKER: &str =
    "miniscript's script interpreter (every signature verified against its sighash)";

/// An input of a transaction failed the script interpreter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptCheckError {
    #[error("input {index} fails script verification ({checker}): {reason}", checker = SCRIPT_CHECKER)]
    Invalid { index: usize, reason: String },
    #[error("{given} spent outputs given for {inputs} inputs")]
    SpentOutputCount { given: usize, inputs: usize },
    #[error("input {index} spends {value} sat, more than the interpreter accepts")]
    AmountOutOfRange { index: usize, value: u64 },
}

/// Verifies every input of `tx` against the output it spends (`spent[i]` for input `i`)
/// with P2SH, DERSIG, NULLDUMMY, CLTV, CSV, WITNESS and TAPROOT enforced. All spent
/// outputs are passed to the interpreter, as taproot signatures commit to all of them.
#[cfg(feature = "bitcoinconsensus")]
pub fn verify_transaction(tx: &Transaction, spent: &[TxOut]) -> Result<(), ScriptCheckError> {
    if spent.len() != tx.input.len() {
        return Err(ScriptCheckError::SpentOutputCount {
            given: spent.len(),
            inputs: tx.input.len(),
        });
    }
    use bitcoin::consensus::encode::serialize;

    let tx_bytes = serialize(tx);
    let mut utxos = Vec::with_capacity(spent.len());
    for (index, out) in spent.iter().enumerate() {
        let value = out.value.to_sat();
        let value_i64 =
            i64::try_from(value).map_err(|_| ScriptCheckError::AmountOutOfRange { index, value })?;
        let script_len = u32::try_from(out.script_pubkey.len()).map_err(|_| ScriptCheckError::Invalid {
            index,
            reason: "spent script too long".to_owned(),
        })?;
        // The interpreter reads these pointers only during the calls below, while `spent`
        // (which owns the scripts) is borrowed.
        utxos.push(bitcoinconsensus::Utxo {
            script_pubkey: out.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: script_len,
            value: value_i64,
        });
    }
    let flags = bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT;
    for (index, out) in spent.iter().enumerate() {
        bitcoinconsensus::verify_with_flags(
            out.script_pubkey.as_bytes(),
            out.value.to_sat(),
            &tx_bytes,
            Some(&utxos),
            index,
            flags,
        )
        .map_err(|e| ScriptCheckError::Invalid {
            index,
            reason: format!("{e:?}"),
        })?;
    }
    Ok(())
}

/// Verifies every input of `tx` against the output it spends (`spent[i]` for input `i`)
/// in pure Rust: miniscript's interpreter decodes the spending script (P2WPKH, P2WSH,
/// P2SH-wrapped, P2TR key and script paths, legacy), checks the timelocks against the
/// transaction and verifies every signature against its sighash, computed over all the
/// spent outputs (taproot signatures commit to all of them). A script that is not
/// miniscript cannot be checked and is refused.
#[cfg(not(feature = "bitcoinconsensus"))]
pub fn verify_transaction(tx: &Transaction, spent: &[TxOut]) -> Result<(), ScriptCheckError> {
    use bitcoin::sighash::Prevouts;
    use miniscript::Interpreter;

    if spent.len() != tx.input.len() {
        return Err(ScriptCheckError::SpentOutputCount {
            given: spent.len(),
            inputs: tx.input.len(),
        });
    }
    let secp = crate::secp::verification();
    let prevouts = Prevouts::All(spent);
    for (index, (txin, out)) in tx.input.iter().zip(spent).enumerate() {
        if out.value > bitcoin::Amount::MAX_MONEY {
            return Err(ScriptCheckError::AmountOutOfRange {
                index,
                value: out.value.to_sat(),
            });
        }
        let invalid = |reason: String| ScriptCheckError::Invalid { index, reason };
        let interpreter = Interpreter::from_txdata(
            &out.script_pubkey,
            &txin.script_sig,
            &txin.witness,
            txin.sequence,
            tx.lock_time,
        )
        .map_err(|e| invalid(e.to_string()))?;
        // The iterator walks the script; a bad signature, an unmet timelock or a stack
        // that does not end in true is an error item.
        for step in interpreter.iter(secp, tx, index, &prevouts) {
            step.map_err(|e| invalid(e.to_string()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{absolute, transaction, Amount, OutPoint, ScriptBuf, Sequence, TxIn, Witness};

    fn spend_of(script: ScriptBuf, witness: Witness) -> (Transaction, Vec<TxOut>) {
        let tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness,
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: ScriptBuf::new(),
            }],
        };
        (
            tx,
            vec![TxOut {
                value: Amount::from_sat(2000),
                script_pubkey: script,
            }],
        )
    }

    #[test]
    fn anyone_can_spend_witness_script_verifies_and_wrong_script_fails() {
        // P2WSH of the script `OP_TRUE`: spendable with the script as the only witness item.
        let witness_script = ScriptBuf::from_bytes(vec![0x51]);
        let p2wsh = ScriptBuf::new_p2wsh(&witness_script.wscript_hash());
        let mut witness = Witness::new();
        witness.push(witness_script.as_bytes());
        let (tx, spent) = spend_of(p2wsh, witness.clone());
        assert_eq!(verify_transaction(&tx, &spent), Ok(()));

        let other = ScriptBuf::new_p2wsh(&ScriptBuf::from_bytes(vec![0x52]).wscript_hash());
        let (tx, spent) = spend_of(other, witness);
        assert!(matches!(
            verify_transaction(&tx, &spent),
            Err(ScriptCheckError::Invalid { index: 0, .. })
        ));
    }

    #[test]
    fn counts_must_match() {
        let (tx, _) = spend_of(ScriptBuf::new(), Witness::new());
        assert_eq!(
            verify_transaction(&tx, &[]),
            Err(ScriptCheckError::SpentOutputCount { given: 0, inputs: 1 })
        );
    }

    /// A P2WPKH spend signed for `signed_value`, spending an output worth `spent_value`.
    fn signed_p2wpkh(signed_value: u64, spent_value: u64) -> (Transaction, Vec<TxOut>) {
        use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
        use bitcoin::sighash::{EcdsaSighashType, SighashCache};
        use bitcoin::{CompressedPublicKey, PrivateKey};

        let secp = Secp256k1::new();
        let secret = SecretKey::from_slice(&[7u8; 32]).unwrap();
        let key =
            CompressedPublicKey::from_private_key(&secp, &PrivateKey::new(secret, bitcoin::Network::Regtest))
                .unwrap();
        let spk = ScriptBuf::new_p2wpkh(&key.wpubkey_hash());
        let (mut tx, _) = spend_of(spk.clone(), Witness::new());
        let sighash = SighashCache::new(&tx)
            .p2wpkh_signature_hash(0, &spk, Amount::from_sat(signed_value), EcdsaSighashType::All)
            .unwrap();
        let signature =
            bitcoin::ecdsa::Signature::sighash_all(secp.sign_ecdsa(&Message::from(sighash), &secret));
        tx.input[0].witness = Witness::p2wpkh(&signature, &key.0);
        (
            tx,
            vec![TxOut {
                value: Amount::from_sat(spent_value),
                script_pubkey: spk,
            }],
        )
    }

    #[test]
    fn signatures_are_verified_against_the_sighash() {
        let (tx, spent) = signed_p2wpkh(2000, 2000);
        assert_eq!(verify_transaction(&tx, &spent), Ok(()));
        // Signed over another amount than the output really holds (the fee attack's
        // shape): the signature does not verify.
        let (tx, spent) = signed_p2wpkh(2000, 2001);
        assert!(matches!(
            verify_transaction(&tx, &spent),
            Err(ScriptCheckError::Invalid { index: 0, .. })
        ));
        // A changed output after signing.
        let (mut tx, spent) = signed_p2wpkh(2000, 2000);
        tx.output[0].value = Amount::from_sat(999);
        assert!(matches!(
            verify_transaction(&tx, &spent),
            Err(ScriptCheckError::Invalid { index: 0, .. })
        ));
    }
}
