//! Building unsigned PSBTs for a wallet: full BIP32 origins on inputs and change,
//! `non_witness_utxo` on segwit v0 inputs, RBF signalled. Used by the coordinator's
//! processor and by tests and benchmarks that need realistic PSBTs.

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash as _;
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
    #[error("coin {0} is listed twice")]
    DuplicateCoin(OutPoint),
    #[error("nothing to pay: give at least one payment or a change output")]
    NoOutputs,
    #[error("outputs ({outputs}) exceed the coins spent ({inputs})")]
    OutputsExceedInputs { inputs: Amount, outputs: Amount },
    #[error("descriptor: {0}")]
    Descriptor(String),
    #[error("PSBT: {0}")]
    Psbt(String),
}

fn checked_total(mut amounts: impl Iterator<Item = Amount>) -> Option<Amount> {
    amounts.try_fold(Amount::ZERO, |sum, value| sum.checked_add(value))
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
    if payments.is_empty() && change.is_none() {
        return Err(BuildError::NoOutputs);
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(coin) = coins.iter().find(|coin| !seen.insert(coin.outpoint)) {
        return Err(BuildError::DuplicateCoin(coin.outpoint));
    }
    let mut outputs: Vec<TxOut> = payments
        .iter()
        .map(|(script, value)| TxOut {
            value: *value,
            script_pubkey: script.clone(),
        })
        .collect();
    let change_fields = match change {
        Some((index, value)) => {
            // From the wallet's cached keys: miniscript's `script_pubkey` on the definite
            // descriptor derives every key again (a test checks the two agree).
            let (script_pubkey, fields) = wallet
                .script_and_segwit_v0_fields(Branch::Change, index)
                .map_err(|e| BuildError::Descriptor(e.to_string()))?;
            outputs.push(TxOut { value, script_pubkey });
            Some((index, fields))
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
        let (ours, fields) = wallet
            .script_and_segwit_v0_fields(coin.branch, coin.index)
            .map_err(|e| BuildError::Descriptor(e.to_string()))?;
        if ours != prev_out.script_pubkey {
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
        match fields {
            Some(fields) => {
                psbt.inputs[i].bip32_derivation = fields.origins;
                psbt.inputs[i].witness_script = fields.witness_script;
            }
            None => {
                let definite = wallet
                    .definite(coin.branch, coin.index)
                    .map_err(|e| BuildError::Descriptor(e.to_string()))?;
                psbt.update_input_with_descriptor(i, &definite)
                    .map_err(|e| BuildError::Psbt(e.to_string()))?;
            }
        }
    }
    // Checked here, once every coin's amount is proven by its previous transaction.
    let inputs = checked_total(
        psbt.inputs
            .iter()
            .filter_map(|i| i.witness_utxo.as_ref())
            .map(|o| o.value),
    );
    let outputs = checked_total(psbt.unsigned_tx.output.iter().map(|o| o.value));
    match (inputs, outputs) {
        (Some(inputs), Some(outputs)) if outputs <= inputs => {}
        (inputs, outputs) => {
            return Err(BuildError::OutputsExceedInputs {
                inputs: inputs.unwrap_or(Amount::MAX),
                outputs: outputs.unwrap_or(Amount::MAX),
            })
        }
    }
    if let Some((index, fields)) = change_fields {
        let vout = psbt.outputs.len() - 1;
        match fields {
            Some(fields) => {
                psbt.outputs[vout].bip32_derivation = fields.origins;
                psbt.outputs[vout].witness_script = fields.witness_script;
            }
            None => {
                let definite = wallet
                    .definite(Branch::Change, index)
                    .map_err(|e| BuildError::Descriptor(e.to_string()))?;
                psbt.update_output_with_descriptor(vout, &definite)
                    .map_err(|e| BuildError::Psbt(e.to_string()))?;
            }
        }
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

/// The benchmarks' spend: `inputs` made-up coins of 0.01 BTC each ([`fake_coins`]), half
/// of it to an outside P2WPKH script, the rest less a fee of 200 sat per input (plus 200)
/// back to change index 0. For benchmarks only: the coins exist on no chain.
pub fn sample_spend(wallet: &WalletDescriptor, inputs: u32, salt: u32) -> Result<Psbt, BuildError> {
    let each = Amount::from_sat(1_000_000);
    let coins = fake_coins(wallet, inputs, each, salt)?;
    let total = each * u64::from(inputs);
    let outside = ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
    ]));
    let fee = Amount::from_sat(200 * u64::from(inputs) + 200);
    let change = (total / 2)
        .checked_sub(fee)
        .ok_or_else(|| BuildError::Descriptor(format!("{inputs} inputs cannot pay the fee")))?;
    build_psbt(
        wallet,
        &coins,
        &[(outside, total / 2)],
        Some((0, change)),
        LockTime::ZERO,
    )
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
    use crate::inspect::{inspect_psbt, ChangeIndexBound, InspectionPolicy};

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

    /// Three coins at different positions on both branches.
    fn coins(wallet: &WalletDescriptor) -> Vec<SpendableCoin> {
        [(Branch::Receive, 0), (Branch::Change, 5), (Branch::Receive, 17)]
            .iter()
            .zip(0u32..)
            .map(|(&(branch, index), salt)| {
                let script = wallet.script_pubkey(branch, index).unwrap();
                let prev_tx = fake_funding_tx(script, &[sats(10_000), sats(40_000_000)], salt);
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
        // BIP 84's first receive script: any script that is not the wallet's.
        ScriptBuf::from_hex("0014c0cebcd6c3d3ca8c75dc5ec62ebe55330ef910e2").unwrap()
    }

    #[test]
    fn the_keys_a_psbt_claims_are_derived_ahead_once_on_several_threads() {
        use crate::inspect::derive_claimed_keys;
        // A key no other test derives from (the process's table is shared by the tests).
        let secp = Secp256k1::new();
        let master = Xpriv::new_master(Network::Regtest, &[0x5a; 32]).unwrap();
        let account = master
            .derive_priv(
                &secp,
                &bitcoin::bip32::DerivationPath::from_str("m/84'/1'/7'").unwrap(),
            )
            .unwrap();
        let xpub = bitcoin::bip32::Xpub::from_priv(&secp, &account);
        let fingerprint = master.fingerprint(&secp);
        let wallet =
            WalletDescriptor::parse(&format!("wpkh([{fingerprint}/84h/1h/7h]{xpub}/<0;1>/*)"), None).unwrap();
        let psbt = sample_spend(&wallet, 40, 3).unwrap();
        let policy = InspectionPolicy {
            network: Network::Regtest,
            max_fee: sats(1_000_000),
            change_bound: ChangeIndexBound::with_default_gap(None),
        };
        // Building the PSBT derived (and kept) its keys.
        assert_eq!(
            derive_claimed_keys(&psbt, &wallet, 2),
            0,
            "kept when the PSBT was built"
        );
        // The same PSBT claiming other indexes (a claim is only a hint: inspection refuses
        // it, but its keys are derived ahead all the same): 40 inputs and one change
        // output, each at its own index.
        let mut elsewhere = psbt.clone();
        let claims = elsewhere
            .inputs
            .iter_mut()
            .map(|input| &mut input.bip32_derivation)
            .chain(
                elsewhere
                    .outputs
                    .iter_mut()
                    .map(|output| &mut output.bip32_derivation),
            );
        for claim in claims {
            for (_, path) in claim.values_mut() {
                let (branch, index) = wallet.match_derivation(fingerprint, path).unwrap();
                *path = bitcoin::bip32::DerivationPath::from_str(&format!(
                    "m/84'/1'/7'/{}/{}",
                    branch.number(),
                    index + 5_000
                ))
                .unwrap();
            }
        }
        assert_eq!(derive_claimed_keys(&elsewhere, &wallet, 2), 41);
        assert_eq!(derive_claimed_keys(&elsewhere, &wallet, 2), 0, "all kept");
        assert!(inspect_psbt(&elsewhere, &wallet, &policy).is_err());
        let review = inspect_psbt(&psbt, &wallet, &policy).unwrap().review().clone();
        assert_eq!(review.inputs().len(), 40);
        assert_eq!(review.change().len(), 1);
    }

    #[test]
    fn built_psbts_inspect_cleanly_and_signed_ones_finalize_for_every_wallet_kind() {
        let secp = Secp256k1::new();
        for name in ["wpkh_single", "wsh_2of3", "tr_single"] {
            let wallet = wallet(name);
            let payments = [
                (destination(), sats(70_000_000)),
                (destination(), sats(25_000_000)),
            ];
            let change = sats(24_990_000);
            let psbt = build_psbt(
                &wallet,
                &coins(&wallet),
                &payments,
                Some((2, change)),
                LockTime::ZERO,
            )
            .unwrap();
            assert!(psbt
                .unsigned_tx
                .input
                .iter()
                .all(|i| i.sequence == Sequence::ENABLE_RBF_NO_LOCKTIME));

            let policy = InspectionPolicy {
                network: Network::Regtest,
                max_fee: sats(10_000),
                change_bound: ChangeIndexBound::with_default_gap(None),
            };
            let inspected = inspect_psbt(&psbt, &wallet, &policy).unwrap();
            let review = inspected.review();
            assert_eq!(review.inputs().len(), 3);
            assert_eq!(review.fee(), sats(10_000), "{name}");
            assert_eq!(review.outflow(), sats(95_010_000), "{name}");
            assert_eq!(review.change().len(), 1);
            assert_eq!(
                (review.change()[0].amount, review.change()[0].derivation_index),
                (change, 2)
            );

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

    /// The segwit v0 fields made from the cached keys are exactly what miniscript's PSBT
    /// updaters set from the definite descriptors.
    #[test]
    fn inputs_and_change_carry_what_miniscripts_updaters_set() {
        for name in ["wpkh_single", "wsh_2of3", "tr_single"] {
            let wallet = wallet(name);
            let coins = coins(&wallet);
            let change_index = 7;
            let psbt = build_psbt(
                &wallet,
                &coins,
                &[(destination(), sats(1_000_000))],
                Some((change_index, sats(1_000_000))),
                LockTime::ZERO,
            )
            .unwrap();
            let mut reference = psbt.clone();
            for (i, coin) in coins.iter().enumerate() {
                let input = &mut reference.inputs[i];
                input.bip32_derivation.clear();
                input.witness_script = None;
                input.tap_key_origins.clear();
                input.tap_internal_key = None;
                let definite = wallet.definite(coin.branch, coin.index).unwrap();
                reference.update_input_with_descriptor(i, &definite).unwrap();
            }
            let change = &mut reference.outputs[1];
            change.bip32_derivation.clear();
            change.witness_script = None;
            change.tap_key_origins.clear();
            change.tap_internal_key = None;
            let definite = wallet.definite(Branch::Change, change_index).unwrap();
            reference.update_output_with_descriptor(1, &definite).unwrap();
            assert_eq!(psbt, reference, "{name}");
        }
    }

    #[test]
    fn inputs_and_change_carry_what_each_wallet_kind_needs() {
        for name in ["wpkh_single", "wsh_2of3", "tr_single"] {
            let wallet = wallet(name);
            let psbt = build_psbt(
                &wallet,
                &coins(&wallet),
                &[],
                Some((0, sats(1_000_000))),
                LockTime::ZERO,
            )
            .unwrap();
            for input in &psbt.inputs {
                assert!(input.witness_utxo.is_some());
                match wallet.kind() {
                    WalletKind::Wpkh => {
                        assert!(input.non_witness_utxo.is_some());
                        assert_eq!(input.bip32_derivation.len(), 1);
                    }
                    WalletKind::WshSortedMulti { .. } => {
                        assert!(input.non_witness_utxo.is_some() && input.witness_script.is_some());
                        assert_eq!(input.bip32_derivation.len(), 3);
                    }
                    WalletKind::TrSingle => {
                        assert!(input.tap_internal_key.is_some());
                        assert_eq!(input.tap_key_origins.len(), 1);
                    }
                }
            }
            let change = &psbt.outputs[0];
            let origins: Vec<_> = change
                .bip32_derivation
                .values()
                .chain(change.tap_key_origins.values().map(|(_, source)| source))
                .collect();
            assert_eq!(origins.len(), wallet.keys().len());
            assert!(origins
                .iter()
                .all(|(_, path)| path.to_string() == "84'/1'/0'/1/0"));
        }
    }

    #[test]
    fn refuses_coins_and_amounts_that_cannot_make_a_valid_spend() {
        let wallet = wallet("wpkh_single");
        let coins = coins(&wallet);
        let pay = [(destination(), sats(1_000_000))];
        let build = |coins: &[SpendableCoin], pay: &[(ScriptBuf, Amount)], change| {
            build_psbt(&wallet, coins, pay, change, LockTime::ZERO)
        };

        let mut wrong_position = coins.clone();
        wrong_position[1].index = 6;
        assert!(matches!(
            build(&wrong_position, &pay, None),
            Err(BuildError::CoinNotOurs { .. })
        ));

        let mut wrong_tx = coins.clone();
        wrong_tx[0].prev_tx = coins[1].prev_tx.clone();
        assert!(matches!(
            build(&wrong_tx, &pay, None),
            Err(BuildError::CoinNotInTransaction(_))
        ));

        let mut missing = coins.clone();
        missing[0].outpoint.vout = 9;
        assert!(matches!(
            build(&missing, &pay, None),
            Err(BuildError::CoinNotInTransaction(_))
        ));

        let twice = [coins[0].clone(), coins[0].clone()];
        assert_eq!(
            build(&twice, &pay, None),
            Err(BuildError::DuplicateCoin(coins[0].outpoint))
        );

        assert_eq!(
            build(
                &coins,
                &[(destination(), sats(100_000_000))],
                Some((0, sats(20_000_001)))
            ),
            Err(BuildError::OutputsExceedInputs {
                inputs: sats(120_000_000),
                outputs: sats(120_000_001)
            })
        );
        assert_eq!(build(&[], &pay, None), Err(BuildError::NoCoins));
        assert_eq!(build(&coins, &[], None), Err(BuildError::NoOutputs));
    }
}
