//! Reserving outflow: the durable step between a checked PSBT and a signature.
//!
//! [`ReservedOutflow`] can only be made by [`reserve_all`] (or [`reserve`], its batch of
//! one), after the outflow was taken from the limits and committed to disk together with
//! its journal entry; the signing module accepts nothing else. A crash after the commit
//! keeps the reservation (fail closed): the allowance is spent whether or not the
//! signature got out. An online signer reserves all the sessions of one poll in one
//! sealed commit (one fsync, one MAC, one anchor write), as if it had reserved them one
//! after another.
//!
//! A reservation keeps what it reserved: the wallet, the outflow, the fee and a digest of
//! the external outputs ([`OutflowRecord`]). Signing the same transaction again reserves
//! nothing more only if the repeat claims exactly the same; any difference is refused
//! ([`Repeat::Differs`]). The txid fixes the outputs, but not the input amounts a taproot
//! input's `witness_utxo` claims: without this check a coordinator could have a lowered
//! fee reserved, then the true amounts signed for free (issue 8 item 1).

use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::Amount;
use rusqlite::Connection;
use serde_json::json;
use sluice_shared::asset::{format_btc, Asset};
use sluice_shared::inspect::PsbtReview;
use sluice_shared::limiter::{FlowLimiter, LimitRefusal};

use crate::clock;
use crate::signing::SigningPlan;
use crate::state::{self, Change, State, StateError, StoredReservation};

/// What a reservation reserves: compared in full when the same txid comes again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutflowRecord {
    pub wallet: String,
    pub outflow: Amount,
    pub fee: Amount,
    /// SHA-256 (hex) over the wallet name, the fee and each external output (vout, amount,
    /// script), length-prefixed.
    pub digest: String,
}

impl OutflowRecord {
    pub fn of(wallet: &str, review: &PsbtReview) -> OutflowRecord {
        let mut engine = sha256::Hash::engine();
        let mut field = |bytes: &[u8]| {
            engine.input(&(bytes.len() as u64).to_be_bytes());
            engine.input(bytes);
        };
        field(b"sluice/outflow/v1");
        field(wallet.as_bytes());
        field(&review.fee().to_sat().to_be_bytes());
        for output in review.external() {
            field(&(output.vout as u64).to_be_bytes());
            field(&output.amount.to_sat().to_be_bytes());
            field(output.script_pubkey.as_bytes());
        }
        OutflowRecord {
            wallet: wallet.to_owned(),
            outflow: review.outflow(),
            fee: review.fee(),
            digest: sha256::Hash::from_engine(engine).to_string(),
        }
    }
}

/// What makes two transactions replacements of each other: the inputs they spend (as a
/// set) and the external outputs they pay (script and amount, as a multiset), each as a
/// SHA-256 digest (hex). The order of inputs and outputs and the change do not matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendKey {
    pub inputs_digest: String,
    pub externals_digest: String,
}

impl SpendKey {
    /// `None` for a transaction without inputs (inspection never passes one).
    pub fn of(review: &PsbtReview) -> Option<SpendKey> {
        if review.inputs().is_empty() {
            return None;
        }
        let mut inputs: Vec<Vec<u8>> = review
            .inputs()
            .iter()
            .map(|input| {
                let mut bytes = input.outpoint.txid.to_byte_array().to_vec();
                bytes.extend_from_slice(&input.outpoint.vout.to_be_bytes());
                bytes
            })
            .collect();
        inputs.sort();
        let mut externals: Vec<Vec<u8>> = review
            .external()
            .iter()
            .map(|output| {
                let mut bytes = output.amount.to_sat().to_be_bytes().to_vec();
                bytes.extend_from_slice(output.script_pubkey.as_bytes());
                bytes
            })
            .collect();
        externals.sort();
        Some(SpendKey {
            inputs_digest: digest(b"sluice/spend-inputs/v1", &inputs),
            externals_digest: digest(b"sluice/spend-externals/v1", &externals),
        })
    }
}

fn digest(tag: &[u8], items: &[Vec<u8>]) -> String {
    let mut engine = sha256::Hash::engine();
    let mut field = |bytes: &[u8]| {
        engine.input(&(bytes.len() as u64).to_be_bytes());
        engine.input(bytes);
    };
    field(tag);
    field(&(items.len() as u64).to_be_bytes());
    for item in items {
        field(item);
    }
    sha256::Hash::from_engine(engine).to_string()
}

/// How a transaction relates to what was reserved before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repeat {
    /// Never reserved, and no replacement of anything reserved: the full outflow.
    New,
    /// Reserved before with exactly this outflow: signing again authorizes nothing new.
    Same,
    /// Reserved before with another outflow: refused, with the reason.
    Differs(String),
    /// A fee bump of `txid`, which reserved the highest fee (`prior_fee`) among the
    /// transactions with the same inputs and external outputs: only `charge` (this fee
    /// minus `prior_fee`, more than zero) is reserved.
    Replaces {
        txid: String,
        prior_fee: Amount,
        charge: Amount,
    },
}

