//! Building unsigned PSBTs for a wallet: full BIP32 origins on inputs and change,
//! `non_witness_utxo` on segwit v0 inputs, RBF signalled. Used by the coordinator's
//! processor and by tests and benchmarks that need realistic PSBTs.

use bitcoin::absolute::LockTime;
use bitcoin::psbt::Psbt;
use bitcoin::{transaction, Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use miniscript::psbt::PsbtExt;

use crate::descriptor::{Branch, WalletDescriptor};

/// A coin of the wallet that can be spent: where it is and which address holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendableCoin {
    pub outpoint: OutPoint,
    /// The whole transaction that created the coin (needed as `non_witness_utxo`).
    pub prev_tx: Transaction,
    pub branch: Branch,
    pub index: u32,
}

/// Why a PSBT could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("no coins to spend")]
    NoCoins,
    #[error("coin {0} is not an output of the transaction given for it")]
    CoinNotInTransaction(OutPoint),
    #[error("coin {outpoint} does not belong to the wallet at {branch:?}/{index}")]
    CoinNotOurs {
        outpoint: OutPoint,
        branch: Branch,
        index: u32,
    },
    #[error("descriptor: {0}")]
    Descriptor(String),
    #[error("PSBT: {0}")]
    Psbt(String),
}

/// Builds an unsigned PSBT spending `coins` to `payments`, with an optional change output
/// at change index `change.0` of `change.1`. The fee is whatever inputs minus outputs
/// leave; callers choose amounts.
pub fn build_psbt(
    wallet: &WalletDescriptor,
    coins: &[SpendableCoin],
    payments: &[(ScriptBuf, Amount)],
    change: Option<(u32, Amount)>,
    lock_time: LockTime,
) -> Result<Psbt, BuildError> {
    if coins.is_empty() {
        return Err(BuildError::NoCoins);
    }
    let mut outputs: Vec<TxOut> = payments
        .iter()
        .map(|(script, value)| TxOut {
            value: *value,
            script_pubkey: script.clone(),
        })
        .collect();
    let change_descriptor = match change {
        Some((index, value)) => {
            let definite = wallet
                .definite(Branch::Change, index)
                .map_err(|e| BuildError::Descriptor(e.to_string()))?;
            outputs.push(TxOut {
                value,
                script_pubkey: definite.script_pubkey(),
            });
            Some(definite)
        }
        None => None,
    };
    let tx = Transaction {
        version: transaction::Version::TWO,
        lock_time,
        input: coins
            .iter()
            .map(|coin| TxIn {
                previous_output: coin.outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).map_err(|e| BuildError::Psbt(e.to_string()))?;
    for (i, coin) in coins.iter().enumerate() {
        let vout = usize::try_from(coin.outpoint.vout)
            .map_err(|_| BuildError::CoinNotInTransaction(coin.outpoint))?;
        if coin.prev_tx.compute_txid() != coin.outpoint.txid {
            return Err(BuildError::CoinNotInTransaction(coin.outpoint));
        }
        let prev_out = coin
            .prev_tx
            .output
            .get(vout)
            .cloned()
            .ok_or(BuildError::CoinNotInTransaction(coin.outpoint))?;
        let definite = wallet
            .definite(coin.branch, coin.index)
            .map_err(|e| BuildError::Descriptor(e.to_string()))?;
        if definite.script_pubkey() != prev_out.script_pubkey {
            return Err(BuildError::CoinNotOurs {
                outpoint: coin.outpoint,
                branch: coin.branch,
                index: coin.index,
            });
        }
        psbt.inputs[i].witness_utxo = Some(prev_out);
        if wallet.kind().is_segwit_v0() {
            psbt.inputs[i].non_witness_utxo = Some(coin.prev_tx.clone());
        }
        psbt.update_input_with_descriptor(i, &definite)
            .map_err(|e| BuildError::Psbt(e.to_string()))?;
    }
    if let Some(definite) = change_descriptor {
        let vout = psbt.outputs.len() - 1;
        psbt.update_output_with_descriptor(vout, &definite)
            .map_err(|e| BuildError::Psbt(e.to_string()))?;
    }
    Ok(psbt)
}

/// A transaction paying `amounts` to `script`, from a made-up input unique per `salt`.
/// It exists nowhere on a chain: for tests and benchmarks that need coins to spend.
pub fn fake_funding_tx(script: ScriptBuf, amounts: &[Amount], salt: u32) -> Transaction {
    let mut salt_script = ScriptBuf::new();
    salt_script.push_slice(salt.to_le_bytes());
    Transaction {
        version: transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: salt_script,
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: amounts
            .iter()
            .map(|value| TxOut {
                value: *value,
                script_pubkey: script.clone(),
            })
            .collect(),
    }
}

/// `count` made-up coins of `amount_each` on the wallet's receive addresses 0..count, each
/// in its own fake funding transaction (unique per `salt`). For tests, benchmarks and the
/// walkthrough: these coins exist on no chain.
pub fn fake_coins(
    wallet: &WalletDescriptor,
    count: u32,
    amount_each: Amount,
    salt: u32,
) -> Result<Vec<SpendableCoin>, BuildError> {
    (0..count)
        .map(|index| {
            let script = wallet
                .script_pubkey(Branch::Receive, index)
                .map_err(|e| BuildError::Descriptor(e.to_string()))?;
            let prev_tx = fake_funding_tx(
                script,
                &[amount_each],
                salt.wrapping_mul(100_003).wrapping_add(index),
            );
            Ok(SpendableCoin {
                outpoint: OutPoint {
                    txid: prev_tx.compute_txid(),
                    vout: 0,
                },
                prev_tx,
                branch: Branch::Receive,
                index,
            })
        })
        .collect()
}
