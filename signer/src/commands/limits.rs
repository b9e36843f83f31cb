//! `limits init`, `limits show`.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::json;
use sluice_shared::asset::{parse_btc, Asset};
use sluice_shared::limiter::{FlowLimiter, RateLimit};
use sluice_shared::self_pause::SelfPauseRule;

use crate::camera::{self, ScanBounds, ScanStop};
use crate::clock;
use crate::home::Home;
use crate::review;
use crate::state::{self, State, StateError};

/// What `limits init` sets.
#[derive(Debug)]
pub struct InitArgs<'a> {
    pub asset: &'a str,
    pub rate: &'a str,
    pub per_seconds: u64,
    pub burst: &'a str,
    pub total: &'a str,
    pub max_fee: &'a str,
    pub self_pause: SelfPauseRule,
}

pub fn init(home: &Home, passphrase_file: Option<&std::path::Path>, args: &InitArgs<'_>) -> Result<()> {
    home.require_initialized()?;
    let asset: Asset = args.asset.parse()?;
    let per_seconds = args.per_seconds;
    let rate = RateLimit {
        amount: parse_btc(args.rate)?,
        per: Duration::from_secs(per_seconds),
        burst: parse_btc(args.burst)?,
    };
    let total = parse_btc(args.total)?;
    let max_fee = parse_btc(args.max_fee)?;
    if args.self_pause.refusals > 0 && args.self_pause.window.is_zero() {
        bail!("--refusal-window-seconds must be more than 0 (or turn self-pausing off with --pause-after-refusals 0)");
    }
    let limiter = FlowLimiter::new(rate, total, clock::monotonic_now())?;
    // Setting the limits is a change of the sealed state: it needs the keys.
    let keys = crate::keys::unlock(home, &crate::passphrase::read(passphrase_file, false)?)?;
    let mut state = State::open_keyed(&home.state(), keys.state_key())?;
    drop(keys);
    let tx = state.begin()?;
    if state::limits_in(&tx, asset)?.is_some() || state::any_reservation(&tx)? {
        bail!("limits are already set: after setup they change only through signed limit commands from the security officers");
    }
    state::insert_limiter(&tx, asset, &limiter, max_fee, args.self_pause)?;
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
            "pause_after_refusals": args.self_pause.refusals,
            "refusal_window_seconds": args.self_pause.window.as_secs(),
        }),
    )?;
    tx.commit()?;
    print!(
        "{}",
        review::render_limits(asset.ticker(), &limiter.status(), max_fee)
    );
    println!("Self-pause       {}", args.self_pause.describe());
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
    println!("Self-pause       {}", limits.self_pause.describe());
    if let Some(why) = state.self_paused(asset)? {
        println!("SELF-PAUSED      {why}; a signed resume command lifts it");
    }
    Ok(())
}

/// The command from `--text`, or the one limit command QR code in the scanned images.
pub fn command_text(scans: &[std::path::PathBuf], text: Option<&str>) -> Result<String> {
    if let Some(text) = text {
        return Ok(text.trim().to_owned());
    }
    let mut found = Vec::new();
    for path in scans {
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let texts = sluice_shared::qr_scan::scan_bytes(&bytes)
            .map_err(|e| anyhow::anyhow!("scanning {}: {e}", path.display()))?;
        found.extend(texts.into_iter().filter(|t| is_limit_command(t)));
    }
    found.sort();
    found.dedup();
    match found.len() {
        0 => bail!("no limit command found in the scanned image(s): the QR codes there are something else"),
        1 => Ok(found.remove(0)),
        n => bail!("{n} different limit commands in the scanned images: scan one command at a time"),
    }
}

fn is_limit_command(text: &str) -> bool {
    text.trim()
        .to_ascii_uppercase()
        .starts_with(sluice_shared::limit_command::TEXT_PREFIX)
}

/// The limit command on a sheet held in front of a V4L2 camera: the first frame in which a
/// limit command's QR code reads (other codes in view are passed over; two different
/// commands in one frame are refused).
pub fn command_text_from_camera(device: &Path, bounds: ScanBounds) -> Result<String> {
    let mut found = None;
    let scanned = camera::scan_codes(device, bounds, |texts| {
        let mut commands: Vec<String> = texts.into_iter().filter(|t| is_limit_command(t)).collect();
        commands.sort();
        commands.dedup();
        match commands.len() {
            0 => Ok(false),
            1 => {
                found = commands.pop();
                Ok(true)
            }
            n => Err(anyhow::anyhow!(
                "{n} different limit commands in view of {}: show one sheet at a time",
                device.display()
            )),
        }
    });
    match scanned {
        Ok(_) => {}
        Err(ScanStop::Camera(e)) => return Err(e.into()),
        Err(ScanStop::Refused(e)) => return Err(e),
        Err(ScanStop::OutOfBounds(tally)) => bail!(
            "no limit command read by the camera {} in {} frames ({} other QR codes): hold the sheet's code flat and steady in view, with more light, or allow more time (--camera-seconds)",
            device.display(),
            tally.frames,
            tally.codes
        ),
    }
    found.ok_or_else(|| anyhow::anyhow!("no limit command read by the camera {}", device.display()))
}

