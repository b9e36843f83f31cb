//! Issue 14 item 1: an online signer reserves all the sessions of one poll in one sealed
//! commit. `reservation::reserve_all` must treat the plans exactly as `reserve` on each
//! in turn would (each sees the limiter the one before left; a txid reserved earlier in
//! the batch is a repeat; a plan the limits refuse is journaled and the others go on),
//! and commit once: one state version step, a state that verifies afterwards.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use bitcoin::psbt::Psbt;
use sluice_shared::asset::Asset;
use sluice_shared::descriptor::WalletDescriptor;
use sluice_signer::home::Home;
use sluice_signer::keys::{self, KeyMaterial};
use sluice_signer::pipeline;
use sluice_signer::reservation::{self, ReservationError, ReservedOutflow};
use sluice_signer::signing::SigningPlan;
use sluice_signer::state::State;
use support::*;

/// A wpkh signer whose limits allow two 0.1 BTC outflows at once (burst 0.25 BTC, a
/// refill of 0.0001 BTC a day: nothing that matters while a test runs).
fn signer() -> (TestSigner, WalletDescriptor) {
    let fx = fixtures();
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    let (r, c, d) = wpkh_wallet(&fx);
    s.register("hot", &r, &c);
    s.limits("0.0001", "86400", "0.25", "10");
    (s, d)
}

fn unlock(s: &TestSigner) -> KeyMaterial {
    let passphrase = sluice_signer::passphrase::read(Some(&s.path("pass")), false).unwrap();
    keys::unlock(&Home::new(s.home()), &passphrase).unwrap()
}

fn open(s: &TestSigner, keys: &KeyMaterial) -> State {
    State::open_keyed(&s.home().join("state.sqlite"), keys.state_key()).unwrap()
}

/// A 0.1 BTC outflow (0.0999 paid out, 0.0001 fee) from one 1 BTC coin.
fn outflow(wallet: &WalletDescriptor, salt: u32) -> Psbt {
    make_psbt(wallet, 1, btc("1"), btc("0.0999"), btc("0.0001"), salt)
}

fn plan(state: &mut State, psbt: &Psbt) -> SigningPlan {
    pipeline::decide(state, psbt.clone(), None).unwrap().plan
}

/// The state's version (one step per sealed commit).
fn version(state: &State) -> u64 {
    state.version().unwrap()
}

/// What a reservation outcome is, comparable across two signers.
fn outcome(result: &Result<ReservedOutflow, ReservationError>) -> String {
    match result {
        Ok(reserved) => format!("reserved new={}", reserved.newly_reserved()),
        Err(ReservationError::Refused(refusal)) => format!("limits: {}", refusal.code()),
        Err(ReservationError::RepeatDiffers(_)) => "repeat".to_owned(),
        Err(ReservationError::State(e)) => panic!("state error: {e}"),
    }
}

