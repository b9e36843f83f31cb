//! What a person reads before a signature: every input and output, what is verified
//! change and what leaves the wallet, the fee, the outflow, the limits before and after,
//! and whether the signer would sign now (or which rule refuses).

use std::fmt::Write;

use bitcoin::Amount;
use sluice_shared::asset::format_btc;
use sluice_shared::descriptor::{Branch, WalletKind};
use sluice_shared::inspect::PsbtReview;
use sluice_shared::limiter::{FlowLimiter, LimiterStatus};

/// What the signer would do with a reviewed PSBT now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Within the limits: signing reserves the outflow.
    Sign,
    /// Reserved before: signing again consumes nothing.
    SignAgain,
    /// A fee bump of `replaces` (same inputs, same external outputs, higher fee): signing
    /// reserves only `charge`, the fee above `prior_fee`.
    Replace {
        replaces: String,
        prior_fee: Amount,
        charge: Amount,
    },
    /// Not signed, and why (the limit is named in its text and its code).
    Refused(sluice_shared::limiter::LimitRefusal),
}

impl Decision {
    /// The decision for `outflow` against `limiter` as it stands now.
    pub fn for_limits(limiter: &FlowLimiter, outflow: Amount, already_reserved: bool) -> Decision {
        let status = limiter.status();
        if status.paused {
            return Decision::Refused(sluice_shared::limiter::LimitRefusal::Paused);
        }
        if already_reserved {
            return Decision::SignAgain;
        }
        match limiter.check(outflow) {
            Ok(()) => Decision::Sign,
            Err(refusal) => Decision::Refused(refusal),
        }
    }

    /// The decision for a fee bump that is charged only `charge`.
    pub fn for_replacement(
        limiter: &FlowLimiter,
        replaces: String,
        prior_fee: Amount,
        charge: Amount,
    ) -> Decision {
        match Decision::for_limits(limiter, charge, false) {
            Decision::Sign => Decision::Replace {
                replaces,
                prior_fee,
                charge,
            },
            other => other,
        }
    }

    pub fn would_sign(&self) -> bool {
        !matches!(self, Decision::Refused(_))
    }
}

fn kind_name(kind: WalletKind) -> String {
    match kind {
        WalletKind::Wpkh => "wpkh, single signature".to_owned(),
        WalletKind::WshSortedMulti { threshold, keys } => {
            format!("wsh sortedmulti, {threshold} of {keys}")
        }
        WalletKind::TrSingle => "taproot, single key".to_owned(),
    }
}

fn branch_name(branch: Branch) -> &'static str {
    match branch {
        Branch::Receive => "receive",
        Branch::Change => "change",
    }
}

/// The review text. `limiter` is as it stands now (clock observed).
pub fn render(
    review: &PsbtReview,
    wallet: &str,
    kind: WalletKind,
    limiter: &FlowLimiter,
    decision: &Decision,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Transaction {}", review.txid());
    let _ = writeln!(out, "Wallet      {wallet} ({})", kind_name(kind));
    let _ = writeln!(
        out,
        "Inputs ({}), all verified as the wallet's own:",
        review.inputs().len()
    );
    for input in review.inputs() {
        let _ = writeln!(
            out,
            "  #{:<3} {}  {:>16}  ({}/{})",
            input.index,
            input.outpoint,
            format_btc(input.amount),
            branch_name(input.branch),
            input.derivation_index
        );
    }
    let _ = writeln!(out, "Outputs:");
    let mut rows: Vec<(usize, String)> = review
        .external()
        .iter()
        .map(|e| {
            let to = e
                .address
                .as_ref()
                .map_or_else(|| format!("script {}", e.script_pubkey), |a| a.to_string());
            let row = format!("  #{:<3} {to}  {:>16}  OUTFLOW", e.vout, format_btc(e.amount));
            (e.vout, row)
        })
        .chain(review.change().iter().map(|c| {
            let row = format!(
                "  #{:<3} {}  {:>16}  verified change (change/{})",
                c.vout,
                c.address,
                format_btc(c.amount),
                c.derivation_index
            );
            (c.vout, row)
        }))
        .collect();
    rows.sort_by_key(|(vout, _)| *vout);
    for (_, row) in rows {
        let _ = writeln!(out, "{row}");
    }
    let _ = writeln!(out, "Fee         {}", format_btc(review.fee()));
    let _ = writeln!(
        out,
        "Outflow     {}  (external outputs + fee)",
        format_btc(review.outflow())
    );
    let now = limiter.status();
    let after = match decision {
        Decision::Sign => {
            let mut after = limiter.clone();
            after.reserve(review.outflow()).ok().map(|()| after.status())
        }
        Decision::Replace { charge, .. } => {
            let mut after = limiter.clone();
            after.reserve(*charge).ok().map(|()| after.status())
        }
        Decision::SignAgain => Some(now.clone()),
        Decision::Refused(_) => None,
    };
    let column = |pick: fn(&LimiterStatus) -> Amount| {
        after
            .as_ref()
            .map_or_else(|| "(not signed)".to_owned(), |a| format_btc(pick(a)))
    };
    let _ = writeln!(out, "Limits            now               after signing");
    let _ = writeln!(
        out,
        "  rate bucket  {:>16}  →  {}",
        format_btc(now.bucket_available),
        column(|s| s.bucket_available)
    );
    let _ = writeln!(
        out,
        "  total left   {:>16}  →  {}",
        format_btc(now.total_remaining),
        column(|s| s.total_remaining)
    );
    let _ = match decision {
        Decision::Sign => writeln!(out, "Decision    within limits: would be signed"),
        Decision::SignAgain => writeln!(
            out,
            "Decision    reserved before: would be signed again, consuming nothing"
        ),
        Decision::Replace {
            replaces,
            prior_fee,
            charge,
        } => writeln!(
            out,
            "Decision    fee bump: replaces {replaces} (same inputs, same external outputs, fee {} before): charged only the fee increase {}, would be signed",
            format_btc(*prior_fee),
            format_btc(*charge)
        ),
        Decision::Refused(reason) => writeln!(out, "Decision    REFUSED: {reason}"),
    };
    out
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
    let paused = if status.paused {
        "yes: signing is stopped until a signed resume command"
    } else {
        "no"
    };
    let _ = writeln!(out, "Paused           {paused}");
    out
}
