//! Fee bumps and abandons through the service layer (issue 9 item 6). Signing is not
//! what is tested here: `send` moves a session to `broadcast` the way the signers and the
//! sender would and records its unsigned transaction (the same txid) as sent; blocks are
//! built by hand and applied by the monitor's own code.

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::{
    absolute, transaction, Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxMerkleNode, TxOut, Witness,
};
use sluice_shared::api::{EventKind, WithdrawalStatus};
use sluice_shared::descriptor::Branch;
use sluice_shared::psbt_builder::fake_funding_tx;

use super::tests::{request, world, World, NOW};
use super::*;
use crate::db::utxos::ObservedCoin;
use crate::db::{broadcasts, session_groups, sessions, wallets, withdrawals};
use crate::rules::policy::ApprovalPolicy;
use crate::time::UnixTime;

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

fn fund(w: &mut World, sat: u64, index: u32, salt: u32) -> OutPoint {
    let record = wallets::find(w.coord.connection(), "hot").unwrap().unwrap();
    let descriptor = super::wallets::descriptor_of(&record).unwrap();
    let script = descriptor.script_pubkey(Branch::Receive, index).unwrap();
    let prev_tx = fake_funding_tx(script, &[Amount::from_sat(sat)], salt);
    w.coord
        .record_coin(
            &ObservedCoin {
                wallet: "hot",
                prev_tx: &prev_tx,
                vout: 0,
                branch: Branch::Receive,
                index,
                block_height: Some(1),
            },
            NOW,
        )
        .unwrap();
    OutPoint {
        txid: prev_tx.compute_txid(),
        vout: 0,
    }
}

/// One funded wallet, two approved withdrawals batched into a session that is sent.
struct Stuck {
    w: World,
    session: u64,
    withdrawals: Vec<u64>,
    tip: Option<(u32, BlockHash)>,
}

fn stuck() -> Stuck {
    let mut w = world(AUTO, Amount::from_sat(10_000_000_000));
    fund(&mut w, 30_000_000, 0, 1);
    let ids: Vec<u64> = [10_000_000u64, 5_000_000]
        .iter()
        .enumerate()
        .map(|(i, sat)| {
            w.coord
                .request_withdrawal(&w.rita, &format!("p{i}"), &request(*sat), NOW)
                .unwrap()
                .into_detail()
                .withdrawal
                .id
        })
        .collect();
    let BatchOutcome::Batched(batch) = w.coord.batch_wallet("hot", &config(), NOW).unwrap() else {
        panic!("expected a batch")
    };
    let mut s = Stuck {
        w,
        session: batch.session_id,
        withdrawals: ids,
        tip: None,
    };
    send(&mut s, batch.session_id);
    s
}

/// What the signers and the sender do, without signatures: `open → signed → broadcast`,
/// the withdrawals along (not for a bump), and the transaction recorded as sent.
fn send(s: &mut Stuck, id: u64) {
    s.w.coord.write_directly(|conn| send_in(conn, id)).unwrap();
}

fn send_in(conn: &rusqlite::Connection, id: u64) {
    let session = sessions::find(conn, id).unwrap().unwrap();
    assert!(sessions::transition(conn, id, "open", "signed", NOW).unwrap());
    assert!(sessions::transition(conn, id, "signed", "broadcast", NOW).unwrap());
    if session_groups::replacement_of(conn, id).unwrap().is_none() {
        for (wd, _) in &session.withdrawals {
            withdrawals::set_status(
                conn,
                *wd,
                WithdrawalStatus::Signing,
                WithdrawalStatus::Signed,
                NOW,
            )
            .unwrap();
            withdrawals::set_status(
                conn,
                *wd,
                WithdrawalStatus::Signed,
                WithdrawalStatus::Broadcast,
                NOW,
            )
            .unwrap();
        }
    }
    broadcasts::insert(conn, id, &session.psbt.unsigned_tx, NOW).unwrap();
}

fn tx_of(s: &Stuck, id: u64) -> Transaction {
    sessions::find(s.w.coord.connection(), id)
        .unwrap()
        .unwrap()
        .psbt
        .unsigned_tx
}

fn coinbase(height: u32) -> Transaction {
    let mut script = ScriptBuf::new();
    script.push_slice(height.to_le_bytes());
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: script,
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(50),
            script_pubkey: ScriptBuf::new(),
        }],
    }
}

