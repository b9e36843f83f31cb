//! Risk flags through the service layer: each rule raises its flag with a reason, a flag
//! takes the automatic approval away (people approve instead), and flags are recorded,
//! shown and audited.

use bitcoin::Amount;
use sluice_shared::api::{ApprovalMethod, EventKind, RiskFlagKind, WithdrawalDetail, WithdrawalStatus};

use super::tests::{regtest_address, request, world, World, NOW};
use super::*;
use crate::rules::policy::ApprovalPolicy;
use crate::rules::risk::RiskSettings;
use crate::time::UnixTime;

const CEILING: u64 = 50_000_000;
const BIG: Amount = Amount::from_sat(100_000_000_000);

fn both() -> ApprovalPolicy {
    ApprovalPolicy::Both {
        max_amount_sat: Amount::from_sat(CEILING),
        registered_destination_only: true,
        approvers_required: 2,
    }
}

/// A world whose wallet approves automatically up to the ceiling, with `settings` agreed.
fn risky_world(policy: ApprovalPolicy, settings: RiskSettings) -> World {
    let mut w = world(policy, BIG);
    w.change(Change::RiskSettings { settings }).unwrap();
    w
}

fn ask(w: &mut World, key: &str, sat: u64, at: UnixTime) -> WithdrawalDetail {
    w.coord
        .request_withdrawal(&w.rita, key, &request(sat), at)
        .unwrap()
        .into_detail()
}

fn kinds(d: &WithdrawalDetail) -> Vec<RiskFlagKind> {
    d.flags.iter().map(|f| f.kind).collect()
}

fn only(rule: impl FnOnce(&mut RiskSettings)) -> RiskSettings {
    let mut settings = RiskSettings {
        history_size: 20,
        min_history: 3,
        velocity_window_secs: 3600,
        ..RiskSettings::default()
    };
    rule(&mut settings);
    settings
}

#[test]
fn without_settings_no_rule_flags_and_the_automatic_rule_approves() {
    let mut w = world(both(), BIG);
    let d = ask(&mut w, "k1", 1_000_000, NOW);
    assert!(d.flags.is_empty());
    assert_eq!(d.withdrawal.status, WithdrawalStatus::Approved);
}

#[test]
fn a_first_withdrawal_to_a_destination_waits_for_people_and_says_why() {
    let mut w = risky_world(both(), only(|s| s.new_beneficiary = true));
    let first = ask(&mut w, "k1", 1_000_000, NOW);
    assert_eq!(kinds(&first), [RiskFlagKind::NewBeneficiary]);
    assert_eq!(first.withdrawal.status, WithdrawalStatus::PendingApproval);
    assert!(first.approvals.is_empty(), "no automatic approval is recorded");
    let requested = &first.history[0];
    assert_eq!(requested.kind, EventKind::Requested);
    let note = requested.reason.as_deref().unwrap();
    assert!(
        note.contains("risk-flagged") && note.contains("new_beneficiary"),
        "{note}"
    );

    // Two people approve it (the wallet's manual number), as above the ceiling.
    let id = first.withdrawal.id;
    w.coord.approve(&w.alice, id, NOW).unwrap();
    let approved = w.coord.approve(&w.bob, id, NOW).unwrap();
    assert_eq!(approved.withdrawal.status, WithdrawalStatus::Approved);

    // The second withdrawal to the same destination is usual again.
    let second = ask(&mut w, "k2", 1_000_000, NOW);
    assert!(second.flags.is_empty());
    assert_eq!(second.withdrawal.status, WithdrawalStatus::Approved);
    assert_eq!(second.approvals[0].method, ApprovalMethod::AutoRule);
}

#[test]
fn an_amount_far_above_the_customers_median_is_flagged() {
    let mut w = risky_world(both(), only(|s| s.large_amount_multiple = Some(5)));
    for (i, sat) in [1_000_000, 900_000, 1_100_000].into_iter().enumerate() {
        let d = ask(&mut w, &format!("usual-{i}"), sat, NOW);
        assert!(d.flags.is_empty(), "{:?}", d.flags);
    }
    let at_five = ask(&mut w, "five", 5_000_000, NOW);
    assert!(at_five.flags.is_empty(), "5x the median is not above it");
    // The history is now 0.009, 0.01, 0.011 and 0.05 BTC: the median 0.0105 BTC.
    let large = ask(&mut w, "large", 5_250_001, NOW);
    assert_eq!(kinds(&large), [RiskFlagKind::LargeAmount]);
    assert!(
        large.flags[0].reason.contains("median 0.0105 BTC"),
        "{}",
        large.flags[0].reason
    );
    assert_eq!(large.withdrawal.status, WithdrawalStatus::PendingApproval);
}

