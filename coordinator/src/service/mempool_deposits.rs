//! Unconfirmed deposits (issue 11 item 2): payments to deposit addresses that the node
//! holds in its mempool, shown to staff as pending before any block has them. The ledger
//! (`deposits`) records and credits only what is in blocks; this is a view beside it that
//! each monitor pass brings in line with the node's mempool, so a payment that is replaced,
//! evicted or mined leaves it at the next pass (a mined one moves to the ledger).
//!
//! Each transaction is fetched once while it stays in the mempool: [`MempoolWatch`] keeps,
//! per txid examined, the outputs that paid a deposit address, and at most
//! [`MAX_NEW_PER_PASS`] new transactions are fetched in one pass (a busy mainnet mempool is
//! worked through over several passes rather than in one long one).

use std::collections::{HashMap, HashSet};

use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, Txid};
use sluice_shared::deposit_api::UnconfirmedDeposit;

use super::deposit_monitor::{match_deposit_address, watch, DepositAddressMatch, Watch};
use super::monitor_pass::MonitorError;
use super::{require, Actor, Coordinator, ServiceError};
use crate::chain::ChainBackend;
use crate::clock;
use crate::db::deposits as deposit_rows;
use crate::db::mempool_deposits::{self, MempoolDeposit};
use crate::rules::roles::Permission;
use crate::time::UnixTime;

/// New mempool transactions fetched per pass, at most.
pub const MAX_NEW_PER_PASS: usize = 2_000;

/// An output that paid a deposit address when its transaction was examined.
#[derive(Debug, Clone)]
struct Candidate {
    vout: u32,
    script: ScriptBuf,
    amount: Amount,
}

/// What the monitor remembers of the mempool between passes.
#[derive(Debug, Default)]
pub struct MempoolWatch {
    examined: HashMap<Txid, Vec<Candidate>>,
}

impl Coordinator {
    /// Whether any wallet is a deposit wallet (else the mempool need not be read).
    pub fn has_deposit_wallets(&mut self) -> Result<bool, ServiceError> {
        let tx = self.db.read()?;
        Ok(!deposit_rows::list_wallets(&tx)?.is_empty())
    }

    /// Examines `fetched` (new mempool transactions) into `examined`, then makes the
    /// unconfirmed deposits what `examined` pays deposit addresses. Reads first and takes
    /// the write lock (a durable commit the processor would wait behind) only when that
    /// changes something, which on most passes it does not. Returns how many there are.
    fn record_mempool_deposits(
        &mut self,
        fetched: Vec<(Txid, Transaction)>,
        examined: &mut HashMap<Txid, Vec<Candidate>>,
        now: UnixTime,
    ) -> Result<usize, ServiceError> {
        let network = self.network();
        {
            let tx = self.db.read()?;
            let watch = watch(&tx, network)?;
            examine(&tx, &watch, network, fetched, examined)?;
            let current = current_deposits(&tx, &watch, network, examined, now)?;
            if mempool_deposits::holds_exactly(&tx, &current)? {
                return Ok(current.len());
            }
        }
        // Resolved again under the write lock: an address may have been issued meanwhile.
        let tx = self.db.write()?;
        let watch = watch(&tx, network)?;
        let current = current_deposits(&tx, &watch, network, examined, now)?;
        mempool_deposits::replace(&tx, &current, now)?;
        tx.commit()?;
        Ok(current.len())
    }

    /// The unconfirmed deposits, oldest first (of one customer when given): any staff, the
    /// shadow too.
    pub fn unconfirmed_deposits(
        &mut self,
        actor: &Actor,
        customer: Option<&str>,
    ) -> Result<Vec<MempoolDeposit>, ServiceError> {
        require(actor, Permission::ReadDepositLedger)?;
        let tx = self.db.read()?;
        Ok(mempool_deposits::list(&tx, customer)?)
    }
}

