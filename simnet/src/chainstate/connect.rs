//! Connecting and disconnecting blocks on the active chain: the rules of Core's
//! `ConnectBlock` (inputs exist and are unspent, coinbase maturity, value ranges, BIP68,
//! every script through Bitcoin Core's interpreter, the coinbase claims no more than
//! subsidy + fees) and the undo data that lets a block be taken off again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bitcoin::{Amount, Block, BlockHash, OutPoint, Transaction, TxOut};
use sluice_shared::consensus::verify_transaction;

use super::{ChainState, Coin};
use crate::rules::{self, COINBASE_MATURITY};

impl ChainState {
    /// Connects `hash`, a child of the tip, checking every rule; on failure nothing changes.
    pub(super) fn connect(&mut self, hash: &BlockHash) -> Result<Arc<Block>, String> {
        let entry = &self.entries[hash];
        let block = entry.block.clone();
        let height = entry.height;
        let prev_mtp = self.tip_mtp();
        rules::check_block_in_context(&block, height, prev_mtp)?;
        let mut created: HashMap<OutPoint, Coin> = HashMap::new();
        let mut spent: HashSet<OutPoint> = HashSet::new();
        let mut undo = Vec::with_capacity(block.txdata.len().saturating_sub(1));
        let mut fees = Amount::ZERO;
        for (position, tx) in block.txdata.iter().enumerate() {
            let txid = tx.compute_txid();
            if position > 0 {
                let mut coins = Vec::with_capacity(tx.input.len());
                for input in &tx.input {
                    let outpoint = input.previous_output;
                    let coin = match created.remove(&outpoint) {
                        Some(coin) => coin,
                        None if !spent.contains(&outpoint) => {
                            let coin = self
                                .utxos
                                .get(&outpoint)
                                .ok_or("bad-txns-inputs-missingorspent")?
                                .clone();
                            spent.insert(outpoint);
                            coin
                        }
                        None => return Err("bad-txns-inputs-missingorspent".to_owned()),
                    };
                    coins.push(coin);
                }
                fees = fees
                    .checked_add(self.check_spend(tx, &coins, height, prev_mtp)?)
                    .filter(|f| *f <= Amount::MAX_MONEY)
                    .ok_or("bad-txns-accumulated-fee-outofrange")?;
                undo.push(coins);
            }
            for (vout, out) in tx.output.iter().enumerate() {
                let outpoint = OutPoint::new(txid, vout as u32);
                if created.contains_key(&outpoint)
                    || (self.utxos.contains_key(&outpoint) && !spent.contains(&outpoint))
                {
                    return Err("bad-txns-BIP30".to_owned());
                }
                // Provably unspendable outputs never enter the UTXO set, as in Core.
                if !out.script_pubkey.is_op_return() && out.script_pubkey.len() <= 10_000 {
                    let coin = Coin {
                        out: out.clone(),
                        height,
                        coinbase: position == 0,
                    };
                    created.insert(outpoint, coin);
                }
            }
        }
        let minted: Amount = block.txdata[0].output.iter().map(|o| o.value).sum();
        if minted > rules::subsidy(height) + fees {
            return Err("bad-cb-amount".to_owned());
        }
        for outpoint in &spent {
            self.utxos.remove(outpoint);
        }
        self.utxos.extend(created);
        for (position, tx) in block.txdata.iter().enumerate() {
            self.tx_index.insert(tx.compute_txid(), (*hash, position));
        }
        self.undo.insert(*hash, undo);
        self.active.push(*hash);
        if let Some(entry) = self.entries.get_mut(hash) {
            entry.validated = true;
        }
        Ok(block)
    }

    /// The per-transaction rules of `ConnectBlock`; returns the fee.
    fn check_spend(
        &self,
        tx: &Transaction,
        coins: &[Coin],
        height: u32,
        prev_mtp: u32,
    ) -> Result<Amount, String> {
        if coins
            .iter()
            .any(|c| c.coinbase && height - c.height < COINBASE_MATURITY)
        {
            return Err("bad-txns-premature-spend-of-coinbase".to_owned());
        }
        let value_in = coins
            .iter()
            .try_fold(Amount::ZERO, |sum, c| sum.checked_add(c.out.value))
            .filter(|v| *v <= Amount::MAX_MONEY)
            .ok_or("bad-txns-inputvalues-outofrange")?;
        let value_out: Amount = tx.output.iter().map(|o| o.value).sum();
        let fee = value_in.checked_sub(value_out).ok_or("bad-txns-in-belowout")?;
        let heights: Vec<u32> = coins.iter().map(|c| c.height).collect();
        if !rules::sequence_locks_met(tx, &heights, height, prev_mtp, |h| self.mtp_at(h)) {
            return Err("bad-txns-nonfinal".to_owned());
        }
        let outs: Vec<TxOut> = coins.iter().map(|c| c.out.clone()).collect();
        verify_transaction(tx, &outs).map_err(|e| format!("block-script-verify-flag-failed ({e})"))?;
        Ok(fee)
    }

    /// Disconnects the tip: its outputs leave the UTXO set and the coins it spent return.
    pub(super) fn disconnect_tip(&mut self) -> Arc<Block> {
        let hash = self.tip_hash();
        let block = self.entries[&hash].block.clone();
        let undo = self.undo.get(&hash).cloned().unwrap_or_default();
        for (position, tx) in block.txdata.iter().enumerate().rev() {
            let txid = tx.compute_txid();
            for vout in 0..tx.output.len() {
                self.utxos.remove(&OutPoint::new(txid, vout as u32));
            }
            self.tx_index.remove(&txid);
            if position > 0 {
                if let Some(coins) = undo.get(position - 1) {
                    for (input, coin) in tx.input.iter().zip(coins) {
                        self.utxos.insert(input.previous_output, coin.clone());
                    }
                }
            }
        }
        self.active.pop();
        block
    }
}