/// Each journal entry after `skip`, as event, txid and rule.
fn journal_tail(state: &State, skip: usize) -> Vec<String> {
    state
        .journal_entries()
        .unwrap()
        .into_iter()
        .skip(skip)
        .map(|entry| {
            let details = &entry.details;
            format!(
                "{} {} {}",
                entry.event,
                details["txid"].as_str().unwrap_or("-"),
                details["rule"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

#[test]
fn a_batch_reserves_exactly_as_reserving_one_after_another_in_one_commit() {
    let (one_by_one, wallet) = signer();
    let (batched, _) = signer();
    // p1 and p2 fit in the burst; p1 again is a repeat (nothing more reserved); p3 finds
    // the bucket used up by the two before it and is refused; p4 likewise.
    let (p1, p2, p3, p4) = (
        outflow(&wallet, 1),
        outflow(&wallet, 2),
        outflow(&wallet, 3),
        outflow(&wallet, 4),
    );
    let offers = [&p1, &p2, &p1, &p3, &p4];

    let keys = unlock(&one_by_one);
    let mut state = open(&one_by_one, &keys);
    let plans: Vec<SigningPlan> = offers.iter().map(|p| plan(&mut state, p)).collect();
    let journal_before = state.journal_entries().unwrap().len();
    let version_before = version(&state);
    let sequential: Vec<String> = plans
        .into_iter()
        .map(|plan| outcome(&reservation::reserve(&mut state, plan)))
        .collect();
    // Five sealed commits, one per plan.
    assert_eq!(version(&state), version_before + 5);
    let sequential_journal = journal_tail(&state, journal_before);
    let sequential_total = state.reserved_total(Asset::Btc).unwrap();

    let keys = unlock(&batched);
    let mut state = open(&batched, &keys);
    let plans: Vec<SigningPlan> = offers.iter().map(|p| plan(&mut state, p)).collect();
    let journal_before = state.journal_entries().unwrap().len();
    let version_before = version(&state);
    let batch: Vec<String> = reservation::reserve_all(&mut state, plans)
        .unwrap()
        .iter()
        .map(outcome)
        .collect();
    // One sealed commit for the whole batch.
    assert_eq!(version(&state), version_before + 1);

    assert_eq!(
        batch,
        [
            "reserved new=true",
            "reserved new=true",
            "reserved new=false",
            &sequential[3],
            &sequential[4],
        ]
    );
    assert!(batch[3].starts_with("limits: "), "{batch:?}");
    assert_eq!(batch, sequential);
    assert_eq!(journal_tail(&state, journal_before), sequential_journal);
    let txid = |p: &Psbt| p.unsigned_tx.compute_txid().to_string();
    assert_eq!(
        journal_tail(&state, journal_before),
        [
            format!("reserved {} -", txid(&p1)),
            format!("reserved {} -", txid(&p2)),
            format!("re-signing {} -", txid(&p1)),
            format!("refused {} limits", txid(&p3)),
            format!("refused {} limits", txid(&p4)),
        ]
    );
    assert_eq!(state.reserved_total(Asset::Btc).unwrap(), sequential_total);
    assert_eq!(sequential_total, btc("0.2"));
    assert!(!state.has_reservation(&txid(&p3)).unwrap());
    // The change index of the reserved ones is recorded in the same commit.
    assert_eq!(state.change_bound("hot").unwrap().highest_known, Some(0));
    drop(state);

    // The state verifies after the batch's commit (MAC, journal chain, anchor).
    let state = open(&batched, &keys);
    state.verify_journal().unwrap();
    assert!(batched.ok(&["journal", "verify"]).contains("Journal OK"));
}

#[test]
fn a_txid_offered_twice_in_one_batch_with_another_outflow_is_refused_as_a_repeat() {
    let fx = fixtures();
    let w = &fx["wallets"]["tr_single"];
    let (r, c) = (
        w["descriptor_receive"].as_str().unwrap(),
        w["descriptor_change"].as_str().unwrap(),
    );
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    s.register("tr", r, c);
    s.limits("1", "60", "5", "10");
    let wallet = WalletDescriptor::parse(r, Some(c)).unwrap();
    // The same transaction, once with a taproot input's amount lowered (fee 0.0001 BTC
    // instead of 0.009): the txid cannot tell them apart.
    let mut truth = make_psbt(&wallet, 2, btc("0.5"), btc("0.1"), btc("0.009"), 81);
    for input in &mut truth.inputs {
        input.non_witness_utxo = None;
    }
    let mut lowered = truth.clone();
    lowered.inputs[0].witness_utxo.as_mut().unwrap().value -= btc("0.0089");

    let keys = unlock(&s);
    let mut state = open(&s, &keys);
    let plans = vec![plan(&mut state, &lowered), plan(&mut state, &truth)];
    let outcomes: Vec<String> = reservation::reserve_all(&mut state, plans)
        .unwrap()
        .iter()
        .map(outcome)
        .collect();
    assert_eq!(outcomes, ["reserved new=true", "repeat"]);
    assert_eq!(state.reserved_total(Asset::Btc).unwrap(), btc("0.1001"));
    let last = state.journal_entries().unwrap().pop().unwrap();
    assert_eq!(last.event, "refused");
    assert_eq!(last.details["rule"], "repeat");
}

#[test]
fn reserve_and_sign_all_signs_each_reserved_plan_and_only_those() {
    let (s, wallet) = signer();
    let keys = unlock(&s);
    let mut state = open(&s, &keys);
    let offers = [outflow(&wallet, 1), outflow(&wallet, 2), outflow(&wallet, 3)];
    let plans: Vec<SigningPlan> = offers.iter().map(|p| plan(&mut state, p)).collect();
    let version_before = version(&state);
    let results = pipeline::reserve_and_sign_all(&mut state, &keys, plans).unwrap();
    assert_eq!(version(&state), version_before + 1);
    assert_eq!(results.len(), 3);
    for (result, offer) in results[..2].iter().zip(&offers) {
        let signed = result.as_ref().unwrap();
        assert_eq!(signed.txid, offer.unsigned_tx.compute_txid().to_string());
        assert!(signed.newly_reserved);
        assert!(signed
            .psbt
            .inputs
            .iter()
            .all(|input| !input.partial_sigs.is_empty()));
    }
    assert!(matches!(
        results[2],
        Err(pipeline::PipelineError::Reservation(ReservationError::Refused(_)))
    ));
    // The releases, journaled in one more commit.
    let released: Vec<pipeline::Released<'_>> = results[..2]
        .iter()
        .map(|result| pipeline::Released {
            signed: result.as_ref().unwrap(),
            wallet: "hot",
            written_to: "test",
        })
        .collect();
    pipeline::journal_signed_all(&mut state, &released).unwrap();
    assert_eq!(version(&state), version_before + 2);
    let events: Vec<String> = state
        .journal_entries()
        .unwrap()
        .into_iter()
        .rev()
        .take(2)
        .map(|entry| entry.event)
        .collect();
    assert_eq!(events, ["signed", "signed"]);
    drop(state);
    assert!(s.ok(&["journal", "verify"]).contains("Journal OK"));
}
