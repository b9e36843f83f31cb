//! PSBT inspection: what a PSBT really spends and pays, seen from one registered wallet.
//!
//! The signer trusts nothing the coordinator says that it can check itself: every input
//! must be the wallet's own with a proven amount, change is only what derives from the
//! wallet's change branch, and everything else leaving the wallet is outflow.
//! Derivation paths in the PSBT are only hints telling which index to try: every claim is
//! checked by deriving the script from the registered descriptor and comparing. The other
//! hints a signer's signature depends on (witness script, taproot internal key, script
//! tree) must agree with the derived script, and no coin may be spent twice.

use bitcoin::bip32::{DerivationPath, Fingerprint};
use bitcoin::psbt::{Input, Output, Psbt};
use bitcoin::{Address, Amount, Network, NetworkKind, OutPoint, ScriptBuf, TxOut, Txid};

use crate::descriptor::{Branch, WalletDescriptor, WalletKind};

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

impl PsbtReview {
    pub fn total_in(&self) -> Amount {
        self.inputs.iter().map(|i| i.amount).sum()
    }

    pub fn total_change(&self) -> Amount {
        self.change.iter().map(|c| c.amount).sum()
    }

    pub fn total_external(&self) -> Amount {
        self.external.iter().map(|e| e.amount).sum()
    }
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

/// Every (fingerprint, path) the PSBT claims for an input's or output's keys.
fn claims<'a>(
    bip32: impl Iterator<Item = &'a (Fingerprint, DerivationPath)>,
    tap: impl Iterator<Item = &'a (Fingerprint, DerivationPath)>,
) -> Vec<&'a (Fingerprint, DerivationPath)> {
    bip32.chain(tap).collect()
}

fn input_claims(input: &Input) -> Vec<&(Fingerprint, DerivationPath)> {
    claims(
        input.bip32_derivation.values(),
        input.tap_key_origins.values().map(|(_, origin)| origin),
    )
}

fn output_claims(output: &Output) -> Vec<&(Fingerprint, DerivationPath)> {
    claims(
        output.bip32_derivation.values(),
        output.tap_key_origins.values().map(|(_, origin)| origin),
    )
}

/// The output an input spends, proven where the wallet type needs proof.
fn spent_output(psbt: &Psbt, index: usize, wallet: &WalletDescriptor) -> Result<TxOut, Refusal> {
    let txin = &psbt.unsigned_tx.input[index];
    let input = &psbt.inputs[index];
    let from_full_tx = match &input.non_witness_utxo {
        Some(prev_tx) => {
            if prev_tx.compute_txid() != txin.previous_output.txid {
                return Err(Refusal::NonWitnessUtxoTxidMismatch { index });
            }
            let vout = usize::try_from(txin.previous_output.vout)
                .map_err(|_| Refusal::Malformed(format!("input {index}: output index out of range")))?;
            let out = prev_tx.output.get(vout).cloned().ok_or_else(|| {
                Refusal::Malformed(format!(
                    "input {index} spends output {vout}, which its previous transaction lacks"
                ))
            })?;
            Some(out)
        }
        None => None,
    };
    match (from_full_tx, &input.witness_utxo) {
        (Some(proven), Some(claimed)) if &proven != claimed => Err(Refusal::WitnessUtxoMismatch { index }),
        (Some(proven), _) => Ok(proven),
        (None, _) if wallet.kind().is_segwit_v0() => Err(Refusal::MissingNonWitnessUtxo { index }),
        (None, Some(claimed)) => Ok(claimed.clone()),
        (None, None) => Err(Refusal::MissingUtxo { index }),
    }
}

fn check_sighash(input: &Input, index: usize, taproot: bool) -> Result<(), Refusal> {
    let Some(sighash) = input.sighash_type else {
        return Ok(());
    };
    let value = sighash.to_u32();
    let allowed = value == 1 || (taproot && value == 0);
    if allowed {
        Ok(())
    } else {
        Err(Refusal::UnsupportedSighash {
            index,
            sighash: sighash.to_string(),
        })
    }
}

fn check_network(psbt: &Psbt, wallet: &WalletDescriptor, network: Network) -> Result<(), Refusal> {
    wallet.check_network(network).map_err(|e| Refusal::WrongNetwork {
        expected: network.to_string(),
        found: match &e {
            crate::descriptor::DescriptorError::WrongNetwork { found, .. } => found.clone(),
            other => other.to_string(),
        },
        what: "the registered wallet".to_owned(),
    })?;
    let expected = NetworkKind::from(network);
    if let Some(xpub) = psbt.xpub.keys().find(|x| x.network != expected) {
        return Err(Refusal::WrongNetwork {
            expected: network.to_string(),
            found: format!("{:?}", xpub.network),
            what: "a global xpub in the PSBT".to_owned(),
        });
    }
    Ok(())
}

