//! simnet's chain: regtest rules (genesis, proof of work at 0x207fffff, BIP34 heights,
//! 50 BTC halving every 150 blocks, coinbase maturity 100), a UTXO set with undo data so
//! blocks can be disconnected (reorgs), and a mempool. Every transaction's scripts are
//! checked with Bitcoin Core's interpreter. Pure state: the RPC server wraps it.

use std::collections::{HashMap, HashSet};

use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::blockdata::constants::genesis_block;
use bitcoin::hashes::Hash;
use bitcoin::{
    absolute, transaction, Amount, Block, BlockHash, CompactTarget, Network, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};
use sluice_shared::consensus::verify_transaction;

pub const COINBASE_MATURITY: u64 = 100;
const HALVING_INTERVAL: u64 = 150;

/// A refusal with Bitcoin Core's RPC code and reason text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: i64,
    pub message: String,
}

fn reject(code: i64, message: impl Into<String>) -> Rejection {
    Rejection {
        code,
        message: message.into(),
    }
}

#[derive(Debug, Clone)]
struct Coin {
    out: TxOut,
    height: u64,
    coinbase: bool,
}

/// A connected block and what it spent, to undo it.
#[derive(Debug, Clone)]
struct ConnectedBlock {
    block: Block,
    spent: Vec<(OutPoint, Coin)>,
}

/// The chain, its UTXO set and mempool.
#[derive(Debug)]
pub struct SimChain {
    blocks: Vec<ConnectedBlock>,
    utxos: HashMap<OutPoint, Coin>,
    mempool: Vec<Transaction>,
    /// Where each transaction on the active chain was mined (height).
    tx_heights: HashMap<Txid, u64>,
    invalidated: HashSet<BlockHash>,
}

pub fn subsidy(height: u64) -> Amount {
    let halvings = height / HALVING_INTERVAL;
    if halvings >= 64 {
        return Amount::ZERO;
    }
    Amount::from_sat((50 * 100_000_000) >> halvings)
}

impl Default for SimChain {
    fn default() -> Self {
        Self::new()
    }
}

impl SimChain {
    pub fn new() -> SimChain {
        let genesis = genesis_block(Network::Regtest);
        // The genesis output is unspendable, as in Bitcoin.
        let mut tx_heights = HashMap::new();
        tx_heights.insert(genesis.txdata[0].compute_txid(), 0);
        SimChain {
            blocks: vec![ConnectedBlock {
                block: genesis,
                spent: Vec::new(),
            }],
            utxos: HashMap::new(),
            mempool: Vec::new(),
            tx_heights,
            invalidated: HashSet::new(),
        }
    }

    pub fn height(&self) -> u64 {
        self.blocks.len() as u64 - 1
    }

    pub fn tip(&self) -> &Block {
        &self.blocks[self.blocks.len() - 1].block
    }

    pub fn block_at(&self, height: u64) -> Option<&Block> {
        self.blocks.get(usize::try_from(height).ok()?).map(|c| &c.block)
    }

    pub fn height_of(&self, hash: &BlockHash) -> Option<u64> {
        self.blocks
            .iter()
            .position(|c| c.block.block_hash() == *hash)
            .map(|h| h as u64)
    }

    pub fn mempool(&self) -> &[Transaction] {
        &self.mempool
    }

    /// The transaction and the height it was mined at (None: in the mempool).
    pub fn find_transaction(&self, txid: &Txid) -> Option<(Transaction, Option<u64>)> {
        if let Some(tx) = self.mempool.iter().find(|t| t.compute_txid() == *txid) {
            return Some((tx.clone(), None));
        }
        let height = *self.tx_heights.get(txid)?;
        let block = self.block_at(height)?;
        block
            .txdata
            .iter()
            .find(|t| t.compute_txid() == *txid)
            .map(|t| (t.clone(), Some(height)))
    }

    pub fn unspent(&self, outpoint: &OutPoint) -> Option<(TxOut, u64)> {
        self.utxos.get(outpoint).map(|c| (c.out.clone(), c.height))
    }

