//! Typed results of the Bitcoin Core calls a coordinator makes. Only the fields Sluice
//! uses are declared; Core adds fields between versions, and unknown ones are ignored.
//! Amounts arrive in BTC as JSON numbers and become [`Amount`]s.

use bitcoin::{Amount, BlockHash, Txid, Wtxid};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockchainInfo {
    pub chain: String,
    pub blocks: u64,
    pub headers: u64,
    pub bestblockhash: BlockHash,
    #[serde(default)]
    pub initialblockdownload: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NetworkInfo {
    pub version: u64,
    pub subversion: String,
    pub connections: u64,
    #[serde(default)]
    pub networkactive: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockHeaderInfo {
    pub hash: BlockHash,
    pub height: u64,
    /// Negative (-1) when the block is not on the best chain.
    pub confirmations: i64,
    pub previousblockhash: Option<BlockHash>,
    pub nextblockhash: Option<BlockHash>,
    pub time: u64,
}

/// `getblock HASH 2`: header fields plus decoded transactions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VerboseBlock {
    pub hash: BlockHash,
    pub height: u64,
    pub confirmations: i64,
    pub previousblockhash: Option<BlockHash>,
    pub tx: Vec<VerboseTransaction>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VerboseTransaction {
    pub txid: Txid,
    pub hash: Wtxid,
    pub hex: String,
    /// Present for transactions in a block (getrawtransaction), absent in the mempool.
    pub blockhash: Option<BlockHash>,
    #[serde(default)]
    pub confirmations: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MempoolAccept {
    pub txid: Txid,
    pub allowed: bool,
    #[serde(rename = "reject-reason")]
    pub reject_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MempoolFees {
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub base: Amount,
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub modified: Amount,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MempoolEntry {
    pub vsize: u64,
    pub time: u64,
    pub height: u64,
    pub fees: MempoolFees,
    #[serde(rename = "bip125-replaceable", default)]
    pub replaceable: bool,
    #[serde(default)]
    pub depends: Vec<Txid>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MempoolInfo {
    pub size: u64,
    pub bytes: u64,
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub mempoolminfee: Amount,
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub minrelaytxfee: Amount,
}

/// `estimatesmartfee`: `feerate` in BTC per kvB when Core has an estimate.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FeeEstimate {
    #[serde(default, with = "bitcoin::amount::serde::as_btc::opt")]
    pub feerate: Option<Amount>,
    #[serde(default)]
    pub errors: Vec<String>,
    pub blocks: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScanResult {
    pub success: bool,
    pub height: u64,
    pub bestblock: BlockHash,
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub total_amount: Amount,
    pub unspents: Vec<ScannedOutput>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScannedOutput {
    pub txid: Txid,
    pub vout: u32,
    #[serde(rename = "scriptPubKey")]
    pub script_pubkey: String,
    #[serde(with = "bitcoin::amount::serde::as_btc")]
    pub amount: Amount,
    pub height: u64,
}
