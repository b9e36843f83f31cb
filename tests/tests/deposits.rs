//! Deposits through the monitor (`sluice_coordinator::service::monitor_pass`), in process,
//! with one test body on both chain backends: an in-process simnet node and a real
//! `bitcoind -regtest`. A deposit wallet (public keys only, marked through a proposal)
//! issues addresses to customers within its gap limit; one funding transaction pays
//! several of them and an address issued to no one; the monitor records each output as a
//! deposit, tags the unverified customer's, credits the others after the wallet's
//! confirmations, reverses a credit when a reorg takes its block away and credits it
//! again in the new branch; a deposit spending a blocklisted outpoint is tagged on
//! receive; the coordinator never records a deposit-wallet coin as its own.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Address, Amount, Network, OutPoint};
use sluice_coordinator::chain::ChainBackend;
use sluice_coordinator::rules::deposits::{AddressPolicy, DepositSettings, DepositStatus};
use sluice_coordinator::rules::kyc::KycStatus;
use sluice_coordinator::rules::policy::ApprovalPolicy;
use sluice_coordinator::rules::roles::Role;
use sluice_coordinator::service::{
    mempool_pass, monitor_pass, Actor, AdminDesk, Applied, Change, Coordinator, DepositDetail, MempoolWatch,
    MonitorSettings, NewWalletRequest,
};
use sluice_coordinator::time::UnixTime;
use sluice_coordinator::wallet_spec::WalletKindArg;
use sluice_devnet::chain::{fund, fund_unconfirmed};
use sluice_shared::api::NewWithdrawal;
use sluice_shared::descriptor::{Branch, WalletDescriptor};

const NOW: UnixTime = UnixTime::from_secs(1_735_700_000);
const CREDIT_AFTER: u32 = 2;
const GAP: u32 = 3;

use sluice_e2e::test_chain::{address_of, mine, on_bitcoin_core, on_simnet, TestChain};

struct World {
    coord: Coordinator,
    backend: Actor,
    compliance: Actor,
    descriptor: WalletDescriptor,
}

/// A coordinator with deposit wallet "deposits" (`wpkh` of a key only the shadow would
/// hold; the coordinator sees its xpub), a requester, a compliance officer, and
/// customers c1 and c3 (verified by compliance) and c2 (left unverified).
fn world(dir: &std::path::Path) -> World {
    let db = dir.join("coordinator.sqlite");
    let mut desk = AdminDesk::initialise(&db, Network::Regtest, ["root", "ops"], NOW).unwrap();
    let (backend, _) = desk.enroll_staff("backend", Role::Requester).unwrap();
    let (compliance, _) = desk.enroll_staff("cora", Role::Compliance).unwrap();
    for customer in ["c1", "c2", "c3"] {
        desk.coord.add_customer(&desk.admin, customer, NOW).unwrap();
    }
    for customer in ["c1", "c3"] {
        desk.coord
            .set_kyc(
                &compliance,
                customer,
                KycStatus::Verified { until: None },
                "passport checked",
                NOW,
            )
            .unwrap();
    }
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(Network::Regtest, &[43; 32]).unwrap();
    let account: DerivationPath = "m/84h/1h/0h".parse().unwrap();
    let xpub = Xpub::from_priv(&secp, &master.derive_priv(&secp, &account).unwrap());
    let key = format!("[{}/84h/1h/0h]{xpub}", master.fingerprint(&secp));
    let Applied::Wallet(created) = desk
        .agree(Change::WalletCreate(NewWalletRequest {
            name: "deposits".into(),
            kind: WalletKindArg::Wpkh,
            threshold: None,
            keys: vec![key],
            policy: ApprovalPolicy::Manual {
                approvers_required: 2,
            },
            daily_limit: Amount::ZERO,
        }))
        .unwrap()
    else {
        panic!("wallet create yields the wallet")
    };
    desk.agree(Change::DepositWallet {
        wallet: "deposits".into(),
        settings: DepositSettings {
            address_policy: AddressPolicy::PerRequest,
            gap_limit: GAP,
            credit_confirmations: CREDIT_AFTER,
            tag_above_sat: Some(Amount::from_sat(500_000_000)),
        },
    })
    .unwrap();
    let descriptor =
        WalletDescriptor::parse(&created.receive_descriptor, Some(&created.change_descriptor)).unwrap();
    World {
        coord: desk.coord,
        backend,
        compliance,
        descriptor,
    }
}

