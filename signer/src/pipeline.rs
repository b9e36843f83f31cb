//! The path of one PSBT through the signer, the same for the offline `sign` command and
//! the online loop: decide (inspection against a registered wallet, the signing plan,
//! the limits' verdict), reserve, sign, journal. Each step takes the proof the step
//! before made ([`InspectedPsbt`] → [`SigningPlan`] → `ReservedOutflow` → signature), so
//! none can be skipped; the commands around it only read, confirm and write.
//!
//! Reserving and journaling take batches: [`reserve_and_sign_all`] authenticates the
//! state once and reserves all its plans in one sealed commit, [`journal_signed_all`]
//! journals all their releases in another. The online loop hands it every session of a
//! poll, so a poll costs two sealed commits (each an fsync, a MAC over the covered rows
//! and an anchor write) however many sessions it signs; the offline `sign` command is a
//! batch of one ([`reserve_and_sign`], [`journal_signed`]).
//!
//! Every refusal is journaled, naming its rule (`inspection`, `signing` or `limits`).
//! A limits refusal is left to the caller to journal: the online loop journals a
//! repeated one only once.

use bitcoin::psbt::Psbt;
use bitcoin::Amount;
use serde_json::json;
use sluice_shared::asset::Asset;
use sluice_shared::inspect::{derive_claimed_keys, inspect_psbt, InspectedPsbt, InspectionPolicy};

use crate::clock;
use crate::keys::KeyMaterial;
use crate::reservation::{self, ReservationError};
use crate::review::Decision;
use crate::signing::{self, SigningError, SigningPlan};
use crate::state::{self, AssetLimits, RegisteredWallet, State, StateError};

/// The rule that refused a PSBT, as journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Inspection,
    Signing,
    Limits,
    /// A known transaction offered again with a different outflow (issue 8 item 1).
    Repeat,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::Inspection => "inspection",
            Rule::Signing => "signing",
            Rule::Limits => "limits",
            Rule::Repeat => "repeat",
        }
    }

    /// Whether a refusal by this rule shows a coordinator sending what it must not (and so
    /// counts toward the self-pause, issue 8 item 7). A refusal by the limits does not:
    /// that is the limits working, not a lie.
    pub fn counts_toward_self_pause(self) -> bool {
        matches!(self, Rule::Inspection | Rule::Signing | Rule::Repeat)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a PSBT was not signed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Refused by a rule (already journaled).
    #[error("refused ({rule}): {reason}")]
    Refused { rule: Rule, reason: String },
    #[error("no registered wallet named {0}: see `sluice-signer wallet list`")]
    UnknownWallet(String),
    #[error("no limits for BTC: run `sluice-signer limits init` before inspecting or signing")]
    NoLimits,
    #[error("the keystore and the state database belong to different signers: refusing to sign")]
    OtherSigner,
    #[error(transparent)]
    Reservation(#[from] ReservationError),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// The registered wallets whose keys the PSBT's inputs name (by master fingerprint),
/// those that derive the script of an input they are claimed for first: when every one
/// refuses, the first refusal is journaled, and the inputs' own wallet explains why
/// (another wallet holding the same key would only say "input 0 is not mine"). Only a
/// hint for which wallet to inspect against: inspection decides.
fn claimed_wallets<'a>(psbt: &Psbt, wallets: &'a [RegisteredWallet]) -> Vec<&'a RegisteredWallet> {
    let mut claimed = wallets_named_by_fingerprint(psbt, wallets);
    claimed.sort_by_key(|wallet| !derives_an_input(psbt, wallet));
    claimed
}

/// Whether some input's claim for `wallet` derives the script that input spends.
fn derives_an_input(psbt: &Psbt, wallet: &RegisteredWallet) -> bool {
    psbt.inputs.iter().any(|input| {
        let Some(spent) = &input.witness_utxo else {
            return false;
        };
        input
            .bip32_derivation
            .values()
            .chain(input.tap_key_origins.values().map(|(_, origin)| origin))
            .filter_map(|(fingerprint, path)| wallet.descriptor.match_derivation(*fingerprint, path))
            .any(|(branch, index)| {
                wallet
                    .descriptor
                    .script_pubkey(branch, index)
                    .is_ok_and(|script| script == spent.script_pubkey)
            })
    })
}

