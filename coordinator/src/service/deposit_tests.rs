//! Deposit rules at the service layer, with blocks made by hand: the per-customer
//! address policy, manual tagging by compliance (and only compliance), the amount
//! threshold, and the guards that keep deposit-wallet coins out of the coordinator's
//! hands.

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::{
    absolute, transaction, Address, Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};

use super::tests::{world, World, KEY_A, KEY_B, NOW};
use super::{Change, NewWalletRequest};
use crate::rules::deposits::{AddressPolicy, DepositSettings, DepositStatus};
use crate::rules::policy::ApprovalPolicy;
use crate::wallet_spec::WalletKindArg;
use sluice_shared::descriptor::{Branch, SWEEP_INDEX_BASE, SWEEP_LOOKAHEAD};

fn deposit_world(policy: AddressPolicy) -> World {
    let mut w = world(
        ApprovalPolicy::Manual {
            approvers_required: 2,
        },
        Amount::from_sat(100_000_000_000),
    );
    w.change(Change::WalletCreate(NewWalletRequest {
        name: "deposits".into(),
        kind: WalletKindArg::Wpkh,
        threshold: None,
        keys: vec![KEY_B.into()],
        policy: ApprovalPolicy::Manual {
            approvers_required: 2,
        },
        daily_limit: Amount::ZERO,
    }))
    .unwrap();
    w.change(Change::DepositWallet {
        wallet: "deposits".into(),
        settings: DepositSettings {
            address_policy: policy,
            gap_limit: 5,
            credit_confirmations: 1,
            tag_above_sat: Some(Amount::from_sat(1_000_000)),
        },
    })
    .unwrap();
    w
}

/// A block on `prev` with one transaction paying `outputs` (from a made-up coin).
fn block(prev: BlockHash, outputs: &[(Address, u64)], salt: u8) -> Block {
    let coinbase = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(vec![1, salt]),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![],
    };
    let payment = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array([salt; 32]),
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: outputs
            .iter()
            .map(|(a, sat)| TxOut {
                value: Amount::from_sat(*sat),
                script_pubkey: a.script_pubkey(),
            })
            .collect(),
    };
    Block {
        header: Header {
            version: Version::TWO,
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time: 0,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: u32::from(salt),
        },
        txdata: vec![coinbase, payment],
    }
}

fn address(text: &str) -> Address {
    text.parse::<Address<_>>().unwrap().assume_checked()
}

#[test]
fn per_customer_policy_hands_a_customer_the_same_address() {
    let mut w = deposit_world(AddressPolicy::PerCustomer);
    let first = w
        .coord
        .issue_deposit_address(&w.rita, "deposits", "c1", NOW)
        .unwrap();
    let again = w
        .coord
        .issue_deposit_address(&w.rita, "deposits", "c1", NOW)
        .unwrap();
    assert_eq!(first, again);
    let unknown = w
        .coord
        .issue_deposit_address(&w.rita, "deposits", "c9", NOW)
        .unwrap_err();
    assert_eq!(unknown.code(), "not_found");
    let not_deposit = w
        .coord
        .issue_deposit_address(&w.rita, "hot", "c1", NOW)
        .unwrap_err();
    assert_eq!(not_deposit.code(), "not_a_deposit_wallet");
    let approver = w
        .coord
        .issue_deposit_address(&w.alice, "deposits", "c1", NOW)
        .unwrap_err();
    assert_eq!(approver.code(), "forbidden");
}

