//! Reserving outflow: the durable step between a checked PSBT and a signature.
//!
//! [`ReservedOutflow`] can only be made by [`reserve`], after the outflow was taken from
//! the limits and committed to disk together with its journal entry; the signing module
//! accepts nothing else. A crash after the commit keeps the reservation (fail closed): the
//! allowance is spent whether or not the signature got out.

use serde_json::json;
use sluice_shared::asset::{format_btc, Asset};
use sluice_shared::inspect::PsbtReview;
use sluice_shared::limiter::LimitRefusal;

use crate::clock;
use crate::signing::SigningPlan;
use crate::state::{self, State, StateError};

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
    #[error(transparent)]
    State(#[from] StateError),
}

/// The asset every PSBT today spends.
const ASSET: Asset = Asset::Btc;

/// Takes the plan's outflow from the limits and records the reservation and its journal
/// entry in one transaction; or journals the refusal and fails. A transaction reserved
/// before is not reserved again, but a pause stops even its re-signing.
pub fn reserve(state: &mut State, plan: SigningPlan) -> Result<ReservedOutflow, ReservationError> {
    let review = plan.review();
    let txid = review.txid().to_string();
    let wallet = plan.wallet().to_owned();
    let outflow = review.outflow();
    let tx = state.begin()?;
    let mut limits = state::limits_in(&tx, ASSET)?.ok_or(StateError::NoLimits(ASSET))?;
    limits.limiter.observe(clock::monotonic_now());
    let before = limits.limiter.status();
    let already = state::reservation_exists(&tx, &txid)?;
    let verdict = match (already, before.paused) {
        (_, true) => Err(LimitRefusal::Paused),
        (true, false) => Ok(()),
        (false, false) => limits.limiter.reserve(outflow),
    };
    // The clock reading is stored whatever the verdict: it credits nothing it should not.
    state::store_limiter(&tx, ASSET, &limits.limiter)?;
    match verdict {
        Ok(()) if already => {
            state::journal(
                &tx,
                "re-signing",
                json!({ "txid": txid, "wallet": wallet, "outflow_sat": outflow.to_sat() }),
            )?;
        }
        Ok(()) => {
            let after = limits.limiter.status();
            state::insert_reservation(&tx, &txid, &wallet, ASSET, outflow)?;
            state::journal(
                &tx,
                "reserved",
                json!({
                    "txid": txid,
                    "wallet": wallet,
                    "asset": ASSET.ticker(),
                    "outflow_sat": outflow.to_sat(),
                    "fee_sat": review.fee().to_sat(),
                    "external_sat": review.total_external().to_sat(),
                    "boot_id": limits.limiter.anchor().boot_id,
                    "since_boot_ms": u64::try_from(limits.limiter.anchor().since_boot.as_millis()).unwrap_or(u64::MAX),
                    "bucket_before_sat": before.bucket_available.to_sat(),
                    "bucket_after_sat": after.bucket_available.to_sat(),
                    "total_remaining_after_sat": after.total_remaining.to_sat(),
                }),
            )?;
        }
        Err(ref refusal) => {
            state::journal(
                &tx,
                "refused",
                json!({
                    "txid": txid,
                    "wallet": wallet,
                    "rule": "limits",
                    "reason": refusal.to_string(),
                    "outflow_sat": outflow.to_sat(),
                    "outflow": format_btc(outflow),
                }),
            )?;
        }
    }
    tx.commit().map_err(StateError::from)?;
    match verdict {
        Ok(()) => Ok(ReservedOutflow {
            plan,
            newly_reserved: !already,
        }),
        Err(refusal) => Err(ReservationError::Refused(refusal)),
    }
}
