//! PSBT inspection: what a PSBT really spends and pays, seen from one registered wallet.
//!
//! The signer trusts nothing the coordinator says that it can check itself: every input
//! must be the wallet's own with a proven amount, change is only what derives from the
//! wallet's change branch, and everything else leaving the wallet is outflow.
//!
//!
//! Rules, each refusal named by a [`Refusal`] variant:
//! - every input is the wallet's own: its derivation claims (`bip32_derivation`,
//!   `tap_key_origins`) name a position on branch 0 or 1 of one of the wallet's keys, and
//!   the script derived there from the registered descriptor is the script spent;
//! - amounts are proven: segwit v0 inputs carry the full previous transaction
//!   (`non_witness_utxo`, whose txid must match) and any `witness_utxo` must agree with it;
//!   taproot inputs need `witness_utxo` or `non_witness_utxo` (the signature commits to
//!   every amount, so a lie only makes the signature invalid);
//! - only SIGHASH_ALL (or taproot DEFAULT);
//! - the wallet's keys and any global xpub are for the configured network;
//! - change is an output whose claims name branch 1 and whose script derives there; a
//!   branch-1 claim that does not derive is refused as false change; everything else,
//!   including payments to our own receive branch, is external;
//! - fee = inputs - outputs, at most the configured cap; outflow = external + fee.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::bip32::KeySource;
use bitcoin::psbt::{Input, Output, Psbt};
use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::taproot::TapLeafHash;
use bitcoin::{Address, Amount, Network, NetworkKind, OutPoint, ScriptBuf, TxIn, TxOut, Txid};
use miniscript::{Descriptor, ToPublicKey};

use crate::descriptor::{secp, Branch, CosignerKey, DescriptorError, WalletDescriptor, WalletKind};
use crate::network::network_name;

/// What the signer is configured to accept, besides ownership rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectionPolicy {
    /// The only network this signer signs for.
    pub network: Network,
    /// Largest absolute fee the signer will sign.
    pub max_fee: Amount,
}

/// An input the wallet owns, with its proven amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedInput {
    pub index: usize,
    pub outpoint: OutPoint,
    pub amount: Amount,
    pub branch: Branch,
    pub derivation_index: u32,
}

/// An output whose script derives from the wallet's change branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeOutput {
    pub vout: usize,
    pub amount: Amount,
    pub address: Address,
    pub derivation_index: u32,
}

/// Any output that is not verified change: it leaves the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalOutput {
    pub vout: usize,
    pub amount: Amount,
    /// `None` when the script has no address form (e.g. OP_RETURN).
    pub address: Option<Address>,
    pub script_pubkey: ScriptBuf,
}

/// The result of a successful inspection: what a person reviews before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsbtReview {
    pub txid: Txid,
    pub inputs: Vec<OwnedInput>,
    pub change: Vec<ChangeOutput>,
    pub external: Vec<ExternalOutput>,
    pub fee: Amount,
    /// External outputs plus fee: what the wallet loses if this is broadcast.
    pub outflow: Amount,
}

/// Why a PSBT is refused. Each variant names the rule that refused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "input {index} is not the wallet's own: its script does not derive from the registered descriptor"
    )]
    ForeignInput { index: usize },
    #[error("input {index} is segwit v0 without non_witness_utxo: its amount is unproven (CVE-2020-14199 fee attack)")]
    MissingNonWitnessUtxo { index: usize },
    #[error("input {index}: witness_utxo disagrees with the output in non_witness_utxo")]
    WitnessUtxoMismatch { index: usize },
    #[error("input {index}: non_witness_utxo is not the transaction the input spends")]
    NonWitnessUtxoTxidMismatch { index: usize },
    #[error("input {index} carries no previous output (neither witness_utxo nor non_witness_utxo)")]
    MissingUtxo { index: usize },
    #[error("input {index} asks for sighash {sighash}; only ALL (or taproot DEFAULT) is signed")]
    UnsupportedSighash { index: usize, sighash: String },
    #[error("wrong network: the signer is configured for {expected} but {what} is for {found}")]
    WrongNetwork {
        expected: String,
        found: String,
        what: String,
    },
    #[error("fee {fee} is above the configured cap of {cap}")]
    FeeAboveCap { fee: Amount, cap: Amount },
    #[error(
        "output {vout} claims to be change but its script does not derive from the wallet's change branch"
    )]
    FalseChange { vout: usize },
    #[error("outputs ({outputs}) exceed inputs ({inputs})")]
    OutputsExceedInputs { inputs: Amount, outputs: Amount },
    #[error("the PSBT has no inputs")]
    NoInputs,
    #[error("malformed PSBT: {0}")]
    Malformed(String),
}