/// Keeps, for each new transaction, the outputs that pay a deposit address (an issued
/// one or one of a gap window).
fn examine(
    conn: &rusqlite::Connection,
    watch: &Watch,
    network: bitcoin::Network,
    fetched: Vec<(Txid, Transaction)>,
    examined: &mut HashMap<Txid, Vec<Candidate>>,
) -> Result<(), ServiceError> {
    for (txid, transaction) in fetched {
        let mut candidates = Vec::new();
        if !transaction.is_coinbase() {
            for (vout, output) in transaction.output.iter().enumerate() {
                if match_deposit_address(conn, watch, &output.script_pubkey, network)?.is_some() {
                    candidates.push(Candidate {
                        vout: u32::try_from(vout).map_err(|_| {
                            ServiceError::Invalid(format!("transaction {txid}: output index"))
                        })?,
                        script: output.script_pubkey.clone(),
                        amount: output.value,
                    });
                }
            }
        }
        examined.insert(txid, candidates);
    }
    Ok(())
}

/// What the examined transactions pay deposit addresses now (resolved again each pass: an
/// address may have been issued since its transaction was examined).
fn current_deposits(
    conn: &rusqlite::Connection,
    watch: &Watch,
    network: bitcoin::Network,
    examined: &HashMap<Txid, Vec<Candidate>>,
    now: UnixTime,
) -> Result<Vec<MempoolDeposit>, ServiceError> {
    let mut current = Vec::new();
    for (txid, candidates) in examined {
        for candidate in candidates {
            let Some(found) = match_deposit_address(conn, watch, &candidate.script, network)? else {
                continue;
            };
            let (wallet, index, address, customer) = match found {
                DepositAddressMatch::Known(record) => {
                    (record.wallet, record.index, record.address, record.customer)
                }
                DepositAddressMatch::Unissued {
                    wallet,
                    index,
                    address,
                } => (wallet, index, address, None),
            };
            current.push(MempoolDeposit {
                outpoint: OutPoint {
                    txid: *txid,
                    vout: candidate.vout,
                },
                wallet,
                index,
                address,
                customer,
                amount: candidate.amount,
                first_seen_at: now,
            });
        }
    }
    Ok(current)
}

/// The wire form `GET /v1/unconfirmed-deposits` and `deposit unconfirmed --json` give.
pub fn unconfirmed_to_api(deposit: &MempoolDeposit) -> UnconfirmedDeposit {
    UnconfirmedDeposit {
        txid: deposit.outpoint.txid.to_string(),
        vout: deposit.outpoint.vout,
        wallet: deposit.wallet.clone(),
        derivation_index: deposit.index,
        address: deposit.address.clone(),
        customer_id: deposit.customer.clone(),
        amount_sat: deposit.amount.to_sat(),
        first_seen_at: deposit.first_seen_at.secs(),
    }
}

/// One pass over the node's mempool: forget transactions that left it, fetch (up to
/// [`MAX_NEW_PER_PASS`]) new ones, and record what pays deposit addresses. Returns how many
/// unconfirmed deposits there are. Does nothing without a deposit wallet.
pub async fn mempool_pass(
    coord: &mut Coordinator,
    chain: &dyn ChainBackend,
    watch: &mut MempoolWatch,
) -> Result<usize, MonitorError> {
    if !tokio::task::block_in_place(|| coord.has_deposit_wallets())? {
        watch.examined.clear();
        return Ok(0);
    }
    let txids = chain.mempool_txids().await?;
    let now_in_mempool: HashSet<Txid> = txids.iter().copied().collect();
    watch.examined.retain(|txid, _| now_in_mempool.contains(txid));
    let mut fetched = Vec::new();
    for txid in txids
        .iter()
        .filter(|txid| !watch.examined.contains_key(*txid))
        .take(MAX_NEW_PER_PASS)
    {
        if let Some(transaction) = chain.mempool_transaction(txid).await? {
            fetched.push((*txid, transaction));
        }
    }
    let count = tokio::task::block_in_place(|| {
        coord.record_mempool_deposits(fetched, &mut watch.examined, clock::now())
    })?;
    Ok(count)
}
