//! The devnet's chain: the embedded simnet (the default) or a real Bitcoin Core node the
//! devnet spawns. Both speak Core's JSON-RPC; this is the little that differs: how the
//! coordinator logs in, who mines, and how a reorg is made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::{Address, Amount, CompressedPublicKey, Network, ScriptBuf, Txid};
use serde_json::json;
use sluice_coordinator::chain::{CoreRpcClient, RpcAuth};
use sluice_simnet::{spawn, SimnetHandle, SimnetOptions};

use crate::bitcoind::Bitcoind;

/// Which chain to run on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ChainChoice {
    /// simnet, in this process.
    #[default]
    Simnet,
    /// `bitcoind -regtest` from this directory (see [`crate::bitcoind`]).
    Core {
        bitcoind_dir: PathBuf,
        /// Keep regtest's internal consistency checks (`-checkmempool`,
        /// `-checkblockindex`: on by default on regtest, off on mainnet). The tests keep
        /// them; the benchmarks turn them off, as a deployed node has them: checking the
        /// whole mempool on every transaction it accepts grows with the mempool.
        consistency_checks: bool,
    },
}

/// A running chain.
#[derive(Debug)]
pub enum ChainNode {
    Simnet(SimnetHandle),
    Core {
        node: Box<Bitcoind>,
        /// Mines a block every interval, as simnet does; aborted on drop.
        miner: tokio::task::JoinHandle<()>,
    },
}

impl ChainNode {
    /// Starts the chosen chain, producing a block every `block_interval`.
    pub async fn start(choice: &ChainChoice, block_interval: Duration) -> Result<ChainNode> {
        match choice {
            ChainChoice::Simnet => {
                let simnet = spawn(SimnetOptions {
                    block_interval: Some(block_interval),
                    ..SimnetOptions::local()
                })
                .await
                .context("starting simnet")?;
                Ok(ChainNode::Simnet(simnet))
            }
            ChainChoice::Core {
                bitcoind_dir,
                consistency_checks,
            } => {
                let args: &[&str] = if *consistency_checks {
                    &[]
                } else {
                    &["-checkmempool=0", "-checkblockindex=0"]
                };
                let node = Box::new(Bitcoind::start(bitcoind_dir, args).await?);
                let client = node.client();
                let address = node.miner_address();
                let miner = tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(block_interval).await;
                        // A failed block is simply the next one's job.
                        let _ = client.generate_to_address(1, &address).await;
                    }
                });
                Ok(ChainNode::Core { node, miner })
            }
        }
    }

    /// "simnet" or "Bitcoin Core".
    pub fn name(&self) -> &'static str {
        match self {
            ChainNode::Simnet(_) => "simnet",
            ChainNode::Core { .. } => "Bitcoin Core",
        }
    }

    /// The node's own process (Core); simnet runs inside this process.
    pub fn pid(&self) -> Option<u32> {
        match self {
            ChainNode::Simnet(_) => None,
            ChainNode::Core { node, .. } => Some(node.pid()),
        }
    }

    pub fn url(&self) -> &str {
        match self {
            ChainNode::Simnet(simnet) => &simnet.url,
            ChainNode::Core { node, .. } => node.url(),
        }
    }

    /// The cookie file the coordinator logs in with (simnet needs none).
    pub fn cookie_file(&self) -> Option<&Path> {
        match self {
            ChainNode::Simnet(_) => None,
            ChainNode::Core { node, .. } => Some(node.cookie_file()),
        }
    }

    pub fn client(&self) -> CoreRpcClient {
        match self {
            ChainNode::Simnet(simnet) => CoreRpcClient::new(&simnet.url, RpcAuth::None),
            ChainNode::Core { node, .. } => node.client(),
        }
    }

    /// Replaces the top `depth` blocks by a longer branch. Returns how many left the chain.
    pub async fn reorg(&self, depth: u32) -> Result<usize> {
        match self {
            ChainNode::Simnet(simnet) => {
                let client = CoreRpcClient::new(&simnet.url, RpcAuth::None);
                let reply: serde_json::Value = client.call("simnet_reorg", json!([depth])).await?;
                Ok(reply["disconnected"].as_array().map_or(0, Vec::len))
            }
            ChainNode::Core { node, .. } => Ok(node.reorg(depth).await?.len()),
        }
    }
}

