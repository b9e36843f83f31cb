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
    /// How far above the highest known change index change may sit.
    pub change_bound: ChangeIndexBound,
}

/// How far up the change branch change may go. Change parked far above every index the
/// wallet has used is the wallet's in name only: wallet software scanning with a gap
/// limit never finds it, so the funds are as good as gone until someone searches for
/// them (a coordinator could park change at index 2^31−1). Change is allowed up to
/// `gap` indices above the highest change index known: the higher of `highest_known`
/// and the change indices the PSBT's own inputs spend from (those coins exist, so the
/// wallet knows them); with nothing known, indices `0..gap`. Change beyond is refused
/// ([`Refusal::ChangeBeyondGap`]), not counted as outflow: refusing signs nothing, where
/// counting it as outflow would still hide the coins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeIndexBound {
    /// The highest change index already known to be used (for a signer: the highest it
    /// signed change for), if any.
    pub highest_known: Option<u32>,
    /// How many indices above it change may sit (Coldcard-style fixed gap); a gap of 0
    /// counts as 1, so the next index is always allowed.
    pub gap: u32,
}

impl ChangeIndexBound {
    /// The gap a wallet gets unless it was registered with another.
    pub const DEFAULT_GAP: u32 = 1000;

    /// The default gap above `highest_known`.
    pub fn with_default_gap(highest_known: Option<u32>) -> ChangeIndexBound {
        ChangeIndexBound {
            highest_known,
            gap: ChangeIndexBound::DEFAULT_GAP,
        }
    }

    /// The highest change index allowed, when the PSBT's inputs spend change up to
    /// `highest_input`.
    pub fn highest_allowed(&self, highest_input: Option<u32>) -> u32 {
        let gap = self.gap.max(1);
        match self.highest_known.max(highest_input) {
            Some(highest) => highest.saturating_add(gap),
            None => gap - 1,
        }
    }
}

/// An input the wallet owns, with its proven amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedInput {
    pub index: usize,
    pub outpoint: OutPoint,
    pub amount: Amount,
    pub branch: Branch,
    pub derivation_index: u32,
    /// The wallet's public keys at `branch/derivation_index`, in descriptor order: derived
    /// from the registered xpubs, and the spent script is made of exactly these. A signer
    /// labels its signature with its own one (no key is trusted from the PSBT).
    pub keys: Vec<bitcoin::secp256k1::PublicKey>,
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

/// What inspection found: what a person reviews before signing. Read-only: only
/// [`inspect_psbt`] fills one in, so a review cannot be made up by hand:
///
/// ```compile_fail,E0451
/// use sluice_shared::bitcoin::hashes::Hash;
/// use sluice_shared::bitcoin::{Amount, Txid};
/// use sluice_shared::inspect::PsbtReview;
///
/// let made_up = PsbtReview {
///     txid: Txid::all_zeros(),
///     inputs: Vec::new(),
///     change: Vec::new(),
///     external: Vec::new(),
///     fee: Amount::ZERO,
///     outflow: Amount::ZERO,
/// };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsbtReview {
    txid: Txid,
    inputs: Vec<OwnedInput>,
    change: Vec<ChangeOutput>,
    external: Vec<ExternalOutput>,
    fee: Amount,
    outflow: Amount,
}

impl PsbtReview {
    /// The unsigned transaction's id.
    pub fn txid(&self) -> Txid {
        self.txid
    }

    /// Every input, each verified as the wallet's own with its proven amount.
    pub fn inputs(&self) -> &[OwnedInput] {
        &self.inputs
    }

    /// The outputs verified as the wallet's change.
    pub fn change(&self) -> &[ChangeOutput] {
        &self.change
    }

    /// Every other output: it leaves the wallet.
    pub fn external(&self) -> &[ExternalOutput] {
        &self.external
    }

    pub fn fee(&self) -> Amount {
        self.fee
    }