fn wallets_named_by_fingerprint<'a>(
    psbt: &Psbt,
    wallets: &'a [RegisteredWallet],
) -> Vec<&'a RegisteredWallet> {
    let fingerprints: Vec<_> = psbt
        .inputs
        .iter()
        .flat_map(|i| {
            i.bip32_derivation
                .values()
                .map(|(fp, _)| *fp)
                .chain(i.tap_key_origins.values().map(|(_, (fp, _))| *fp))
        })
        .collect();
    wallets
        .iter()
        .filter(|w| {
            w.descriptor
                .keys()
                .iter()
                .any(|k| fingerprints.contains(&k.fingerprint))
        })
        .collect()
}

/// Journals a refusal (its own transaction) and returns the error to show.
pub fn refuse(
    state: &mut State,
    txid: &str,
    wallet: &str,
    rule: Rule,
    reason: String,
) -> Result<PipelineError, StateError> {
    let tx = state.begin()?;
    state::journal(
        &tx,
        "refused",
        json!({ "txid": txid, "wallet": wallet, "rule": rule.name(), "reason": reason }),
    )?;
    tx.commit()?;
    Ok(PipelineError::Refused { rule, reason })
}

/// Inspects against the chosen (or claimed) wallet and fixes the signing plan. A refusal
/// is journaled before it is returned.
fn check(
    state: &mut State,
    psbt: Psbt,
    wanted: Option<&str>,
    limits: &AssetLimits,
) -> Result<(RegisteredWallet, SigningPlan), PipelineError> {
    let network = state.network()?;
    let wallets = state.wallets()?;
    let candidates: Vec<&RegisteredWallet> = match wanted {
        Some(name) => vec![wallets
            .iter()
            .find(|w| w.name == name)
            .ok_or_else(|| PipelineError::UnknownWallet(name.to_owned()))?],
        None => claimed_wallets(&psbt, &wallets),
    };
    let txid = psbt.unsigned_tx.compute_txid().to_string();
    let mut first_refusal = None;
    let mut found: Option<(&RegisteredWallet, InspectedPsbt)> = None;
    for wallet in candidates {
        let policy = InspectionPolicy {
            network,
            max_fee: limits.max_fee,
            change_bound: state.change_bound(&wallet.name)?,
        };
        // The keys this PSBT names, derived on every core first (a one-shot signer has
        // none kept; an online one finds them made ahead and derives nothing here).
        derive_claimed_keys(&psbt, &wallet.descriptor, signing::available_threads());
        match inspect_psbt(&psbt, &wallet.descriptor, &policy) {
            Ok(inspected) => {
                found = Some((wallet, inspected));
                break;
            }
            Err(refusal) => {
                first_refusal.get_or_insert((wallet.name.clone(), refusal.to_string()));
            }
        }
    }
    let Some((wallet, inspected)) = found else {
        let (wallet, reason) = first_refusal.unwrap_or_else(|| {
            (
                String::new(),
                "its inputs name no registered wallet's keys".to_owned(),
            )
        });
        return Err(refuse(state, &txid, &wallet, Rule::Inspection, reason)?);
    };
    let own = state.own_fingerprint()?;
    match signing::plan(inspected, &wallet.name, own) {
        Ok(plan) => Ok((wallet.clone(), plan)),
        Err(refusal) => Err(refuse(
            state,
            &txid,
            &wallet.name,
            Rule::Signing,
            refusal.to_string(),
        )?),
    }
}

fn limits_now(state: &State) -> Result<AssetLimits, PipelineError> {
    let mut limits = state.limits(Asset::Btc)?.ok_or(PipelineError::NoLimits)?;
    limits.limiter.observe(clock::monotonic_now());
    Ok(limits)
}

/// What the signer would do with a PSBT now, with nothing reserved yet.
#[derive(Debug)]
pub struct Decided {
    pub wallet: RegisteredWallet,
    pub plan: SigningPlan,
    pub decision: Decision,
    /// The limits as they stand now (clock observed).
    pub limits: AssetLimits,
}

