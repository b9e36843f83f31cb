//! Script verification with Bitcoin Core's own interpreter (`bitcoinconsensus`).
//!
//! OWNER: helper "psbt".

use bitcoin::{Transaction, TxOut};

/// An input of a transaction failed Bitcoin Core's script interpreter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptCheckError {
    #[error("input {index} fails script verification: {reason}")]
    Invalid { index: usize, reason: String },
    #[error("{given} spent outputs given for {inputs} inputs")]
    SpentOutputCount { given: usize, inputs: usize },
}

/// Verifies every input of `tx` against the output it spends (`spent[i]` for input `i`)
/// with all standard consensus flags including taproot.
pub fn verify_transaction(tx: &Transaction, spent: &[TxOut]) -> Result<(), ScriptCheckError> {
    let _ = (tx, spent);
    todo!("psbt helper")
}
