//! Combining partial signatures and finalizing PSBTs into transactions.
//!
//! The last step before broadcast: signers' PSBTs are merged, miniscript builds each
//! input's witness from the signatures, and Bitcoin Core's own interpreter checks every
//! input before the transaction is handed out. A transaction that fails the check is never
//! returned, so nothing invalid is broadcast and a bad signature is caught here, by name.

use bitcoin::psbt::{Input, Psbt};
use bitcoin::{Transaction, TxIn, TxOut, Txid};
use miniscript::psbt::PsbtExt;

use crate::consensus::{verify_transaction, ScriptCheckError};
use crate::descriptor::secp;

/// Why PSBTs could not be combined or finalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinalizeError {
    #[error("nothing to combine: no PSBTs were given")]
    NoPsbts,
    #[error(
        "PSBT {position} is for transaction {found}, not {expected}: only signatures of the same unsigned transaction combine"
    )]
    DifferentTransaction {
        position: usize,
        expected: Txid,
        found: Txid,
    },
    #[error("cannot combine PSBT {position}: {reason}")]
    Combine { position: usize, reason: String },
    #[error("input {index} carries no previous output (neither witness_utxo nor non_witness_utxo)")]
    MissingSpentOutput { index: usize },
    #[error("input {index}: non_witness_utxo is not the transaction the input spends")]
    NonWitnessUtxoTxidMismatch { index: usize },
    #[error("input {index}: witness_utxo disagrees with the output in non_witness_utxo")]
    WitnessUtxoMismatch { index: usize },
    #[error("the PSBT's inputs do not match its transaction's inputs")]
    Malformed,
    #[error("cannot finalize (are enough signatures there?): {0}")]
    NotFinalizable(String),
    #[error("the finalized transaction is invalid: {0}")]
    Script(#[from] ScriptCheckError),
}

/// Merges the signatures and metadata of PSBTs of one unsigned transaction (BIP174's
/// combiner). Refuses PSBTs of different transactions.
pub fn combine(psbts: &[Psbt]) -> Result<Psbt, FinalizeError> {
    let (first, rest) = psbts.split_first().ok_or(FinalizeError::NoPsbts)?;
    let expected = first.unsigned_tx.compute_txid();
    let mut combined = first.clone();
    for (offset, other) in rest.iter().enumerate() {
        let position = offset + 1;
        let found = other.unsigned_tx.compute_txid();
        if found != expected {
            return Err(FinalizeError::DifferentTransaction {
                position,
                expected,
                found,
            });
        }
        combined
            .combine(other.clone())
            .map_err(|e| FinalizeError::Combine {
                position,
                reason: e.to_string(),
            })?;
    }
    Ok(combined)
}

/// Builds the final witnesses from the PSBT's signatures (non-malleable satisfactions
/// only), extracts the transaction and verifies every input with Bitcoin Core's script
/// interpreter against the outputs it spends. The PSBT itself is left untouched.
pub fn finalize(psbt: &Psbt) -> Result<Transaction, FinalizeError> {
    let spent = spent_outputs(psbt)?;
    let mut finalized = psbt.clone();
    finalized.finalize_mut(secp()).map_err(|errors| {
        FinalizeError::NotFinalizable(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    // The fee was judged by inspection and the signers' limits; the fee-rate guard of
    // `extract_tx` would only refuse what the signers already accepted.
    let tx = finalized.extract_tx_unchecked_fee_rate();
    verify_transaction(&tx, &spent)?;
    Ok(tx)
}

/// The output each input spends, in input order. Taken from `non_witness_utxo` when
/// present (its txid proves it), which must then agree with any `witness_utxo`.
pub fn spent_outputs(psbt: &Psbt) -> Result<Vec<TxOut>, FinalizeError> {
    if psbt.inputs.len() != psbt.unsigned_tx.input.len() {
        return Err(FinalizeError::Malformed);
    }
    psbt.unsigned_tx
        .input
        .iter()
        .zip(&psbt.inputs)
        .enumerate()
        .map(|(index, (txin, input))| spent_output(index, txin, input))
        .collect()
}

fn spent_output(index: usize, txin: &TxIn, input: &Input) -> Result<TxOut, FinalizeError> {
    if let Some(previous_tx) = &input.non_witness_utxo {
        if previous_tx.compute_txid() != txin.previous_output.txid {
            return Err(FinalizeError::NonWitnessUtxoTxidMismatch { index });
        }
        let vout = usize::try_from(txin.previous_output.vout).unwrap_or(usize::MAX);
        let output = previous_tx
            .output
            .get(vout)
            .ok_or(FinalizeError::MissingSpentOutput { index })?;
        if let Some(claimed) = &input.witness_utxo {
            if claimed != output {
                return Err(FinalizeError::WitnessUtxoMismatch { index });
            }
        }
        return Ok(output.clone());
    }
    input
        .witness_utxo
        .clone()
        .ok_or(FinalizeError::MissingSpentOutput { index })
}
