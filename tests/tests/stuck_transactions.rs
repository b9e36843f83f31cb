//! Stuck transactions on a real Bitcoin Core node, and the same on simnet (issue 9 item
//! 6): fee bumps and abandons, with the coordinator's own services (in process, over its database) and the
//! real `sluice-signer` binary signing every PSBT as an offline signer would (`sign`).
//!
//! A transaction is made to stick with `prioritisetransaction` and a large negative fee
//! delta: Core keeps it in its mempool but its block assembly skips it, as a miner skips a
//! transaction paying too little. Then:
//! - bump: the approver's fee bump is signed within the signers' limits (each signer's
//!   total drops by the fee increase only), Core accepts it as a BIP125 replacement, it
//!   confirms, the original is marked replaced, the withdrawals confirm;
//! - abandon: a transaction outside the session, spending the same inputs, confirms; the
//!   withdrawals return to the queue only at the configured depth and are paid again.
//!
//! The chain's own blocks then pay each withdrawal exactly once. simnet implements
//! `prioritisetransaction` and Core's modified-fee replacement and block-assembly rules
//! for this (Core is the reference).
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::path::PathBuf;
use std::process::Command;

use bitcoin::psbt::Psbt;
use bitcoin::{Address, Amount, Network, ScriptBuf, Transaction, Txid};
use serde_json::json;
use sluice_coordinator::chain::rpc_client::CoreRpcClient;
use sluice_coordinator::chain::RpcAuth;
use sluice_coordinator::rules::roles::Role;
use sluice_coordinator::service::{Actor, AdminDesk, BatchOutcome, Coordinator, ProcessorConfig};
use sluice_coordinator::time::UnixTime;
use sluice_devnet::bitcoind::Bitcoind;
use sluice_e2e::binaries::{binary, CoordinatorApi};
use sluice_e2e::bitcoind::start_bitcoind;
use sluice_e2e::hot_wallet::{line_value, set_up_hot_wallet, two_signers_and_a_cold_key};
use sluice_e2e::signer::Signer;
use sluice_shared::api::{NewWithdrawal, WithdrawalStatus};
use sluice_shared::descriptor::WalletDescriptor;
use sluice_shared::psbt_builder::{build_psbt, SpendableCoin};
use sluice_simnet::{spawn, SimnetHandle, SimnetOptions};

const NOW: UnixTime = UnixTime::from_secs(1_790_000_000);
/// The depth the monitor waits for: for `confirmed`, and for a conflicting spend.
const CONFIRMATIONS: u32 = 2;

/// The chain under test; blocks are mined only on request.
enum Chain {
    Core(Box<Bitcoind>),
    Simnet(SimnetHandle),
}

impl Chain {
    async fn start(core: bool) -> Chain {
        if core {
            Chain::Core(Box::new(start_bitcoind(&[]).await))
        } else {
            Chain::Simnet(spawn(SimnetOptions::local()).await.unwrap())
        }
    }

    fn client(&self) -> CoreRpcClient {
        match self {
            Chain::Core(node) => node.client(),
            Chain::Simnet(simnet) => CoreRpcClient::new(&simnet.url, RpcAuth::None),
        }
    }
}

struct World {
    /// The coordinator's API (the real binary), for the online signers; killed on drop.
    api: CoordinatorApi,
    _dir: tempfile::TempDir,
    dir: PathBuf,
    node: Chain,
    miner: Address,
    coord: Coordinator,
    admin: Actor,
    requester: Actor,
    approver: Actor,
    signers: Vec<Signer>,
    descriptor: WalletDescriptor,
    destination: Address,
    applied: u32,
    files: u32,
}

fn config() -> ProcessorConfig {
    ProcessorConfig {
        sat_per_vbyte: 2,
        max_batch: 10,
        max_inputs: 1,
        max_fee: Amount::from_sat(100_000),
        instance: "processor".into(),
    }
}