/// Inspects `psbt` for `wallet` under `policy`; see the module documentation for the
/// rules. Pure: the same PSBT, wallet and policy always give the same answer.
pub fn inspect_psbt(
    psbt: &Psbt,
    wallet: &WalletDescriptor,
    policy: &InspectionPolicy,
) -> Result<PsbtReview, Refusal> {
    let tx = &psbt.unsigned_tx;
    if tx.input.is_empty() {
        return Err(Refusal::NoInputs);
    }
    if psbt.inputs.len() != tx.input.len() || psbt.outputs.len() != tx.output.len() {
        return Err(Refusal::Malformed(format!(
            "the transaction has {} inputs and {} outputs but the PSBT describes {} and {}",
            tx.input.len(),
            tx.output.len(),
            psbt.inputs.len(),
            psbt.outputs.len()
        )));
    }
    check_network(psbt, wallet, policy.network)?;

    let kind = wallet.kind();
    let keys = wallet.keys();
    let mut seen_outpoints = BTreeSet::new();
    let mut inputs = Vec::with_capacity(tx.input.len());
    let mut total_in = Amount::ZERO;
    for (index, (txin, input)) in tx.input.iter().zip(&psbt.inputs).enumerate() {
        if !seen_outpoints.insert(txin.previous_output) {
            return Err(Refusal::Malformed(format!(
                "input {index} spends {} a second time",
                txin.previous_output
            )));
        }
        check_sighash(index, input, kind)?;
        let spent = proven_spent_output(index, txin, input, kind)?;
        let (branch, derivation_index) = owned_position(index, input, wallet, &keys, kind, &spent)?;
        total_in = total_in
            .checked_add(spent.value)
            .ok_or_else(|| Refusal::Malformed("the input amounts overflow".to_owned()))?;
        inputs.push(OwnedInput {
            index,
            outpoint: txin.previous_output,
            amount: spent.value,
            branch,
            derivation_index,
        });
    }

    let mut change = Vec::new();
    let mut external = Vec::new();
    let mut total_out = Amount::ZERO;
    let mut total_external = Amount::ZERO;
    for (vout, (txout, output)) in tx.output.iter().zip(&psbt.outputs).enumerate() {
        total_out = total_out
            .checked_add(txout.value)
            .ok_or_else(|| Refusal::Malformed("the output amounts overflow".to_owned()))?;
        match verified_change_index(vout, txout, output, wallet, &keys)? {
            Some(derivation_index) => change.push(ChangeOutput {
                vout,
                amount: txout.value,
                address: Address::from_script(&txout.script_pubkey, policy.network)
                    .map_err(|e| Refusal::Malformed(format!("output {vout}: {e}")))?,
                derivation_index,
            }),
            None => {
                total_external = total_external
                    .checked_add(txout.value)
                    .ok_or_else(|| Refusal::Malformed("the output amounts overflow".to_owned()))?;
                external.push(ExternalOutput {
                    vout,
                    amount: txout.value,
                    address: Address::from_script(&txout.script_pubkey, policy.network).ok(),
                    script_pubkey: txout.script_pubkey.clone(),
                });
            }
        }
    }

    let fee = total_in
        .checked_sub(total_out)
        .ok_or(Refusal::OutputsExceedInputs {
            inputs: total_in,
            outputs: total_out,
        })?;
    if fee > policy.max_fee {
        return Err(Refusal::FeeAboveCap {
            fee,
            cap: policy.max_fee,
        });
    }
    // Cannot overflow: external outputs plus fee is at most the sum of the inputs.
    let outflow = total_external
        .checked_add(fee)
        .ok_or_else(|| Refusal::Malformed("the outflow overflows".to_owned()))?;

    Ok(PsbtReview {
        txid: tx.compute_txid(),
        inputs,
        change,
        external,
        fee,
        outflow,
    })
}

