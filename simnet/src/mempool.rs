//! simnet's mempool: unconfirmed transactions with their fees, indexed by txid and by the
//! outpoints they spend, with the parent/child graph Core reports (`depends`, `spentby`,
//! ancestor and descendant counts). What may enter is decided in `accept`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bitcoin::{Amount, OutPoint, Transaction, TxOut, Txid, Wtxid};

/// Core's `-blockmintxfee` default (v30 and later): 1 sat/kvB.
const BLOCK_MIN_TX_FEE_SAT_PER_KVB: i128 = 1;

#[derive(Debug, Clone)]
pub struct MempoolEntry {
    pub tx: Arc<Transaction>,
    pub txid: Txid,
    pub wtxid: Wtxid,
    pub fee: Amount,
    pub vsize: u64,
    pub weight: u64,
    /// When it entered (Unix seconds).
    pub time: u64,
    /// The tip height when it entered.
    pub height: u32,
    /// Entry order; parents always enter before their children.
    pub seq: u64,
    /// Core's "unbroadcast": submitted here and never asked for by a peer. Simnet has no
    /// peers, so every transaction submitted to it stays so; transactions returning
    /// from disconnected blocks are not (Core tracks only what it was asked to broadcast).
    pub unbroadcast: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Mempool {
    entries: HashMap<Txid, MempoolEntry>,
    by_seq: BTreeMap<u64, Txid>,
    /// Which mempool transaction spends each outpoint.
    spenders: HashMap<OutPoint, Txid>,
    next_seq: u64,
    /// `prioritisetransaction` fee deltas (satoshis), kept like Core's `mapDeltas`: also
    /// for transactions not (yet) in the mempool, until a block confirms them.
    deltas: HashMap<Txid, i64>,
}

impl Mempool {
    /// Adds `delta` satoshis to `txid`'s fee as block assembly and replacement see it.
    pub fn prioritise(&mut self, txid: Txid, delta: i64) {
        let total = self.deltas.entry(txid).or_insert(0);
        *total = total.saturating_add(delta);
        if *total == 0 {
            self.deltas.remove(&txid);
        }
    }

    /// The fee delta of `txid` (0 without one).
    pub fn delta(&self, txid: &Txid) -> i64 {
        self.deltas.get(txid).copied().unwrap_or(0)
    }

    /// A fee with `txid`'s delta: what Core calls the modified fee.
    pub fn modified_fee(&self, txid: &Txid, fee: Amount) -> i64 {
        i64::try_from(fee.to_sat())
            .unwrap_or(i64::MAX)
            .saturating_add(self.delta(txid))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, txid: &Txid) -> Option<&MempoolEntry> {
        self.entries.get(txid)
    }

    pub fn contains(&self, txid: &Txid) -> bool {
        self.entries.contains_key(txid)
    }

    /// Entries in the order they entered.
    pub fn in_order(&self) -> impl Iterator<Item = &MempoolEntry> {
        self.by_seq.values().filter_map(|txid| self.entries.get(txid))
    }

    pub fn spender_of(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.spenders.get(outpoint).copied()
    }

    /// An output of a mempool transaction.
    pub fn output(&self, outpoint: &OutPoint) -> Option<&TxOut> {
        self.entries
            .get(&outpoint.txid)?
            .tx
            .output
            .get(outpoint.vout as usize)
    }

    /// Unconfirmed parents (`depends`).
    pub fn parents(&self, txid: &Txid) -> Vec<Txid> {
        let Some(entry) = self.entries.get(txid) else {
            return Vec::new();
        };
        let mut parents: Vec<Txid> = entry
            .tx
            .input
            .iter()
            .map(|i| i.previous_output.txid)
            .filter(|p| self.entries.contains_key(p))
            .collect();
        parents.sort();
        parents.dedup();
        parents
    }

    /// Unconfirmed children (`spentby`).
    pub fn children(&self, txid: &Txid) -> Vec<Txid> {
        let Some(entry) = self.entries.get(txid) else {
            return Vec::new();
        };
        let mut children: Vec<Txid> = (0..entry.tx.output.len())
            .filter_map(|vout| self.spenders.get(&OutPoint::new(*txid, vout as u32)).copied())
            .collect();
        children.sort();
        children.dedup();
        children
    }

