//! Building unsigned PSBTs for a wallet: full BIP32 origins on inputs and change,
//! `non_witness_utxo` on segwit v0 inputs. Used by the coordinator's processor and by
//! tests and benchmarks that need realistic PSBTs.
//!
//! The builder checks every coin against the wallet before using it (the previous
//! transaction is the one spent, and its output is the wallet's script at the stated
//! position), so a PSBT it builds is one the wallet's signers will inspect cleanly.

use std::collections::BTreeSet;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use miniscript::psbt::{PsbtInputExt, PsbtOutputExt};
use sha2::{Digest, Sha256};

use crate::descriptor::{Branch, DescriptorError, WalletDescriptor};

/// A wallet coin the builder may spend: where it is, the full transaction that created it
/// (segwit v0 signers need it to prove the amount) and the wallet position of its script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendableCoin {
    pub outpoint: OutPoint,
    /// The whole transaction that created the coin.
    pub prev_tx: Transaction,
    pub branch: Branch,
    pub index: u32,
}

/// Why a PSBT could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("no coins to spend")]
    NoCoins,
    #[error("nothing to pay: give at least one payment or a change output")]
    NoOutputs,
    #[error("coin {outpoint} is listed twice")]
    DuplicateCoin { outpoint: OutPoint },
    #[error("coin {outpoint}: the given previous transaction is {found}, not the one the coin comes from")]
    PrevTxMismatch { outpoint: OutPoint, found: Txid },
    #[error("coin {outpoint}: the previous transaction has no output {vout}")]
    MissingOutput { outpoint: OutPoint, vout: u32 },
    #[error(
        "coin {outpoint} is not the wallet's script at {branch:?}/{index}: refusing to spend a coin the signers will call foreign"
    )]
    CoinNotOurs {
        outpoint: OutPoint,
        branch: Branch,
        index: u32,
    },
    #[error("output {position} pays {amount}, below the dust limit of {dust_limit} for its script")]
    Dust {
        position: usize,
        amount: Amount,
        dust_limit: Amount,
    },
    #[error("outputs ({outputs}) exceed the coins spent ({inputs})")]
    OutputsExceedInputs { inputs: Amount, outputs: Amount },
    #[error("amounts overflow")]
    AmountOverflow,
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
    #[error("cannot make a PSBT of the transaction: {0}")]
    Psbt(String),
}

