use bitcoin::{Amount, OutPoint};
use sluice_shared::api::{EventKind, WithdrawalStatus};
use sluice_shared::descriptor::{Branch, WalletDescriptor};
use sluice_shared::inspect::{inspect_psbt, ChangeIndexBound, InspectionPolicy};
use sluice_shared::psbt_builder::fake_funding_tx;

use super::*;
use crate::rules::policy::ApprovalPolicy;
use crate::service::tests::{request, world, World, NOW};

const AUTO: ApprovalPolicy = ApprovalPolicy::Auto {
    max_amount_sat: Amount::from_sat(100_000_000),
    registered_destination_only: true,
};

fn config() -> ProcessorConfig {
    ProcessorConfig {
        sat_per_vbyte: 5,
        max_batch: 100,
        max_inputs: 50,
        max_fee: Amount::from_sat(1_000_000),
        instance: "processor-test".into(),
    }
}

fn hot(w: &World) -> WalletDescriptor {
    let record = wallets::find(w.coord.connection(), "hot").unwrap().unwrap();
    WalletDescriptor::clone(&descriptor_of(&record).unwrap())
}

/// Funds wallet "hot" with one coin per amount at receive index `i`; returns outpoints.
fn fund(w: &mut World, amounts: &[u64], confirmed: bool, salt: u32) -> Vec<OutPoint> {
    let descriptor = hot(w);
    amounts
        .iter()
        .enumerate()
        .map(|(i, sat)| {
            let index = i as u32;
            let script = descriptor.script_pubkey(Branch::Receive, index).unwrap();
            let prev_tx = fake_funding_tx(script, &[Amount::from_sat(*sat)], salt * 1000 + index);
            let coin = ObservedCoin {
                wallet: "hot",
                prev_tx: &prev_tx,
                vout: 0,
                branch: Branch::Receive,
                index,
                block_height: confirmed.then_some(100),
            };
            w.coord.record_coin(&coin, NOW).unwrap();
            OutPoint {
                txid: prev_tx.compute_txid(),
                vout: 0,
            }
        })
        .collect()
}

fn approved(w: &mut World, sats: &[u64]) -> Vec<u64> {
    sats.iter()
        .enumerate()
        .map(|(i, s)| {
            let d = w
                .coord
                .request_withdrawal(&w.rita, &format!("p{i}"), &request(*s), NOW)
                .unwrap()
                .into_detail();
            assert_eq!(d.withdrawal.status, WithdrawalStatus::Approved);
            d.withdrawal.id
        })
        .collect()
}

