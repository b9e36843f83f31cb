//! What a person reads before a signature: every input and output, what is verified
//! change and what leaves the wallet, the fee, the outflow, and the limits before and
//! after.

use std::fmt::Write;

use bitcoin::Amount;
use sluice_shared::asset::format_btc;
use sluice_shared::descriptor::{Branch, WalletKind};
use sluice_shared::inspect::PsbtReview;
use sluice_shared::limiter::{FlowLimiter, LimiterStatus};

fn kind_name(kind: WalletKind) -> String {
    match kind {
        WalletKind::Wpkh => "wpkh, single signature".to_owned(),
        WalletKind::WshSortedMulti { threshold, keys } => format!("wsh sortedmulti, {threshold} of {keys}"),
        WalletKind::TrSingle => "taproot, single key".to_owned(),
    }
}

fn branch_name(branch: Branch) -> &'static str {
    match branch {
        Branch::Receive => "receive",
        Branch::Change => "change",
    }
}

/// The review text. `limits` is the limiter as it stands now (clock observed); the
/// "after" column is what it would be once this outflow is reserved.
pub fn render(review: &PsbtReview, wallet: &str, kind: WalletKind, limits: Option<&FlowLimiter>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Transaction {}", review.txid);
    let _ = writeln!(out, "Wallet      {wallet} ({})", kind_name(kind));
    let _ = writeln!(
        out,
        "Inputs ({}), all verified as the wallet's own:",
        review.inputs.len()
    );
    for input in &review.inputs {
        let _ = writeln!(
            out,
            "  #{:<3} {}  {:>20}  ({}/{})",
            input.index,
            input.outpoint,
            format_btc(input.amount),
            branch_name(input.branch),
            input.derivation_index
        );
    }
    let _ = writeln!(out, "Outputs:");
    let mut rows: Vec<(usize, String)> = review
        .external
        .iter()
        .map(|e| {
            let to = e
                .address
                .as_ref()
                .map_or_else(|| format!("script {}", e.script_pubkey), |a| a.to_string());
            (
                e.vout,
                format!("  #{:<3} {to}  {:>20}  OUTFLOW", e.vout, format_btc(e.amount)),
            )
        })
        .chain(review.change.iter().map(|c| {
            (
                c.vout,
                format!(
                    "  #{:<3} {}  {:>20}  verified change (change/{})",
                    c.vout,
                    c.address,
                    format_btc(c.amount),
                    c.derivation_index
                ),
            )
        }))
        .collect();
    rows.sort_by_key(|(vout, _)| *vout);
    for (_, row) in rows {
        let _ = writeln!(out, "{row}");
    }
    let _ = writeln!(out, "Fee         {}", format_btc(review.fee));
    let _ = writeln!(
        out,
        "Outflow     {}  (external outputs + fee)",
        format_btc(review.outflow)
    );
    match limits {
        Some(limiter) => {
            let now = limiter.status();
            let mut after = limiter.clone();
            let verdict = after.reserve(review.outflow);
            let later = after.status();
            let _ = writeln!(out, "Limits (BTC)            now  →  after signing");
            let _ = writeln!(
                out,
                "  rate bucket  {:>20}  →  {}",
                format_btc(now.bucket_available),
                after_text(&verdict, later.bucket_available)
            );
            let _ = writeln!(
                out,
                "  total left   {:>20}  →  {}",
                format_btc(now.total_remaining),
                after_text(&verdict, later.total_remaining)
            );
            match verdict {
                Ok(()) => {
                    let _ = writeln!(out, "Decision    within limits: can be signed");
                }
                Err(refusal) => {
                    let _ = writeln!(out, "Decision    REFUSED: {refusal}");
                }
            }
        }
        None => {
            let _ = writeln!(
                out,
                "Limits      not set: run `sluice-signer limits init` before signing"
            );
        }
    }
    out
}

fn after_text<E>(verdict: &Result<(), E>, amount: Amount) -> String {
    match verdict {
        Ok(()) => format_btc(amount),
        Err(_) => "(not signed)".to_owned(),
    }
}

/// `limits show` output.
pub fn render_limits(asset: &str, status: &LimiterStatus, max_fee: Amount) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Asset            {asset}");
    let _ = writeln!(
        out,
        "Rate             {} per {} s (burst {})",
        format_btc(status.rate.amount),
        status.rate.per.as_secs_f64(),
        format_btc(status.rate.burst)
    );
    let _ = writeln!(out, "Bucket now       {}", format_btc(status.bucket_available));
    let _ = writeln!(out, "Total remaining  {}", format_btc(status.total_remaining));
    let _ = writeln!(out, "Total spent      {}", format_btc(status.total_spent));
    let _ = writeln!(out, "Fee cap          {}", format_btc(max_fee));
    let _ = writeln!(
        out,
        "Paused           {}",
        if status.paused {
            "yes: signing is stopped until a signed resume"
        } else {
            "no"
        }
    );
    out
}
