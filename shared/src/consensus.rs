//! Script verification with Bitcoin Core's own interpreter (`bitcoinconsensus`, the
//! library built from Bitcoin Core's source), with every soft fork up to taproot on.

use bitcoin::consensus::encode::serialize;
use bitcoin::{Transaction, TxOut};

/// An input of a transaction failed Bitcoin Core's script interpreter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptCheckError {
    #[error("input {index} fails Bitcoin Core's script verification: {reason}")]
    Invalid { index: usize, reason: String },
    #[error("{given} spent outputs given for {inputs} inputs")]
    SpentOutputCount { given: usize, inputs: usize },
    #[error("input {index} spends {value} sat, more than the interpreter accepts")]
    AmountOutOfRange { index: usize, value: u64 },
}

/// Verifies every input of `tx` against the output it spends (`spent[i]` for input `i`)
/// with P2SH, DERSIG, NULLDUMMY, CLTV, CSV, WITNESS and TAPROOT enforced. All spent
/// outputs are passed to the interpreter, as taproot signatures commit to all of them.
pub fn verify_transaction(tx: &Transaction, spent: &[TxOut]) -> Result<(), ScriptCheckError> {
    if spent.len() != tx.input.len() {
        return Err(ScriptCheckError::SpentOutputCount {
            given: spent.len(),
            inputs: tx.input.len(),
        });
    }
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
}
