//! `new`: create an unsigned command file.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use rand::rngs::OsRng;
use rand::RngCore;
use sluice_shared::asset::{parse_btc, Asset};
use sluice_shared::identity::SignerId;
use sluice_shared::limit_command::{
    CommandId, LimitAction, LimitCommand, Release, ReleaseDestination, ReleasePurpose, SignedLimitCommand,
};
use sluice_shared::limiter::RateLimit;

use crate::cli::NewArgs;
use crate::utc::{format_utc, parse_time};

/// Validity when `--not-after` is not given.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(30 * 86_400);

fn action(args: &NewArgs) -> Result<LimitAction> {
    if let Some(amount) = &args.raise_total {
        return Ok(LimitAction::RaiseTotal {
            amount: parse_btc(amount)?,
        });
    }
    if let Some(amount) = &args.set_rate {
        let (Some(per), Some(burst)) = (args.per_seconds, &args.burst) else {
            bail!("--set-rate needs --per-seconds and --burst");
        };
        let rate = RateLimit {
            amount: parse_btc(amount)?,
            per: Duration::from_secs(u64::from(per)),
            burst: parse_btc(burst)?,
        };
        rate.validate()?;
        return Ok(LimitAction::SetRate { rate });
    }
    if args.pause {
        return Ok(LimitAction::Pause);
    }
    if args.resume {
        return Ok(LimitAction::Resume);
    }
    if let Some(outpoint) = &args.release {
        return release(args, outpoint);
    }
    bail!("say what the command does: --raise-total, --set-rate, --pause, --resume or --release")
}

fn release(args: &NewArgs, outpoint: &str) -> Result<LimitAction> {
    let (Some(amount), Some(to), Some(purpose), Some(network)) = (
        &args.release_amount,
        &args.release_to,
        &args.release_purpose,
        &args.network,
    ) else {
        bail!("--release needs --release-amount, --release-to, --release-purpose and --network");
    };
    let network = sluice_shared::network::parse_network(network)?;
    let outpoint: bitcoin::OutPoint = outpoint
        .parse()
        .with_context(|| format!("--release {outpoint:?} is not TXID:VOUT"))?;
    let address = to
        .parse::<bitcoin::Address<bitcoin::address::NetworkUnchecked>>()
        .with_context(|| format!("--release-to {to:?} is not an address"))?
        .require_network(network)
        .with_context(|| format!("--release-to {to:?} is not an address of {network}"))?;
    let destination = ReleaseDestination::from_script(&address.script_pubkey())
        .with_context(|| format!("--release-to {to:?} is not a standard address"))?;
    let purpose: ReleasePurpose = purpose.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    Ok(LimitAction::Release {
        release: Release {
            purpose,
            network,
            outpoint,
            amount: parse_btc(amount)?,
            destination,
        },
    })
}

pub fn new(args: &NewArgs) -> Result<()> {
    let signer: SignerId = args.signer.parse()?;
    let asset: Asset = args.asset.parse()?;
    let action = action(args)?;
    if matches!(action, LimitAction::RaiseTotal { amount } if amount.to_sat() == 0) {
        bail!("--raise-total 0 does nothing");
    }
    let now = crate::clock::unix_now();
    let not_before = match &args.not_before {
        Some(t) => parse_time(t).context("--not-before")?,
        None => now,
    };
    let not_after = match &args.not_after {
        Some(t) => parse_time(t).context("--not-after")?,
        None => not_before.saturating_add(DEFAULT_VALIDITY.as_secs() as i64),
    };
    if not_after < not_before {
        bail!(
            "--not-after ({}) is before --not-before ({})",
            format_utc(not_after),
            format_utc(not_before)
        );
    }
    if not_after < now {
        // Not refused: tests of the signer's refusal need such commands, and an expired
        // command can do nothing. But an officer should know.
        eprintln!(
            "WARNING: this command is already expired (--not-after is {}, it is now {}); \
             no signer will accept it",
            format_utc(not_after),
            format_utc(now)
        );
    }
    let mut id = [0u8; 16];
    OsRng.fill_bytes(&mut id);
    let signed = SignedLimitCommand::unsigned(LimitCommand {
        id: CommandId(id),
        signer,
        asset,
        action,
        not_before,
        not_after,
    });
    crate::command_file::write(&args.out, &signed, true)?;
    println!("New limit command written to {}:", args.out.display());
    print!("{}", super::summary(&signed, now));
    println!("  signatures:     none yet");
    println!(
        "Next: each signing officer runs `limitctl sign {}` on their own machine.",
        args.out.display()
    );
    Ok(())
}
