//! `limits init`, `limits show`.

use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::json;
use sluice_shared::asset::{parse_btc, Asset};
use sluice_shared::limiter::{FlowLimiter, RateLimit};

use crate::clock;
use crate::home::Home;
use crate::review;
use crate::state::{self, State};

pub fn init(
    home: &Home,
    asset: &str,
    rate: &str,
    per_seconds: u64,
    burst: &str,
    total: &str,
    max_fee: &str,
) -> Result<()> {
    home.require_initialized()?;
    let asset: Asset = asset.parse()?;
    let rate = RateLimit {
        amount: parse_btc(rate)?,
        per: Duration::from_secs(per_seconds),
        burst: parse_btc(burst)?,
    };
    let total = parse_btc(total)?;
    let max_fee = parse_btc(max_fee)?;
    let limiter = FlowLimiter::new(rate, total, clock::monotonic_now())?;
    let mut state = State::open(&home.state())?;
    let tx = state.begin()?;
    if state::limits_in(&tx, asset)?.is_some() || state::any_reservation(&tx)? {
        bail!("limits are already set: after setup they change only through signed limit commands from the security officers");
    }
    state::insert_limiter(&tx, asset, &limiter, max_fee)?;
    state::journal(
        &tx,
        "limits-initialized",
        json!({
            "asset": asset.ticker(),
            "rate_sat": rate.amount.to_sat(),
            "per_seconds": per_seconds,
            "burst_sat": rate.burst.to_sat(),
            "total_sat": total.to_sat(),
            "max_fee_sat": max_fee.to_sat(),
        }),
    )?;
    tx.commit()?;
    print!(
        "{}",
        review::render_limits(asset.ticker(), &limiter.status(), max_fee)
    );
    Ok(())
}

pub fn show(home: &Home, asset: &str) -> Result<()> {
    home.require_initialized()?;
    let asset: Asset = asset.parse()?;
    let state = State::open(&home.state())?;
    let Some(mut limits) = state.limits(asset)? else {
        bail!("no limits for {asset}: run `sluice-signer limits init` first");
    };
    // Shown as of now; the stored anchor is only moved by a reservation.
    limits.limiter.observe(clock::monotonic_now());
    print!(
        "{}",
        review::render_limits(asset.ticker(), &limits.limiter.status(), limits.max_fee)
    );
    Ok(())
}