impl Repeat {
    /// What reserving this transaction takes from the limits (`None`: nothing, a repeat).
    pub fn charge(&self, outflow: Amount) -> Option<Amount> {
        match self {
            Repeat::New => Some(outflow),
            Repeat::Replaces { charge, .. } => Some(*charge),
            Repeat::Same | Repeat::Differs(_) => None,
        }
    }
}

/// Compares a new request with the stored reservation of its txid. A reservation from
/// before schema 2 has no fee or digest: its wallet and outflow must match.
pub fn compare(stored: Option<&StoredReservation>, record: &OutflowRecord) -> Repeat {
    let Some(stored) = stored else {
        return Repeat::New;
    };
    let same = stored.wallet == record.wallet
        && stored.outflow == record.outflow
        && stored.fee.is_none_or(|fee| fee == record.fee)
        && stored.digest.as_ref().is_none_or(|d| *d == record.digest);
    if same {
        return Repeat::Same;
    }
    Repeat::Differs(format!(
        "this transaction was reserved before with outflow {} (fee {}, wallet {}), but this request claims outflow {} (fee {}, wallet {}): the same transaction with other input amounts or outputs means one of the two requests lies; signing it again is refused (a repeat must match exactly)",
        format_btc(stored.outflow),
        stored.fee.map(format_btc).unwrap_or_else(|| "not recorded".to_owned()),
        stored.wallet,
        format_btc(record.outflow),
        format_btc(record.fee),
        record.wallet,
    ))
}

/// A transaction never reserved: is it a replacement? Only when a reservation of the
/// same wallet has the same [`SpendKey`] and this fee is higher than the highest fee
/// reserved for that key; otherwise it is new (full outflow), never less.
pub fn replacement(
    conn: &Connection,
    wallet: &str,
    key: Option<&SpendKey>,
    fee: Amount,
) -> Result<Repeat, StateError> {
    let Some(key) = key else {
        return Ok(Repeat::New);
    };
    let Some((txid, prior_fee)) = state::highest_fee_with_key(conn, wallet, key)? else {
        return Ok(Repeat::New);
    };
    Ok(match fee.checked_sub(prior_fee) {
        Some(charge) if charge > Amount::ZERO => Repeat::Replaces {
            txid,
            prior_fee,
            charge,
        },
        _ => Repeat::New,
    })
}

/// How `review` (for `wallet`) relates to this signer's reservations.
pub fn prior(state: &State, wallet: &str, review: &PsbtReview) -> Result<Repeat, StateError> {
    prior_in(
        state.connection(),
        &review.txid().to_string(),
        &OutflowRecord::of(wallet, review),
        SpendKey::of(review).as_ref(),
    )
}

fn prior_in(
    conn: &Connection,
    txid: &str,
    record: &OutflowRecord,
    key: Option<&SpendKey>,
) -> Result<Repeat, StateError> {
    match compare(state::reservation_of(conn, txid)?.as_ref(), record) {
        Repeat::New => replacement(conn, &record.wallet, key, record.fee),
        known => Ok(known),
    }
}

/// A checked PSBT whose outflow is durably reserved against this signer's limits.
#[derive(Debug)]
pub struct ReservedOutflow {
    plan: SigningPlan,
    newly_reserved: bool,
}

impl ReservedOutflow {
    pub fn review(&self) -> &PsbtReview {
        self.plan.review()
    }

    pub fn wallet(&self) -> &str {
        self.plan.wallet()
    }

    /// False when this very transaction was reserved before: signing it again authorizes
    /// nothing new, so it does not consume the limits twice.
    pub fn newly_reserved(&self) -> bool {
        self.newly_reserved
    }

    /// The plan, for the signing module only.
    pub(crate) fn into_plan(self) -> SigningPlan {
        self.plan
    }
}