fn reserved_by(w: &World, outpoint: &OutPoint) -> Option<i64> {
    w.coord
        .connection()
        .query_row(
            "SELECT reserved_by_session FROM utxos WHERE txid = ?1 AND vout = ?2",
            rusqlite::params![outpoint.txid.to_string(), outpoint.vout],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn batches_approved_withdrawals_into_a_psbt_signers_accept() {
    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    let coins = fund(&mut w, &[30_000_000, 20_000_000], true, 1);
    let ids = approved(&mut w, &[10_000_000, 5_000_000, 1_000_000]);
    let BatchOutcome::Batched(batch) = w.coord.batch_wallet("hot", &config(), NOW).unwrap() else {
        panic!("expected a batch")
    };
    assert_eq!(batch.withdrawals, ids);
    assert_eq!(batch.inputs, 1, "the largest coin pays it all");
    assert!(batch.change.is_some());
    assert_eq!(reserved_by(&w, &coins[0]), Some(batch.session_id as i64));
    assert_eq!(reserved_by(&w, &coins[1]), None);

    let session = w.coord.session(batch.session_id).unwrap().unwrap();
    assert_eq!(session.withdrawals, vec![(ids[0], 0), (ids[1], 1), (ids[2], 2)]);
    let psbt = &session.psbt;
    assert!(psbt
        .inputs
        .iter()
        .all(|i| i.non_witness_utxo.is_some() && !i.bip32_derivation.is_empty()));
    assert_eq!(psbt.outputs.len(), 4);
    assert_eq!(
        psbt.outputs[3].bip32_derivation.len(),
        3,
        "change carries every cosigner's origin"
    );
    let inspected = inspect_psbt(
        psbt,
        &hot(&w),
        &InspectionPolicy {
            network: bitcoin::Network::Regtest,
            max_fee: Amount::from_sat(100_000),
            change_bound: ChangeIndexBound::with_default_gap(None),
        },
    )
    .unwrap();
    let review = inspected.review();
    assert_eq!(review.total_external(), Amount::from_sat(16_000_000));
    assert_eq!(review.fee(), batch.fee);
    assert_eq!(review.outflow(), Amount::from_sat(16_000_000) + batch.fee);
    assert_eq!(review.change()[0].derivation_index, 0);
    // At least the target rate with maximal signatures.
    let vsize_upper = psbt.unsigned_tx.weight().to_vbytes_ceil() + 3 * 100;
    assert!(
        batch.fee.to_sat() <= vsize_upper * 5,
        "fee {} looks too high",
        batch.fee
    );

    for id in ids {
        let d = w.coord.withdrawal(&w.alice, id).unwrap();
        assert_eq!(d.withdrawal.status, WithdrawalStatus::Signing);
        let kinds: Vec<EventKind> = d.history.iter().map(|e| e.kind).collect();
        // Straight from approved to signing, one event naming the session.
        assert_eq!(
            kinds[kinds.len() - 2..],
            [EventKind::Approved, EventKind::Signing]
        );
        let reason = d.history.last().unwrap().reason.clone().unwrap_or_default();
        assert!(
            reason.contains(&format!("session {}", batch.session_id)),
            "{reason}"
        );
        assert_eq!(d.history.last().unwrap().actor, "processor-test");
    }
    assert_eq!(
        w.coord.batch_wallet("hot", &config(), NOW).unwrap(),
        BatchOutcome::Idle
    );
}

#[test]
fn nothing_unapproved_is_batched() {
    let mut w = world(
        ApprovalPolicy::Manual {
            approvers_required: 2,
        },
        Amount::from_sat(10_000_000_000),
    );
    fund(&mut w, &[30_000_000], true, 1);
    let id = w
        .coord
        .request_withdrawal(&w.rita, "k", &request(1_000_000), NOW)
        .unwrap()
        .into_detail()
        .withdrawal
        .id;
    assert_eq!(
        w.coord.batch_wallet("hot", &config(), NOW).unwrap(),
        BatchOutcome::Idle
    );
    w.coord.approve(&w.alice, id, NOW).unwrap();
    assert_eq!(
        w.coord.batch_wallet("hot", &config(), NOW).unwrap(),
        BatchOutcome::Idle
    );
    w.coord.approve(&w.bob, id, NOW).unwrap();
    assert!(matches!(
        w.coord.batch_wallet("hot", &config(), NOW).unwrap(),
        BatchOutcome::Batched(_)
    ));
}

#[test]
fn quarantined_and_unconfirmed_coins_are_never_spent() {
    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    let quarantined = fund(&mut w, &[50_000_000], true, 1);
    fund(&mut w, &[40_000_000], false, 2);
    approved(&mut w, &[1_000_000]);
    let admin = w.admin.clone();
    w.coord
        .set_coin_quarantined(&admin, &quarantined[0], true, NOW)
        .unwrap();
    let outcome = w.coord.batch_wallet("hot", &config(), NOW).unwrap();
    assert!(
        matches!(outcome, BatchOutcome::Waiting { waiting: 1, .. }),
        "{outcome:?}"
    );
    w.coord
        .set_coin_quarantined(&admin, &quarantined[0], false, NOW)
        .unwrap();
    assert!(matches!(
        w.coord.batch_wallet("hot", &config(), NOW).unwrap(),
        BatchOutcome::Batched(_)
    ));
    let rita = w.rita.clone();
    assert_eq!(
        w.coord
            .set_coin_quarantined(&rita, &quarantined[0], true, NOW)
            .unwrap_err()
            .code(),
        "forbidden"
    );
    // A reserved coin cannot be reserved again, even by hand.
    let err = w
        .coord
        .connection()
        .execute(
            "UPDATE utxos SET reserved_by_session = 1 WHERE reserved_by_session IS NOT NULL",
            [],
        )
        .unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
}

#[test]
fn pays_the_oldest_withdrawals_the_funds_cover_and_keeps_the_rest_waiting() {
    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    fund(&mut w, &[10_000_000], true, 1);
    let ids = approved(&mut w, &[4_000_000, 4_000_000, 4_000_000]);
    let BatchOutcome::Batched(batch) = w.coord.batch_wallet("hot", &config(), NOW).unwrap() else {
        panic!("expected a batch")
    };
    assert_eq!(batch.withdrawals, ids[..2]);
    let outcome = w.coord.batch_wallet("hot", &config(), NOW).unwrap();
    assert!(
        matches!(outcome, BatchOutcome::Waiting { waiting: 1, .. }),
        "{outcome:?}"
    );
    assert_eq!(
        w.coord.withdrawal(&w.alice, ids[2]).unwrap().withdrawal.status,
        WithdrawalStatus::Approved
    );
    // New funds: the next step pays it from a fresh coin, never the reserved one.
    fund(&mut w, &[9_000_000], true, 2);
    let BatchOutcome::Batched(second) = w.coord.batch_wallet("hot", &config(), NOW).unwrap() else {
        panic!("expected a second batch")
    };
    assert_eq!(second.withdrawals, ids[2..]);
    let a = w
        .coord
        .session(batch.session_id)
        .unwrap()
        .unwrap()
        .psbt
        .unsigned_tx;
    let b = w
        .coord
        .session(second.session_id)
        .unwrap()
        .unwrap()
        .psbt
        .unsigned_tx;
    assert!(a
        .input
        .iter()
        .all(|i| b.input.iter().all(|j| i.previous_output != j.previous_output)));
}

/// One pass opens a session per `max_batch` withdrawals, oldest first, each spending its
/// own coins, all in one transaction; it stops where the funds stop and says why.
#[test]
fn one_pass_opens_as_many_sessions_as_the_funds_cover() {
    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    let coins = fund(&mut w, &[10_000_000, 10_000_000, 10_000_000], true, 1);
    let ids = approved(&mut w, &[4_000_000; 7]);
    let config = ProcessorConfig {
        max_batch: 2,
        max_inputs: 1,
        ..config()
    };
    let pass = w.coord.batch_wallet_pass("hot", &config, NOW).unwrap();
    let paid: Vec<Vec<u64>> = pass.opened.iter().map(|b| b.withdrawals.clone()).collect();
    assert_eq!(
        paid,
        vec![ids[0..2].to_vec(), ids[2..4].to_vec(), ids[4..6].to_vec()]
    );
    assert!(
        matches!(pass.then, Ok(BatchOutcome::Waiting { waiting: 1, .. })),
        "{:?}",
        pass.then
    );
    let mut spent: Vec<Option<i64>> = coins.iter().map(|c| reserved_by(&w, c)).collect();
    spent.sort();
    let mut sessions: Vec<Option<i64>> = pass.opened.iter().map(|b| Some(b.session_id as i64)).collect();
    sessions.sort();
    assert_eq!(spent, sessions, "each session spends its own coin");
    assert_eq!(
        w.coord.withdrawal(&w.alice, ids[6]).unwrap().withdrawal.status,
        WithdrawalStatus::Approved,
        "the one the funds do not cover waits"
    );
    for id in &ids[..6] {
        assert_eq!(
            w.coord.withdrawal(&w.alice, *id).unwrap().withdrawal.status,
            WithdrawalStatus::Signing
        );
    }
}

/// Holding partial batches: full batches are opened at once, the rest is held (nothing
/// reserved, nothing recorded) until a pass opens partial batches too.
#[test]
fn a_held_pass_opens_only_full_batches() {
    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    fund(&mut w, &[10_000_000, 10_000_000], true, 1);
    let ids = approved(&mut w, &[1_000_000; 3]);
    let config = ProcessorConfig {
        max_batch: 2,
        max_inputs: 1,
        ..config()
    };
    let held = w
        .coord
        .batch_wallet_pass_with("hot", &config, PartialBatches::Hold, NOW)
        .unwrap();
    let paid: Vec<Vec<u64>> = held.opened.iter().map(|b| b.withdrawals.clone()).collect();
    assert_eq!(paid, vec![ids[0..2].to_vec()]);
    assert!(
        matches!(held.then, Ok(BatchOutcome::Filling { waiting: 1 })),
        "{:?}",
        held.then
    );
    assert_eq!(
        w.coord.withdrawal(&w.alice, ids[2]).unwrap().withdrawal.status,
        WithdrawalStatus::Approved
    );
    let again = w
        .coord
        .batch_wallet_pass_with("hot", &config, PartialBatches::Hold, NOW)
        .unwrap();
    assert!(again.opened.is_empty());
    let open = w
        .coord
        .batch_wallet_pass_with("hot", &config, PartialBatches::Open, NOW)
        .unwrap();
    let paid: Vec<Vec<u64>> = open.opened.iter().map(|b| b.withdrawals.clone()).collect();
    assert_eq!(paid, vec![vec![ids[2]]]);
    assert!(matches!(open.then, Ok(BatchOutcome::Idle)), "{:?}", open.then);
}

/// A pass opens at most `SESSIONS_PER_COMMIT` sessions (the write lock is held for all of
/// them); the next pass goes on where it stopped.
#[test]
fn a_pass_is_bounded_and_the_next_one_goes_on() {
    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    let count = SESSIONS_PER_COMMIT + 3;
    fund(&mut w, &vec![1_000_000; count], true, 1);
    let ids = approved(&mut w, &vec![100_000; count]);
    let config = ProcessorConfig {
        max_batch: 1,
        max_inputs: 1,
        ..config()
    };
    let first = w.coord.batch_wallet_pass("hot", &config, NOW).unwrap();
    assert_eq!(first.opened.len(), SESSIONS_PER_COMMIT);
    assert!(matches!(first.then, Ok(BatchOutcome::Idle)), "{:?}", first.then);
    let second = w.coord.batch_wallet_pass("hot", &config, NOW).unwrap();
    let paid: Vec<u64> = first
        .opened
        .iter()
        .chain(&second.opened)
        .flat_map(|b| b.withdrawals.clone())
        .collect();
    assert_eq!(paid, ids, "every withdrawal once, oldest first");
    assert!(matches!(second.then, Ok(BatchOutcome::Idle)), "{:?}", second.then);
}

#[test]
fn a_coin_must_be_the_wallets_own() {
    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    let descriptor = hot(&w);
    let script = descriptor.script_pubkey(Branch::Receive, 5).unwrap();
    let prev_tx = fake_funding_tx(script, &[Amount::from_sat(1_000)], 9);
    let lie = ObservedCoin {
        wallet: "hot",
        prev_tx: &prev_tx,
        vout: 0,
        branch: Branch::Receive,
        index: 4,
        block_height: Some(1),
    };
    assert_eq!(
        w.coord.record_coin(&lie, NOW).unwrap_err().code(),
        "invalid_request"
    );
}

/// Registers two signers directly in the database: "a", with the fingerprint of the
/// wallet's first key, and "elsewhere", a key of no wallet.
fn register_a_and_elsewhere(w: &mut World) {
    use bitcoin::bip32::Fingerprint;
    use bitcoin::secp256k1::{Keypair, Secp256k1, SecretKey};
    use std::str::FromStr as _;

    let secp = Secp256k1::new();
    for (i, (name, fingerprint)) in [("a", "1bbaa5fe"), ("elsewhere", "00000001")]
        .into_iter()
        .enumerate()
    {
        let secret = SecretKey::from_slice(&[i as u8 + 1; 32]).unwrap();
        let key = Keypair::from_secret_key(&secp, &secret).x_only_public_key().0;
        w.coord
            .write_directly(|conn| {
                crate::db::signers::insert(
                    conn,
                    &key,
                    Fingerprint::from_str(fingerprint).unwrap(),
                    name,
                    "root",
                    NOW,
                )
                .unwrap()
            })
            .unwrap();
    }
}

#[test]
fn the_operations_snapshot_counts_the_queue_and_each_signers_waiting_sessions() {
    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    fund(&mut w, &[30_000_000], true, 7);
    approved(&mut w, &[10_000_000, 5_000_000]);
    register_a_and_elsewhere(&mut w);
    let before = w.coord.operations_snapshot(NOW).unwrap();
    assert!(before
        .withdrawals_by_status
        .contains(&(WithdrawalStatus::Approved, 2)));
    assert_eq!(before.sessions_waiting_by_signer["a"], 0);

    let BatchOutcome::Batched(_) = w.coord.batch_wallet("hot", &config(), NOW).unwrap() else {
        panic!("expected a batch")
    };
    let after = w.coord.operations_snapshot(NOW).unwrap();
    assert!(after
        .withdrawals_by_status
        .contains(&(WithdrawalStatus::Approved, 0)));
    assert!(after.withdrawals_by_status.iter().map(|(_, n)| n).sum::<u64>() == 2);
    assert_eq!(after.sessions_waiting_by_signer["a"], 1, "{after:?}");
    assert_eq!(after.sessions_waiting_by_signer["elsewhere"], 0, "not its wallet");
    assert_eq!((after.unsent_sessions, after.unconfirmed_broadcasts), (0, 0));
    assert!(after.audit_entries > before.audit_entries);
}

#[test]
fn a_batched_withdrawal_names_its_session_and_txid() {
    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    fund(&mut w, &[30_000_000], true, 8);
    let ids = approved(&mut w, &[10_000_000]);
    let before = w.coord.withdrawal(&w.alice, ids[0]).unwrap().withdrawal;
    assert_eq!((before.session_id, before.txid), (None, None));
    let BatchOutcome::Batched(batch) = w.coord.batch_wallet("hot", &config(), NOW).unwrap() else {
        panic!("expected a batch")
    };
    let session = w.coord.session(batch.session_id).unwrap().unwrap();
    let txid = session.psbt.unsigned_tx.compute_txid().to_string();
    let detail = w.coord.withdrawal(&w.alice, ids[0]).unwrap().withdrawal;
    assert_eq!(detail.session_id, Some(batch.session_id));
    assert_eq!(detail.txid.as_deref(), Some(txid.as_str()));
    let listed = w
        .coord
        .list_withdrawals(&w.alice, &crate::service::WithdrawalQuery::default())
        .unwrap();
    assert_eq!(listed.withdrawals[0].session_id, Some(batch.session_id));
    let json = serde_json::to_value(&detail).unwrap();
    assert_eq!(json["txid"], txid.as_str());
}

#[test]
fn sessions_are_listed_and_shown() {
    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    fund(&mut w, &[30_000_000], true, 9);
    let ids = approved(&mut w, &[10_000_000, 2_000_000]);
    assert!(w.coord.list_sessions(&w.alice, None, 10).unwrap().is_empty());
    let BatchOutcome::Batched(batch) = w.coord.batch_wallet("hot", &config(), NOW).unwrap() else {
        panic!("expected a batch")
    };
    let listed = w.coord.list_sessions(&w.alice, Some("open"), 10).unwrap();
    assert_eq!(listed.len(), 1);
    let shown = w.coord.session_summary(&w.alice, batch.session_id).unwrap();
    assert_eq!(listed[0], shown);
    assert_eq!(shown.withdrawals, ids);
    assert_eq!((shown.status.as_str(), shown.signatures), ("open", 0));
    assert_eq!(shown.block_height, None);
    assert!(w
        .coord
        .list_sessions(&w.alice, Some("signed"), 10)
        .unwrap()
        .is_empty());
    assert!(matches!(
        w.coord.list_sessions(&w.alice, Some("pending"), 10),
        Err(ServiceError::Invalid(_))
    ));
    assert!(matches!(
        w.coord.session_summary(&w.alice, 999),
        Err(ServiceError::NotFound(_))
    ));
}

#[test]
fn a_batch_is_in_the_audit_log_and_the_chain_verifies() {
    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    fund(&mut w, &[30_000_000], true, 10);
    approved(&mut w, &[10_000_000]);
    let BatchOutcome::Batched(batch) = w.coord.batch_wallet("hot", &config(), NOW).unwrap() else {
        panic!("expected a batch")
    };
    let chain = w.coord.audit_verify(None).unwrap().unwrap();
    let entries = w.coord.audit_recent(u32::MAX).unwrap();
    assert_eq!(chain.entries, entries.len());
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    for kind in [
        "withdrawal_requested",
        "approval",
        "withdrawal_status",
        "session_created",
        "wallet_added",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    let created = entries.iter().find(|e| e.kind == "session_created").unwrap();
    let body: serde_json::Value = serde_json::from_str(&created.body).unwrap();
    assert_eq!(body["id"], batch.session_id);
}

#[test]
fn balances_and_coins_show_each_coins_state() {
    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    let quarantined = fund(&mut w, &[50_000_000], true, 11);
    fund(&mut w, &[30_000_000], true, 12);
    fund(&mut w, &[40_000_000], false, 13);
    let admin = w.admin.clone();
    w.coord
        .set_coin_quarantined(&admin, &quarantined[0], true, NOW)
        .unwrap();
    approved(&mut w, &[1_000_000]);
    let BatchOutcome::Batched(_) = w.coord.batch_wallet("hot", &config(), NOW).unwrap() else {
        panic!("expected a batch")
    };
    let rita = w.rita.clone();
    let balances = w.coord.balances(&rita).unwrap();
    let hot = balances.wallets.iter().find(|b| b.wallet == "hot").unwrap();
    assert_eq!(hot.spendable_sat, Amount::ZERO, "{hot:?}");
    assert_eq!(hot.reserved_sat, Amount::from_sat(30_000_000));
    assert_eq!(hot.unconfirmed_sat, Amount::from_sat(40_000_000));
    assert_eq!(hot.quarantined_sat, Amount::from_sat(50_000_000));
    assert_eq!(hot.coins, 3);
    let coins = w.coord.coins(&rita, Some("hot"), false).unwrap().coins;
    let mut states: Vec<_> = coins.iter().map(|c| c.state).collect();
    states.sort_by_key(|s| format!("{s:?}"));
    use sluice_shared::api::CoinState;
    assert_eq!(
        states,
        [
            CoinState::Quarantined,
            CoinState::Reserved,
            CoinState::Unconfirmed
        ]
    );
    assert!(coins.iter().any(|c| c.reserved_by_session.is_some()));
    assert_eq!(
        w.coord.coins(&rita, Some("nope"), false).unwrap_err().code(),
        "unknown_wallet"
    );
}

#[test]
fn a_signers_refusal_shows_on_the_withdrawal_and_in_the_metrics_until_it_signs() {
    use sluice_shared::signer_api::RefusalReport;

    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    fund(&mut w, &[30_000_000], true, 21);
    let ids = approved(&mut w, &[1_000_000]);
    register_a_and_elsewhere(&mut w);
    let signers: Vec<_> = ["a", "elsewhere"]
        .into_iter()
        .map(|name| {
            crate::db::signers::list(w.coord.connection())
                .unwrap()
                .into_iter()
                .find(|s| s.name == name)
                .unwrap()
        })
        .collect();
    let BatchOutcome::Batched(batch) = w.coord.batch_wallet("hot", &config(), NOW).unwrap() else {
        panic!("expected a batch")
    };
    let report = |reason: &str| RefusalReport {
        reason: reason.into(),
        detail: format!("{reason}: the officers must act"),
    };
    w.coord
        .record_signer_refusal(batch.session_id, &signers[0], &report("rate"), NOW)
        .unwrap();
    let later = UnixTime::from_secs(NOW.secs() + 5);
    w.coord
        .record_signer_refusal(batch.session_id, &signers[0], &report("total_spent"), later)
        .unwrap();
    let detail = w.coord.withdrawal(&w.alice, ids[0]).unwrap();
    assert_eq!(detail.signer_refusals.len(), 1, "the latest per signer");
    assert_eq!(detail.signer_refusals[0].reason, "total_spent");
    assert_eq!(detail.signer_refusals[0].session_id, batch.session_id);

    // A signer whose keys the session does not need, an unknown reason, a control
    // character: refused, nothing recorded.
    let err = w
        .coord
        .record_signer_refusal(batch.session_id, &signers[1], &report("rate"), NOW)
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let err = w
        .coord
        .record_signer_refusal(batch.session_id, &signers[0], &report("bored"), NOW)
        .unwrap_err();
    assert_eq!(err.code(), "invalid_request");
    let bad = RefusalReport {
        reason: "rate".into(),
        detail: "a\u{1b}[31m".into(),
    };
    assert!(w
        .coord
        .record_signer_refusal(batch.session_id, &signers[0], &bad, NOW)
        .is_err());

    w.coord
        .record_signer_refusal(batch.session_id, &signers[0], &report("paused"), later)
        .unwrap();
    let snapshot = w.coord.operations_snapshot(later).unwrap();
    assert_eq!(
        snapshot.signer_refusals,
        [("a".to_owned(), "paused".to_owned(), 3)],
        "three reports, the latest paused"
    );
    assert!(snapshot.signers_paused.contains(&("a".to_owned(), true)));
    assert!(snapshot.signers_paused.contains(&("elsewhere".to_owned(), false)));
    let audited: i64 = w
        .coord
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE kind = 'signer_refusal'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, 3);
    // Each report is a webhook event: two refusals, then a pause.
    let outbox: Vec<String> = {
        let conn = w.coord.connection();
        let mut stmt = conn
            .prepare("SELECT kind FROM webhook_events WHERE kind LIKE 'signer.%' ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(outbox, ["signer.refusal", "signer.refusal", "signer.paused"]);
}

#[test]
fn a_restored_database_batches_nothing_until_an_admin_releases_it() {
    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    fund(&mut w, &[30_000_000], true, 31);
    approved(&mut w, &[1_000_000]);
    crate::db::restore_hold::hold(w.coord.connection(), NOW).unwrap();
    let outcome = w.coord.batch_wallet("hot", &config(), NOW).unwrap();
    assert!(
        matches!(&outcome, BatchOutcome::Waiting { reason, .. } if reason.contains("restore-release")),
        "{outcome:?}"
    );
    let rita = w.rita.clone();
    assert_eq!(
        w.coord
            .release_restore_hold(&rita, "checked", NOW)
            .unwrap_err()
            .code(),
        "forbidden"
    );
    let admin = w.admin.clone();
    assert!(w
        .coord
        .release_restore_hold(&admin, "checked on chain", NOW)
        .unwrap());
    assert!(!w.coord.release_restore_hold(&admin, "again", NOW).unwrap());
    assert!(matches!(
        w.coord.batch_wallet("hot", &config(), NOW).unwrap(),
        BatchOutcome::Batched(_)
    ));
}