    /// Every unspent output paying `script` (what `scantxoutset` answers).
    pub fn unspent_for(&self, script: &ScriptBuf) -> Vec<(OutPoint, TxOut, u64)> {
        let mut found: Vec<_> = self
            .utxos
            .iter()
            .filter(|(_, c)| c.out.script_pubkey == *script)
            .map(|(o, c)| (*o, c.out.clone(), c.height))
            .collect();
        found.sort_by_key(|(o, _, _)| (o.txid, o.vout));
        found
    }

    /// The output `outpoint` spends, from the UTXO set or an unconfirmed parent.
    fn spendable(&self, outpoint: &OutPoint, next_height: u64) -> Result<TxOut, Rejection> {
        if let Some(coin) = self.utxos.get(outpoint) {
            if coin.coinbase && next_height - coin.height < COINBASE_MATURITY {
                return Err(reject(-26, "bad-txns-premature-spend-of-coinbase"));
            }
            return Ok(coin.out.clone());
        }
        let parent = self.mempool.iter().find(|t| t.compute_txid() == outpoint.txid);
        match parent.and_then(|p| p.output.get(outpoint.vout as usize)) {
            Some(out) => Ok(out.clone()),
            None => Err(reject(-25, "bad-txns-inputs-missingorspent")),
        }
    }

    /// Checks `tx` as the next block would see it, against the mempool too.
    pub fn check_for_mempool(&self, tx: &Transaction) -> Result<Amount, Rejection> {
        if tx.is_coinbase() {
            return Err(reject(-26, "coinbase"));
        }
        if tx.input.is_empty() || tx.output.is_empty() {
            return Err(reject(-26, "bad-txns-vin-empty"));
        }
        let txid = tx.compute_txid();
        if self.mempool.iter().any(|t| t.compute_txid() == txid) {
            return Err(reject(-26, "txn-already-in-mempool"));
        }
        if self.tx_heights.contains_key(&txid) {
            return Err(reject(-27, "Transaction outputs already in utxo set"));
        }
        let mut seen = HashSet::new();
        for input in &tx.input {
            if !seen.insert(input.previous_output) {
                return Err(reject(-26, "bad-txns-inputs-duplicate"));
            }
            let conflict = self
                .mempool
                .iter()
                .any(|t| t.input.iter().any(|i| i.previous_output == input.previous_output));
            if conflict {
                return Err(reject(-26, "txn-mempool-conflict"));
            }
        }
        let next_height = self.height() + 1;
        let spent: Vec<TxOut> = tx
            .input
            .iter()
            .map(|i| self.spendable(&i.previous_output, next_height))
            .collect::<Result<_, _>>()?;
        let total_in: Amount = spent.iter().map(|o| o.value).sum();
        let total_out = tx
            .output
            .iter()
            .try_fold(Amount::ZERO, |acc, o| acc.checked_add(o.value));
        let total_out = total_out
            .filter(|t| *t <= Amount::MAX_MONEY)
            .ok_or_else(|| reject(-26, "bad-txns-txouttotal-toolarge"))?;
        let fee = total_in
            .checked_sub(total_out)
            .ok_or_else(|| reject(-26, "bad-txns-in-belowout"))?;
        if !tx.is_lock_time_enabled()
            || tx.lock_time.is_satisfied_by(
                absolute::Height::from_consensus(u32::try_from(next_height).unwrap_or(u32::MAX))
                    .unwrap_or(absolute::Height::MAX),
                absolute::Time::MIN,
            )
        {
            verify_transaction(tx, &spent)
                .map_err(|e| reject(-26, format!("mandatory-script-verify-flag-failed ({e})")))?;
            Ok(fee)
        } else {
            Err(reject(-26, "non-final"))
        }
    }

    /// Accepts `tx` into the mempool.
    pub fn accept(&mut self, tx: Transaction) -> Result<Txid, Rejection> {
        self.check_for_mempool(&tx)?;
        let txid = tx.compute_txid();
        self.mempool.push(tx);
        Ok(txid)
    }

    /// Mines one block paying the coinbase to `script`, with every mempool transaction.
    pub fn mine(&mut self, script: &ScriptBuf) -> BlockHash {
        let txs = std::mem::take(&mut self.mempool);
        self.mine_with(script, txs)
    }