/// Mines `txs` in the next block and lets the monitor apply it and confirm at depth
/// `min_conf`; returns the height.
fn mine(s: &mut Stuck, txs: Vec<Transaction>, min_conf: u32) -> u32 {
    let (height, prev) = match s.tip {
        Some((h, hash)) => (h + 1, hash),
        None => (10, BlockHash::all_zeros()),
    };
    let mut txdata = vec![coinbase(height)];
    txdata.extend(txs);
    let block = Block {
        header: Header {
            version: Version::TWO,
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time: height,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata,
    };
    s.w.coord.apply_block(height, &block, NOW).unwrap();
    s.tip = Some((height, block.block_hash()));
    s.w.coord
        .confirm_buried(height, min_conf, "monitor-test", NOW)
        .unwrap();
    height
}

fn status(s: &mut Stuck, id: u64) -> WithdrawalStatus {
    s.w.coord.withdrawal(&s.w.alice, id).unwrap().withdrawal.status
}

fn events(s: &mut Stuck, id: u64) -> Vec<EventKind> {
    s.w.coord
        .withdrawal(&s.w.alice, id)
        .unwrap()
        .history
        .iter()
        .map(|e| e.kind)
        .collect()
}

fn session_status(s: &Stuck, id: u64) -> String {
    sessions::find(s.w.coord.connection(), id)
        .unwrap()
        .unwrap()
        .status
}

/// A transaction outside the group spending the session's first input.
fn conflicting(s: &Stuck) -> Transaction {
    let original = tx_of(s, s.session);
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: original.input[0].previous_output,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(29_000_000),
            script_pubkey: ScriptBuf::new_op_return([1u8; 4]),
        }],
    }
}

#[test]
fn a_bump_spends_the_same_inputs_pays_the_same_withdrawals_and_only_lowers_the_change() {
    let mut s = stuck();
    let original = s.w.coord.session(s.session).unwrap().unwrap();
    let bump = s.w.coord.bump_session(&s.w.alice, s.session, 50, NOW).unwrap();
    assert_eq!(bump.replaces, s.session);
    let replacement = s.w.coord.session(bump.session_id).unwrap().unwrap();
    assert_eq!(replacement.status, "open");
    assert_eq!(replacement.created_by, "alice");
    let (a, b) = (&original.psbt.unsigned_tx, &replacement.psbt.unsigned_tx);
    assert_eq!(
        a.input.iter().map(|i| i.previous_output).collect::<Vec<_>>(),
        b.input.iter().map(|i| i.previous_output).collect::<Vec<_>>()
    );
    assert!(b.input.iter().all(|i| i.sequence.is_rbf()), "BIP125 signalling");
    assert_eq!(replacement.withdrawals, original.withdrawals);
    for (_, vout) in &original.withdrawals {
        assert_eq!(a.output[*vout as usize], b.output[*vout as usize]);
    }
    let increase = bump.fee - original.fee;
    assert_eq!(replacement.change, Some(original.change.unwrap() - increase));
    assert!(bump.fee.to_sat() >= 50 * bump.vsize);
    assert!(
        bump.fee >= original.fee + Amount::from_sat(bump.vsize),
        "BIP125 rule 4"
    );
    for id in s.withdrawals.clone() {
        assert_eq!(status(&mut s, id), WithdrawalStatus::Broadcast);
        assert_eq!(events(&mut s, id).last(), Some(&EventKind::FeeBump));
    }
    let history = s.w.coord.session_events(&s.w.alice, bump.session_id).unwrap();
    assert!(history[0].note.contains("approved by alice"), "{history:?}");
}

#[test]
fn bumps_are_for_approvers_at_a_rate_core_accepts_one_at_a_time() {
    let mut s = stuck();
    let err = s.w.coord.bump_session(&s.w.rita, s.session, 50, NOW).unwrap_err();
    assert_eq!(err.code(), "forbidden");
    let err = s.w.coord.bump_session(&s.w.alice, s.session, 5, NOW).unwrap_err();
    assert_eq!(err.code(), "bump_refused", "{err}");
    assert!(err.to_string().contains("--fee-rate"), "{err}");
    let err =
        s.w.coord
            .bump_session(&s.w.alice, s.session, 100_000, NOW)
            .unwrap_err();
    assert_eq!(err.code(), "bump_refused", "the change cannot pay it: {err}");
    let bump = s.w.coord.bump_session(&s.w.alice, s.session, 50, NOW).unwrap();
    let err = s.w.coord.bump_session(&s.w.bob, s.session, 80, NOW).unwrap_err();
    assert_eq!(err.code(), "conflict", "a bump is still being signed: {err}");
    send(&mut s, bump.session_id);
    let err = s.w.coord.bump_session(&s.w.bob, s.session, 80, NOW).unwrap_err();
    assert!(err.to_string().contains("bump the newest"), "{err}");
    let again =
        s.w.coord
            .bump_session(&s.w.bob, bump.session_id, 80, NOW)
            .unwrap();
    assert_eq!(again.root, s.session);
    assert!(again.fee > bump.fee);
}