/// Where `limits apply` reads the command from.
#[derive(Debug, Clone, Copy)]
pub enum CommandSource<'a> {
    /// Photos or scans of the sheet, or the text itself.
    Files {
        scans: &'a [std::path::PathBuf],
        text: Option<&'a str>,
    },
    /// A V4L2 camera the sheet is held in front of.
    Camera { device: &'a Path, bounds: ScanBounds },
}

pub fn apply(home: &Home, passphrase_file: Option<&Path>, source: CommandSource<'_>) -> Result<()> {
    use sluice_shared::limit_command::{check_order, verify, LimitAction, OrderedKind};

    home.require_initialized()?;
    let text = match source {
        CommandSource::Files { scans, text } => command_text(scans, text)?,
        CommandSource::Camera { device, bounds } => command_text_from_camera(device, bounds)?,
    };
    // The officer set lives in the sealed keystore, so nobody can swap it on disk.
    let keys = crate::keys::unlock(home, &crate::passphrase::read(passphrase_file, false)?)?;
    let me = keys.signer_id()?;
    let mut state = State::open_keyed(&home.state(), keys.state_key())?;
    let verified = match verify(&text, keys.officers(), me, clock::unix_now()) {
        Ok(v) => v,
        Err(refusal) => {
            let tx = state.begin()?;
            state::journal(&tx, "command-refused", json!({ "reason": refusal.to_string() }))?;
            tx.commit()?;
            bail!("limit command refused: {refusal}");
        }
    };
    let command = verified.command();
    let id = command.id.to_string();
    let description = command.action.describe(command.signer, command.asset);
    if let LimitAction::Release { .. } = command.action {
        // Only the shadow spends a deposit, with `sluice-shadow release`.
        let tx = state.begin()?;
        let reason = "a release instruction is carried out by `sluice-shadow release`, not applied to limits";
        state::journal(
            &tx,
            "command-refused",
            json!({ "command_id": id, "reason": reason }),
        )?;
        tx.commit()?;
        bail!("limit command refused: {reason}");
    }
    let tx = state.begin()?;
    if state::command_applied(&tx, &id)? {
        drop(tx);
        let tx = state.begin()?;
        state::journal(
            &tx,
            "command-refused",
            json!({ "command_id": id, "reason": "replayed: already applied" }),
        )?;
        tx.commit()?;
        bail!("limit command refused: command {id} was already applied on this signer (a replay)");
    }
    let kind = OrderedKind::of(&command.action).map(OrderedKind::name);
    let last = match kind {
        Some(kind) => state::last_issued(&tx, command.asset, kind)?,
        None => None,
    };
    if let Err(refusal) = check_order(command, last) {
        drop(tx);
        let tx = state.begin()?;
        state::journal(
            &tx,
            "command-refused",
            json!({ "command_id": id, "reason": refusal.to_string() }),
        )?;
        tx.commit()?;
        bail!("limit command refused: {refusal}");
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
        // Refused above, before anything changed; kept closed here too.
        LimitAction::Release { .. } => Err(sluice_shared::limiter::LimitRefusal::Paused),
    };
    if let Err(refusal) = applied {
        drop(tx);
        let tx = state.begin()?;
        state::journal(
            &tx,
            "command-refused",
            json!({ "command_id": id, "reason": refusal.to_string() }),
        )?;
        tx.commit()?;
        bail!("limit command refused: {refusal}");
    }
    let after = limits.limiter.status();
    state::store_limiter(&tx, command.asset, &limits.limiter)?;
    if command.action == LimitAction::Resume {
        state::set_self_paused(&tx, command.asset, None)?;
    }
    state::record_command(&tx, &id, &description, command.asset, kind, command.not_before)?;
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
    tx.commit()?;
    println!("Applied limit command {id}: {description}");
    print!(
        "{}",
        review::render_limits(command.asset.ticker(), &after, limits.max_fee)
    );
    Ok(())
}
