//! What each `limitctl` command does. `main` only parses arguments and calls [`run`].

mod inspect;
mod keys;
mod new;
mod print;
mod sign;

use anyhow::Result;
use sluice_shared::limit_command::{plain_amount, LimitAction, SignedLimitCommand};

use crate::cli::{Cli, Command};
use crate::officer_key::Home;
use crate::utc::format_utc;

pub fn run(cli: Cli) -> Result<()> {
    let home = Home::new(&cli.home);
    let passphrase_file = cli.passphrase_file.as_deref();
    match cli.command {
        Command::Keygen(args) => keys::keygen(&home, passphrase_file, &args),
        Command::Pubkey => keys::pubkey(&home, passphrase_file),
        Command::New(args) => new::new(&args),
        Command::Sign(args) => sign::sign(&home, passphrase_file, &args),
        Command::Print(args) => print::print(&args),
        Command::Inspect(args) => inspect::inspect(&args),
    }
}

/// The action as a short technical line: `raise-total 10 BTC`.
fn action_line(signed: &SignedLimitCommand) -> String {
    let asset = signed.command.asset;
    match signed.command.action {
        LimitAction::RaiseTotal { amount } => {
            format!("raise-total {} {asset}", plain_amount(amount))
        }
        LimitAction::SetRate { rate } => format!(
            "set-rate {} {asset} per {} seconds, burst {} {asset}",
            plain_amount(rate.amount),
            rate.per.as_secs(),
            plain_amount(rate.burst)
        ),
        LimitAction::Pause => "pause".to_owned(),
        LimitAction::Resume => "resume".to_owned(),
        LimitAction::Release { release } => format!(
            "release {} ({} {asset}) to {}",
            release.outpoint,
            plain_amount(release.amount),
            release.destination.address(release.network).map_or_else(
                || release.destination.script_pubkey().to_hex_string(),
                |a| a.to_string()
            )
        ),
    }
}

/// Whether the window holds at `now`, in words.
fn window_status(signed: &SignedLimitCommand, now: i64) -> String {
    let c = &signed.command;
    if now < c.not_before {
        format!("not yet valid (starts in {})", span(c.not_before - now))
    } else if now > c.not_after {
        format!("EXPIRED {} ago", span(now - c.not_after))
    } else {
        format!("valid now (ends in {})", span(c.not_after - now))
    }
}

/// A rough length of time for people: "3 days 4 hours", "12 minutes".
fn span(seconds: i64) -> String {
    let (days, hours, minutes) = (seconds / 86_400, seconds % 86_400 / 3600, seconds % 3600 / 60);
    match (days, hours) {
        (0, 0) if minutes == 0 => format!("{seconds} seconds"),
        (0, 0) => format!("{minutes} minutes"),
        (0, _) => format!("{hours} hours {minutes} minutes"),
        _ => format!("{days} days {hours} hours"),
    }
}

/// Every field of a command, one per line, as `new`, `sign` and `inspect` show it.
fn summary(signed: &SignedLimitCommand, now: i64) -> String {
    let c = &signed.command;
    let mut out = String::new();
    out.push_str(&format!("  {}\n", c.describe()));
    out.push_str("  format version: 1\n");
    out.push_str(&format!("  command id:     {}\n", c.id));
    out.push_str(&format!("  signer id:      {}\n", c.signer));
    out.push_str(&format!("  asset:          {}\n", c.asset));
    out.push_str(&format!("  action:         {}\n", action_line(signed)));
    out.push_str(&format!(
        "  valid from:     {} (Unix {})\n",
        format_utc(c.not_before),
        c.not_before
    ));
    out.push_str(&format!(
        "  valid until:    {} (Unix {})\n",
        format_utc(c.not_after),
        c.not_after
    ));
    out.push_str(&format!("  window:         {}\n", window_status(signed, now)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(30), "30 seconds");
        assert_eq!(span(600), "10 minutes");
        assert_eq!(span(3 * 3600 + 60), "3 hours 1 minutes");
        assert_eq!(span(30 * 86_400 + 7200), "30 days 2 hours");
    }
}
