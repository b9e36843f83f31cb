//! The online signer pauses itself (issue 8 item 7): sessions refused by inspection, by
//! the signing plan or as a changed repeat are counted per the asset's
//! [`SelfPauseRule`]; when the rule trips, the asset's limiter is paused, sealed and
//! journaled, exactly as a signed `pause` would, and only a signed `resume` lifts it.
//! A refusal by the limits does not count: that is the limits working, not a lie.

use serde_json::json;
use sluice_shared::asset::Asset;
use sluice_shared::limiter::MonotonicReading;
use sluice_shared::self_pause::RefusalWindow;

use crate::clock;
use crate::pipeline::Rule;
use crate::state::{self, State, StateError};

/// The asset every PSBT today spends.
const ASSET: Asset = Asset::Btc;

/// Counts a refused session at `now` in `window` (made from the asset's rule on first
/// use); when it trips, pauses the asset (sealed and journaled) and says so.
pub fn count_refusal(
    state: &mut State,
    window: &mut Option<RefusalWindow>,
    now: MonotonicReading,
    rule_refused: Rule,
    reason: &str,
) -> Result<Option<String>, StateError> {
    if !rule_refused.counts_toward_self_pause() {
        return Ok(None);
    }
    if window.is_none() {
        let rule = state
            .limits(ASSET)?
            .ok_or(StateError::NoLimits(ASSET))?
            .self_pause;
        *window = Some(RefusalWindow::new(rule));
    }
    let Some(window) = window.as_mut() else {
        return Ok(None);
    };
    if !window.record(now) {
        return Ok(None);
    }
    let rule = window.rule();
    let why = format!(
        "self-paused at {}: {} sessions refused within {} s (last: refused ({rule_refused}): {reason}); a coordinator sending PSBTs this signer refuses is compromised or broken",
        clock::utc_text(clock::unix_now()),
        rule.refusals,
        rule.window.as_secs()
    );
    let tx = state.begin()?;
    let mut limits = state::limits_in(&tx, ASSET)?.ok_or(StateError::NoLimits(ASSET))?;
    limits.limiter.pause();
    state::store_limiter(&tx, ASSET, &limits.limiter)?;
    state::set_self_paused(&tx, ASSET, Some(&why))?;
    state::journal(
        &tx,
        "self-paused",
        json!({
            "asset": ASSET.ticker(),
            "refusals": rule.refusals,
            "window_seconds": rule.window.as_secs(),
            "last_rule": rule_refused.name(),
            "last_reason": reason,
        }),
    )?;
    tx.commit()?;
    Ok(Some(why))
}