    /// Mines one block with only its coinbase; the mempool stays as it is.
    pub fn mine_empty(&mut self, script: &ScriptBuf) -> BlockHash {
        self.mine_with(script, Vec::new())
    }

    fn mine_with(&mut self, script: &ScriptBuf, txs: Vec<Transaction>) -> BlockHash {
        let height = self.height() + 1;
        let fees: Amount = txs.iter().filter_map(|t| self.fee_of(t)).sum();
        // BIP34 height, then padding that keeps the coinbase script at least 2 bytes.
        let height_push = bitcoin::blockdata::script::Builder::new()
            .push_int(i64::try_from(height).unwrap_or(i64::MAX))
            .push_slice([0u8; 4])
            .into_script();
        let coinbase = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: height_push,
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: subsidy(height) + fees,
                script_pubkey: script.clone(),
            }],
        };
        let mut txdata = vec![coinbase];
        txdata.extend(txs);
        let prev = self.tip().header;
        let mut header = Header {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: prev.block_hash(),
            merkle_root: TxMerkleNode::all_zeros(),
            time: prev.time + 1,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        };
        let mut block = Block { header, txdata };
        header.merkle_root = block
            .compute_merkle_root()
            .unwrap_or_else(TxMerkleNode::all_zeros);
        while header.validate_pow(header.target()).is_err() {
            header.nonce += 1;
        }
        block.header = header;
        let hash = block.block_hash();
        self.connect(block);
        hash
    }

    fn fee_of(&self, tx: &Transaction) -> Option<Amount> {
        let inputs: Option<Amount> = tx
            .input
            .iter()
            .map(|i| self.utxos.get(&i.previous_output).map(|c| c.out.value))
            .sum();
        inputs?.checked_sub(tx.output.iter().map(|o| o.value).sum())
    }

    fn connect(&mut self, block: Block) {
        let height = self.height() + 1;
        let mut spent = Vec::new();
        for tx in &block.txdata {
            let txid = tx.compute_txid();
            if !tx.is_coinbase() {
                for input in &tx.input {
                    if let Some(coin) = self.utxos.remove(&input.previous_output) {
                        spent.push((input.previous_output, coin));
                    }
                }
            }
            for (vout, out) in tx.output.iter().enumerate() {
                let coin = Coin {
                    out: out.clone(),
                    height,
                    coinbase: tx.is_coinbase(),
                };
                self.utxos.insert(
                    OutPoint {
                        txid,
                        vout: vout as u32,
                    },
                    coin,
                );
            }
            self.tx_heights.insert(txid, height);
        }
        self.blocks.push(ConnectedBlock { block, spent });
    }

    /// Disconnects `hash` and every block after it; their transactions return to the
    /// mempool when still valid. The genesis block cannot be invalidated.
    pub fn invalidate(&mut self, hash: &BlockHash) -> Result<(), Rejection> {
        let height = self
            .height_of(hash)
            .ok_or_else(|| reject(-5, "Block not found"))?;
        if height == 0 {
            return Err(reject(-8, "cannot invalidate the genesis block"));
        }
        let mut returned = Vec::new();
        while self.height() >= height {
            let Some(top) = self.blocks.pop() else { break };
            for tx in top.block.txdata.iter().rev() {
                let txid = tx.compute_txid();
                for vout in 0..tx.output.len() {
                    self.utxos.remove(&OutPoint {
                        txid,
                        vout: vout as u32,
                    });
                }
                self.tx_heights.remove(&txid);
                if !tx.is_coinbase() {
                    returned.push(tx.clone());
                }
            }
            for (outpoint, coin) in top.spent {
                self.utxos.insert(outpoint, coin);
            }
            self.invalidated.insert(top.block.block_hash());
        }
        let old_mempool = std::mem::take(&mut self.mempool);
        for tx in returned.into_iter().rev().chain(old_mempool) {
            let _ = self.accept(tx);
        }
        Ok(())
    }

    /// Confirmations of the block at `height` (0 when not on the active chain).
    pub fn confirmations(&self, height: u64) -> u64 {
        self.height().checked_sub(height).map_or(0, |d| d + 1)
    }
}
