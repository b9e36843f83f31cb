//! Typed results of the Bitcoin Core calls a coordinator makes. Only the fields Sluice
//! uses are declared; Core adds fields between versions and unknown ones are ignored.
//! Amounts arrive in BTC as JSON numbers and become [`Amount`]s; fee rates arrive in
//! BTC per 1000 virtual bytes and become [`FeeRate`]s.

use bitcoin::consensus::encode::deserialize_hex;
use bitcoin::{Amount, BlockHash, FeeRate, Network, ScriptBuf, Transaction, Txid, Wtxid};
use serde::{Deserialize, Deserializer};

/// `getblockchaininfo`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockchainInfo {
    /// `main`, `test`, `testnet4`, `signet` or `regtest`.
    pub chain: String,
    pub blocks: u32,
    pub headers: u32,
    pub bestblockhash: BlockHash,
    #[serde(default)]
    pub mediantime: u32,
    #[serde(default)]
    pub verificationprogress: f64,
    #[serde(default)]
    pub initialblockdownload: bool,
    #[serde(default)]
    pub pruned: bool,
    /// A list since Core 28; a single string before (empty when none).
    #[serde(default, deserialize_with = "string_or_list")]
    pub warnings: Vec<String>,
}

impl BlockchainInfo {
    /// The network this node follows, or `None` for a chain name we do not know.
    pub fn network(&self) -> Option<Network> {
        match self.chain.as_str() {
            "main" => Some(Network::Bitcoin),
            "test" => Some(Network::Testnet),
            "testnet4" => Some(Network::Testnet4),
            "signet" => Some(Network::Signet),
            "regtest" => Some(Network::Regtest),
            _ => None,
        }
    }
}

/// `getnetworkinfo`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NetworkInfo {
    /// e.g. 300000 for 30.0.0.
    pub version: u32,
    pub subversion: String,
    pub protocolversion: u32,
    pub connections: u32,
    #[serde(default)]
    pub networkactive: bool,
    #[serde(deserialize_with = "fee_rate_btc_per_kvb")]
    pub relayfee: FeeRate,
    #[serde(default, deserialize_with = "string_or_list")]
    pub warnings: Vec<String>,
}

/// `getblockheader HASH true`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockHeaderInfo {
    pub hash: BlockHash,
    pub height: u32,
    /// -1 when the block is not on the best chain (it was reorganised away).
    pub confirmations: i64,
    pub previousblockhash: Option<BlockHash>,
    pub nextblockhash: Option<BlockHash>,
    pub time: u32,
    pub mediantime: u32,
    #[serde(rename = "nTx")]
    pub n_tx: u32,
    /// Total work of the chain up to this block, 64 hex digits.
    pub chainwork: String,
}

/// `getblock HASH 2`: header fields plus decoded transactions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VerboseBlock {
    pub hash: BlockHash,
    pub height: u32,
    pub confirmations: i64,
    pub previousblockhash: Option<BlockHash>,
    pub nextblockhash: Option<BlockHash>,
    pub time: u32,
    pub mediantime: u32,
    pub weight: u64,
    pub tx: Vec<VerboseTransaction>,
}

/// A transaction as `getrawtransaction TXID true` or `getblock HASH 2` shows it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VerboseTransaction {
    pub txid: Txid,
    #[serde(rename = "hash")]
    pub wtxid: Wtxid,
    pub hex: String,
    pub vsize: u64,
    pub weight: u64,
    pub vout: Vec<VerboseOutput>,
    /// The block holding it; absent while in the mempool (and in `getblock`, where the
    /// block is the enclosing object).
    pub blockhash: Option<BlockHash>,
    /// 0 (or absent) while unconfirmed.
    #[serde(default)]
    pub confirmations: u32,
    pub blocktime: Option<u32>,
    /// Only in `getblock` verbosity 2, for transactions other than the coinbase.
    #[serde(default, with = "bitcoin::amount::serde::as_btc::opt")]
    pub fee: Option<Amount>,
}