/// The wallet's keys and every global xpub must be for the configured network, so that a
/// mainnet signer never signs test coins' look-alikes and the other way round.
fn check_network(psbt: &Psbt, wallet: &WalletDescriptor, network: Network) -> Result<(), Refusal> {
    if let Err(DescriptorError::WrongNetwork { expected, found }) = wallet.check_network(network) {
        return Err(Refusal::WrongNetwork {
            expected,
            found,
            what: "the registered wallet's keys".to_owned(),
        });
    }
    let expected = NetworkKind::from(network);
    for (xpub, (fingerprint, path)) in &psbt.xpub {
        if xpub.network != expected {
            return Err(Refusal::WrongNetwork {
                expected: network_name(network).to_owned(),
                found: match xpub.network {
                    NetworkKind::Main => "mainnet".to_owned(),
                    NetworkKind::Test => "a test network".to_owned(),
                },
                what: format!("the PSBT's global xpub [{fingerprint}/{path}]"),
            });
        }
    }
    Ok(())
}

/// ECDSA inputs may ask for nothing (ALL is then used) or ALL; taproot inputs for nothing,
/// DEFAULT or ALL. Anything else lets someone else change the transaction after we sign.
fn check_sighash(index: usize, input: &Input, kind: WalletKind) -> Result<(), Refusal> {
    let Some(requested) = input.sighash_type else {
        return Ok(());
    };
    let value = requested.to_u32();
    let allowed = match kind {
        WalletKind::TrSingle => value == 0x00 || value == 0x01,
        WalletKind::Wpkh | WalletKind::WshSortedMulti { .. } => value == 0x01,
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::UnsupportedSighash {
            index,
            sighash: requested.to_string(),
        })
    }
}

/// The output `txin` spends, with its amount proven: by the full previous transaction for
/// segwit v0 (whose signatures commit to this input's amount only), by the taproot sighash
/// (which commits to every input's amount and script) otherwise.
fn proven_spent_output(index: usize, txin: &TxIn, input: &Input, kind: WalletKind) -> Result<TxOut, Refusal> {
    let from_previous_tx = match &input.non_witness_utxo {
        Some(previous_tx) => {
            if previous_tx.compute_txid() != txin.previous_output.txid {
                return Err(Refusal::NonWitnessUtxoTxidMismatch { index });
            }
            let vout = usize::try_from(txin.previous_output.vout).unwrap_or(usize::MAX);
            let output = previous_tx.output.get(vout).ok_or_else(|| {
                Refusal::Malformed(format!(
                    "input {index} spends output {} of a transaction that has {} outputs",
                    txin.previous_output.vout,
                    previous_tx.output.len()
                ))
            })?;
            Some(output.clone())
        }
        None => None,
    };
    match (from_previous_tx, &input.witness_utxo) {
        (Some(proven), Some(claimed)) if proven != *claimed => Err(Refusal::WitnessUtxoMismatch { index }),
        (Some(proven), _) => Ok(proven),
        (None, _) if kind.is_segwit_v0() => Err(Refusal::MissingNonWitnessUtxo { index }),
        (None, Some(claimed)) => Ok(claimed.clone()),
        (None, None) => Err(Refusal::MissingUtxo { index }),
    }
}

