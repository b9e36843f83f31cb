//! RPC parameters read the way Bitcoin Core reads them: positional or named, with Core's
//! error codes and messages for a wrong type (`-3`), a malformed hash (`-8`), a missing
//! argument (`-1`).

use std::str::FromStr;

use bitcoin::Amount;
use serde_json::Value;

use super::rules::Rejection;
use sluice_shared::rpc_codes as codes;

/// Parameter names per method, for named-parameter calls.
fn names(method: &str) -> &'static [&'static str] {
    match method {
        "getblockhash" => &["height"],
        "getblockheader" => &["blockhash", "verbose"],
        "getblock" => &["blockhash", "verbosity"],
        "getrawtransaction" => &["txid", "verbose", "blockhash"],
        "sendrawtransaction" => &["hexstring", "maxfeerate", "maxburnamount"],
        "testmempoolaccept" => &["rawtxs", "maxfeerate"],
        "getmempoolentry" => &["txid"],
        "getrawmempool" => &["verbose", "mempool_sequence"],
        "estimatesmartfee" => &["conf_target", "estimate_mode"],
        "scantxoutset" => &["action", "scanobjects"],
        "gettxout" => &["txid", "n", "include_mempool"],
        "getindexinfo" => &["index_name"],
        "generatetoaddress" => &["nblocks", "address", "maxtries"],
        "invalidateblock" | "reconsiderblock" => &["blockhash"],
        "simnet_reorg" => &["depth", "new_blocks"],
        _ => &[],
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(value: &Value, expected: &str) -> Rejection {
    Rejection::new(
        codes::TYPE_ERROR,
        format!(
            "JSON value of type {} is not of expected type {expected}",
            type_name(value)
        ),
    )
}

#[derive(Debug)]
pub struct Params {
    method: String,
    values: Vec<Value>,
}

impl Params {
    pub fn new(method: &str, params: &Value) -> Result<Params, Rejection> {
        let values = match params {
            Value::Null => Vec::new(),
            Value::Array(values) => values.clone(),
            Value::Object(named) => {
                let names = names(method);
                let mut values = vec![Value::Null; names.len()];
                for (name, value) in named {
                    let index = names.iter().position(|n| n == name).ok_or_else(|| {
                        Rejection::new(
                            codes::INVALID_PARAMETER,
                            format!("Unknown named parameter {name}"),
                        )
                    })?;
                    values[index] = value.clone();
                }
                values
            }
            other => return Err(type_error(other, "array")),
        };
        Ok(Params {
            method: method.to_owned(),
            values,
        })
    }

    /// Parameter `index`, `None` when absent or null.
    pub fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(index).filter(|v| !v.is_null())
    }

    pub fn required(&self, index: usize, name: &str) -> Result<&Value, Rejection> {
        self.get(index).ok_or_else(|| {
            Rejection::new(
                codes::MISC_ERROR,
                format!("{} needs argument {} ({name})", self.method, index + 1),
            )
        })
    }

    pub fn str(&self, index: usize, name: &str) -> Result<&str, Rejection> {
        let value = self.required(index, name)?;
        value.as_str().ok_or_else(|| type_error(value, "string"))
    }

    /// A 64-hex-digit hash (txid or block hash), checked as Core's `ParseHashV` does.
    pub fn hash<T: FromStr>(&self, index: usize, name: &str) -> Result<T, Rejection> {
        let text = self.str(index, name)?;
        if text.len() != 64 {
            return Err(Rejection::new(
                codes::INVALID_PARAMETER,
                format!("{name} must be of length 64 (not {}, for '{text}')", text.len()),
            ));
        }
        text.parse().map_err(|_| {
            Rejection::new(
                codes::INVALID_PARAMETER,
                format!("{name} must be hexadecimal string (not '{text}')"),
            )
        })
    }

    pub fn int(&self, index: usize, name: &str) -> Result<i64, Rejection> {
        let value = self.required(index, name)?;
        value.as_i64().ok_or_else(|| type_error(value, "number"))
    }

    pub fn int_or(&self, index: usize, default: i64) -> Result<i64, Rejection> {
        match self.get(index) {
            None => Ok(default),
            Some(value) => value.as_i64().ok_or_else(|| type_error(value, "number")),
        }
    }

    pub fn bool_or(&self, index: usize, default: bool) -> Result<bool, Rejection> {
        match self.get(index) {
            None => Ok(default),
            Some(value) => value.as_bool().ok_or_else(|| type_error(value, "bool")),
        }
    }

    /// A verbosity given as a number or a boolean (`true` = 1), as several Core calls take.
    pub fn verbosity_or(&self, index: usize, default: u8) -> Result<u8, Rejection> {
        match self.get(index) {
            None => Ok(default),
            Some(Value::Bool(flag)) => Ok(u8::from(*flag)),
            Some(value) => value
                .as_u64()
                .map(|v| v.min(3) as u8)
                .ok_or_else(|| type_error(value, "number")),
        }
    }

    /// An amount in BTC (number or string), Core's `AmountFromValue`.
    pub fn amount_or(&self, index: usize, default: Amount) -> Result<Amount, Rejection> {
        let Some(value) = self.get(index) else {
            return Ok(default);
        };
        let parsed = match value {
            Value::Number(n) => n.as_f64().and_then(|f| Amount::from_btc(f).ok()),
            Value::String(s) => Amount::from_str_in(s, bitcoin::Denomination::Bitcoin).ok(),
            other => return Err(type_error(other, "number")),
        };
        parsed
            .filter(|a| *a <= Amount::MAX_MONEY)
            .ok_or_else(|| Rejection::new(codes::TYPE_ERROR, "Amount out of range"))
    }

    /// A fee rate in BTC/kvB, returned in sat/kvB (Core refuses 1 BTC/kvB and more).
    pub fn fee_rate_or(&self, index: usize, default_sat_per_kvb: u64) -> Result<u64, Rejection> {
        let rate = self.amount_or(index, Amount::from_sat(default_sat_per_kvb))?;
        if rate >= Amount::ONE_BTC {
            return Err(Rejection::new(
                codes::INVALID_PARAMETER,
                "Fee rates larger than or equal to 1BTC/kvB are not accepted",
            ));
        }
        Ok(rate.to_sat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn positional_and_named_parameters() {
        let p = Params::new("getblock", &json!({"verbosity": 2, "blockhash": "00"})).unwrap();
        assert_eq!(p.verbosity_or(1, 1).unwrap(), 2);
        assert!(Params::new("getblock", &json!({"nope": 1})).is_err());
        let p = Params::new("getblockhash", &json!(["x"])).unwrap();
        let err = p.int(0, "height").unwrap_err();
        assert_eq!(
            (err.code, err.reason.as_str()),
            (-3, "JSON value of type string is not of expected type number")
        );
        let p = Params::new("getblockheader", &json!(["abc"])).unwrap();
        let err = p.hash::<bitcoin::BlockHash>(0, "blockhash").unwrap_err();
        assert_eq!(err.reason, "blockhash must be of length 64 (not 3, for 'abc')");
        let p = Params::new("getblockheader", &json!(["zz".repeat(32)])).unwrap();
        assert_eq!(p.hash::<bitcoin::BlockHash>(0, "blockhash").unwrap_err().code, -8);
        assert_eq!(
            Params::new("getblockhash", &json!([]))
                .unwrap()
                .int(0, "height")
                .unwrap_err()
                .code,
            -1
        );
        let p = Params::new("sendrawtransaction", &json!(["00", 0.1, "0.5"])).unwrap();
        assert_eq!(p.fee_rate_or(1, 0).unwrap(), 10_000_000);
        assert_eq!(
            p.amount_or(2, Amount::ZERO).unwrap(),
            Amount::from_sat(50_000_000)
        );
    }
}