    /// All unconfirmed ancestors of the transaction spending `inputs` (it need not be in
    /// the mempool yet).
    pub fn ancestors_of_inputs<'a>(&self, inputs: impl Iterator<Item = &'a OutPoint>) -> HashSet<Txid> {
        let mut found = HashSet::new();
        let mut queue: Vec<Txid> = inputs
            .map(|o| o.txid)
            .filter(|t| self.entries.contains_key(t))
            .collect();
        while let Some(txid) = queue.pop() {
            if found.insert(txid) {
                queue.extend(self.parents(&txid));
            }
        }
        found
    }

    pub fn ancestors(&self, txid: &Txid) -> HashSet<Txid> {
        match self.entries.get(txid) {
            Some(entry) => self.ancestors_of_inputs(entry.tx.input.iter().map(|i| &i.previous_output)),
            None => HashSet::new(),
        }
    }

    /// All unconfirmed descendants, not including `txid` itself.
    pub fn descendants(&self, txid: &Txid) -> HashSet<Txid> {
        let mut found = HashSet::new();
        let mut queue = self.children(txid);
        while let Some(child) = queue.pop() {
            if found.insert(child) {
                queue.extend(self.children(&child));
            }
        }
        found
    }

    /// The transactions connected to `start` through spends in either direction (its
    /// cluster, as Core's cluster mempool groups them), not passing through `excluded`.
    pub fn connected(
        &self,
        start: impl IntoIterator<Item = Txid>,
        excluded: &HashSet<Txid>,
    ) -> HashSet<Txid> {
        let mut found = HashSet::new();
        let mut queue: Vec<Txid> = start
            .into_iter()
            .filter(|t| self.entries.contains_key(t) && !excluded.contains(t))
            .collect();
        while let Some(txid) = queue.pop() {
            if excluded.contains(&txid) || !found.insert(txid) {
                continue;
            }
            queue.extend(self.parents(&txid));
            queue.extend(self.children(&txid));
        }
        found
    }

    /// The chunk `txid` is mined in, as (fees, weight): its cluster linearized in entry
    /// order (parents first) and chunked as Core chunks a linearization, a later
    /// transaction joining the chunk before it while it pays a higher feerate. (Core
    /// searches for the best linearization; entry order is it for the chains Sluice makes.)
    pub fn chunk_of(&self, txid: &Txid) -> Option<(Amount, u64)> {
        let mut cluster: Vec<&MempoolEntry> = self
            .connected([*txid], &HashSet::new())
            .iter()
            .filter_map(|t| self.entries.get(t))
            .collect();
        cluster.sort_by_key(|e| e.seq);
        // Each chunk: (fee, vsize, weight, members).
        let mut chunks: Vec<(Amount, u64, u64, Vec<Txid>)> = Vec::new();
        for entry in cluster {
            let mut chunk = (entry.fee, entry.vsize, entry.weight, vec![entry.txid]);
            while let Some(last) = chunks.last() {
                let higher = u128::from(chunk.0.to_sat()) * u128::from(last.1)
                    > u128::from(last.0.to_sat()) * u128::from(chunk.1);
                if !higher {
                    break;
                }
                let last = chunks.pop()?;
                chunk.3.extend(last.3);
                chunk = (chunk.0 + last.0, chunk.1 + last.1, chunk.2 + last.2, chunk.3);
            }
            chunks.push(chunk);
        }
        chunks
            .into_iter()
            .find(|c| c.3.contains(txid))
            .map(|(fee, _, weight, _)| (fee, weight))
    }

    /// Adds an entry whose inputs were checked; its sequence number is assigned here.
    pub fn insert(&mut self, mut entry: MempoolEntry) {
        entry.seq = self.next_seq;
        self.next_seq += 1;
        for input in &entry.tx.input {
            self.spenders.insert(input.previous_output, entry.txid);
        }
        self.by_seq.insert(entry.seq, entry.txid);
        self.entries.insert(entry.txid, entry);
    }