async fn set_up(core: bool) -> World {
    let node = Chain::start(core).await;
    let miner = Address::p2wsh(&ScriptBuf::from_bytes(vec![0x52; 2]), Network::Regtest);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (signers, keys) = two_signers_and_a_cold_key(&dir);
    let db = dir.join("coordinator.sqlite");
    let mut desk = AdminDesk::initialise(&db, Network::Regtest, ["root", "ops"], NOW).unwrap();
    let (requester, _) = desk.enroll_staff("backend", Role::Requester).unwrap();
    let (approver, _) = desk.enroll_staff("alice", Role::Approver).unwrap();
    // A destination nobody else pays: the exactly-once check counts its outputs.
    let destination = Address::p2wsh(&ScriptBuf::from_bytes(vec![0x51; 3]), Network::Regtest);
    let created = set_up_hot_wallet(&mut desk, &signers, keys, &destination.to_string());
    let identity = Command::new(binary("sluice-coordinator"))
        .arg("--db")
        .arg(&db)
        .args(["identity", "create"])
        .env_remove("SLUICE_DB")
        .output()
        .unwrap();
    assert!(identity.status.success(), "{identity:?}");
    let identity = String::from_utf8_lossy(&identity.stdout).into_owned();
    let coordinator_key = identity.lines().last().unwrap().trim().to_owned();
    for s in &signers {
        s.ok(&["coordinator", "trust", &coordinator_key]);
    }
    let api = CoordinatorApi::start(&db);
    let descriptor = WalletDescriptor::parse(&created.multipath_descriptor, None).unwrap();
    let mut addresses = Vec::new();
    for _ in 0..3 {
        addresses.push(
            desk.coord
                .next_receive_address(&desk.admin, "hot", NOW)
                .unwrap()
                .1,
        );
    }
    sluice_devnet::chain::fund(&node.client(), &addresses, Amount::ONE_BTC)
        .await
        .unwrap();
    let mut w = World {
        api,
        _dir: tmp,
        dir,
        node,
        miner,
        coord: desk.coord,
        admin: desk.admin,
        requester,
        approver,
        signers,
        descriptor,
        destination,
        applied: 0,
        files: 0,
    };
    follow(&mut w).await;
    w
}

fn client(w: &World) -> CoreRpcClient {
    w.node.client()
}

/// The monitor's step: apply Core's new blocks, confirm what is deep enough.
async fn follow(w: &mut World) {
    let tip = client(w).get_block_count().await.unwrap();
    for height in (w.applied + 1)..=tip {
        let hash = client(w).get_block_hash(height).await.unwrap();
        let block = client(w).get_block(&hash).await.unwrap();
        w.coord.apply_block(height, &block, NOW).unwrap();
    }
    w.applied = tip;
    w.coord
        .confirm_buried(tip, CONFIRMATIONS, "monitor", NOW)
        .unwrap();
}

async fn mine(w: &mut World, blocks: u32) {
    client(w).generate_to_address(blocks, &w.miner).await.unwrap();
    follow(w).await;
}

