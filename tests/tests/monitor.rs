//! The monitor's chain-following logic (`sluice_coordinator::service::monitor_pass`)
//! driven in process against both chain backends, with one test body: an in-process
//! simnet node and a real `bitcoind -regtest`. A wallet receives a deposit, pays a
//! withdrawal with a transaction signed here, and the monitor, pass by pass:
//! - confirms the session only once its transaction has the required confirmations;
//! - stopped mid-pass (the node fails half-way), resumes from the last block it stored;
//! - after a reorg that replaces the transaction's block (simnet's `simnet_reorg`, Core's
//!   `invalidateblock` and a longer branch) sends it back to `broadcast`, then confirms it
//!   again in the new branch;
//! - refuses a reorg deeper than every block it stored, changing nothing.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Address, Amount, BlockHash, Network, Transaction, Txid};
use sluice_coordinator::chain::{
    AcceptTest, Broadcast, ChainBackend, ChainFuture, ChainTip, CoreRpcClient, RpcError, TxStatus,
};
use sluice_coordinator::rules::fees::FeeSchedule;
use sluice_coordinator::rules::policy::ApprovalPolicy;
use sluice_coordinator::rules::roles::Role;
use sluice_coordinator::service::{
    monitor_pass, Actor, AdminDesk, Applied, BatchOutcome, Change, Coordinator, MonitorError, MonitorPass,
    MonitorSettings, NewWalletRequest, ProcessorConfig, Submitter,
};
use sluice_coordinator::time::UnixTime;
use sluice_coordinator::wallet_spec::WalletKindArg;
use sluice_devnet::chain::fund;
use sluice_shared::api::{EventKind, NewWithdrawal, WithdrawalStatus};

const MIN_CONFIRMATIONS: u32 = 3;
const INSTANCE: &str = "monitor-test";

use sluice_e2e::test_chain::{address_of, mine, on_bitcoin_core, on_simnet, TestChain};

/// The active chain's block holding `txid`, searched from `from` to the tip (the node
/// runs without `-txindex`, as operators' nodes usually do).
async fn block_holding(chain: &CoreRpcClient, txid: &Txid, from: u32) -> Option<(u32, BlockHash)> {
    let tip = chain.tip().await.unwrap();
    for height in from..=tip.height {
        let hash = chain.block_hash_at(height).await.unwrap()?;
        let block = chain.block(&hash).await.unwrap();
        if block.txdata.iter().any(|tx| tx.compute_txid() == *txid) {
            return Some((height, hash));
        }
    }
    None
}

/// A [`ChainBackend`] in front of the real one that records the blocks fetched and can
/// fail every block fetch after the first `allowed` (a node dying mid-pass).
struct Watched<'a> {
    inner: &'a CoreRpcClient,
    fetched: Mutex<Vec<BlockHash>>,
    allowed: AtomicUsize,
}

