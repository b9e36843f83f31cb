//! Combining partial signatures and finalizing PSBTs into transactions that Bitcoin
//! Core's interpreter accepts.

use bitcoin::psbt::Psbt;
use bitcoin::{Transaction, TxOut};
use miniscript::psbt::PsbtExt;

use crate::consensus::{verify_transaction, ScriptCheckError};

/// Why PSBTs could not be combined or finalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinalizeError {
    #[error("nothing to combine")]
    Empty,
    #[error("PSBTs are for different transactions and cannot be combined: {0}")]
    Combine(String),
    #[error("input {index} has no previous output in the PSBT")]
    MissingUtxo { index: usize },
    #[error(
        "input {index}: non_witness_utxo is not the transaction it spends, or disagrees with witness_utxo"
    )]
    WrongPreviousTransaction { index: usize },
    #[error("cannot finalize: {0}")]
    Finalize(String),
    #[error("finalized transaction fails script verification: {0}")]
    Script(#[from] ScriptCheckError),
}

/// Merges the signatures of several copies of one PSBT.
pub fn combine(psbts: &[Psbt]) -> Result<Psbt, FinalizeError> {
    let (first, rest) = psbts.split_first().ok_or(FinalizeError::Empty)?;
    let mut combined = first.clone();
    for other in rest {
        combined
            .combine(other.clone())
            .map_err(|e| FinalizeError::Combine(e.to_string()))?;
    }
    Ok(combined)
}

/// The outputs a PSBT's inputs spend, in input order. Taken from `non_witness_utxo` when
/// present (its txid proves it), which must then agree with any `witness_utxo`, so that
/// the final check runs against what the inputs really spend.
pub fn spent_outputs(psbt: &Psbt) -> Result<Vec<TxOut>, FinalizeError> {
    if psbt.inputs.len() != psbt.unsigned_tx.input.len() {
        return Err(FinalizeError::Finalize(
            "the PSBT's input maps do not match its transaction's inputs".to_owned(),
        ));
    }
    psbt.unsigned_tx
        .input
        .iter()
        .zip(&psbt.inputs)
        .enumerate()
        .map(|(index, (txin, input))| {
            let Some(prev_tx) = &input.non_witness_utxo else {
                return input
                    .witness_utxo
                    .clone()
                    .ok_or(FinalizeError::MissingUtxo { index });
            };
            if prev_tx.compute_txid() != txin.previous_output.txid {
                return Err(FinalizeError::WrongPreviousTransaction { index });
            }
            let proven = usize::try_from(txin.previous_output.vout)
                .ok()
                .and_then(|vout| prev_tx.output.get(vout))
                .ok_or(FinalizeError::MissingUtxo { index })?;
            if input
                .witness_utxo
                .as_ref()
                .is_some_and(|claimed| claimed != proven)
            {
                return Err(FinalizeError::WrongPreviousTransaction { index });
            }
            Ok(proven.clone())
        })
        .collect()
}

/// Finalizes every input (miniscript's finalizer, which satisfies the scripts from the
/// collected signatures), extracts the transaction and checks every input with Bitcoin
/// Core's interpreter before returning it.
pub fn finalize(psbt: &Psbt) -> Result<Transaction, FinalizeError> {
    let secp = crate::secp::verification();
    let spent = spent_outputs(psbt)?;
    let finalized = psbt.clone().finalize(secp).map_err(|(_, errors)| {
        FinalizeError::Finalize(
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let tx = finalized.extract_tx_unchecked_fee_rate();
    verify_transaction(&tx, &spent)?;
    Ok(tx)
}