/// `sluice-signer sign` by signer `i`; the signed PSBT.
fn sign(w: &mut World, i: usize, psbt: &Psbt) -> Psbt {
    w.files += 1;
    let path = w.dir.join(format!("p{}.psbt", w.files));
    std::fs::write(&path, psbt.serialize()).unwrap();
    let out = w.dir.join(format!("p{}-signed.psbt", w.files));
    w.signers[i].ok(&[
        "sign",
        "--yes",
        "--in",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    Psbt::deserialize(&std::fs::read(out).unwrap()).unwrap()
}

/// Both online signers poll the API once: each fetches the open session `id`, checks it,
/// reserves within its limits, signs and posts; the session is then fully signed.
fn sign_session(w: &mut World, id: u64) {
    for signer in &w.signers {
        let out = signer.ok(&["online", "--coordinator", &w.api.url, "--once"]);
        assert!(!out.contains("refused"), "{out}");
    }
    let status = w.coord.session(id).unwrap().unwrap().status;
    assert_eq!(status, "signed", "session {id} after both online signers");
}

/// The sender's step for session `id`: finalize, record, send.
async fn send(w: &mut World, id: u64) -> Txid {
    let final_tx = w
        .coord
        .finalize_session(id, "sender", NOW)
        .unwrap()
        .expect("the session was signed");
    client(w).send_raw_transaction(&final_tx.tx).await.unwrap();
    final_tx.txid
}

/// Makes `txid` stick: Core keeps it in the mempool, block assembly skips it.
async fn stick(w: &World, txid: &Txid) {
    let _: bool = client(w)
        .call(
            "prioritisetransaction",
            json!([txid.to_string(), 0, -100_000_000]),
        )
        .await
        .unwrap();
}

async fn in_mempool(w: &World, txid: &Txid) -> bool {
    client(w).get_raw_mempool().await.unwrap().contains(txid)
}

fn withdraw(w: &mut World, key: &str, sat: u64) -> u64 {
    let request = NewWithdrawal {
        customer_id: "c1".into(),
        wallet: "hot".into(),
        destination: w.destination.to_string(),
        amount_sat: Amount::from_sat(sat),
    };
    w.coord
        .request_withdrawal(&w.requester, key, &request, NOW)
        .unwrap()
        .into_detail()
        .withdrawal
        .id
}

fn batch(w: &mut World) -> u64 {
    match w.coord.batch_wallet("hot", &config(), NOW).unwrap() {
        BatchOutcome::Batched(batch) => batch.session_id,
        other => panic!("expected a batch, got {other:?}"),
    }
}

fn status(w: &mut World, id: u64) -> WithdrawalStatus {
    w.coord.withdrawal(&w.admin, id).unwrap().withdrawal.status
}

/// What signer `i` has spent of its total so far.
fn spent(w: &World, i: usize) -> Amount {
    let text = w.signers[i].ok(&["limits", "show"]);
    let value = line_value(&text, "Total spent");
    Amount::from_str_in(
        value.split_whitespace().next().unwrap(),
        bitcoin::Denomination::Bitcoin,
    )
    .unwrap()
}

/// Every amount Core's chain paid to the destination, sorted.
async fn paid_on_chain(w: &World) -> Vec<u64> {
    let script = w.destination.script_pubkey();
    let tip = client(w).get_block_count().await.unwrap();
    let mut paid = Vec::new();
    for height in 1..=tip {
        let hash = client(w).get_block_hash(height).await.unwrap();
        for tx in client(w).get_block(&hash).await.unwrap().txdata {
            paid.extend(
                tx.output
                    .iter()
                    .filter(|o| o.script_pubkey == script)
                    .map(|o| o.value.to_sat()),
            );
        }
    }
    paid.sort_unstable();
    paid
}

/// A transaction outside the session spending its inputs: the signers sign a sweep of
/// the session's coins back to the wallet's change address (what an operator would do
/// to free them), finalized outside the coordinator.
fn conflicting_sweep(w: &mut World, session: u64) -> Transaction {
    let record = w.coord.session(session).unwrap().unwrap();
    let original = &record.psbt;
    let coins: Vec<SpendableCoin> = original
        .inputs
        .iter()
        .zip(&original.unsigned_tx.input)
        .map(|(input, txin)| {
            let (_, (_, path)) = input.bip32_derivation.iter().next().unwrap();
            let steps: Vec<u32> = path.into_iter().map(|c| u32::from(*c)).collect();
            let n = steps.len();
            SpendableCoin {
                outpoint: txin.previous_output,
                prev_tx: input.non_witness_utxo.clone().unwrap(),
                branch: sluice_shared::descriptor::Branch::from_number(steps[n - 2]).unwrap(),
                index: steps[n - 1],
            }
        })
        .collect();
    let total: Amount = original
        .inputs
        .iter()
        .map(|i| i.witness_utxo.as_ref().unwrap().value)
        .sum();
    let change_index = 0;
    let sweep = build_psbt(
        &w.descriptor,
        &coins,
        &[],
        Some((change_index, total - Amount::from_sat(20_000))),
        bitcoin::absolute::LockTime::ZERO,
    )
    .unwrap();
    let mut combined = sign(w, 0, &sweep);
    let other = sign(w, 1, &sweep);
    combined.combine(other).unwrap();
    sluice_shared::finalize::finalize(&combined).unwrap()
}

#[tokio::test]
async fn on_bitcoin_core_a_stuck_transaction_is_bumped_or_abandoned_and_paid_once() {
    stuck_transactions(true).await;
}

#[tokio::test]
async fn on_simnet_a_stuck_transaction_is_bumped_or_abandoned_and_paid_once() {
    stuck_transactions(false).await;
}

async fn stuck_transactions(core: bool) {
    let mut w = set_up(core).await;

    // --- A fee bump.
    let first = [
        withdraw(&mut w, "w1", 10_000_000),
        withdraw(&mut w, "w2", 5_000_000),
    ];
    let session = batch(&mut w);
    sign_session(&mut w, session);
    let original_txid = send(&mut w, session).await;
    stick(&w, &original_txid).await;
    mine(&mut w, 3).await;
    assert!(
        in_mempool(&w, &original_txid).await,
        "the original should be stuck"
    );
    assert_eq!(status(&mut w, first[0]), WithdrawalStatus::Broadcast);

    let approver = w.approver.clone();
    let bump = w.coord.bump_session(&approver, session, 20, NOW).unwrap();
    let charged_original: Vec<Amount> = (0..2).map(|i| spent(&w, i)).collect();
    sign_session(&mut w, bump.session_id);
    for (i, before) in charged_original.iter().enumerate() {
        assert_eq!(
            spent(&w, i) - *before,
            bump.fee - bump.old_fee,
            "signer {i} is charged only the fee increase"
        );
    }
    let bump_txid = send(&mut w, bump.session_id).await;
    assert!(in_mempool(&w, &bump_txid).await, "Core accepted the replacement");
    assert!(!in_mempool(&w, &original_txid).await, "and evicted the original");
    mine(&mut w, CONFIRMATIONS).await;
    assert_eq!(
        w.coord.session(bump.session_id).unwrap().unwrap().status,
        "confirmed"
    );
    assert_eq!(w.coord.session(session).unwrap().unwrap().status, "abandoned");
    for id in first {
        assert_eq!(status(&mut w, id), WithdrawalStatus::Confirmed);
    }

    // --- An abandon.
    let third = withdraw(&mut w, "w3", 7_000_000);
    let stuck_session = batch(&mut w);
    sign_session(&mut w, stuck_session);
    let stuck_txid = send(&mut w, stuck_session).await;
    stick(&w, &stuck_txid).await;
    mine(&mut w, 1).await;
    assert!(in_mempool(&w, &stuck_txid).await);
    w.coord
        .abandon_session(&approver, stuck_session, "stuck: fee too low", NOW)
        .unwrap();
    mine(&mut w, 1).await;
    assert_eq!(
        status(&mut w, third),
        WithdrawalStatus::Broadcast,
        "nothing returns yet"
    );

    let sweep = conflicting_sweep(&mut w, stuck_session);
    client(&w).send_raw_transaction(&sweep).await.unwrap();
    assert!(
        !in_mempool(&w, &stuck_txid).await,
        "the sweep replaced the stuck transaction"
    );
    mine(&mut w, 1).await;
    assert_eq!(
        status(&mut w, third),
        WithdrawalStatus::Broadcast,
        "one confirmation of the conflicting spend is not enough"
    );
    mine(&mut w, 1).await;
    assert_eq!(status(&mut w, third), WithdrawalStatus::Approved);

    let again = batch(&mut w);
    sign_session(&mut w, again);
    send(&mut w, again).await;
    mine(&mut w, CONFIRMATIONS).await;
    assert_eq!(status(&mut w, third), WithdrawalStatus::Confirmed);

    // Each signer journaled the bump as a replacement of the original, and its journal and
    // sealed state verify.
    for signer in &w.signers {
        let journal = signer.ok(&["journal", "show"]);
        assert!(
            journal.contains(&format!("\"replaces_txid\":\"{original_txid}\"")),
            "{journal}"
        );
        signer.ok(&["journal", "verify"]);
    }

    // The chain paid each withdrawal exactly once.
    assert_eq!(paid_on_chain(&w).await, vec![5_000_000, 7_000_000, 10_000_000]);

    // An abandon requested after the sender listed a session as signed wins: finalizing
    // it then records (and so sends) nothing, since the sender's claim looks for an
    // abandon in the same transaction.
    let fourth = withdraw(&mut w, "w4", 3_000_000);
    let late = batch(&mut w);
    sign_session(&mut w, late);
    assert_eq!(w.coord.signed_sessions().unwrap(), vec![late]);
    w.coord
        .abandon_session(&approver, late, "requested before it was sent", NOW)
        .unwrap();
    let finalized = w.coord.finalize_sessions(&[late], "sender", NOW).unwrap();
    assert!(
        matches!(finalized[..], [(id, Ok(None))] if id == late),
        "{finalized:?}"
    );
    assert_eq!(w.coord.session(late).unwrap().unwrap().status, "signed");
    assert_eq!(status(&mut w, fourth), WithdrawalStatus::Signed);
}