impl<'a> Watched<'a> {
    fn new(inner: &'a CoreRpcClient, allowed: usize) -> Watched<'a> {
        Watched {
            inner,
            fetched: Mutex::new(Vec::new()),
            allowed: AtomicUsize::new(allowed),
        }
    }

    fn fetched(&self) -> Vec<BlockHash> {
        self.fetched.lock().unwrap().clone()
    }
}

impl ChainBackend for Watched<'_> {
    fn tip(&self) -> ChainFuture<'_, ChainTip> {
        self.inner.tip()
    }

    fn block_hash_at(&self, height: u32) -> ChainFuture<'_, Option<BlockHash>> {
        self.inner.block_hash_at(height)
    }

    fn block<'a>(&'a self, hash: &'a BlockHash) -> ChainFuture<'a, bitcoin::Block> {
        let left = self.allowed.load(Ordering::SeqCst);
        if left == 0 {
            return Box::pin(async move {
                Err(RpcError::Transport {
                    url: self.inner.url().to_owned(),
                    method: "getblock".to_owned(),
                    reason: "the test cut the connection".to_owned(),
                })
            });
        }
        self.allowed.store(left - 1, Ordering::SeqCst);
        self.fetched.lock().unwrap().push(*hash);
        self.inner.block(hash)
    }

    fn broadcast<'a>(&'a self, tx: &'a Transaction) -> ChainFuture<'a, Broadcast> {
        self.inner.broadcast(tx)
    }

    fn tx_status<'a>(&'a self, txid: &'a Txid) -> ChainFuture<'a, TxStatus> {
        self.inner.tx_status(txid)
    }

    fn test_accept<'a>(&'a self, tx: &'a Transaction) -> ChainFuture<'a, AcceptTest> {
        self.inner.test_accept(tx)
    }

    fn fee_estimate(&self, target_blocks: u16) -> ChainFuture<'_, Option<bitcoin::FeeRate>> {
        self.inner.fee_estimate(target_blocks)
    }

    fn mempool_txids(&self) -> ChainFuture<'_, Vec<Txid>> {
        self.inner.mempool_txids()
    }

    fn mempool_transaction<'a>(&'a self, txid: &'a Txid) -> ChainFuture<'a, Option<Transaction>> {
        self.inner.mempool_transaction(txid)
    }
}

/// A coordinator with wallet "hot" (`wpkh`, one key held by this test, automatic
/// approval) and a customer with a registered destination.
struct World {
    coord: Coordinator,
    db: std::path::PathBuf,
    admin: Actor,
    requester: Actor,
    master: Xpriv,
    destination: Address,
}

fn world(dir: &std::path::Path) -> World {
    let now = UnixTime::from_secs(1_735_700_000);
    let db = dir.join("coordinator.sqlite");
    let mut desk = AdminDesk::initialise(&db, Network::Regtest, ["root", "ops"], now).unwrap();
    let agree = |desk: &mut AdminDesk, change: Change| desk.agree(change).unwrap();
    let (requester, _) = desk.enroll_staff("backend", Role::Requester).unwrap();
    desk.add_verified_customer("c1").unwrap();

    let destination = address_of(7);
    agree(
        &mut desk,
        Change::BeneficiaryAdd {
            customer_id: "c1".into(),
            address: destination.to_string(),
            label: "main".into(),
        },
    );
    agree(
        &mut desk,
        Change::FeesSet {
            asset: sluice_shared::asset::Asset::Btc,
            schedule: FeeSchedule::Flat(Amount::ZERO),
        },
    );
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(Network::Regtest, &[42; 32]).unwrap();
    let account: DerivationPath = "m/84h/1h/0h".parse().unwrap();
    let xpub = Xpub::from_priv(&secp, &master.derive_priv(&secp, &account).unwrap());
    let key = format!("[{}/84h/1h/0h]{xpub}", master.fingerprint(&secp));
    let Applied::Wallet(_) = agree(
        &mut desk,
        Change::WalletCreate(NewWalletRequest {
            name: "hot".into(),
            kind: WalletKindArg::Wpkh,
            threshold: None,
            keys: vec![key],
            policy: ApprovalPolicy::Auto {
                max_amount_sat: Amount::from_sat(100_000_000),
                registered_destination_only: true,
            },
            daily_limit: Amount::from_sat(100_000_000_000),
        }),
    ) else {
        panic!("wallet create yields the wallet")
    };
    World {
        coord: desk.coord,
        db,
        admin: desk.admin,
        requester,
        master,
        destination,
    }
}