    /// Removes one transaction (its children stay; the caller decides about them).
    pub fn remove(&mut self, txid: &Txid) -> Option<MempoolEntry> {
        let entry = self.entries.remove(txid)?;
        self.by_seq.remove(&entry.seq);
        for input in &entry.tx.input {
            if self.spenders.get(&input.previous_output) == Some(txid) {
                self.spenders.remove(&input.previous_output);
            }
        }
        Some(entry)
    }

    /// Removes `txid` and everything that spends it, directly or not.
    pub fn remove_with_descendants(&mut self, txid: &Txid) -> Vec<MempoolEntry> {
        let mut doomed: Vec<Txid> = self.descendants(txid).into_iter().collect();
        doomed.push(*txid);
        doomed.into_iter().filter_map(|t| self.remove(&t)).collect()
    }

    /// After `block` is connected: its transactions leave the mempool, and so does
    /// anything that spent the same outputs (with its descendants).
    pub fn remove_for_block(&mut self, txs: &[Transaction]) {
        for tx in txs {
            let txid = tx.compute_txid();
            self.remove(&txid);
            self.deltas.remove(&txid);
            for input in &tx.input {
                if let Some(conflict) = self.spenders.get(&input.previous_output).copied() {
                    if conflict != txid {
                        self.remove_with_descendants(&conflict);
                    }
                }
            }
        }
    }

    /// Empties the mempool, returning its entries in the order they entered.
    pub fn take_all(&mut self) -> Vec<MempoolEntry> {
        let order: Vec<Txid> = self.by_seq.values().copied().collect();
        let mut entries = std::mem::take(&mut self.entries);
        self.by_seq.clear();
        self.spenders.clear();
        order.into_iter().filter_map(|t| entries.remove(&t)).collect()
    }

    pub fn total_fee(&self) -> Amount {
        self.entries.values().map(|e| e.fee).sum()
    }

    pub fn total_vsize(&self) -> u64 {
        self.entries.values().map(|e| e.vsize).sum()
    }

    /// Transactions for the next block: highest modified fee rate first (fee plus any
    /// `prioritisetransaction` delta), each after its unconfirmed parents, within
    /// `max_weight`; a package whose modified fee rate is below Core's `-blockmintxfee`
    /// (1 sat/kvB) is left out, as Core's block assembly leaves it out.
    pub fn block_template(&self, max_weight: u64) -> Vec<Arc<Transaction>> {
        let mut candidates: Vec<&MempoolEntry> = self.entries.values().collect();
        // fee/vsize compared without division: a/b > c/d ⇔ a·d > c·b.
        candidates.sort_by(|a, b| {
            let left = i128::from(self.modified_fee(&a.txid, a.fee)) * i128::from(b.vsize);
            let right = i128::from(self.modified_fee(&b.txid, b.fee)) * i128::from(a.vsize);
            right.cmp(&left).then(a.seq.cmp(&b.seq))
        });
        let mut chosen: HashSet<Txid> = HashSet::new();
        let mut skipped: HashSet<Txid> = HashSet::new();
        let mut template = Vec::new();
        let mut weight = 0u64;
        for candidate in candidates {
            if chosen.contains(&candidate.txid) || skipped.contains(&candidate.txid) {
                continue;
            }
            let mut package: Vec<&MempoolEntry> = self
                .ancestors(&candidate.txid)
                .iter()
                .filter(|t| !chosen.contains(*t))
                .filter_map(|t| self.entries.get(t))
                .collect();
            package.push(candidate);
            // Entry order puts parents first.
            package.sort_by_key(|e| e.seq);
            let package_weight: u64 = package.iter().map(|e| e.weight).sum();
            let package_vsize: u64 = package.iter().map(|e| e.vsize).sum();
            let package_fee: i128 = package
                .iter()
                .map(|e| i128::from(self.modified_fee(&e.txid, e.fee)))
                .sum();
            let below_min = package_fee * 1000 < i128::from(package_vsize) * BLOCK_MIN_TX_FEE_SAT_PER_KVB;
            if below_min
                || package.iter().any(|e| skipped.contains(&e.txid))
                || weight + package_weight > max_weight
            {
                skipped.insert(candidate.txid);
                continue;
            }
            weight += package_weight;
            for entry in package {
                chosen.insert(entry.txid);
                template.push(entry.tx.clone());
            }
        }
        template
    }
}