    /// External outputs plus fee: what the wallet loses if this is broadcast.
    pub fn outflow(&self) -> Amount {
        self.outflow
    }

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

/// A PSBT that passed inspection for one wallet, together with its review and the wallet
/// it was inspected against. The first proof on the way to a signature: only
/// [`inspect_psbt`] makes one, so the review always describes exactly this PSBT, and a
/// signer's plan accepts nothing else. It cannot be put together by hand:
///
/// ```compile_fail,E0451
/// use sluice_shared::bitcoin::psbt::Psbt;
/// use sluice_shared::descriptor::WalletDescriptor;
/// use sluice_shared::inspect::{InspectedPsbt, PsbtReview};
///
/// fn forge(psbt: Psbt, wallet: WalletDescriptor, review: PsbtReview) -> InspectedPsbt {
///     InspectedPsbt { psbt, wallet, review }
/// }
/// ```
#[derive(Debug)]
pub struct InspectedPsbt {
    psbt: Psbt,
    wallet: WalletDescriptor,
    review: PsbtReview,
}

impl InspectedPsbt {
    /// The PSBT as inspected.
    pub fn psbt(&self) -> &Psbt {
        &self.psbt
    }

    /// The wallet it was inspected against.
    pub fn wallet(&self) -> &WalletDescriptor {
        &self.wallet
    }

    /// What inspection found.
    pub fn review(&self) -> &PsbtReview {
        &self.review
    }

    /// Takes the proof apart (for the signing plan, which consumes it). The parts are
    /// plain values again: nothing accepts them in place of an [`InspectedPsbt`].
    pub fn into_parts(self) -> (Psbt, WalletDescriptor, PsbtReview) {
        (self.psbt, self.wallet, self.review)
    }
}

/// Why a PSBT is refused. Each variant names the rule that refused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "input {index} is not the wallet's own: its script does not derive from the registered descriptor"
    )]
    ForeignInput { index: usize },
    #[error(
        "input {index} is segwit v0 without non_witness_utxo: its amount is unproven \
         (CVE-2020-14199 fee attack). Do not sign it this way: have the wallet that made the \
         PSBT include the full previous transactions (some wallets, Sparrow among them, leave \
         them out of PSBTs they show as QR codes; export a PSBT file from that wallet, or \
         build the transaction on the Sluice coordinator, which always includes them)"
    )]
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
    #[error("output {vout} pays change to change index {index}, beyond the highest allowed {highest_allowed} (the wallet's gap above the highest change index known): wallet software scanning with a gap limit would not find it; build the PSBT with the wallet's next change index")]
    ChangeBeyondGap {
        vout: usize,
        index: u32,
        highest_allowed: u32,
    },
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

/// Derives ahead, on up to `threads` threads, the wallet keys at every index the PSBT's
/// inputs and outputs claim for `wallet` (at most one index per claim), so that
/// [`inspect_psbt`] finds them kept. Only a matter of speed: inspection derives whatever
/// is not kept, and compares each claim with the script all the same. Returns how many
/// keys it derived.
pub fn derive_claimed_keys(psbt: &Psbt, wallet: &WalletDescriptor, threads: usize) -> usize {
    let claimed: std::collections::BTreeSet<(Branch, u32)> = psbt
        .inputs
        .iter()
        .flat_map(input_claims)
        .chain(psbt.outputs.iter().flat_map(output_claims))
        .filter_map(|(fingerprint, path)| wallet.match_derivation(*fingerprint, path))
        .collect();
    let claimed: Vec<(Branch, u32)> = claimed.into_iter().collect();
    wallet.derive_keys_at(&claimed, threads)
}

/// Inspects `psbt` for `wallet` under `policy`; see the module documentation for the
/// rules. Pure: the same PSBT, wallet and policy always give the same answer. What passes
/// comes back as an [`InspectedPsbt`] owning a copy of the PSBT and the wallet.
pub fn inspect_psbt(
    psbt: &Psbt,
    wallet: &WalletDescriptor,
    policy: &InspectionPolicy,
) -> Result<InspectedPsbt, Refusal> {
    let review = review_psbt(psbt, wallet, policy)?;
    Ok(InspectedPsbt {
        psbt: psbt.clone(),
        wallet: wallet.clone(),
        review,
    })
}

fn review_psbt(
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
            keys,
        });
    }

    let highest_change_input = inputs
        .iter()
        .filter(|i| i.branch == Branch::Change)
        .map(|i| i.derivation_index)
        .max();
    let highest_allowed = policy.change_bound.highest_allowed(highest_change_input);
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
            Some(derivation_index) if derivation_index > highest_allowed => {
                return Err(Refusal::ChangeBeyondGap {
                    vout,
                    index: derivation_index,
                    highest_allowed,
                })
            }
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
