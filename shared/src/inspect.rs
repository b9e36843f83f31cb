//! PSBT inspection: what a PSBT really spends and pays, seen from one registered wallet.
//!
//! The signer trusts nothing the coordinator says that it can check itself: every input
//! must be the wallet's own with a proven amount, change is only what derives from the
//! wallet's change branch, and everything else leaving the wallet is outflow.
//!
//! OWNER: helper "psbt" — implement `inspect_psbt`; keep the types.

use bitcoin::psbt::Psbt;
use bitcoin::{Address, Amount, Network, OutPoint, ScriptBuf, Txid};

use crate::descriptor::{Branch, WalletDescriptor};

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
    let _ = (psbt, wallet, policy);
    todo!("psbt helper")
}