/// The distinct (branch, index) positions that an item's derivation claims name for this
/// wallet's keys. Both claim maps are read whatever the wallet type: a claim is only a hint
/// to what to derive, so reading more of them can only find more to check.
fn claimed_positions(
    bip32_derivation: &BTreeMap<bitcoin::secp256k1::PublicKey, KeySource>,
    tap_key_origins: &BTreeMap<XOnlyPublicKey, (Vec<TapLeafHash>, KeySource)>,
    keys: &[CosignerKey],
) -> BTreeSet<(Branch, u32)> {
    let sources = bip32_derivation
        .values()
        .chain(tap_key_origins.values().map(|(_, source)| source));
    let mut positions = BTreeSet::new();
    for (fingerprint, path) in sources {
        for key in keys.iter().filter(|key| key.fingerprint == *fingerprint) {
            if let Some(position) = key.branch_and_index(path) {
                positions.insert(position);
            }
        }
    }
    positions
}

/// Finds where in the wallet the spent script comes from, by deriving every position the
/// input's claims name and comparing scripts. Also refuses script hints (witness script,
/// taproot internal key and merkle root) that disagree with the derived script, since a
/// signer computes its signature from them.
fn owned_position(
    index: usize,
    input: &Input,
    wallet: &WalletDescriptor,
    keys: &[CosignerKey],
    kind: WalletKind,
    spent: &TxOut,
) -> Result<(Branch, u32), Refusal> {
    for (branch, derivation_index) in claimed_positions(&input.bip32_derivation, &input.tap_key_origins, keys)
    {
        let Ok(definite) = wallet.definite_descriptor(branch, derivation_index) else {
            continue;
        };
        let derived = definite.derived_descriptor(secp());
        if derived.script_pubkey() != spent.script_pubkey {
            continue;
        }
        check_script_hints(index, input, kind, &derived)?;
        return Ok((branch, derivation_index));
    }
    Err(Refusal::ForeignInput { index })
}

fn check_script_hints(
    index: usize,
    input: &Input,
    kind: WalletKind,
    derived: &Descriptor<bitcoin::PublicKey>,
) -> Result<(), Refusal> {
    match (kind, derived) {
        (WalletKind::WshSortedMulti { .. }, Descriptor::Wsh(wsh)) => {
            if let Some(given) = &input.witness_script {
                if *given != wsh.inner_script() {
                    return Err(Refusal::Malformed(format!(
                        "input {index}: witness_script is not the wallet's script for this address"
                    )));
                }
            }
        }
        (WalletKind::TrSingle, Descriptor::Tr(tr)) => {
            if input.tap_merkle_root.is_some() || !input.tap_scripts.is_empty() {
                return Err(Refusal::Malformed(format!(
                    "input {index}: taproot script-path data given but the wallet has no script tree"
                )));
            }
            if let Some(given) = input.tap_internal_key {
                if given != tr.internal_key().to_x_only_pubkey() {
                    return Err(Refusal::Malformed(format!(
                        "input {index}: tap_internal_key is not the wallet's key for this address"
                    )));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// `Some(index)` when the output is change verified by derivation, `None` when it is
/// external. A change claim (our key on branch 1) that does not derive is refused: the
/// coordinator is either broken or lying about where the money goes.
fn verified_change_index(
    vout: usize,
    txout: &TxOut,
    output: &Output,
    wallet: &WalletDescriptor,
    keys: &[CosignerKey],
) -> Result<Option<u32>, Refusal> {
    let change_claims: Vec<u32> = claimed_positions(&output.bip32_derivation, &output.tap_key_origins, keys)
        .into_iter()
        .filter(|(branch, _)| *branch == Branch::Change)
        .map(|(_, index)| index)
        .collect();
    if change_claims.is_empty() {
        return Ok(None);
    }
    for index in change_claims {
        if let Ok(script) = wallet.script_pubkey(Branch::Change, index) {
            if script == txout.script_pubkey {
                return Ok(Some(index));
            }
        }
    }
    Err(Refusal::FalseChange { vout })
}