impl World {
    /// Requests a withdrawal (approved at intake), batches it, signs it with the wallet's
    /// key and finalizes it: the session id and its transaction.
    fn pay_withdrawal(&mut self) -> (u64, u64, Transaction) {
        let now = UnixTime::from_secs(1_735_700_100);
        let request = NewWithdrawal {
            customer_id: "c1".into(),
            wallet: "hot".into(),
            destination: self.destination.to_string(),
            amount_sat: Amount::from_sat(10_000_000),
        };
        let intake = self
            .coord
            .request_withdrawal(&self.requester, "w1", &request, now)
            .unwrap();
        let withdrawal = intake.detail().withdrawal.id;
        let config = ProcessorConfig {
            sat_per_vbyte: 2,
            max_batch: 10,
            max_inputs: 10,
            max_fee: Amount::from_sat(100_000),
            instance: "processor-test".into(),
        };
        let BatchOutcome::Batched(batch) = self.coord.batch_wallet("hot", &config, now).unwrap() else {
            panic!("the deposit pays the withdrawal")
        };
        let mut psbt = self.coord.session(batch.session_id).unwrap().unwrap().psbt;
        psbt.sign(&self.master, &Secp256k1::new()).unwrap();
        let receipt = self
            .coord
            .submit_signatures(batch.session_id, &psbt, Submitter::Import(&self.requester), now)
            .unwrap();
        assert!(receipt.session_signed);
        let sent = self
            .coord
            .finalize_session(batch.session_id, "sender-test", now)
            .unwrap()
            .unwrap();
        (batch.session_id, withdrawal, sent.tx)
    }

    fn status(&mut self, withdrawal: u64) -> WithdrawalStatus {
        self.coord
            .withdrawal(&self.admin, withdrawal)
            .unwrap()
            .withdrawal
            .status
    }

    fn history(&mut self, withdrawal: u64) -> Vec<(EventKind, Option<String>)> {
        self.coord
            .withdrawal(&self.admin, withdrawal)
            .unwrap()
            .history
            .into_iter()
            .map(|e| (e.kind, e.reason))
            .collect()
    }
}

async fn pass(world: &mut World, chain: &dyn ChainBackend, settings: &MonitorSettings) -> MonitorPass {
    monitor_pass(&mut world.coord, chain, settings, INSTANCE)
        .await
        .unwrap_or_else(|e| panic!("monitor pass: {e}"))
}

