//! Assets a signer keeps limits for, and parsing of amounts as people write them.

use std::fmt;
use std::str::FromStr;

use bitcoin::{Amount, Denomination};

/// An asset whose outflow is limited. Only bitcoin today; limits are kept per asset so
/// that adding one does not change the meaning of existing limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Asset {
    Btc,
}

impl Asset {
    /// The ticker used on the command line, in limit commands and in the signer's state.
    pub fn ticker(self) -> &'static str {
        match self {
            Asset::Btc => "BTC",
        }
    }

    /// One-byte code used in compact binary encodings (limit commands).
    pub fn code(self) -> u8 {
        match self {
            Asset::Btc => 0,
        }
    }

    pub fn from_code(code: u8) -> Option<Asset> {
        match code {
            0 => Some(Asset::Btc),
            _ => None,
        }
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ticker())
    }
}

/// The asset name was not one Sluice knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown asset {0:?}: the only supported asset is BTC")]
pub struct UnknownAsset(pub String);

impl FromStr for Asset {
    type Err = UnknownAsset;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "BTC" => Ok(Asset::Btc),
            _ => Err(UnknownAsset(s.to_owned())),
        }
    }
}

/// An amount could not be read as BTC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid BTC amount {input:?}: {reason} (write it in BTC, e.g. 0.04 or 10)")]
pub struct InvalidAmount {
    pub input: String,
    pub reason: String,
}

/// Parses an amount written in BTC ("0.04", "10", "0.00000001"). Negative amounts,
/// more than eight decimals and amounts above 21 million BTC are refused.
pub fn parse_btc(input: &str) -> Result<Amount, InvalidAmount> {
    let trimmed = input.trim();
    let amount = Amount::from_str_in(trimmed, Denomination::Bitcoin).map_err(|e| InvalidAmount {
        input: input.to_owned(),
        reason: e.to_string(),
    })?;
    if amount > Amount::MAX_MONEY {
        return Err(InvalidAmount {
            input: input.to_owned(),
            reason: "more than 21 million BTC".to_owned(),
        });
    }
    Ok(amount)
}

/// Formats an amount for people: BTC with eight decimals and the unit.
pub fn format_btc(amount: Amount) -> String {
    format!("{} BTC", amount.to_string_in(Denomination::Bitcoin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_amounts_people_write() {
        assert_eq!(parse_btc("0.04"), Ok(Amount::from_sat(4_000_000)));
        assert_eq!(parse_btc("10"), Ok(Amount::from_sat(1_000_000_000)));
        assert_eq!(parse_btc(" 0.00000001 "), Ok(Amount::from_sat(1)));
        assert!(parse_btc("-1").is_err());
        assert!(parse_btc("0.000000001").is_err());
        assert!(parse_btc("21000001").is_err());
        assert!(parse_btc("ten").is_err());
    }

    #[test]
    fn asset_round_trips() {
        assert_eq!("btc".parse::<Asset>(), Ok(Asset::Btc));
        assert_eq!(Asset::from_code(Asset::Btc.code()), Some(Asset::Btc));
        assert!("ETH".parse::<Asset>().is_err());
    }
}