/// A signer computes its signature from the PSBT's script hints (the witness script, the
/// taproot internal key and merkle root), not from our derivation: refuse hints that
/// disagree with the script we derived, so that what is signed is what was inspected.
/// `spent` is the derived (and matched) script, `keys` the keys it was derived from.
fn check_script_hints(
    input: &Input,
    index: usize,
    kind: WalletKind,
    spent: &ScriptBuf,
    keys: &[bitcoin::secp256k1::PublicKey],
) -> Result<(), Refusal> {
    let wrong = |what: &str| {
        Refusal::Malformed(format!(
            "input {index}: its {what} is not the wallet's for this address"
        ))
    };
    match kind {
        WalletKind::WshSortedMulti { .. } => {
            // The derived P2WSH commits to the witness script by hash.
            if let Some(given) = &input.witness_script {
                if ScriptBuf::new_p2wsh(&given.wscript_hash()) != *spent {
                    return Err(wrong("witness_script"));
                }
            }
        }
        WalletKind::TrSingle => {
            if input.tap_merkle_root.is_some() || !input.tap_scripts.is_empty() {
                return Err(wrong("taproot script tree (the wallet has none)"));
            }
            let internal = keys.first().map(|k| k.x_only_public_key().0);
            if input.tap_internal_key.is_some() && input.tap_internal_key != internal {
                return Err(wrong("tap_internal_key"));
            }
        }
        WalletKind::Wpkh => {
            if input.witness_script.is_some() {
                return Err(wrong("witness_script (a wpkh address has none)"));
            }
        }
    }
    Ok(())
}

fn sum(mut amounts: impl Iterator<Item = Amount>) -> Result<Amount, Refusal> {
    amounts.try_fold(Amount::ZERO, |acc, a| {
        acc.checked_add(a)
            .ok_or_else(|| Refusal::Malformed("amounts overflow".to_owned()))
    })
}

/// Inspects `psbt` for `wallet` under `policy`; see the module documentation for the
/// rules. Pure: the same PSBT, wallet and policy always give the same answer.
pub fn inspect_psbt(
    psbt: &Psbt,
    wallet: &WalletDescriptor,
    policy: &InspectionPolicy,
) -> Result<PsbtReview, Refusal> {
    let tx = &psbt.unsigned_tx;
    if tx.input.len() != psbt.inputs.len() || tx.output.len() != psbt.outputs.len() {
        return Err(Refusal::Malformed(
            "PSBT maps do not match the transaction's inputs and outputs".to_owned(),
        ));
    }
    if tx.input.is_empty() {
        return Err(Refusal::NoInputs);
    }
    check_network(psbt, wallet, policy.network)?;
    let taproot = !wallet.kind().is_segwit_v0();

    let mut inputs = Vec::with_capacity(tx.input.len());
    let mut spent_outpoints = std::collections::BTreeSet::new();
    for (index, (txin, input)) in tx.input.iter().zip(&psbt.inputs).enumerate() {
        let spent = spent_output(psbt, index, wallet)?;
        let owned = input_claims(input).into_iter().find_map(|(fingerprint, path)| {
            let (branch, derivation_index) = wallet.match_derivation(*fingerprint, path)?;
            let (script, keys) = wallet.script_and_keys(branch, derivation_index).ok()?;
            (script == spent.script_pubkey).then_some((branch, derivation_index, keys))
        });
        let Some((branch, derivation_index, keys)) = owned else {
            return Err(Refusal::ForeignInput { index });
        };
        if !spent_outpoints.insert(txin.previous_output) {
            return Err(Refusal::Malformed(format!(
                "input {index} spends {} a second time",
                txin.previous_output
            )));
        }
        check_script_hints(input, index, wallet.kind(), &spent.script_pubkey, &keys)?;
        check_sighash(input, index, taproot)?;
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
    for (vout, (txout, output)) in tx.output.iter().zip(&psbt.outputs).enumerate() {
        let output_claims = output_claims(output);
        let claims_change = output_claims
            .iter()
            .any(|(fp, path)| wallet.claims_change(*fp, path));
        let verified = output_claims.iter().find_map(|(fingerprint, path)| {
            match wallet.match_derivation(*fingerprint, path) {
                Some((Branch::Change, index)) => {
                    let script = wallet.script_pubkey(Branch::Change, index).ok()?;
                    (script == txout.script_pubkey).then_some(index)
                }
                _ => None,
            }
        });
        match verified {
            Some(derivation_index) => {
                let address = Address::from_script(&txout.script_pubkey, policy.network)
                    .map_err(|e| Refusal::Malformed(format!("change output {vout}: {e}")))?;
                change.push(ChangeOutput {
                    vout,
                    amount: txout.value,
                    address,
                    derivation_index,
                });
            }
            None if claims_change => return Err(Refusal::FalseChange { vout }),
            None => external.push(ExternalOutput {
                vout,
                amount: txout.value,
                address: Address::from_script(&txout.script_pubkey, policy.network).ok(),
                script_pubkey: txout.script_pubkey.clone(),
            }),
        }
    }

    let total_in = sum(inputs.iter().map(|i| i.amount))?;
    let total_out = sum(tx.output.iter().map(|o| o.value))?;
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
    let outflow = sum(external.iter().map(|e| e.amount))?
        .checked_add(fee)
        .ok_or_else(|| Refusal::Malformed("amounts overflow".to_owned()))?;
    Ok(PsbtReview {
        txid: tx.compute_txid(),
        inputs,
        change,
        external,
        fee,
        outflow,
    })
}