#[test]
fn too_many_withdrawals_in_the_window_are_flagged_and_the_window_moves_on() {
    let mut w = risky_world(both(), only(|s| s.velocity_max_count = Some(2)));
    assert!(ask(&mut w, "a", 100_000, NOW).flags.is_empty());
    assert!(ask(&mut w, "b", 100_000, UnixTime::from_secs(NOW.secs() + 10))
        .flags
        .is_empty());
    let third = ask(&mut w, "c", 100_000, UnixTime::from_secs(NOW.secs() + 20));
    assert_eq!(kinds(&third), [RiskFlagKind::Velocity]);
    assert!(
        third.flags[0].reason.contains("3 withdrawals"),
        "{}",
        third.flags[0].reason
    );
    // An hour after the first two, only the flagged third is still in the window.
    let later = ask(&mut w, "d", 100_000, UnixTime::from_secs(NOW.secs() + 3615));
    assert!(later.flags.is_empty(), "{:?}", later.flags);
}

#[test]
fn velocity_can_also_limit_the_sum() {
    let mut w = risky_world(
        both(),
        only(|s| s.velocity_max_amount = Some(Amount::from_sat(1_500_000))),
    );
    assert!(ask(&mut w, "a", 1_000_000, NOW).flags.is_empty());
    let over = ask(&mut w, "b", 600_000, NOW);
    assert_eq!(kinds(&over), [RiskFlagKind::Velocity]);
}

#[test]
fn a_destination_another_customer_uses_is_flagged_with_their_name() {
    let mut w = risky_world(both(), only(|s| s.shared_destination = true));
    assert!(ask(&mut w, "a", 100_000, NOW).flags.is_empty());
    w.coord.add_customer(&w.admin, "c2", NOW).unwrap();
    w.change(Change::BeneficiaryAdd {
        customer_id: "c2".into(),
        address: regtest_address(1).to_string(),
        label: "same address".into(),
    })
    .unwrap();
    let shared = ask(&mut w, "b", 100_000, NOW);
    assert_eq!(kinds(&shared), [RiskFlagKind::SharedDestination]);
    assert!(
        shared.flags[0].reason.contains("\"c2\""),
        "{}",
        shared.flags[0].reason
    );
}

#[test]
fn on_an_auto_only_wallet_a_flagged_withdrawal_needs_one_person() {
    let policy = ApprovalPolicy::Auto {
        max_amount_sat: Amount::from_sat(CEILING),
        registered_destination_only: false,
    };
    let mut w = risky_world(policy, RiskSettings::recommended());
    let d = ask(&mut w, "a", 100_000, NOW);
    assert_eq!(kinds(&d), [RiskFlagKind::NewBeneficiary]);
    assert_eq!(d.withdrawal.status, WithdrawalStatus::PendingApproval);
    let approved = w.coord.approve(&w.alice, d.withdrawal.id, NOW).unwrap();
    assert_eq!(approved.withdrawal.status, WithdrawalStatus::Approved);
}

#[test]
fn flags_are_audited_and_the_database_refuses_to_approve_a_flagged_one_without_people() {
    let mut w = risky_world(both(), RiskSettings::recommended());
    let d = ask(&mut w, "a", 100_000, NOW);
    let id = i64::try_from(d.withdrawal.id).unwrap();
    let conn = w.coord.connection();
    let audited: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE kind = 'risk_flag' AND json_extract(body, '$.withdrawal_id') = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, 1);
    // A bug (or a hand edit) that records an automatic approval cannot approve it.
    conn.execute(
        "INSERT INTO approvals (withdrawal_id, approver, method, detail, approved_at) VALUES (?1, NULL, 'auto-rule', 'forged', 0)",
        [id],
    )
    .unwrap();
    let err = conn
        .execute("UPDATE withdrawals SET status = 'approved' WHERE id = ?1", [id])
        .unwrap_err();
    assert!(err.to_string().contains("risk-flagged"), "{err}");
    // Nor can the flags be removed.
    assert!(conn.execute("DELETE FROM risk_flags", []).is_err());
    assert!(conn.execute("UPDATE risk_flags SET reason = 'x'", []).is_err());
}

#[test]
fn risk_settings_change_only_through_a_valid_proposal() {
    let mut w = world(both(), BIG);
    assert_eq!(w.coord.risk_settings(&w.rita).unwrap(), RiskSettings::default());
    let bad = RiskSettings {
        large_amount_multiple: Some(1),
        ..RiskSettings::recommended()
    };
    let err = w.change(Change::RiskSettings { settings: bad }).unwrap_err();
    assert_eq!(err.code(), "invalid_request");
    w.change(Change::RiskSettings {
        settings: RiskSettings::recommended(),
    })
    .unwrap();
    assert_eq!(
        w.coord.risk_settings(&w.rita).unwrap(),
        RiskSettings::recommended()
    );
}
