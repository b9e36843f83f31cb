//! `limits init`, `limits show`.

use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::json;
use sluice_shared::asset::{parse_btc, Asset};
use sluice_shared::limiter::{FlowLimiter, RateLimit};

use crate::clock;
use crate::home::Home;
use crate::review;
use crate::state::{self, State, StateError};

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
    tx.commit().map_err(StateError::from)?;
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

/// Reads the command text from scanned images or from `--text`.
fn command_text(scans: &[std::path::PathBuf], text: Option<&str>) -> Result<String> {
    if let Some(text) = text {
        return Ok(text.trim().to_owned());
    }
    let mut found = Vec::new();
    for path in scans {
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let texts = sluice_shared::qr_scan::scan_bytes(&bytes)
            .map_err(|e| anyhow::anyhow!("scanning {}: {e}", path.display()))?;
        found.extend(texts.into_iter().filter(|t| {
            t.trim()
                .to_ascii_uppercase()
                .starts_with(sluice_shared::limit_command::TEXT_PREFIX)
        }));
    }
    found.sort();
    found.dedup();
    match found.len() {
        0 => bail!("no limit command found in the scanned image(s): the QR codes there are something else"),
        1 => Ok(found.remove(0)),
        n => bail!("{n} different limit commands in the scanned images: scan one command at a time"),
    }
}

pub fn apply(
    home: &Home,
    passphrase_file: Option<&std::path::Path>,
    scans: &[std::path::PathBuf],
    text: Option<&str>,
) -> Result<()> {
    use sluice_shared::limit_command::{verify, LimitAction};

    home.require_initialized()?;
    let text = command_text(scans, text)?;
    // The officer set lives in the sealed keystore, so nobody can swap it on disk.
    let keys = crate::keys::unlock(home, &crate::passphrase::read(passphrase_file, false)?)?;
    let me = keys.signer_id()?;
    let mut state = State::open(&home.state())?;
    let verified = match verify(&text, keys.officers(), me, clock::unix_now()) {
        Ok(v) => v,
        Err(refusal) => {
            let tx = state.begin()?;
            state::journal(&tx, "command-refused", json!({ "reason": refusal.to_string() }))?;
            tx.commit().map_err(StateError::from)?;
            bail!("limit command refused: {refusal}");
        }
    };
    let command = verified.command();
    let id = command.id.to_string();
    let description = command.action.describe(command.signer, command.asset);
    let tx = state.begin()?;
    if state::command_applied(&tx, &id)? {
        drop(tx);
        let tx = state.begin()?;
        state::journal(
            &tx,
            "command-refused",
            json!({ "command_id": id, "reason": "replayed: already applied" }),
        )?;
        tx.commit().map_err(StateError::from)?;
        bail!("limit command refused: command {id} was already applied on this signer (a replay)");
    }
    let mut limits = state::limits_in(&tx, command.asset)?.ok_or(StateError::NoLimits(command.asset))?;
    limits.limiter.observe(clock::monotonic_now());
    let before = limits.limiter.status();
    let applied = match command.action {
        LimitAction::RaiseTotal { amount } => {
            limits.limiter.raise_total(amount);
            Ok(())
        }
        LimitAction::SetRate { rate } => limits.limiter.set_rate(rate),
        LimitAction::Pause => {
            limits.limiter.pause();
            Ok(())
        }
        LimitAction::Resume => {
            limits.limiter.resume();
            Ok(())
        }
    };
    if let Err(refusal) = applied {
        drop(tx);
        let tx = state.begin()?;
        state::journal(
            &tx,
            "command-refused",
            json!({ "command_id": id, "reason": refusal.to_string() }),
        )?;
        tx.commit().map_err(StateError::from)?;
        bail!("limit command refused: {refusal}");
    }
    let after = limits.limiter.status();
    state::store_limiter(&tx, command.asset, &limits.limiter)?;
    state::record_command(&tx, &id, &description)?;
    state::journal(
        &tx,
        "command-applied",
        json!({
            "command_id": id,
            "action": description,
            "signed_by": verified.signed_by().iter().map(sluice_shared::identity::officer_key_fingerprint).collect::<Vec<_>>(),
            "total_remaining_before_sat": before.total_remaining.to_sat(),
            "total_remaining_after_sat": after.total_remaining.to_sat(),
            "paused_after": after.paused,
        }),
    )?;
    tx.commit().map_err(StateError::from)?;
    println!("Applied limit command {id}: {description}");
    print!(
        "{}",
        review::render_limits(command.asset.ticker(), &after, limits.max_fee)
    );
    Ok(())
}