#[test]
fn compliance_tags_by_hand_and_a_tag_is_never_undone() {
    let mut w = deposit_world(AddressPolicy::PerRequest);
    let small = address(
        &w.coord
            .issue_deposit_address(&w.rita, "deposits", "c1", NOW)
            .unwrap()
            .address,
    );
    let large = address(
        &w.coord
            .issue_deposit_address(&w.rita, "deposits", "c1", NOW)
            .unwrap()
            .address,
    );
    let first = block(BlockHash::all_zeros(), &[(small, 50_000), (large, 2_000_000)], 1);
    w.coord.apply_block(10, &first, NOW).unwrap();
    let ledger = w.coord.deposits(&w.cora, None, None, 10).unwrap();
    assert_eq!(ledger.len(), 2);
    let (small_id, large) = (ledger[1].deposit.id, &ledger[0]);
    assert_eq!(
        ledger[1].deposit.status,
        DepositStatus::Credited,
        "1 confirmation credits here"
    );
    assert_eq!(large.deposit.status, DepositStatus::Tagged);
    assert_eq!(large.tags[0].rule, "amount_threshold");

    let by_requester = w
        .coord
        .tag_deposit(&w.rita, small_id, "looks odd", NOW)
        .unwrap_err();
    assert_eq!(by_requester.code(), "forbidden");
    w.coord
        .tag_deposit(&w.cora, small_id, "court order 17", NOW)
        .unwrap();
    let tagged = w.coord.deposit(&w.admin, small_id).unwrap();
    assert_eq!(tagged.deposit.status, DepositStatus::Tagged);
    assert_eq!(tagged.tags[0].rule, "manual");
    assert!(tagged.events.last().unwrap().note.contains("credit is withdrawn"));
    // The tag is in the webhook outbox, in the same transaction.
    let outbox: i64 = w
        .coord
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM webhook_events WHERE kind = 'deposit.tagged' AND json_extract(payload, '$.deposit_id') = ?1",
            [i64::try_from(small_id).unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(outbox, 1);
    assert_eq!(
        w.coord
            .tag_deposit(&w.cora, small_id, "again", NOW)
            .unwrap_err()
            .code(),
        "already_tagged"
    );
    // The schema refuses what the code never does.
    for sql in [
        format!("UPDATE deposits SET status = 'credited' WHERE id = {small_id}"),
        format!("UPDATE deposits SET status = 'pending' WHERE id = {small_id}"),
        format!("DELETE FROM deposit_tags WHERE deposit_id = {small_id}"),
        format!("DELETE FROM deposits WHERE id = {small_id}"),
    ] {
        assert!(w.coord.connection().execute_batch(&sql).is_err(), "{sql}");
    }
    let audit = w.coord.connection();
    let logged: i64 = audit
        .query_row(
            "SELECT COUNT(*) FROM admin_events WHERE action = 'deposit tag' AND actor = 'cora'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(logged, 1);
}

#[test]
fn a_deposit_wallet_is_never_the_coordinators_to_spend() {
    let mut w = deposit_world(AddressPolicy::PerRequest);
    // No coin of it can be recorded (so coin selection never sees one).
    let insert_coin =
        "INSERT INTO utxos (txid, vout, wallet, branch, derivation_index, amount_sat, prev_tx, observed_at) \
                       VALUES ('aa', 0, 'deposits', 0, 0, 1000, '00', 0)";
    let refused = w
        .coord
        .connection()
        .execute_batch(insert_coin)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("never the coordinator's to spend"), "{refused}");
    // Its receive addresses come only from deposit issuance.
    let admin_address = w
        .coord
        .next_receive_address(&w.admin, "deposits", NOW)
        .unwrap_err();
    assert_eq!(admin_address.code(), "conflict");
    assert!(
        admin_address.to_string().contains("deposit address"),
        "{admin_address}"
    );
    // A wallet the coordinator already used cannot become a deposit wallet.
    w.coord.next_receive_address(&w.admin, "hot", NOW).unwrap();
    let used = w
        .change(Change::DepositWallet {
            wallet: "hot".into(),
            settings: DepositSettings {
                address_policy: AddressPolicy::PerRequest,
                gap_limit: 5,
                credit_confirmations: 1,
                tag_above_sat: None,
            },
        })
        .unwrap_err();
    assert_eq!(used.code(), "conflict", "{used}");
    // A fresh wallet is fine; KEY_A alone is not yet a wallet.
    w.change(Change::WalletCreate(NewWalletRequest {
        name: "deposits2".into(),
        kind: WalletKindArg::Wpkh,
        threshold: None,
        keys: vec![KEY_A.into()],
        policy: ApprovalPolicy::Manual {
            approvers_required: 2,
        },
        daily_limit: Amount::ZERO,
    }))
    .unwrap();
}

#[test]
fn a_tagged_deposit_is_resolved_by_compliance_and_an_approver() {
    use super::ResolutionAction;
    let mut w = deposit_world(AddressPolicy::PerRequest);
    let small = address(
        &w.coord
            .issue_deposit_address(&w.rita, "deposits", "c1", NOW)
            .unwrap()
            .address,
    );
    let large = address(
        &w.coord
            .issue_deposit_address(&w.rita, "deposits", "c1", NOW)
            .unwrap()
            .address,
    );
    w.coord
        .apply_block(
            10,
            &block(BlockHash::all_zeros(), &[(small, 50_000), (large, 2_000_000)], 2),
            NOW,
        )
        .unwrap();
    let ledger = w.coord.deposits(&w.cora, None, None, 10).unwrap();
    let (credited, tagged) = (ledger[1].deposit.id, ledger[0].deposit.id);
    let owner = super::tests::regtest_address(5).to_string();

    let not_tagged = w
        .coord
        .propose_resolution(
            &w.cora,
            credited,
            ResolutionAction::ReturnToOwner,
            &owner,
            "x",
            NOW,
        )
        .unwrap_err();
    assert_eq!(not_tagged.code(), "not_tagged");
    let by_approver = w
        .coord
        .propose_resolution(
            &w.alice,
            tagged,
            ResolutionAction::ReturnToOwner,
            &owner,
            "x",
            NOW,
        )
        .unwrap_err();
    assert_eq!(by_approver.code(), "forbidden");
    let mainnet = w
        .coord
        .propose_resolution(
            &w.cora,
            tagged,
            ResolutionAction::ReturnToOwner,
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "x",
            NOW,
        )
        .unwrap_err();
    assert_eq!(mainnet.code(), "wrong_network");

    let proposed = w
        .coord
        .propose_resolution(
            &w.cora,
            tagged,
            ResolutionAction::ReturnToOwner,
            &owner,
            "owner proved it",
            NOW,
        )
        .unwrap();
    assert_eq!(proposed.status, "pending");
    let twice = w
        .coord
        .propose_resolution(
            &w.cora,
            tagged,
            ResolutionAction::TransferToAuthority,
            &owner,
            "y",
            NOW,
        )
        .unwrap_err();
    assert_eq!(twice.code(), "conflict");
    // Compliance cannot approve its own proposal (nor any: it is not an approver).
    assert_eq!(
        w.coord
            .decide_resolution(&w.cora, proposed.id, true, "ok", NOW)
            .unwrap_err()
            .code(),
        "forbidden"
    );
    let approved = w
        .coord
        .decide_resolution(&w.alice, proposed.id, true, "checked the case", NOW)
        .unwrap();
    assert_eq!(
        (approved.status.as_str(), approved.decided_by.as_deref()),
        ("approved", Some("alice"))
    );
    assert_eq!(
        w.coord
            .decide_resolution(&w.bob, proposed.id, false, "late", NOW)
            .unwrap_err()
            .code(),
        "conflict"
    );
    let history: Vec<String> = w
        .coord
        .deposit(&w.admin, tagged)
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        history.ends_with(&["resolution_proposed".to_owned(), "resolution_approved".to_owned()]),
        "{history:?}"
    );
    // The deposit stays tagged: the coordinator never spends it; the shadow does.
    assert_eq!(
        w.coord.deposit(&w.admin, tagged).unwrap().deposit.status,
        DepositStatus::Tagged
    );
    assert!(w
        .coord
        .connection()
        .execute_batch(&format!(
            "UPDATE deposit_resolutions SET destination = 'x' WHERE id = {}",
            proposed.id
        ))
        .is_err());

    // Every step above is an entry of the signed audit log, and the chain verifies.
    let kinds: Vec<String> = w
        .coord
        .audit_recent(1_000)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for kind in [
        "deposit_wallet",
        "deposit_address",
        "deposit",
        "deposit_event",
        "deposit_tag",
        "deposit_resolution",
        "deposit_resolution_decided",
        "kyc_event",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} entry in {kinds:?}");
    }
    assert!(w.coord.audit_verify(None).unwrap().is_ok());
}

