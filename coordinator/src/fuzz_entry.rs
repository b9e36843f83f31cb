//! What the coordinator's fuzz targets in `fuzz/` run, kept here so a normal test replays
//! their seeds on stable Rust (`coordinator/tests/fuzz_seeds.rs`), as
//! `sluice_shared::fuzz_entry` does for the shared decoders. A panic is a finding.

use bitcoin::consensus::encode::deserialize_hex;
use bitcoin::{Block, BlockHash, Transaction, Txid};
use serde::de::DeserializeOwned;

use crate::chain::reply::{parse_reply, RpcError};
use crate::chain::types::{
    BlockHeaderInfo, BlockchainInfo, FeeEstimate, MempoolAccept, MempoolEntry, MempoolInfo, NetworkInfo,
    ScanResult, TxOutInfo, VerboseBlock, VerboseTransaction,
};

const URL: &str = "http://127.0.0.1:18443";

/// The HTTP statuses bitcoind (and a proxy in front of it) answers with, chosen by the
/// first byte of the input.
const STATUSES: [u16; 8] = [200, 500, 404, 400, 401, 403, 502, 503];

/// Parses as `T`; an error names the node and the method and says whether to retry.
fn reply<T: DeserializeOwned>(method: &str, status: u16, body: &[u8]) -> Option<T> {
    match parse_reply::<T>(URL, method, status, body) {
        Ok(value) => {
            assert_eq!(status, 200, "a value out of an HTTP {status} reply");
            Some(value)
        }
        Err(error) => {
            let text = error.to_string();
            assert!(text.starts_with(&format!("{method} at {URL}")), "{text}");
            if let RpcError::Rpc { code, .. } = &error {
                assert_eq!(error.rpc_code(), Some(*code));
            }
            let _ = error.is_transient();
            None
        }
    }
}

/// A Bitcoin Core JSON-RPC reply: the first byte picks the HTTP status, the rest is the
/// body. The body is read as the reply to every call the coordinator makes; what decodes
/// is then used as the coordinator uses it (raw hex decoded and checked, networks named).
pub fn core_rpc_reply(data: &[u8]) {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(*selector) % STATUSES.len()];
    let _ = reply::<u32>("getblockcount", status, body);
    let _ = reply::<BlockHash>("getblockhash", status, body);
    let _ = reply::<Txid>("sendrawtransaction", status, body);
    let _ = reply::<Vec<Txid>>("getrawmempool", status, body);
    if let Some(info) = reply::<BlockchainInfo>("getblockchaininfo", status, body) {
        let _ = info.network();
    }
    let _ = reply::<NetworkInfo>("getnetworkinfo", status, body);
    let _ = reply::<BlockHeaderInfo>("getblockheader", status, body);
    if let Some(block) = reply::<VerboseBlock>("getblock", status, body) {
        for tx in block.tx.iter().take(64) {
            let _ = tx.transaction();
        }
    }
    if let Some(tx) = reply::<VerboseTransaction>("getrawtransaction", status, body) {
        if let Ok(decoded) = tx.transaction() {
            assert_eq!(decoded.compute_txid(), tx.txid);
        }
    }
    if let Some(hex) = reply::<String>("getblock", status, body) {
        if let Ok(block) = deserialize_hex::<Block>(&hex) {
            let _ = (block.block_hash(), block.check_merkle_root());
        }
        if let Ok(tx) = deserialize_hex::<Transaction>(&hex) {
            let _ = tx.compute_txid();
        }
    }
    let _ = reply::<Vec<MempoolAccept>>("testmempoolaccept", status, body);
    let _ = reply::<MempoolEntry>("getmempoolentry", status, body);
    let _ = reply::<MempoolInfo>("getmempoolinfo", status, body);
    let _ = reply::<FeeEstimate>("estimatesmartfee", status, body);
    let _ = reply::<ScanResult>("scantxoutset", status, body);
    let _ = reply::<Option<TxOutInfo>>("gettxout", status, body);
}
