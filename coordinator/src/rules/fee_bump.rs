//! The fee of a replacement (BIP125, as Bitcoin Core applies it): the bump pays the same
//! external outputs from the same inputs, so only the change pays for the higher fee.
//! Core accepts a replacement only if its absolute fee exceeds the original's by at least
//! the incremental relay fee times the replacement's size (rules 3 and 4); the default
//! incremental relay fee is at most 1 sat/vB in every Core version, so that is what we
//! require.

use bitcoin::Amount;

/// Core's default incremental relay fee, satoshis per virtual byte (at most; newer
/// versions default lower).
pub const INCREMENTAL_RELAY_SAT_VB: u64 = 1;

/// The replacement's fee and change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BumpedFee {
    pub fee: Amount,
    pub change: Amount,
    /// The fee increase: what the signers are charged for the replacement.
    pub increase: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BumpRefusal {
    #[error("the fee rate must be at least 1 sat/vB")]
    ZeroRate,
    #[error("at {rate} sat/vB the replacement's fee {new} does not exceed the current fee {old} by the {INCREMENTAL_RELAY_SAT_VB} sat/vB × {vsize} vB Bitcoin Core requires (BIP125 rule 4): use --fee-rate {needed} or more")]
    TooLow {
        rate: u64,
        new: Amount,
        old: Amount,
        vsize: u64,
        needed: u64,
    },
    #[error("the transaction has no change output to pay a higher fee from: a replacement must pay the same withdrawals exactly, so it cannot be bumped (abandon it instead)")]
    NoChange,
    #[error("the change {change} cannot absorb the fee increase {increase} and keep at least {dust} (dust): use a lower fee rate, or abandon the session")]
    ChangeTooSmall {
        change: Amount,
        increase: Amount,
        dust: Amount,
    },
}

/// The fee and change of a replacement of a transaction paying `old_fee` with `change`
/// (if any), `vsize` virtual bytes when signed, at `rate` sat/vB; `dust` is the least the
/// change output may keep.
pub fn bump_fee(
    old_fee: Amount,
    change: Option<Amount>,
    vsize: u64,
    rate: u64,
    dust: Amount,
) -> Result<BumpedFee, BumpRefusal> {
    if rate == 0 {
        return Err(BumpRefusal::ZeroRate);
    }
    let new = Amount::from_sat(rate.saturating_mul(vsize));
    let least = old_fee + Amount::from_sat(INCREMENTAL_RELAY_SAT_VB.saturating_mul(vsize));
    if new < least {
        let needed = least.to_sat().div_ceil(vsize.max(1));
        return Err(BumpRefusal::TooLow {
            rate,
            new,
            old: old_fee,
            vsize,
            needed,
        });
    }
    let change = change.ok_or(BumpRefusal::NoChange)?;
    let increase = new - old_fee;
    match change.checked_sub(increase) {
        Some(left) if left >= dust => Ok(BumpedFee {
            fee: new,
            change: left,
            increase,
        }),
        _ => Err(BumpRefusal::ChangeTooSmall {
            change,
            increase,
            dust,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sat(n: u64) -> Amount {
        Amount::from_sat(n)
    }

    #[test]
    fn a_bump_takes_the_increase_from_the_change() {
        let bumped = bump_fee(sat(1_410), Some(sat(50_000)), 141, 20, sat(294)).unwrap();
        assert_eq!(bumped.fee, sat(2_820));
        assert_eq!(bumped.increase, sat(1_410));
        assert_eq!(bumped.change, sat(50_000 - 1_410));
    }

    #[test]
    fn the_new_fee_must_beat_the_old_by_the_incremental_relay_fee() {
        // 10 sat/vB on 141 vB = 1410; 11 sat/vB = 1551 ≥ 1410 + 141.
        assert!(matches!(
            bump_fee(sat(1_410), Some(sat(50_000)), 141, 10, sat(294)),
            Err(BumpRefusal::TooLow { needed: 11, .. })
        ));
        assert!(bump_fee(sat(1_410), Some(sat(50_000)), 141, 11, sat(294)).is_ok());
        assert!(matches!(
            bump_fee(sat(1_410), Some(sat(50_000)), 141, 5, sat(294)),
            Err(BumpRefusal::TooLow { .. })
        ));
        assert_eq!(
            bump_fee(sat(1), Some(sat(50_000)), 141, 0, sat(294)),
            Err(BumpRefusal::ZeroRate)
        );
    }

    #[test]
    fn change_that_cannot_absorb_the_increase_is_refused() {
        assert_eq!(
            bump_fee(sat(1_410), None, 141, 20, sat(294)),
            Err(BumpRefusal::NoChange)
        );
        assert!(matches!(
            bump_fee(sat(1_410), Some(sat(1_500)), 141, 20, sat(294)),
            Err(BumpRefusal::ChangeTooSmall { .. })
        ));
        // Exactly dust left is fine.
        let ok = bump_fee(sat(1_410), Some(sat(1_410 + 294)), 141, 20, sat(294)).unwrap();
        assert_eq!(ok.change, sat(294));
    }
}