/// The one test body, for either chain.
async fn monitor_follows(chain: TestChain) {
    let dir = tempfile::tempdir().unwrap();
    let mut world = world(dir.path());
    let client = chain.client();

    // A deposit of 1 BTC to the wallet; the monitor's window starts one block below it.
    let now = UnixTime::from_secs(1_735_700_050);
    let (_, deposit_address) = world
        .coord
        .next_receive_address(&world.admin, "hot", now)
        .unwrap();
    fund(&client, &[deposit_address], Amount::from_sat(100_000_000))
        .await
        .unwrap();
    let funded = client.tip().await.unwrap();
    let settings = MonitorSettings {
        min_confirmations: MIN_CONFIRMATIONS,
        start_height: funded.height - 1,
    };
    let first = pass(&mut world, &client, &settings).await;
    assert_eq!(
        first.blocks_applied, 2,
        "applies from the start height to the tip"
    );
    assert_eq!(
        world.coord.monitor_tip().unwrap(),
        Some((funded.height, funded.hash))
    );

    // New blocks confirm the withdrawal's transaction after MIN_CONFIRMATIONS.
    let (session, withdrawal, tx) = world.pay_withdrawal();
    let txid = tx.compute_txid();
    assert!(matches!(
        client.broadcast(&tx).await.unwrap(),
        Broadcast::InMempool(sent) if sent == txid
    ));
    for confirmations in 1..MIN_CONFIRMATIONS {
        mine(&client, 1).await;
        let p = pass(&mut world, &client, &settings).await;
        assert_eq!(p.blocks_applied, 1);
        assert!(
            p.confirmed.is_empty(),
            "{confirmations} confirmation(s) are not enough"
        );
        assert_eq!(world.status(withdrawal), WithdrawalStatus::Broadcast);
    }
    mine(&client, 1).await;
    let p = pass(&mut world, &client, &settings).await;
    assert_eq!(p.confirmed, vec![session]);
    assert_eq!(world.status(withdrawal), WithdrawalStatus::Confirmed);
    // It went into the first block mined after it was sent.
    let tx_height = funded.height + 1;
    let first_block = block_holding(&client, &txid, tx_height).await;
    assert_eq!(first_block.map(|(height, _)| height), Some(tx_height));

    // Stopped mid-pass: the node fails after two of four new blocks. A new monitor on the
    // same database resumes after the last block stored, fetching no block twice.
    let (stored_height, _) = world.coord.monitor_tip().unwrap().unwrap();
    mine(&client, 4).await;
    let failing = Watched::new(&client, 2);
    let failed = monitor_pass(&mut world.coord, &failing, &settings, INSTANCE).await;
    assert!(matches!(failed, Err(MonitorError::Chain(_))), "{failed:?}");
    assert_eq!(world.coord.monitor_tip().unwrap().unwrap().0, stored_height + 2);
    drop(std::mem::replace(
        &mut world.coord,
        Coordinator::open(&world.db, Some(Network::Regtest)).unwrap(),
    ));
    let watched = Watched::new(&client, usize::MAX);
    let resumed = monitor_pass(&mut world.coord, &watched, &settings, INSTANCE)
        .await
        .unwrap();
    assert_eq!(resumed.blocks_applied, 2);
    let tip = client.tip().await.unwrap();
    let expected = vec![
        client.block_hash_at(tip.height - 1).await.unwrap().unwrap(),
        tip.hash,
    ];
    assert_eq!(watched.fetched(), expected, "resumes after the stored tip");
    assert_eq!(world.coord.monitor_tip().unwrap(), Some((tip.height, tip.hash)));

    // A reorg replacing the transaction's block sends it back to broadcast; it confirms
    // again in the new branch.
    chain.reorg(tip.height - tx_height + 1).await;
    let p = pass(&mut world, &client, &settings).await;
    assert_eq!(p.reverted, vec![session], "the reorg sends the session back");
    let mut confirmed_again = p.confirmed == vec![session];
    for _ in 0..MIN_CONFIRMATIONS + 1 {
        if confirmed_again {
            break;
        }
        assert_eq!(world.status(withdrawal), WithdrawalStatus::Broadcast);
        mine(&client, 1).await;
        confirmed_again = pass(&mut world, &client, &settings).await.confirmed == vec![session];
    }
    assert!(confirmed_again, "confirmed again in the new branch");
    assert_eq!(world.status(withdrawal), WithdrawalStatus::Confirmed);
    let again = block_holding(&client, &txid, tx_height).await;
    assert!(again.is_some(), "the transaction is in the new branch");
    assert_ne!(again, first_block, "in a block of the new branch");
    let kinds: Vec<EventKind> = world.history(withdrawal).into_iter().map(|(k, _)| k).collect();
    assert!(
        kinds.ends_with(&[EventKind::Confirmed, EventKind::Broadcast, EventKind::Confirmed]),
        "{kinds:?}"
    );
    assert!(world
        .history(withdrawal)
        .iter()
        .any(|(_, reason)| reason.as_deref().is_some_and(|r| r.starts_with("reorg:"))));

    // A reorg below the first stored block: the monitor refuses and changes nothing, pass
    // after pass.
    let before = world.coord.monitor_tip().unwrap();
    let tip = client.tip().await.unwrap();
    chain.reorg(tip.height - settings.start_height + 2).await;
    for _ in 0..2 {
        match monitor_pass(&mut world.coord, &client, &settings, INSTANCE).await {
            Err(e @ MonitorError::NoCommonAncestor { lowest, .. }) => {
                assert_eq!(lowest, settings.start_height);
                assert!(
                    e.to_string().contains("none of the blocks the monitor applied"),
                    "{e}"
                );
            }
            other => panic!("a reorg deeper than the stored blocks must be refused: {other:?}"),
        }
        assert_eq!(world.coord.monitor_tip().unwrap(), before);
        assert_eq!(world.status(withdrawal), WithdrawalStatus::Confirmed);
    }
}

#[test]
fn the_monitor_follows_simnet() {
    on_simnet(monitor_follows);
}

#[test]
fn the_monitor_follows_bitcoin_core() {
    on_bitcoin_core(monitor_follows);
}