#[test]
fn the_bump_that_confirms_pays_and_the_original_is_replaced() {
    let mut s = stuck();
    let bump = s.w.coord.bump_session(&s.w.alice, s.session, 50, NOW).unwrap();
    send(&mut s, bump.session_id);
    // Only the newest of the group is sent again.
    let due: Vec<u64> =
        s.w.coord
            .transactions_to_send(UnixTime::from_secs(NOW.secs() + 3600))
            .unwrap()
            .iter()
            .map(|b| b.session_id)
            .collect();
    assert_eq!(due, vec![bump.session_id]);
    let bump_tx = tx_of(&s, bump.session_id);
    mine(&mut s, vec![bump_tx], 1);
    assert_eq!(session_status(&s, bump.session_id), "confirmed");
    assert_eq!(session_status(&s, s.session), "abandoned");
    let history = s.w.coord.session_events(&s.w.alice, s.session).unwrap();
    assert!(history.iter().any(|e| e.kind == "replaced"), "{history:?}");
    for id in s.withdrawals.clone() {
        assert_eq!(status(&mut s, id), WithdrawalStatus::Confirmed);
    }
    assert!(s
        .w
        .coord
        .bump_session(&s.w.alice, bump.session_id, 80, NOW)
        .is_err());
    assert_eq!(
        s.w.coord
            .abandon_session(&s.w.alice, s.session, "too late", NOW)
            .unwrap_err()
            .code(),
        "conflict"
    );
}

#[test]
fn the_original_that_confirms_after_all_pays_and_the_bump_is_replaced() {
    let mut s = stuck();
    let bump = s.w.coord.bump_session(&s.w.alice, s.session, 50, NOW).unwrap();
    let original_tx = tx_of(&s, s.session);
    mine(&mut s, vec![original_tx], 1);
    assert_eq!(session_status(&s, s.session), "confirmed");
    assert_eq!(session_status(&s, bump.session_id), "abandoned");
    for id in s.withdrawals.clone() {
        assert_eq!(status(&mut s, id), WithdrawalStatus::Confirmed);
    }
}

#[test]
fn a_reorg_of_the_winner_lets_the_replaced_transaction_confirm_instead() {
    let mut s = stuck();
    let bump = s.w.coord.bump_session(&s.w.alice, s.session, 50, NOW).unwrap();
    send(&mut s, bump.session_id);
    let fork = mine(&mut s, vec![], 1);
    let fork_hash = s.tip.unwrap().1;
    let bump_tx = tx_of(&s, bump.session_id);
    mine(&mut s, vec![bump_tx], 1);
    assert_eq!(session_status(&s, s.session), "abandoned");
    s.w.coord.roll_back_to(fork, "monitor-test", NOW).unwrap();
    s.tip = Some((fork, fork_hash));
    assert_eq!(session_status(&s, bump.session_id), "broadcast");
    assert_eq!(
        session_status(&s, s.session),
        "broadcast",
        "restored after the reorg"
    );
    let original_tx = tx_of(&s, s.session);
    mine(&mut s, vec![original_tx], 1);
    assert_eq!(session_status(&s, s.session), "confirmed");
    assert_eq!(session_status(&s, bump.session_id), "abandoned");
    for id in s.withdrawals.clone() {
        assert_eq!(status(&mut s, id), WithdrawalStatus::Confirmed);
    }
}

#[test]
fn an_abandon_returns_withdrawals_only_after_a_conflicting_spend_is_deep_enough() {
    let mut s = stuck();
    let err =
        s.w.coord
            .abandon_session(&s.w.rita, s.session, "stuck", NOW)
            .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    s.w.coord
        .abandon_session(&s.w.alice, s.session, "stuck for a week", NOW)
        .unwrap();
    assert_eq!(
        s.w.coord
            .abandon_session(&s.w.bob, s.session, "again", NOW)
            .unwrap_err()
            .code(),
        "conflict"
    );
    assert_eq!(
        s.w.coord
            .bump_session(&s.w.bob, s.session, 50, NOW)
            .unwrap_err()
            .code(),
        "conflict",
        "an abandoned group is not bumped"
    );
    // Nothing moves yet, the coins stay reserved, the sender stops resending it.
    mine(&mut s, vec![], 2);
    for id in s.withdrawals.clone() {
        assert_eq!(status(&mut s, id), WithdrawalStatus::Broadcast);
        assert_eq!(events(&mut s, id).last(), Some(&EventKind::AbandonRequested));
    }
    assert!(s
        .w
        .coord
        .transactions_to_send(UnixTime::from_secs(NOW.secs() + 3600))
        .unwrap()
        .is_empty());
    // The database refuses a return without a release.
    let refused = s.w.coord.connection().execute(
        "UPDATE withdrawals SET status = 'approved' WHERE id = ?1",
        [s.withdrawals[0] as i64],
    );
    assert!(refused.unwrap_err().to_string().contains("released abandon"));

    let conflict = conflicting(&s);
    mine(&mut s, vec![conflict.clone()], 2);
    for id in s.withdrawals.clone() {
        assert_eq!(
            status(&mut s, id),
            WithdrawalStatus::Broadcast,
            "one confirmation of 2"
        );
    }
    mine(&mut s, vec![], 2);
    for id in s.withdrawals.clone() {
        assert_eq!(status(&mut s, id), WithdrawalStatus::Approved);
        assert_eq!(events(&mut s, id).last(), Some(&EventKind::Returned));
    }
    assert_eq!(session_status(&s, s.session), "abandoned");
    let abandon = session_groups::abandon_of(s.w.coord.connection(), s.session)
        .unwrap()
        .unwrap();
    assert_eq!(abandon.resolution.as_deref(), Some("released"));
    assert_eq!(abandon.resolved_txid, Some(conflict.compute_txid().to_string()));

    // Paid again once: the processor batches them with other coins.
    fund(&mut s.w, 40_000_000, 1, 2);
    let BatchOutcome::Batched(again) = s.w.coord.batch_wallet("hot", &config(), NOW).unwrap() else {
        panic!("expected the returned withdrawals to be batched again")
    };
    assert_eq!(again.withdrawals, s.withdrawals);
    let original = tx_of(&s, s.session);
    let new_tx = tx_of(&s, again.session_id);
    assert!(new_tx.input.iter().all(|i| original
        .input
        .iter()
        .all(|o| o.previous_output != i.previous_output)));
}