/// Why nothing was reserved.
#[derive(Debug, thiserror::Error)]
pub enum ReservationError {
    #[error("refused by the limits: {0}")]
    Refused(#[source] LimitRefusal),
    #[error("refused (repeat): {0}")]
    RepeatDiffers(String),
    #[error(transparent)]
    State(#[from] StateError),
}

/// The asset every PSBT today spends.
const ASSET: Asset = Asset::Btc;

/// Takes the plan's outflow from the limits and records the reservation and its journal
/// entry in one sealed commit; or journals the refusal and fails. A transaction reserved
/// before is not reserved again, but a pause stops even its re-signing. The batch of one
/// [`reserve_all`].
pub fn reserve(state: &mut State, plan: SigningPlan) -> Result<ReservedOutflow, ReservationError> {
    reserve_all(state, vec![plan])?
        .pop()
        .ok_or_else(|| StateError::Corrupt("a batch of one reserved nothing".to_owned()))?
}

/// Reserves `plans` in ONE state transaction and one sealed commit, treating them in
/// order exactly as [`reserve`] on each in turn would: each sees the limiter as the one
/// before left it, a txid reserved earlier in the batch is a repeat (`Same`, or refused
/// if it claims another outflow), and a plan the limits refuse is journaled `refused`
/// while the others go on. For every plan reserved it also raises the wallet's highest
/// signed change index, in the same commit and so before any signature exists: no
/// signature ever leaves with a change index above the recorded one.
///
/// The clock is read once for the batch: a later plan is credited no refill for the
/// microseconds the ones before it took, which only makes the limiter stricter.
///
/// The outer error: the transaction failed and rolled back, nothing is reserved or
/// journaled, and nothing may be signed (fail closed). The inner results, in the order
/// of `plans`, are only `Refused` or `RepeatDiffers`.
pub fn reserve_all(
    state: &mut State,
    plans: Vec<SigningPlan>,
) -> Result<Vec<Result<ReservedOutflow, ReservationError>>, StateError> {
    if plans.is_empty() {
        return Ok(Vec::new());
    }
    let tx = state.begin()?;
    let mut limits = state::limits_in(&tx, ASSET)?.ok_or(StateError::NoLimits(ASSET))?;
    limits.limiter.observe(clock::monotonic_now());
    let mut verdicts = Vec::with_capacity(plans.len());
    for plan in &plans {
        verdicts.push(reserve_in(&tx, &mut limits.limiter, plan)?);
    }
    // The clock reading is stored whatever the verdicts: it credits nothing it should not.
    state::store_limiter(&tx, ASSET, &limits.limiter)?;
    tx.commit()?;
    // Only now, after the commit, do the proofs exist.
    Ok(plans
        .into_iter()
        .zip(verdicts)
        .map(|(plan, verdict)| verdict.map(|newly_reserved| ReservedOutflow { plan, newly_reserved }))
        .collect())
}

/// One plan's reservation inside the batch's transaction: the limiter as the plans
/// before left it, the reservation rows, the change bound and the journal entry.
/// `Ok(Ok(newly_reserved))` when it may be signed.
fn reserve_in(
    tx: &Change<'_>,
    limiter: &mut FlowLimiter,
    plan: &SigningPlan,
) -> Result<Result<bool, ReservationError>, StateError> {
    let review = plan.review();
    let txid = review.txid().to_string();
    let wallet = plan.wallet();
    let record = OutflowRecord::of(wallet, review);
    let key = SpendKey::of(review);
    let outflow = review.outflow();
    let before = limiter.status();
    let repeat = prior_in(tx, &txid, &record, key.as_ref())?;
    let charge = repeat.charge(outflow);
    let verdict = match (&repeat, before.paused, charge) {
        (Repeat::Differs(reason), _, _) => Err(ReservationError::RepeatDiffers(reason.clone())),
        (_, true, _) => Err(ReservationError::Refused(LimitRefusal::Paused)),
        (_, false, None) => Ok(()),
        (_, false, Some(charge)) => limiter.reserve(charge).map_err(ReservationError::Refused),
    };
    let already = repeat == Repeat::Same;
    match verdict {
        Ok(()) if already => {
            state::journal(
                tx,
                "re-signing",
                json!({ "txid": txid, "wallet": wallet, "outflow_sat": outflow.to_sat() }),
            )?;
        }
        Ok(()) => {
            let after = limiter.status();
            let charged = charge.unwrap_or(outflow);
            let replaces = match &repeat {
                Repeat::Replaces { txid, .. } => Some(txid.as_str()),
                _ => None,
            };
            state::insert_reservation(tx, &txid, wallet, ASSET, outflow, record.fee, &record.digest)?;
            if let Some(key) = &key {
                state::insert_spend_key(tx, &txid, key, charged, replaces)?;
            }
            state::journal(
                tx,
                "reserved",
                json!({
                    "txid": txid,
                    "wallet": wallet,
                    "asset": ASSET.ticker(),
                    "outflow_sat": outflow.to_sat(),
                    "fee_sat": review.fee().to_sat(),
                    "external_sat": review.total_external().to_sat(),
                    "outflow_digest": record.digest,
                    "charged_sat": charged.to_sat(),
                    "replaces_txid": replaces,
                    "boot_id": limiter.anchor().boot_id,
                    "since_boot_ms": u64::try_from(limiter.anchor().since_boot.as_millis()).unwrap_or(u64::MAX),
                    "bucket_before_sat": before.bucket_available.to_sat(),
                    "bucket_after_sat": after.bucket_available.to_sat(),
                    "total_remaining_after_sat": after.total_remaining.to_sat(),
                }),
            )?;
        }
        Err(refusal) => {
            let rule = match &refusal {
                ReservationError::RepeatDiffers(_) => "repeat",
                _ => "limits",
            };
            state::journal(
                tx,
                "refused",
                json!({
                    "txid": txid,
                    "wallet": wallet,
                    "rule": rule,
                    "reason": refusal.to_string(),
                    "outflow_sat": outflow.to_sat(),
                    "fee_sat": record.fee.to_sat(),
                    "outflow": format_btc(outflow),
                }),
            )?;
            return Ok(Err(refusal));
        }
    }
    if let Some(highest) = review.change().iter().map(|c| c.derivation_index).max() {
        state::record_signed_change(tx, wallet, highest)?;
    }
    Ok(Ok(!already))
}