/// Inspection, signing plan and the limits' verdict, with nothing printed or reserved.
/// Inspection and plan refusals are journaled; a limits refusal is the caller's to
/// journal (with [`refuse`]).
pub fn decide(state: &mut State, psbt: Psbt, wanted: Option<&str>) -> Result<Decided, PipelineError> {
    let limits = limits_now(state)?;
    let (wallet, plan) = check(state, psbt, wanted, &limits)?;
    let decision = match reservation::prior(state, &wallet.name, plan.review())? {
        reservation::Repeat::New => Decision::for_limits(&limits.limiter, plan.review().outflow(), false),
        reservation::Repeat::Same => Decision::for_limits(&limits.limiter, plan.review().outflow(), true),
        reservation::Repeat::Replaces {
            txid,
            prior_fee,
            charge,
        } => Decision::for_replacement(&limits.limiter, txid, prior_fee, charge),
        reservation::Repeat::Differs(reason) => {
            let txid = plan.review().txid().to_string();
            return Err(refuse(state, &txid, &wallet.name, Rule::Repeat, reason)?);
        }
    };
    Ok(Decided {
        wallet,
        plan,
        decision,
        limits,
    })
}

/// A PSBT signed after its outflow was reserved.
#[derive(Debug)]
pub struct Signed {
    pub psbt: Psbt,
    pub txid: String,
    pub outflow: Amount,
    pub newly_reserved: bool,
}

/// Reserves the plan's outflow durably, records how far up the change branch this
/// signer has now signed, then signs: [`reserve_and_sign_all`] for one plan. The keys
/// must be this signer's.
pub fn reserve_and_sign(
    state: &mut State,
    keys: &KeyMaterial,
    plan: SigningPlan,
) -> Result<Signed, PipelineError> {
    reserve_and_sign_all(state, keys, vec![plan])?
        .pop()
        .ok_or_else(|| StateError::Corrupt("a batch of one signed nothing".to_owned()))?
}

/// Authenticates the state once, reserves every plan in one sealed commit
/// ([`reservation::reserve_all`], which also records how far up each wallet's change
/// branch this signer signs), then signs each plan reserved. The keys must be this
/// signer's.
///
/// The outer error: nothing was reserved and nothing signed. The inner results, in the
/// order of `plans`: the signed PSBT, or why that plan was not signed (a refusal by the
/// limits or a repeat, journaled in the batch's commit, or a signing failure after the
/// reservation, which stands: fail closed).
pub fn reserve_and_sign_all(
    state: &mut State,
    keys: &KeyMaterial,
    plans: Vec<SigningPlan>,
) -> Result<Vec<Result<Signed, PipelineError>>, PipelineError> {
    if keys.network() != state.network()? || keys.fingerprint() != state.own_fingerprint()? {
        return Err(PipelineError::OtherSigner);
    }
    // The state must be this signer's, unedited and not rolled back (issue 8 item 3).
    state.authenticate(keys.state_key())?;
    let reserved = reservation::reserve_all(state, plans)?;
    Ok(reserved
        .into_iter()
        .map(|reserved| {
            let reserved = reserved?;
            let newly_reserved = reserved.newly_reserved();
            let txid = reserved.review().txid().to_string();
            let outflow = reserved.review().outflow();
            let psbt = signing::sign(reserved, keys, sluice_shared::secp::signing())?;
            Ok(Signed {
                psbt,
                txid,
                outflow,
                newly_reserved,
            })
        })
        .collect())
}

/// A signature that left the signer (or may have): what [`journal_signed_all`] records.
#[derive(Debug, Clone, Copy)]
pub struct Released<'a> {
    pub signed: &'a Signed,
    pub wallet: &'a str,
    /// Where it went: a file, a QR display, a coordinator session.
    pub written_to: &'a str,
}

/// Journals a released signature.
pub fn journal_signed(
    state: &mut State,
    signed: &Signed,
    wallet: &str,
    written_to: &str,
) -> Result<(), StateError> {
    journal_signed_all(
        state,
        &[Released {
            signed,
            wallet,
            written_to,
        }],
    )
}

/// Journals released signatures, all in one transaction.
pub fn journal_signed_all(state: &mut State, released: &[Released<'_>]) -> Result<(), StateError> {
    if released.is_empty() {
        return Ok(());
    }
    let tx = state.begin()?;
    for release in released {
        state::journal(
            &tx,
            "signed",
            json!({
                "txid": release.signed.txid,
                "wallet": release.wallet,
                "outflow_sat": release.signed.outflow.to_sat(),
                "written_to": release.written_to,
            }),
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Journals a signature that could not be written out (the reservation stands).
pub fn journal_output_failed(
    state: &mut State,
    signed: &Signed,
    wallet: &str,
    error: &str,
) -> Result<(), StateError> {
    let tx = state.begin()?;
    state::journal(
        &tx,
        "output-failed",
        json!({ "txid": signed.txid, "wallet": wallet, "error": error }),
    )?;
    tx.commit()?;
    Ok(())
}