/// The address of `wallet` at receive `index`, derived as the shadow derives it.
fn receive_address(w: &World, wallet: &str, index: u32) -> Address {
    let record = crate::db::wallets::find(w.coord.connection(), wallet)
        .unwrap()
        .unwrap();
    super::wallets::descriptor_of(&record)
        .unwrap()
        .address(Branch::Receive, index, bitcoin::Network::Regtest)
        .unwrap()
}

#[test]
fn a_sweep_to_a_reserved_treasury_index_becomes_a_spendable_coin_of_that_wallet() {
    let mut w = deposit_world(AddressPolicy::PerRequest);
    let first = receive_address(&w, "hot", SWEEP_INDEX_BASE);
    let last_watched = receive_address(&w, "hot", SWEEP_INDEX_BASE + SWEEP_LOOKAHEAD - 1);
    let beyond = receive_address(&w, "hot", SWEEP_INDEX_BASE + SWEEP_LOOKAHEAD);
    // The deposit wallet is the shadow's to spend, never a sweep target.
    let deposit_reserved = receive_address(&w, "deposits", SWEEP_INDEX_BASE);
    let one = block(
        BlockHash::all_zeros(),
        &[
            (first.clone(), 40_000),
            (beyond.clone(), 50_000),
            (deposit_reserved, 60_000),
        ],
        1,
    );
    w.coord.apply_block(10, &one, NOW).unwrap();
    let coins = w.coord.coins(&w.admin, None, false).unwrap().coins;
    assert_eq!(coins.len(), 1, "only the watched reserved address: {coins:?}");
    assert_eq!(coins[0].wallet, "hot");
    assert_eq!(coins[0].amount_sat, Amount::from_sat(40_000));
    assert_eq!(coins[0].state, sluice_shared::api::CoinState::Spendable);
    assert!(w.coord.deposits(&w.cora, None, None, 10).unwrap().is_empty());

    // Seeing index BASE moved the window: BASE + LOOKAHEAD is watched now.
    let two = block(one.block_hash(), &[(beyond, 70_000), (last_watched, 80_000)], 2);
    w.coord.apply_block(11, &two, NOW).unwrap();
    let mut hot: Vec<u64> = w
        .coord
        .coins(&w.admin, Some("hot"), false)
        .unwrap()
        .coins
        .iter()
        .map(|c| c.amount_sat.to_sat())
        .collect();
    hot.sort_unstable();
    assert_eq!(hot, [40_000, 70_000, 80_000]);
}

#[test]
fn receive_addresses_are_never_handed_out_from_the_sweep_range() {
    let mut w = deposit_world(AddressPolicy::PerRequest);
    let (index, _) = w.coord.next_receive_address(&w.admin, "hot", NOW).unwrap();
    assert_eq!(index, 0);
    w.coord
        .connection()
        .execute(
            "UPDATE wallets SET next_receive_index = ?1 WHERE name = 'hot'",
            [SWEEP_INDEX_BASE - 1],
        )
        .unwrap();
    let (index, _) = w.coord.next_receive_address(&w.admin, "hot", NOW).unwrap();
    assert_eq!(index, SWEEP_INDEX_BASE - 1);
    let err = w.coord.next_receive_address(&w.admin, "hot", NOW).unwrap_err();
    assert!(err.to_string().contains("used every"), "{err}");
}