impl World {
    fn issue(&mut self, customer: &str) -> Address {
        let issued = self
            .coord
            .issue_deposit_address(&self.backend, "deposits", customer, NOW)
            .unwrap();
        // The address derives from the deposit descriptor at the recorded index (what
        // the shadow will check).
        let derived = self
            .descriptor
            .address(Branch::Receive, issued.index, Network::Regtest)
            .unwrap();
        assert_eq!(issued.address, derived.to_string());
        derived
    }

    fn deposit_to(&mut self, address: &Address) -> DepositDetail {
        let all = self.coord.deposits(&self.compliance, None, None, 100).unwrap();
        let mut found: Vec<DepositDetail> = all
            .into_iter()
            .filter(|d| d.deposit.address == address.to_string())
            .collect();
        assert_eq!(found.len(), 1, "one deposit to {address}");
        found.remove(0)
    }

    fn kinds(&mut self, address: &Address) -> Vec<String> {
        self.deposit_to(address)
            .events
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }
}

async fn pass(world: &mut World, chain: &dyn ChainBackend, settings: &MonitorSettings) {
    monitor_pass(&mut world.coord, chain, settings, "deposit-test")
        .await
        .unwrap_or_else(|e| panic!("monitor pass: {e}"));
}

async fn deposits_follow(chain: TestChain) {
    let dir = tempfile::tempdir().unwrap();
    let mut world = world(dir.path());
    let client = chain.client();

    // Issuing: a new address per request, refused past the gap limit.
    let c1_first = world.issue("c1");
    let c1_second = world.issue("c1");
    assert_ne!(c1_first, c1_second, "per request: a new address each time");
    let c2_address = world.issue("c2");
    let refused = world
        .coord
        .issue_deposit_address(&world.backend, "deposits", "c3", NOW)
        .unwrap_err();
    assert_eq!(refused.code(), "gap_limit", "{refused}");
    // Index 3 is issued to no one, but inside the gap window the monitor watches.
    let nobodys = world
        .descriptor
        .address(Branch::Receive, 3, Network::Regtest)
        .unwrap();

    // One transaction pays all four. While it is in the mempool, the four payments are
    // unconfirmed deposits (pending, not in the ledger); mined, they leave that list for
    // the ledger.
    let amount = Amount::from_sat(50_000_000);
    let funding = fund_unconfirmed(
        &client,
        &[
            c1_first.clone(),
            c1_second.clone(),
            c2_address.clone(),
            nobodys.clone(),
        ],
        amount,
    )
    .await
    .unwrap();
    let settings = MonitorSettings {
        min_confirmations: 3,
        start_height: client.tip().await.unwrap().height,
    };
    pass(&mut world, &client, &settings).await;
    let mut mempool = MempoolWatch::default();
    let unconfirmed_count = mempool_pass(&mut world.coord, &client, &mut mempool)
        .await
        .unwrap();
    assert_eq!(unconfirmed_count, 4);
    let unconfirmed = world.coord.unconfirmed_deposits(&world.backend, None).unwrap();
    let mut customers: Vec<Option<&str>> = unconfirmed.iter().map(|d| d.customer.as_deref()).collect();
    customers.sort();
    assert_eq!(customers, [None, Some("c1"), Some("c1"), Some("c2")]);
    assert!(unconfirmed
        .iter()
        .all(|d| d.outpoint.txid == funding && d.amount == amount));
    assert_eq!(
        world
            .coord
            .unconfirmed_deposits(&world.backend, Some("c2"))
            .unwrap()[0]
            .address,
        c2_address.to_string()
    );
    assert!(
        world
            .coord
            .deposits(&world.compliance, None, None, 100)
            .unwrap()
            .is_empty(),
        "nothing in the ledger before a block"
    );
    mine(&client, 1).await;
    let funded = client.tip().await.unwrap();
    pass(&mut world, &client, &settings).await;
    assert_eq!(
        mempool_pass(&mut world.coord, &client, &mut mempool)
            .await
            .unwrap(),
        0
    );
    assert!(world
        .coord
        .unconfirmed_deposits(&world.backend, None)
        .unwrap()
        .is_empty());
    for address in [&c1_first, &c1_second] {
        let d = world.deposit_to(address);
        assert_eq!(
            d.deposit.status,
            DepositStatus::Pending,
            "1 confirmation of {CREDIT_AFTER}"
        );
        assert_eq!(d.confirmations, 1);
        assert_eq!(d.deposit.amount, amount);
        assert_eq!(d.deposit.customer.as_deref(), Some("c1"));
    }
    let unverified = world.deposit_to(&c2_address);
    assert_eq!(unverified.deposit.status, DepositStatus::Tagged);
    assert_eq!(unverified.tags[0].rule, "kyc");
    let unassigned = world.deposit_to(&nobodys);
    assert_eq!(unassigned.deposit.status, DepositStatus::Unassigned);
    assert_eq!(unassigned.deposit.customer, None);
    let listed = world
        .coord
        .deposit_addresses(&world.compliance, Some("deposits"), None)
        .unwrap();
    assert_eq!(listed.len(), 4, "the unassigned address is listed too");
    assert_eq!(listed[3].customer, None);

    // The wallet's second confirmation credits c1's deposits, and only those.
    mine(&client, 1).await;
    pass(&mut world, &client, &settings).await;
    for address in [&c1_first, &c1_second] {
        assert_eq!(world.deposit_to(address).deposit.status, DepositStatus::Credited);
    }
    assert_eq!(
        world.deposit_to(&c2_address).deposit.status,
        DepositStatus::Tagged
    );
    assert_eq!(
        world.deposit_to(&nobodys).deposit.status,
        DepositStatus::Unassigned
    );

    // A reorg that takes the deposits' block away reverses the credits, with history;
    // in the new branch they are seen again and credited again.
    let tip = client.tip().await.unwrap();
    chain.reorg(tip.height - funded.height + 1).await;
    pass(&mut world, &client, &settings).await;
    let history = world.deposit_to(&c1_first).events;
    let reversal = history
        .iter()
        .find(|e| e.kind == "reversed")
        .expect("a reversal row");
    assert!(reversal.note.contains("credit"), "{}", reversal.note);
    for _ in 0..=CREDIT_AFTER {
        if world.deposit_to(&c1_first).deposit.status == DepositStatus::Credited {
            break;
        }
        mine(&client, 1).await;
        pass(&mut world, &client, &settings).await;
    }
    for address in [&c1_first, &c1_second] {
        assert_eq!(world.deposit_to(address).deposit.status, DepositStatus::Credited);
        assert!(
            world.kinds(address).ends_with(&[
                "credited".to_owned(),
                "reversed".to_owned(),
                "seen_again".to_owned(),
                "credited".to_owned()
            ]),
            "{:?}",
            world.kinds(address)
        );
    }
    assert_eq!(
        world.deposit_to(&c2_address).deposit.status,
        DepositStatus::Tagged
    );

    // A deposit spending a blocklisted outpoint is tagged on receive. (The funding
    // transaction is mined before the monitor sees it: its input is known by then.)
    let c3_address = world.issue("c3");
    let txid = fund(&client, std::slice::from_ref(&c3_address), amount)
        .await
        .unwrap();
    let tip = client.tip().await.unwrap();
    let block = client.block(&tip.hash).await.unwrap();
    let funding = block.txdata.iter().find(|t| t.compute_txid() == txid).unwrap();
    let source: OutPoint = funding.input[0].previous_output;
    let file = format!("# seized coins\n{source}  # case 2026-17\n");
    let forbidden = world
        .coord
        .import_blocklist(&world.backend, &file, "case.txt", NOW)
        .unwrap_err();
    assert_eq!(forbidden.code(), "forbidden");
    let imported = world
        .coord
        .import_blocklist(&world.compliance, &file, "case.txt", NOW)
        .unwrap();
    assert_eq!(imported.added, 1);
    pass(&mut world, &client, &settings).await;
    mine(&client, CREDIT_AFTER).await;
    pass(&mut world, &client, &settings).await;
    let tainted = world.deposit_to(&c3_address);
    assert_eq!(tainted.deposit.status, DepositStatus::Tagged, "never credited");
    assert_eq!(tainted.tags[0].rule, "blocklist");
    assert!(tainted.tags[0].detail.contains(&source.to_string()));

    // None of it is the coordinator's to spend: no coin recorded, no withdrawal taken.
    let coins: i64 = world
        .coord
        .connection()
        .query_row("SELECT COUNT(*) FROM utxos WHERE wallet = 'deposits'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(coins, 0);
    let request = NewWithdrawal {
        customer_id: "c1".into(),
        wallet: "deposits".into(),
        destination: address_of(7).to_string(),
        amount_sat: Amount::from_sat(10_000),
    };
    let refused = world
        .coord
        .request_withdrawal(&world.backend, "from-deposits", &request, NOW)
        .unwrap_err();
    assert_eq!(refused.code(), "deposit_wallet", "{refused}");
}

#[test]
fn deposits_are_credited_tagged_and_reversed_on_simnet() {
    on_simnet(deposits_follow);
}

#[test]
fn deposits_are_credited_tagged_and_reversed_on_bitcoin_core() {
    on_bitcoin_core(deposits_follow);
}