impl VerboseTransaction {
    /// The transaction itself, decoded from `hex` and checked against `txid`.
    pub fn transaction(&self) -> Result<Transaction, String> {
        let tx: Transaction = deserialize_hex(&self.hex).map_err(|e| e.to_string())?;
        if tx.compute_txid() != self.txid {
            return Err(format!("hex decodes to {}, not {}", tx.compute_txid(), self.txid));
        }
        Ok(tx)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VerboseOutput {
    pub n: u32,
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub value: Amount,
    #[serde(rename = "scriptPubKey")]
    pub script_pubkey: ScriptPubKeyInfo,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScriptPubKeyInfo {
    pub hex: ScriptBuf,
    /// Core's name for the script type, e.g. `witness_v0_keyhash`, `nulldata`.
    #[serde(rename = "type")]
    pub kind: String,
    pub address: Option<String>,
}

/// One entry of `testmempoolaccept`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MempoolAccept {
    pub txid: Txid,
    pub wtxid: Wtxid,
    pub allowed: bool,
    /// Short reason, e.g. `non-final`, `insufficient fee`.
    #[serde(rename = "reject-reason")]
    pub reject_reason: Option<String>,
    /// The reason with its details (Core 29+).
    #[serde(rename = "reject-details")]
    pub reject_details: Option<String>,
    pub vsize: Option<u64>,
    pub fees: Option<AcceptFees>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AcceptFees {
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub base: Amount,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MempoolFees {
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub base: Amount,
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub modified: Amount,
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub ancestor: Amount,
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub descendant: Amount,
}

/// `getmempoolentry TXID`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MempoolEntry {
    pub vsize: u64,
    pub weight: u64,
    /// When the node accepted it (Unix seconds).
    pub time: u64,
    /// The tip height when it was accepted.
    pub height: u32,
    pub fees: MempoolFees,
    pub wtxid: Wtxid,
    pub ancestorcount: u32,
    pub descendantcount: u32,
    #[serde(rename = "bip125-replaceable", default)]
    pub replaceable: bool,
    /// Unconfirmed parents.
    #[serde(default)]
    pub depends: Vec<Txid>,
    /// Unconfirmed children.
    #[serde(default)]
    pub spentby: Vec<Txid>,
}

/// `getmempoolinfo`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MempoolInfo {
    pub loaded: bool,
    pub size: u64,
    pub bytes: u64,
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub total_fee: Amount,
    #[serde(deserialize_with = "fee_rate_btc_per_kvb")]
    pub mempoolminfee: FeeRate,
    #[serde(deserialize_with = "fee_rate_btc_per_kvb")]
    pub minrelaytxfee: FeeRate,
    #[serde(deserialize_with = "fee_rate_btc_per_kvb")]
    pub incrementalrelayfee: FeeRate,
    #[serde(default)]
    pub fullrbf: bool,
}

/// `estimatesmartfee N`: a fee rate when the node has one, otherwise `errors`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FeeEstimate {
    #[serde(default, deserialize_with = "opt_fee_rate_btc_per_kvb")]
    pub feerate: Option<FeeRate>,
    #[serde(default)]
    pub errors: Vec<String>,
    /// The confirmation target the estimate is for.
    pub blocks: u32,
}

/// `scantxoutset start [...]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScanResult {
    pub success: bool,
    pub height: u32,
    pub bestblock: BlockHash,
    /// How many unspent outputs the node looked at.
    pub txouts: u64,
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub total_amount: Amount,
    pub unspents: Vec<ScannedOutput>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScannedOutput {
    pub txid: Txid,
    pub vout: u32,
    #[serde(rename = "scriptPubKey")]
    pub script_pubkey: ScriptBuf,
    /// The descriptor (with checksum) that matched.
    pub desc: String,
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub amount: Amount,
    #[serde(default)]
    pub coinbase: bool,
    pub height: u32,
    /// Core 28+.
    pub blockhash: Option<BlockHash>,
    pub confirmations: Option<u32>,
}

/// `gettxout TXID N`: an unspent output (the call answers `null` for a spent one).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TxOutInfo {
    pub bestblock: BlockHash,
    /// 0 for an output of a mempool transaction.
    pub confirmations: u32,
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub value: Amount,
    #[serde(rename = "scriptPubKey")]
    pub script_pubkey: ScriptPubKeyInfo,
    pub coinbase: bool,
}

/// Core's fee rates are BTC per 1000 virtual bytes; [`FeeRate`] counts sat per 1000
/// weight units, a quarter as much. Rounded up, so a fee computed from it is never short.
fn btc_per_kvb_to_fee_rate(btc_per_kvb: f64) -> Result<FeeRate, String> {
    let per_kvb = Amount::from_btc(btc_per_kvb).map_err(|e| format!("fee rate {btc_per_kvb}: {e}"))?;
    Ok(FeeRate::from_sat_per_kwu(per_kvb.to_sat().div_ceil(4)))
}

fn fee_rate_btc_per_kvb<'de, D: Deserializer<'de>>(d: D) -> Result<FeeRate, D::Error> {
    btc_per_kvb_to_fee_rate(f64::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn opt_fee_rate_btc_per_kvb<'de, D: Deserializer<'de>>(d: D) -> Result<Option<FeeRate>, D::Error> {
    Option::<f64>::deserialize(d)?
        .map(btc_per_kvb_to_fee_rate)
        .transpose()
        .map_err(serde::de::Error::custom)
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Warnings {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Warnings::deserialize(d)? {
        Warnings::One(s) if s.is_empty() => Vec::new(),
        Warnings::One(s) => vec![s],
        Warnings::Many(list) => list,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_rates_convert_from_btc_per_kvb() {
        // Core 30's default minimum relay fee: 0.1 sat/vB = 100 sat/kvB = 25 sat/kwu.
        assert_eq!(
            btc_per_kvb_to_fee_rate(1e-06).unwrap(),
            FeeRate::from_sat_per_kwu(25)
        );
        assert_eq!(
            btc_per_kvb_to_fee_rate(0.0001).unwrap(),
            FeeRate::from_sat_per_vb_u32(10)
        );
        // Rounded up: 0.00000101 BTC/kvB = 101 sat/kvB → 26 sat/kwu, not 25.
        assert_eq!(
            btc_per_kvb_to_fee_rate(0.00000101).unwrap(),
            FeeRate::from_sat_per_kwu(26)
        );
        assert!(btc_per_kvb_to_fee_rate(-1.0).is_err());
    }

    #[test]
    fn warnings_accept_both_shapes() {
        #[derive(Deserialize)]
        struct W {
            #[serde(deserialize_with = "string_or_list")]
            warnings: Vec<String>,
        }
        let old: W = serde_json::from_str(r#"{"warnings":""}"#).unwrap();
        assert!(old.warnings.is_empty());
        let new: W = serde_json::from_str(r#"{"warnings":["a","b"]}"#).unwrap();
        assert_eq!(new.warnings, vec!["a", "b"]);
    }
}