impl Drop for ChainNode {
    fn drop(&mut self) {
        if let ChainNode::Core { miner, .. } = self {
            miner.abort();
        }
    }
}

/// Mines 101 blocks to a throwaway miner key, then spends the first coinbase (50 BTC,
/// mature now) to `addresses`, `amount` each, and mines it. Returns the funding txid.
/// Works on any regtest chain that has `generatetoaddress`.
pub async fn fund(chain: &CoreRpcClient, addresses: &[Address], amount: Amount) -> Result<Txid> {
    let (miner, coin) = mature_coin(chain).await?;
    pay_from(chain, &miner, coin, addresses, amount).await
}

/// Outputs per funding transaction of [`fund_many`]: about what an exchange's payout
/// batch pays, so each coin's previous transaction (which every PSBT spending it
/// carries in full) stays a few kilobytes.
pub const OUTPUTS_PER_FUNDING: usize = 50;

/// Transactions chained in the mempool before a block confirms them (Core allows 25
/// unconfirmed ancestors by default).
const FUNDING_CHAIN: usize = 20;

/// [`fund`] for many addresses: one mature coinbase pays `amount` to each of
/// `addresses` through a chain of transactions of at most [`OUTPUTS_PER_FUNDING`]
/// outputs, each spending the change of the one before, all confirmed at return. One
/// transaction of a thousand outputs would make every coin's previous transaction tens
/// of kilobytes, which no deposit of a real treasury is. Returns the transactions' ids.
pub async fn fund_many(chain: &CoreRpcClient, addresses: &[Address], amount: Amount) -> Result<Vec<Txid>> {
    let (miner, mut coin) = mature_coin(chain).await?;
    let miner_address = Address::p2wpkh(&CompressedPublicKey(miner.public_key()), Network::Regtest);
    let mut txids = Vec::new();
    for chunk in addresses.chunks(OUTPUTS_PER_FUNDING) {
        let (txid, change) = send_from_with_change(chain, &miner, coin, chunk, amount).await?;
        txids.push(txid);
        coin = change;
        if txids.len() % FUNDING_CHAIN == 0 {
            chain.generate_to_address(1, &miner_address).await?;
        }
    }
    if txids.len() % FUNDING_CHAIN != 0 {
        chain.generate_to_address(1, &miner_address).await?;
    }
    Ok(txids)
}

/// [`fund`] without the last block: the funding transaction is left in the mempool.
pub async fn fund_unconfirmed(chain: &CoreRpcClient, addresses: &[Address], amount: Amount) -> Result<Txid> {
    let (miner, coin) = mature_coin(chain).await?;
    send_from(chain, &miner, coin, addresses, amount).await
}

/// A fresh key and a mature coinbase coin it holds (101 blocks mined to it).
pub async fn mature_coin(chain: &CoreRpcClient) -> Result<(Keypair, (bitcoin::OutPoint, bitcoin::TxOut))> {
    let secp = Secp256k1::new();
    let miner = Keypair::new(&secp, &mut rand::rngs::OsRng);
    let miner_address = Address::p2wpkh(&CompressedPublicKey(miner.public_key()), Network::Regtest);
    let hashes = chain.generate_to_address(101, &miner_address).await?;
    let first = hashes
        .first()
        .ok_or_else(|| anyhow!("the chain mined no block"))?;
    let block = chain.get_block(first).await?;
    let coinbase = block
        .txdata
        .first()
        .ok_or_else(|| anyhow!("block without coinbase"))?;
    let coin = coinbase
        .output
        .first()
        .ok_or_else(|| anyhow!("coinbase without outputs"))?
        .clone();
    Ok((
        miner,
        (
            bitcoin::OutPoint {
                txid: coinbase.compute_txid(),
                vout: 0,
            },
            coin,
        ),
    ))
}