/// Builds an unsigned PSBT spending `coins` to `payments`, with change (if any) to the
/// wallet's change branch at the given index, appended as the last output. Every input
/// gets `witness_utxo`, the BIP32 origin of every cosigner key (`bip32_derivation`, or
/// `tap_key_origins` and `tap_internal_key` for taproot), `witness_script` for wsh, and
/// for segwit v0 the full previous transaction. Inputs signal RBF (sequence 0xFFFFFFFD).
/// The fee is what the coins hold beyond the outputs.
pub fn build_psbt(
    wallet: &WalletDescriptor,
    coins: &[SpendableCoin],
    payments: &[(ScriptBuf, Amount)],
    change: Option<(u32 /*change index*/, Amount)>,
    lock_time: LockTime,
) -> Result<Psbt, BuildError> {
    if coins.is_empty() {
        return Err(BuildError::NoCoins);
    }
    if payments.is_empty() && change.is_none() {
        return Err(BuildError::NoOutputs);
    }

    let mut seen = BTreeSet::new();
    let mut spent = Vec::with_capacity(coins.len());
    let mut total_in = Amount::ZERO;
    for coin in coins {
        if !seen.insert(coin.outpoint) {
            return Err(BuildError::DuplicateCoin {
                outpoint: coin.outpoint,
            });
        }
        let output = coin_output(coin)?;
        total_in = total_in
            .checked_add(output.value)
            .ok_or(BuildError::AmountOverflow)?;
        spent.push(output);
    }

    let mut outputs: Vec<TxOut> = payments
        .iter()
        .map(|(script, amount)| TxOut {
            value: *amount,
            script_pubkey: script.clone(),
        })
        .collect();
    let change_descriptor = match change {
        Some((index, amount)) => {
            let descriptor = wallet.definite_descriptor(Branch::Change, index)?;
            outputs.push(TxOut {
                value: amount,
                script_pubkey: wallet.script_pubkey(Branch::Change, index)?,
            });
            Some((descriptor, index))
        }
        None => None,
    };
    let mut total_out = Amount::ZERO;
    for (position, output) in outputs.iter().enumerate() {
        let dust_limit = output.script_pubkey.minimal_non_dust();
        if output.value < dust_limit && !output.script_pubkey.is_op_return() {
            return Err(BuildError::Dust {
                position,
                amount: output.value,
                dust_limit,
            });
        }
        total_out = total_out
            .checked_add(output.value)
            .ok_or(BuildError::AmountOverflow)?;
    }
    if total_out > total_in {
        return Err(BuildError::OutputsExceedInputs {
            inputs: total_in,
            outputs: total_out,
        });
    }

    let tx = Transaction {
        version: Version::TWO,
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

    let segwit_v0 = wallet.kind().is_segwit_v0();
    for ((coin, output), input) in coins.iter().zip(spent).zip(psbt.inputs.iter_mut()) {
        let descriptor = wallet.definite_descriptor(coin.branch, coin.index)?;
        let derived =
            input
                .update_with_descriptor_unchecked(&descriptor)
                .map_err(|e| DescriptorError::Derivation {
                    index: coin.index,
                    reason: e.to_string(),
                })?;
        if derived.script_pubkey() != output.script_pubkey {
            return Err(BuildError::CoinNotOurs {
                outpoint: coin.outpoint,
                branch: coin.branch,
                index: coin.index,
            });
        }
        input.witness_utxo = Some(output);
        if segwit_v0 {
            input.non_witness_utxo = Some(coin.prev_tx.clone());
        }
    }
    if let (Some((descriptor, index)), Some(output)) = (change_descriptor, psbt.outputs.last_mut()) {
        output
            .update_with_descriptor_unchecked(&descriptor)
            .map_err(|e| DescriptorError::Derivation {
                index,
                reason: e.to_string(),
            })?;
    }
    Ok(psbt)
}

/// The output `coin` spends, after checking the previous transaction is the right one.
fn coin_output(coin: &SpendableCoin) -> Result<TxOut, BuildError> {
    let found = coin.prev_tx.compute_txid();
    if found != coin.outpoint.txid {
        return Err(BuildError::PrevTxMismatch {
            outpoint: coin.outpoint,
            found,
        });
    }
    usize::try_from(coin.outpoint.vout)
        .ok()
        .and_then(|vout| coin.prev_tx.output.get(vout))
        .cloned()
        .ok_or(BuildError::MissingOutput {
            outpoint: coin.outpoint,
            vout: coin.outpoint.vout,
        })
}

/// A made-up transaction paying `amounts` to `script`, for tests, simulations and
/// benchmarks that need coins. Its one input spends an outpoint derived from `salt`, so
/// different salts give different transactions (and txids); it is not valid on any chain.
pub fn fake_funding_tx(script: ScriptBuf, amounts: &[Amount], salt: u32) -> Transaction {
    let mut hasher = Sha256::new();
    hasher.update(b"sluice fake funding\n");
    hasher.update(salt.to_le_bytes());
    let made_up_parent = Txid::from_byte_array(hasher.finalize().into());
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: made_up_parent,
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: amounts
            .iter()
            .map(|amount| TxOut {
                value: *amount,
                script_pubkey: script.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use bitcoin::bip32::Xpriv;
    use bitcoin::secp256k1::Secp256k1;
    use bitcoin::Network;

    use super::*;
    use crate::consensus::verify_transaction;
    use crate::descriptor::WalletKind;
    use crate::finalize::{combine, finalize, spent_outputs};
    use crate::inspect::{inspect_psbt, InspectionPolicy};

    const FIXTURES: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/bitcoin-core/psbt_fixtures.json"
    ));

    fn fixtures() -> serde_json::Value {
        serde_json::from_str(FIXTURES).unwrap()
    }

    fn wallet(name: &str) -> WalletDescriptor {
        let w = &fixtures()["wallets"][name];
        WalletDescriptor::parse(
            w["descriptor_receive"].as_str().unwrap(),
            Some(w["descriptor_change"].as_str().unwrap()),
        )
        .unwrap()
    }

    fn master_key(signer: &str) -> Xpriv {
        Xpriv::from_str(fixtures()["keys"][signer]["master_tprv"].as_str().unwrap()).unwrap()
    }

    fn sats(n: u64) -> Amount {
        Amount::from_sat(n)
    }

    /// Three coins at different positions on both branches, from two funding transactions.
    fn coins(wallet: &WalletDescriptor) -> Vec<SpendableCoin> {
        let positions = [(Branch::Receive, 0), (Branch::Change, 5), (Branch::Receive, 17)];
        positions
            .iter()
            .enumerate()
            .map(|(n, &(branch, index))| {
                let script = wallet.script_pubkey(branch, index).unwrap();
                let prev_tx = fake_funding_tx(script, &[sats(10_000), sats(40_000_000)], n as u32);
                SpendableCoin {
                    outpoint: OutPoint {
                        txid: prev_tx.compute_txid(),
                        vout: 1,
                    },
                    prev_tx,
                    branch,
                    index,
                }
            })
            .collect()
    }

    fn destination() -> ScriptBuf {
        // BIP 84's first mainnet receive script: any script not the wallet's will do.
        ScriptBuf::from_hex("0014c0cebcd6c3d3ca8c75dc5ec62ebe55330ef910e2").unwrap()
    }

    #[test]
    fn built_psbts_inspect_cleanly_and_signed_ones_finalize_for_every_wallet_kind() {
        let secp = Secp256k1::new();
        for name in ["wpkh_single", "wsh_2of3", "tr_single"] {
            let wallet = wallet(name);
            let coins = coins(&wallet);
            let payments = [
                (destination(), sats(70_000_000)),
                (destination(), sats(25_000_000)),
            ];
            let change = sats(24_990_000);
            let psbt = build_psbt(&wallet, &coins, &payments, Some((2, change)), LockTime::ZERO).unwrap();
            assert!(psbt
                .unsigned_tx
                .input
                .iter()
                .all(|i| i.sequence == Sequence::ENABLE_RBF_NO_LOCKTIME));

            let policy = InspectionPolicy {
                network: Network::Regtest,
                max_fee: sats(10_000),
            };
            let review = inspect_psbt(&psbt, &wallet, &policy).unwrap();
            assert_eq!(review.inputs.len(), 3);
            assert_eq!(review.fee, sats(10_000), "{name}");
            assert_eq!(review.outflow, sats(95_010_000), "{name}");
            assert_eq!(review.change.len(), 1);
            assert_eq!(review.change[0].amount, change);
            assert_eq!(review.change[0].derivation_index, 2);

            let signers: &[&str] = match wallet.kind() {
                WalletKind::WshSortedMulti { .. } => &["A", "C"],
                _ => &["A"],
            };
            let signed: Vec<Psbt> = signers
                .iter()
                .map(|s| {
                    let mut copy = psbt.clone();
                    let used = copy.sign(&master_key(s), &secp).unwrap();
                    assert_eq!(used.len(), 3, "{name}: {s} signs every input");
                    copy
                })
                .collect();
            let tx = finalize(&combine(&signed).unwrap()).unwrap();
            assert_eq!(tx.compute_txid(), psbt.unsigned_tx.compute_txid());
            verify_transaction(&tx, &spent_outputs(&psbt).unwrap()).unwrap();
        }
    }

    #[test]
    fn inputs_carry_what_each_wallet_kind_needs() {
        for name in ["wpkh_single", "wsh_2of3", "tr_single"] {
            let wallet = wallet(name);
            let coins = coins(&wallet);
            let psbt = build_psbt(&wallet, &coins, &[], Some((0, sats(1_000_000))), LockTime::ZERO).unwrap();
            for input in &psbt.inputs {
                assert!(input.witness_utxo.is_some());
                match wallet.kind() {
                    WalletKind::Wpkh => {
                        assert!(input.non_witness_utxo.is_some());
                        assert_eq!(input.bip32_derivation.len(), 1);
                    }
                    WalletKind::WshSortedMulti { .. } => {
                        assert!(input.non_witness_utxo.is_some());
                        assert!(input.witness_script.is_some());
                        assert_eq!(input.bip32_derivation.len(), 3);
                    }
                    WalletKind::TrSingle => {
                        assert!(input.tap_internal_key.is_some());
                        assert_eq!(input.tap_key_origins.len(), 1);
                    }
                }
            }
            let change = &psbt.outputs[0];
            assert_eq!(
                change.bip32_derivation.len() + change.tap_key_origins.len(),
                wallet.keys().len()
            );
            for (_, path) in change
                .bip32_derivation
                .values()
                .chain(change.tap_key_origins.values().map(|(_, s)| s))
            {
                assert_eq!(path.to_string(), "84'/1'/0'/1/0");
            }
        }
    }

    #[test]
    fn refuses_coins_that_are_not_what_they_claim() {
        let wallet = wallet("wpkh_single");
        let mut coins = coins(&wallet);
        let pay = [(destination(), sats(1_000_000))];

        let mut wrong_position = coins.clone();
        wrong_position[1].index = 6;
        assert!(matches!(
            build_psbt(&wallet, &wrong_position, &pay, None, LockTime::ZERO),
            Err(BuildError::CoinNotOurs { .. })
        ));

        let mut wrong_tx = coins.clone();
        wrong_tx[0].prev_tx = coins[1].prev_tx.clone();
        assert!(matches!(
            build_psbt(&wallet, &wrong_tx, &pay, None, LockTime::ZERO),
            Err(BuildError::PrevTxMismatch { .. })
        ));

        let mut missing = coins.clone();
        missing[0].outpoint.vout = 9;
        assert!(matches!(
            build_psbt(&wallet, &missing, &pay, None, LockTime::ZERO),
            Err(BuildError::MissingOutput { vout: 9, .. })
        ));

        let twice = vec![coins[0].clone(), coins[0].clone()];
        assert!(matches!(
            build_psbt(&wallet, &twice, &pay, None, LockTime::ZERO),
            Err(BuildError::DuplicateCoin { .. })
        ));

        assert_eq!(
            build_psbt(
                &wallet,
                &coins,
                &[(destination(), sats(200_000_000))],
                None,
                LockTime::ZERO
            ),
            Err(BuildError::OutputsExceedInputs {
                inputs: sats(120_000_000),
                outputs: sats(200_000_000)
            })
        );
        assert!(matches!(
            build_psbt(&wallet, &coins, &[(destination(), sats(1))], None, LockTime::ZERO),
            Err(BuildError::Dust { position: 0, .. })
        ));
        assert_eq!(
            build_psbt(&wallet, &[], &pay, None, LockTime::ZERO),
            Err(BuildError::NoCoins)
        );
        coins.truncate(1);
        assert_eq!(
            build_psbt(&wallet, &coins, &[], None, LockTime::ZERO),
            Err(BuildError::NoOutputs)
        );
    }

    #[test]
    fn fake_funding_txs_differ_by_salt() {
        let script = destination();
        let a = fake_funding_tx(script.clone(), &[sats(1000)], 1);
        let b = fake_funding_tx(script.clone(), &[sats(1000)], 2);
        assert_ne!(a.compute_txid(), b.compute_txid());
        assert_eq!(a, fake_funding_tx(script, &[sats(1000)], 1));
        assert!(!a.is_coinbase());
    }
}
