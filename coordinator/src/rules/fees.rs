//! The custodian's withdrawal fee, per asset: a flat amount or a percentage in basis
//! points. It is charged to the customer on top of the amount sent; the network fee is a
//! separate matter the processor settles when it builds the transaction.

use bitcoin::Amount;
use serde::{Deserialize, Serialize};
use sluice_shared::asset::format_btc;

/// 100% in basis points.
pub const BASIS_POINTS_PER_WHOLE: u32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "FeeScheduleJson", from = "FeeScheduleJson")]
pub enum FeeSchedule {
    Flat(Amount),
    /// `basis_points` / 10,000 of the amount, rounded up to the next satoshi so the
    /// custodian never undercharges by rounding.
    Percent {
        basis_points: u32,
    },
}

/// How a fee schedule is written in JSON (proposals): `{"type": "flat", "flat_sat": N}`
/// or `{"type": "percent", "basis_points": N}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum FeeScheduleJson {
    Flat {
        #[serde(with = "bitcoin::amount::serde::as_sat")]
        flat_sat: Amount,
    },
    Percent {
        basis_points: u32,
    },
}

impl From<FeeSchedule> for FeeScheduleJson {
    fn from(schedule: FeeSchedule) -> Self {
        match schedule {
            FeeSchedule::Flat(flat_sat) => FeeScheduleJson::Flat { flat_sat },
            FeeSchedule::Percent { basis_points } => FeeScheduleJson::Percent { basis_points },
        }
    }
}

impl From<FeeScheduleJson> for FeeSchedule {
    fn from(json: FeeScheduleJson) -> Self {
        match json {
            FeeScheduleJson::Flat { flat_sat } => FeeSchedule::Flat(flat_sat),
            FeeScheduleJson::Percent { basis_points } => FeeSchedule::Percent { basis_points },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeeError {
    #[error("a percentage fee is at most 10000 basis points (100%), not {0}")]
    TooManyBasisPoints(u32),
    #[error("a flat fee of {0} is more than all bitcoin")]
    FlatTooLarge(String),
}

impl FeeSchedule {
    pub fn validate(&self) -> Result<(), FeeError> {
        match *self {
            FeeSchedule::Percent { basis_points } if basis_points > BASIS_POINTS_PER_WHOLE => {
                Err(FeeError::TooManyBasisPoints(basis_points))
            }
            FeeSchedule::Flat(amount) if amount > Amount::MAX_MONEY => {
                Err(FeeError::FlatTooLarge(format_btc(amount)))
            }
            _ => Ok(()),
        }
    }

    /// The fee for withdrawing `amount`.
    pub fn fee_for(&self, amount: Amount) -> Amount {
        match *self {
            FeeSchedule::Flat(fee) => fee,
            FeeSchedule::Percent { basis_points } => {
                let numerator = u128::from(amount.to_sat()) * u128::from(basis_points);
                let whole = u128::from(BASIS_POINTS_PER_WHOLE);
                let fee = numerator.div_ceil(whole);
                // basis_points <= 10,000 keeps fee <= amount; saturate rather than wrap.
                Amount::from_sat(u64::try_from(fee).unwrap_or(u64::MAX))
            }
        }
    }

    pub fn describe(&self) -> String {
        match *self {
            FeeSchedule::Flat(fee) => format!("flat {}", format_btc(fee)),
            FeeSchedule::Percent { basis_points } => {
                format!("{}.{:02}%", basis_points / 100, basis_points % 100)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_fee_ignores_the_amount() {
        let fee = FeeSchedule::Flat(Amount::from_sat(5_000));
        assert_eq!(fee.fee_for(Amount::from_sat(1)), Amount::from_sat(5_000));
        assert_eq!(fee.fee_for(Amount::MAX_MONEY), Amount::from_sat(5_000));
        assert_eq!(fee.describe(), "flat 0.00005 BTC");
    }

    #[test]
    fn percent_fee_rounds_up_to_the_satoshi() {
        let fee = FeeSchedule::Percent { basis_points: 25 }; // 0.25%
        assert_eq!(fee.fee_for(Amount::from_sat(1_000_000)), Amount::from_sat(2_500));
        assert_eq!(fee.fee_for(Amount::from_sat(1_001)), Amount::from_sat(3)); // 2.5025 -> 3
        assert_eq!(fee.fee_for(Amount::from_sat(1)), Amount::from_sat(1));
        assert_eq!(
            FeeSchedule::Percent { basis_points: 0 }.fee_for(Amount::MAX_MONEY),
            Amount::ZERO
        );
        assert_eq!(
            FeeSchedule::Percent { basis_points: 10_000 }.fee_for(Amount::MAX_MONEY),
            Amount::MAX_MONEY
        );
        assert_eq!(fee.describe(), "0.25%");
    }

    #[test]
    fn validation() {
        assert!(FeeSchedule::Percent { basis_points: 10_001 }.validate().is_err());
        assert!(FeeSchedule::Percent { basis_points: 10_000 }.validate().is_ok());
        assert!(
            FeeSchedule::Flat(Amount::from_sat(Amount::MAX_MONEY.to_sat() + 1))
                .validate()
                .is_err()
        );
    }
}