/// Spends `coin` (a P2WPKH coin of `miner`) to each of `addresses`, `amount` each, the
/// rest back to the miner less a fee, and mines a block on it.
pub async fn pay_from(
    chain: &CoreRpcClient,
    miner: &Keypair,
    coin: (bitcoin::OutPoint, bitcoin::TxOut),
    addresses: &[Address],
    amount: Amount,
) -> Result<Txid> {
    let txid = send_from(chain, miner, coin, addresses, amount).await?;
    let miner_address = Address::p2wpkh(&CompressedPublicKey(miner.public_key()), Network::Regtest);
    chain.generate_to_address(1, &miner_address).await?;
    Ok(txid)
}

/// [`pay_from`] without mining: the payment is left in the mempool.
pub async fn send_from(
    chain: &CoreRpcClient,
    miner: &Keypair,
    coin: (bitcoin::OutPoint, bitcoin::TxOut),
    addresses: &[Address],
    amount: Amount,
) -> Result<Txid> {
    Ok(send_from_with_change(chain, miner, coin, addresses, amount)
        .await?
        .0)
}

/// [`send_from`], also returning the change coin back to `miner` (the last output).
async fn send_from_with_change(
    chain: &CoreRpcClient,
    miner: &Keypair,
    (outpoint, coin): (bitcoin::OutPoint, bitcoin::TxOut),
    addresses: &[Address],
    amount: Amount,
) -> Result<(Txid, (bitcoin::OutPoint, bitcoin::TxOut))> {
    use bitcoin::sighash::{EcdsaSighashType, SighashCache};
    use bitcoin::{transaction, Sequence, Transaction, TxIn, TxOut, Witness};

    let secp = Secp256k1::new();
    let miner_key = CompressedPublicKey(miner.public_key());
    let miner_address = Address::p2wpkh(&miner_key, Network::Regtest);
    let fee = Amount::from_sat(10_000);
    let paid = amount * u64::try_from(addresses.len())?;
    let change = coin
        .value
        .checked_sub(paid + fee)
        .ok_or_else(|| anyhow!("the coinbase cannot pay {paid}"))?;
    let mut outputs: Vec<TxOut> = addresses
        .iter()
        .map(|a| TxOut {
            value: amount,
            script_pubkey: a.script_pubkey(),
        })
        .collect();
    outputs.push(TxOut {
        value: change,
        script_pubkey: miner_address.script_pubkey(),
    });
    let mut tx = Transaction {
        version: transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: outputs,
    };
    let sighash = SighashCache::new(&tx).p2wpkh_signature_hash(
        0,
        &coin.script_pubkey,
        coin.value,
        EcdsaSighashType::All,
    )?;
    let signature = bitcoin::ecdsa::Signature::sighash_all(
        secp.sign_ecdsa(&bitcoin::secp256k1::Message::from(sighash), &miner.secret_key()),
    );
    tx.input[0].witness = Witness::p2wpkh(&signature, &miner.public_key());
    let txid = chain.send_raw_transaction(&tx).await?;
    let vout = u32::try_from(addresses.len())?;
    let change = tx
        .output
        .last()
        .cloned()
        .ok_or_else(|| anyhow!("the funding transaction has no change output"))?;
    Ok((txid, (bitcoin::OutPoint { txid, vout }, change)))
}

/// What the chain's blocks pay to each of `scripts`, read block by block from genesis to
/// the tip (the node's own chain, not the coordinator's view of it). A script never paid
/// is absent. This is the exactly-once check's source of truth.
pub async fn paid_to<'a>(
    chain: &CoreRpcClient,
    scripts: impl IntoIterator<Item = &'a ScriptBuf>,
) -> Result<BTreeMap<ScriptBuf, Amount>> {
    let wanted: std::collections::BTreeSet<&ScriptBuf> = scripts.into_iter().collect();
    let mut paid: BTreeMap<ScriptBuf, Amount> = BTreeMap::new();
    let tip = chain.get_block_count().await?;
    for height in 0..=tip {
        let block = chain.get_block(&chain.get_block_hash(height).await?).await?;
        for output in block.txdata.iter().flat_map(|tx| &tx.output) {
            if wanted.contains(&output.script_pubkey) {
                *paid.entry(output.script_pubkey.clone()).or_default() += output.value;
            }
        }
    }
    Ok(paid)
}