#[test]
fn a_conflicting_spend_undone_by_a_reorg_releases_nothing() {
    let mut s = stuck();
    s.w.coord
        .abandon_session(&s.w.alice, s.session, "stuck", NOW)
        .unwrap();
    let fork = mine(&mut s, vec![], 2);
    let fork_hash = s.tip.unwrap().1;
    let conflict = conflicting(&s);
    mine(&mut s, vec![conflict], 2);
    s.w.coord.roll_back_to(fork, "monitor-test", NOW).unwrap();
    s.tip = Some((fork, fork_hash));
    // The new branch does not have the conflicting spend: however deep it grows,
    // nothing is released.
    for _ in 0..3 {
        mine(&mut s, vec![], 2);
    }
    for id in s.withdrawals.clone() {
        assert_eq!(status(&mut s, id), WithdrawalStatus::Broadcast);
    }
    // And the original confirming after all makes the abandon moot.
    let original = tx_of(&s, s.session);
    mine(&mut s, vec![original], 2);
    mine(&mut s, vec![], 2);
    for id in s.withdrawals.clone() {
        assert_eq!(status(&mut s, id), WithdrawalStatus::Confirmed);
    }
    let abandon = session_groups::abandon_of(s.w.coord.connection(), s.session)
        .unwrap()
        .unwrap();
    assert_eq!(abandon.resolution.as_deref(), Some("moot"));
}

#[test]
fn nothing_of_an_abandoned_group_is_finalized_and_a_release_abandons_it_all() {
    let mut s = stuck();
    let bump = s.w.coord.bump_session(&s.w.alice, s.session, 50, NOW).unwrap();
    let signed = s
        .w
        .coord
        .write_directly(|conn| sessions::transition(conn, bump.session_id, "open", "signed", NOW).unwrap())
        .unwrap();
    assert!(signed);
    assert_eq!(s.w.coord.signed_sessions().unwrap(), vec![bump.session_id]);
    s.w.coord
        .abandon_session(&s.w.alice, s.session, "stuck", NOW)
        .unwrap();
    assert!(s.w.coord.signed_sessions().unwrap().is_empty());
    // Released: every session of the group is abandoned, the signed bump included.
    let conflict = conflicting(&s);
    mine(&mut s, vec![conflict], 1);
    assert_eq!(session_status(&s, bump.session_id), "abandoned");
    assert_eq!(session_status(&s, s.session), "abandoned");
    for id in s.withdrawals.clone() {
        assert_eq!(status(&mut s, id), WithdrawalStatus::Approved);
    }
}

#[test]
fn a_spend_by_the_groups_own_bump_is_not_a_conflict() {
    let mut s = stuck();
    let bump = s.w.coord.bump_session(&s.w.alice, s.session, 50, NOW).unwrap();
    send(&mut s, bump.session_id);
    s.w.coord
        .abandon_session(&s.w.alice, bump.session_id, "stuck", NOW)
        .unwrap();
    let bump_tx = tx_of(&s, bump.session_id);
    mine(&mut s, vec![bump_tx], 1);
    for id in s.withdrawals.clone() {
        assert_eq!(status(&mut s, id), WithdrawalStatus::Confirmed);
    }
    let abandon = session_groups::abandon_of(s.w.coord.connection(), s.session)
        .unwrap()
        .unwrap();
    assert_eq!(abandon.resolution.as_deref(), Some("moot"));
}
