//! Reserving outflow: the durable step between a PSBT passing inspection and a signature
//! leaving the signer.
//!
//! [`ReservedOutflow`] can only be made by [`reserve`], after the outflow was taken from
//! the limits and committed to disk; the signing module accepts nothing else. A crash
//! after the commit keeps the reservation (fail closed).

use anyhow::{Context, Result};
use bitcoin::psbt::Psbt;
use serde_json::json;
use sluice_shared::asset::{format_btc, Asset};
use sluice_shared::inspect::PsbtReview;

use crate::clock;
use crate::state::{self, State};

/// A PSBT whose outflow is durably reserved against this signer's limits.
#[derive(Debug)]
pub struct ReservedOutflow {
    psbt: Psbt,
    review: PsbtReview,
    wallet: String,
    newly_reserved: bool,
}

impl ReservedOutflow {
    pub fn review(&self) -> &PsbtReview {
        &self.review
    }

    pub fn wallet(&self) -> &str {
        &self.wallet
    }

    /// False when this very transaction was reserved before (signing it again authorises
    /// nothing new, so it does not consume the limits twice).
    pub fn newly_reserved(&self) -> bool {
        self.newly_reserved
    }

    /// The PSBT, for the signing module only.
    pub(crate) fn into_psbt(self) -> Psbt {
        self.psbt
    }
}

/// A refusal by the limits, already journaled.
#[derive(Debug, thiserror::Error)]
#[error("refused by the limits: {0}")]
pub struct LimitsRefused(pub sluice_shared::limiter::LimitRefusal);

/// Takes the review's outflow from the asset's limits and records it, in one
/// transaction; or journals the refusal and fails.
pub fn reserve(state: &mut State, wallet: &str, psbt: Psbt, review: PsbtReview) -> Result<ReservedOutflow> {
    let asset = Asset::Btc;
    let txid = review.txid.to_string();
    let tx = state.begin()?;
    if state::reservation_exists(&tx, &txid)? {
        state::journal(
            &tx,
            "re-signed",
            json!({ "txid": txid, "wallet": wallet, "outflow_sat": review.outflow.to_sat() }),
        )?;
        tx.commit()?;
        return Ok(ReservedOutflow {
            psbt,
            review,
            wallet: wallet.to_owned(),
            newly_reserved: false,
        });
    }
    let mut limits = state::limits_in(&tx, asset)?
        .with_context(|| format!("no limits for {asset}: run `sluice-signer limits init` first"))?;
    limits.limiter.observe(clock::monotonic_now());
    let before = limits.limiter.status();
    match limits.limiter.reserve(review.outflow) {
        Ok(()) => {
            state::store_limiter(&tx, asset, &limits.limiter)?;
            state::insert_reservation(&tx, &txid, wallet, asset, review.outflow)?;
            let after = limits.limiter.status();
            state::journal(
                &tx,
                "reserved",
                json!({
                    "txid": txid,
                    "wallet": wallet,
                    "asset": asset.ticker(),
                    "outflow_sat": review.outflow.to_sat(),
                    "fee_sat": review.fee.to_sat(),
                    "external_sat": review.total_external().to_sat(),
                    "bucket_before_sat": before.bucket_available.to_sat(),
                    "bucket_after_sat": after.bucket_available.to_sat(),
                    "total_remaining_after_sat": after.total_remaining.to_sat(),
                }),
            )?;
            tx.commit().context("committing the reservation")?;
            Ok(ReservedOutflow {
                psbt,
                review,
                wallet: wallet.to_owned(),
                newly_reserved: true,
            })
        }
        Err(refusal) => {
            // The observed clock reading is kept: it credits nothing it should not.
            state::store_limiter(&tx, asset, &limits.limiter)?;
            state::journal(
                &tx,
                "refused",
                json!({
                    "txid": txid,
                    "wallet": wallet,
                    "rule": "limits",
                    "reason": refusal.to_string(),
                    "outflow_sat": review.outflow.to_sat(),
                    "outflow": format_btc(review.outflow),
                }),
            )?;
            tx.commit()?;
            Err(LimitsRefused(refusal).into())
        }
    }
}
