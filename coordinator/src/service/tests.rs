//! The service layer end to end over an in-memory database: the rules hold when driven
//! the way the API and CLI drive them.

use bitcoin::hashes::Hash;
use bitcoin::{Address, Amount, Network, ScriptBuf, WPubkeyHash};
use sluice_shared::api::{ApprovalMethod, EventKind, NewWithdrawal, WithdrawalStatus};
use sluice_shared::asset::Asset;

use super::*;
use crate::rules::fees::FeeSchedule;
use crate::rules::intake::CustomerStatus;
use crate::rules::policy::ApprovalPolicy;
use crate::time::UnixTime;
use crate::wallet_spec::WalletKindArg;

pub(crate) const NOW: UnixTime = UnixTime::from_secs(1_735_700_000); // 2025-01-01T02:53:20Z

/// Fixture signer A's account key (regtest), as `sluice-signer xpub` prints it.
pub(crate) const KEY_A: &str = "[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi";
pub(crate) const KEY_B: &str = "[72408740/84h/1h/0h]tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2";
pub(crate) const KEY_C: &str = "[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s";

pub(crate) fn regtest_address(seed: u8) -> Address {
    let script = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([seed; 20]));
    Address::from_script(&script, Network::Regtest).unwrap()
}

/// A coordinator with admins root and ops, requesters rita and rob, approvers alice, bob
/// and carol, customer c1 with beneficiary `regtest_address(1)`, a 0.1% fee, and wallet
/// "hot". Configuration went through proposals root made and ops approved.
pub(crate) const VERIFIED: crate::rules::kyc::KycStatus =
    crate::rules::kyc::KycStatus::Verified { until: None };

pub(crate) struct World {
    pub coord: Coordinator,
    pub admin: Actor,
    pub admin2: Actor,
    pub rita: Actor,
    pub rob: Actor,
    pub alice: Actor,
    pub bob: Actor,
    pub carol: Actor,
    /// Compliance: sets KYC status.
    pub cora: Actor,
}

/// Two admins agree on `change`: `proposer` proposes, `approver` approves.
pub(crate) fn agree(
    coord: &mut Coordinator,
    proposer: &Actor,
    approver: &Actor,
    change: Change,
) -> Result<Applied, ServiceError> {
    coord.propose_and_approve(proposer, approver, &change, &mut rand::thread_rng(), NOW)
}

/// Adds a staff member through a proposal and their own enrollment; returns them.
pub(crate) fn enrolled(
    coord: &mut Coordinator,
    proposer: &Actor,
    approver: &Actor,
    name: &str,
    role: Role,
) -> Actor {
    let secret = agree(
        coord,
        proposer,
        approver,
        Change::StaffAdd {
            name: name.into(),
            role,
        },
    )
    .unwrap()
    .into_enrollment_secret()
    .unwrap();
    let (enrolled_name, token) = coord.enroll(&secret, &mut rand::thread_rng(), NOW).unwrap();
    assert_eq!(enrolled_name, name);
    coord.authenticate(&token).unwrap()
}

impl World {
    /// root proposes `change`, ops approves it.
    pub(crate) fn change(&mut self, change: Change) -> Result<Applied, ServiceError> {
        agree(&mut self.coord, &self.admin, &self.admin2, change)
    }
}

pub(crate) fn world(policy: ApprovalPolicy, wallet_daily_limit: Amount) -> World {
    let (mut coord, [root_token, ops_token]) = Coordinator::in_memory(Network::Regtest, ["root", "ops"]);
    let admin = coord.authenticate(&root_token).unwrap();
    let admin2 = coord.authenticate(&ops_token).unwrap();
    let person =
        |coord: &mut Coordinator, name: &str, role: Role| enrolled(coord, &admin, &admin2, name, role);
    let rita = person(&mut coord, "rita", Role::Requester);
    let rob = person(&mut coord, "rob", Role::Requester);
    let alice = person(&mut coord, "alice", Role::Approver);
    let bob = person(&mut coord, "bob", Role::Approver);
    let carol = person(&mut coord, "carol", Role::Approver);
    let cora = person(&mut coord, "cora", Role::Compliance);
    coord.add_customer(&admin, "c1", NOW).unwrap();
    coord.set_kyc(&cora, "c1", VERIFIED, "test set-up", NOW).unwrap();
    let mut w = World {
        coord,
        admin,
        admin2,
        rita,
        rob,
        alice,
        bob,
        carol,
        cora,
    };
    w.change(Change::BeneficiaryAdd {
        customer_id: "c1".into(),
        address: regtest_address(1).to_string(),
        label: "c1 cold storage".into(),
    })
    .unwrap();
    w.change(Change::FeesSet {
        asset: Asset::Btc,
        schedule: FeeSchedule::Percent { basis_points: 10 },
    })
    .unwrap();
    w.change(Change::WalletCreate(NewWalletRequest {
        name: "hot".into(),
        kind: WalletKindArg::WshSortedMulti,
        threshold: Some(2),
        keys: vec![KEY_A.into(), KEY_B.into(), KEY_C.into()],
        policy,
        daily_limit: wallet_daily_limit,
    }))
    .unwrap();
    w
}

pub(crate) fn request(sat: u64) -> NewWithdrawal {
    NewWithdrawal {
        customer_id: "c1".into(),
        wallet: "hot".into(),
        destination: regtest_address(1).to_string(),
        amount_sat: Amount::from_sat(sat),
    }
}

fn count(coord: &Coordinator, table: &str) -> i64 {
    coord
        .connection()
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

const MANUAL_2: ApprovalPolicy = ApprovalPolicy::Manual {
    approvers_required: 2,
};
const BIG: Amount = Amount::from_sat(100_000_000_000);

#[test]
fn two_approvals_move_a_withdrawal_into_the_queue() {
    let mut w = world(MANUAL_2, BIG);
    let created = w
        .coord
        .request_withdrawal(&w.rita, "k1", &request(1_000_000), NOW)
        .unwrap();
    let Intake::Created(detail) = created else {
        panic!("expected a new withdrawal")
    };
    let id = detail.withdrawal.id;
    assert_eq!(detail.withdrawal.status, WithdrawalStatus::PendingApproval);
    assert_eq!(detail.withdrawal.fee_sat, Amount::from_sat(1_000));
    assert_eq!(detail.withdrawal.requested_by, "rita");

    let after_one = w.coord.approve(&w.alice, id, NOW).unwrap();
    assert_eq!(after_one.withdrawal.status, WithdrawalStatus::PendingApproval);
    let after_two = w.coord.approve(&w.bob, id, NOW).unwrap();
    assert_eq!(after_two.withdrawal.status, WithdrawalStatus::Approved);
    let kinds: Vec<EventKind> = after_two.history.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Requested,
            EventKind::ApprovalRecorded,
            EventKind::ApprovalRecorded,
            EventKind::Approved
        ]
    );
    let approvers: Vec<_> = after_two
        .approvals
        .iter()
        .map(|a| a.approver.clone().unwrap())
        .collect();
    assert_eq!(approvers, ["alice", "bob"]);
    assert!(after_two
        .approvals
        .iter()
        .all(|a| a.method == ApprovalMethod::Manual));

    // A third approval is refused: it is no longer pending.
    let err = w.coord.approve(&w.carol, id, NOW).unwrap_err();
    assert_eq!(err.code(), "not_pending");
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

#[test]
fn the_same_approver_counts_once() {
    let mut w = world(MANUAL_2, BIG);
    let id = w
        .coord
        .request_withdrawal(&w.rita, "k1", &request(1_000_000), NOW)
        .unwrap()
        .detail()
        .withdrawal
        .id;
    w.coord.approve(&w.alice, id, NOW).unwrap();
    let err = w.coord.approve(&w.alice, id, NOW).unwrap_err();
    assert_eq!(err.code(), "already_approved");
    assert_eq!(
        w.coord.withdrawal(&w.rita, id).unwrap().withdrawal.status,
        WithdrawalStatus::PendingApproval
    );
}

#[test]
fn only_approvers_approve_and_only_requesters_request() {
    let mut w = world(MANUAL_2, BIG);
    let id = w
        .coord
        .request_withdrawal(&w.rita, "k1", &request(1_000_000), NOW)
        .unwrap()
        .detail()
        .withdrawal
        .id;
    for actor in [&w.rita, &w.rob, &w.admin] {
        let err = w.coord.approve(actor, id, NOW).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Forbidden, "{}: {err}", actor.name());
        let err = w.coord.reject(actor, id, "no", NOW).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Forbidden, "{}: {err}", actor.name());
    }
    for actor in [&w.alice, &w.admin] {
        let err = w
            .coord
            .request_withdrawal(actor, "k2", &request(1_000_000), NOW)
            .unwrap_err();
        assert_eq!(err.code(), "forbidden");
    }
    assert_eq!(count(&w.coord, "approvals"), 0);
}

#[test]
fn automatic_rule_approves_small_withdrawals_at_intake() {
    let policy = ApprovalPolicy::Both {
        max_amount_sat: Amount::from_sat(5_000_000),
        registered_destination_only: true,
        approvers_required: 2,
    };
    let mut w = world(policy, BIG);
    let small = w
        .coord
        .request_withdrawal(&w.rita, "small", &request(5_000_000), NOW)
        .unwrap()
        .into_detail();
    assert_eq!(small.withdrawal.status, WithdrawalStatus::Approved);
    assert_eq!(small.approvals.len(), 1);
    assert_eq!(small.approvals[0].method, ApprovalMethod::AutoRule);
    assert_eq!(small.approvals[0].approver, None);
    assert!(small.approvals[0].detail.as_deref().unwrap().contains("ceiling"));

    let large = w
        .coord
        .request_withdrawal(&w.rita, "large", &request(5_000_001), NOW)
        .unwrap()
        .into_detail();
    assert_eq!(large.withdrawal.status, WithdrawalStatus::PendingApproval);
    assert!(large.approvals.is_empty());
}

#[test]
fn auto_only_wallet_refuses_above_its_ceiling_and_records_nothing() {
    let policy = ApprovalPolicy::Auto {
        max_amount_sat: Amount::from_sat(5_000_000),
        registered_destination_only: false,
    };
    let mut w = world(policy, BIG);
    let err = w
        .coord
        .request_withdrawal(&w.rita, "k", &request(5_000_001), NOW)
        .unwrap_err();
    assert_eq!(err.code(), "not_approvable");
    assert_eq!(count(&w.coord, "withdrawals"), 0);
}

#[test]
fn idempotency_returns_the_original_or_refuses_a_different_request() {
    let mut w = world(MANUAL_2, BIG);
    let first = w
        .coord
        .request_withdrawal(&w.rita, "order-7", &request(1_000_000), NOW)
        .unwrap();
    assert!(matches!(first, Intake::Created(_)));
    let again = w
        .coord
        .request_withdrawal(&w.rita, "order-7", &request(1_000_000), NOW)
        .unwrap();
    let Intake::Existing(existing) = again else {
        panic!("expected the original")
    };
    assert_eq!(existing, first.into_detail());
    assert_eq!(count(&w.coord, "withdrawals"), 1);
    assert_eq!(count(&w.coord, "withdrawal_events"), 1);

    let err = w
        .coord
        .request_withdrawal(&w.rita, "order-7", &request(1_000_001), NOW)
        .unwrap_err();
    assert_eq!(err.code(), "idempotency_conflict");
    let err = w
        .coord
        .request_withdrawal(&w.rob, "order-7", &request(1_000_000), NOW)
        .unwrap_err();
    assert_eq!(
        err.code(),
        "idempotency_conflict",
        "another requester cannot claim the key"
    );
    assert_eq!(count(&w.coord, "withdrawals"), 1);

    // Upper-case bech32 is the same request.
    let mut upper = request(1_000_000);
    upper.destination = upper.destination.to_uppercase();
    assert!(matches!(
        w.coord
            .request_withdrawal(&w.rita, "order-7", &upper, NOW)
            .unwrap(),
        Intake::Existing(_)
    ));
}

#[test]
fn a_refused_request_records_nothing_and_can_be_retried() {
    let mut w = world(MANUAL_2, BIG);
    let mut bad = request(1_000_000);
    bad.destination = regtest_address(2).to_string(); // not registered
    let err = w.coord.request_withdrawal(&w.rita, "k", &bad, NOW).unwrap_err();
    assert_eq!(err.code(), "not_a_beneficiary");
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert_eq!(count(&w.coord, "withdrawals"), 0);
    w.change(Change::BeneficiaryAdd {
        customer_id: "c1".into(),
        address: regtest_address(2).to_string(),
        label: "new".into(),
    })
    .unwrap();
    assert!(w.coord.request_withdrawal(&w.rita, "k", &bad, NOW).is_ok());
}

#[test]
fn intake_refusals_have_clear_codes() {
    let mut w = world(MANUAL_2, BIG);
    let mut mainnet = request(1_000_000);
    mainnet.destination = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4".into();
    assert_eq!(
        w.coord
            .request_withdrawal(&w.rita, "a", &mainnet, NOW)
            .unwrap_err()
            .code(),
        "wrong_network"
    );
    let mut unknown_customer = request(1_000_000);
    unknown_customer.customer_id = "c9".into();
    assert_eq!(
        w.coord
            .request_withdrawal(&w.rita, "b", &unknown_customer, NOW)
            .unwrap_err()
            .code(),
        "unknown_customer"
    );
    let mut unknown_wallet = request(1_000_000);
    unknown_wallet.wallet = "cold".into();
    assert_eq!(
        w.coord
            .request_withdrawal(&w.rita, "c", &unknown_wallet, NOW)
            .unwrap_err()
            .code(),
        "unknown_wallet"
    );
    assert_eq!(
        w.coord
            .request_withdrawal(&w.rita, "d", &request(100), NOW)
            .unwrap_err()
            .code(),
        "below_dust"
    );
    assert_eq!(
        w.coord
            .request_withdrawal(&w.rita, "with space", &request(1_000_000), NOW)
            .unwrap_err()
            .code(),
        "invalid_idempotency_key"
    );
    w.coord
        .set_customer_status(&w.admin, "c1", CustomerStatus::Suspended, NOW)
        .unwrap();
    assert_eq!(
        w.coord
            .request_withdrawal(&w.rita, "e", &request(1_000_000), NOW)
            .unwrap_err()
            .code(),
        "customer_suspended"
    );
    assert_eq!(count(&w.coord, "withdrawals"), 0);
}

#[test]
fn daily_limits_count_the_utc_day_and_skip_rejected() {
    let mut w = world(MANUAL_2, Amount::from_sat(3_000_000));
    w.change(Change::CustomerDailyLimit {
        customer_id: "c1".into(),
        asset: Asset::Btc,
        daily_limit_sat: Amount::from_sat(2_000_000),
    })
    .unwrap();
    let first = w
        .coord
        .request_withdrawal(&w.rita, "1", &request(1_500_000), NOW)
        .unwrap()
        .into_detail();
    let err = w
        .coord
        .request_withdrawal(&w.rita, "2", &request(600_000), NOW)
        .unwrap_err();
    assert_eq!(err.code(), "customer_daily_limit");
    // A rejected withdrawal will never be paid: it frees the limit.
    w.coord
        .reject(&w.alice, first.withdrawal.id, "customer asked to cancel", NOW)
        .unwrap();
    w.coord
        .request_withdrawal(&w.rita, "2", &request(2_000_000), NOW)
        .unwrap();
    // The wallet's limit covers all customers.
    w.coord.add_customer(&w.admin, "c2", NOW).unwrap();
    w.coord
        .set_kyc(&w.cora, "c2", VERIFIED, "test set-up", NOW)
        .unwrap();
    w.change(Change::BeneficiaryAdd {
        customer_id: "c2".into(),
        address: regtest_address(3).to_string(),
        label: "c2".into(),
    })
    .unwrap();
    let mut other = request(1_000_001);
    other.customer_id = "c2".into();
    other.destination = regtest_address(3).to_string();
    assert_eq!(
        w.coord
            .request_withdrawal(&w.rita, "3", &other, NOW)
            .unwrap_err()
            .code(),
        "wallet_daily_limit"
    );
    // Tomorrow (UTC) starts afresh.
    let tomorrow = UnixTime::from_secs(NOW.utc_day().1.secs());
    w.coord
        .request_withdrawal(&w.rita, "3", &other, tomorrow)
        .unwrap();
}

#[test]
fn rejection_is_final_and_explained() {
    let mut w = world(MANUAL_2, BIG);
    let id = w
        .coord
        .request_withdrawal(&w.rita, "k", &request(1_000_000), NOW)
        .unwrap()
        .detail()
        .withdrawal
        .id;
    w.coord.approve(&w.alice, id, NOW).unwrap();
    assert_eq!(
        w.coord.reject(&w.bob, id, "  ", NOW).unwrap_err().code(),
        "invalid_reason"
    );
    let rejected = w
        .coord
        .reject(&w.bob, id, "destination flagged by compliance", NOW)
        .unwrap();
    assert_eq!(rejected.withdrawal.status, WithdrawalStatus::Rejected);
    let last = rejected.history.last().unwrap();
    assert_eq!((last.kind, last.actor.as_str()), (EventKind::Rejected, "bob"));
    assert_eq!(last.reason.as_deref(), Some("destination flagged by compliance"));
    assert_eq!(
        w.coord.approve(&w.carol, id, NOW).unwrap_err().code(),
        "not_pending"
    );
}

#[test]
fn an_approved_withdrawal_not_yet_batched_can_be_cancelled_and_ends_failed() {
    let mut w = world(MANUAL_2, BIG);
    let id = w
        .coord
        .request_withdrawal(&w.rita, "k", &request(1_000_000), NOW)
        .unwrap()
        .detail()
        .withdrawal
        .id;
    assert_eq!(
        w.coord
            .cancel(&w.alice, id, "wrong amount", NOW)
            .unwrap_err()
            .code(),
        "not_cancellable",
        "a pending withdrawal is rejected, not cancelled"
    );
    w.coord.approve(&w.alice, id, NOW).unwrap();
    w.coord.approve(&w.bob, id, NOW).unwrap();
    assert_eq!(
        w.coord
            .cancel(&w.rita, id, "wrong amount", NOW)
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(
        w.coord.cancel(&w.carol, id, " ", NOW).unwrap_err().code(),
        "invalid_reason"
    );
    let failed = w
        .coord
        .cancel(&w.carol, id, "customer asked to stop it", NOW)
        .unwrap();
    assert_eq!(failed.withdrawal.status, WithdrawalStatus::Failed);
    let last = failed.history.last().unwrap();
    assert_eq!((last.kind, last.actor.as_str()), (EventKind::Failed, "carol"));
    assert_eq!(
        last.reason.as_deref(),
        Some("cancelled by carol: customer asked to stop it")
    );
    assert_eq!(
        w.coord.cancel(&w.carol, id, "again", NOW).unwrap_err().code(),
        "not_cancellable"
    );
    assert!(w.coord.wallets_with_approved_withdrawals().unwrap().is_empty());
}

#[test]
fn compliance_changes_block_approval_of_pending_withdrawals() {
    let mut w = world(MANUAL_2, BIG);
    let id = w
        .coord
        .request_withdrawal(&w.rita, "k", &request(1_000_000), NOW)
        .unwrap()
        .detail()
        .withdrawal
        .id;
    w.coord.approve(&w.alice, id, NOW).unwrap();
    w.change(Change::BeneficiarySetActive {
        customer_id: "c1".into(),
        address: regtest_address(1).to_string(),
        active: false,
    })
    .unwrap();
    assert_eq!(
        w.coord.approve(&w.bob, id, NOW).unwrap_err().code(),
        "beneficiary_inactive"
    );
    w.change(Change::BeneficiarySetActive {
        customer_id: "c1".into(),
        address: regtest_address(1).to_string(),
        active: true,
    })
    .unwrap();
    w.coord
        .set_customer_status(&w.admin, "c1", CustomerStatus::Suspended, NOW)
        .unwrap();
    assert_eq!(
        w.coord.approve(&w.bob, id, NOW).unwrap_err().code(),
        "customer_suspended"
    );
    w.coord
        .set_customer_status(&w.admin, "c1", CustomerStatus::Active, NOW)
        .unwrap();
    assert_eq!(
        w.coord.approve(&w.bob, id, NOW).unwrap().withdrawal.status,
        WithdrawalStatus::Approved
    );
}

#[test]
fn a_deactivated_token_stops_working_at_once() {
    let mut w = world(MANUAL_2, BIG);
    let id = w
        .coord
        .request_withdrawal(&w.rita, "k", &request(1_000_000), NOW)
        .unwrap()
        .detail()
        .withdrawal
        .id;
    w.change(Change::StaffSetActive {
        name: "alice".into(),
        active: false,
    })
    .unwrap();
    // `alice` was authenticated before; the change re-checks inside its transaction.
    assert_eq!(
        w.coord.approve(&w.alice, id, NOW).unwrap_err().code(),
        "unauthenticated"
    );
    let err = w
        .change(Change::StaffSetActive {
            name: "root".into(),
            active: false,
        })
        .unwrap_err();
    assert!(err.to_string().contains("last active admins stay"), "{err}");
}

#[test]
fn rotating_a_token_revokes_the_old_one() {
    let mut w = world(MANUAL_2, BIG);
    let mut rng = rand::thread_rng();
    let add = Change::StaffAdd {
        name: "rhea".into(),
        role: Role::Requester,
    };
    let first = w.change(add).unwrap().into_enrollment_secret().unwrap();
    let (_, old) = w.coord.enroll(&first, &mut rng, NOW).unwrap();
    assert_eq!(w.coord.authenticate(&old).unwrap().name(), "rhea");
    // A secret works once.
    assert_eq!(
        w.coord.enroll(&first, &mut rng, NOW).unwrap_err().code(),
        "enrollment_used"
    );

    let rotate = Change::StaffRotateToken { name: "rhea".into() };
    let stale = w
        .change(rotate.clone())
        .unwrap()
        .into_enrollment_secret()
        .unwrap();
    // The old token stopped working when the rotation was approved.
    assert_eq!(w.coord.authenticate(&old).unwrap_err().code(), "unauthenticated");
    let secret = w.change(rotate).unwrap().into_enrollment_secret().unwrap();
    assert_eq!(
        w.coord.enroll(&stale, &mut rng, NOW).unwrap_err().code(),
        "enrollment_superseded"
    );
    let late = UnixTime::from_secs(NOW.secs() + 3 * 24 * 3600);
    assert_eq!(
        w.coord.enroll(&secret, &mut rng, late).unwrap_err().code(),
        "enrollment_expired"
    );
    let (name, new) = w.coord.enroll(&secret, &mut rng, NOW).unwrap();
    assert_eq!(name, "rhea");
    assert_eq!(w.coord.authenticate(&new).unwrap().name(), "rhea");
    let unknown = EnrollmentSecret::parse(&format!("sluice-enroll_{}", "0".repeat(64))).unwrap();
    let err = w.coord.enroll(&unknown, &mut rng, NOW).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
}

#[test]
fn configuration_is_for_admins_and_logged() {
    let mut w = world(MANUAL_2, BIG);
    let mut rng = rand::thread_rng();
    assert_eq!(
        w.coord.add_customer(&w.alice, "c3", NOW).unwrap_err().code(),
        "forbidden"
    );
    let eve = Change::StaffAdd {
        name: "eve".into(),
        role: Role::Approver,
    };
    assert_eq!(
        w.coord.propose(&w.rita, &eve, &mut rng, NOW).unwrap_err().code(),
        "forbidden"
    );
    let policy = Change::WalletPolicy {
        wallet: "hot".into(),
        policy: ApprovalPolicy::Manual {
            approvers_required: 1,
        },
    };
    assert_eq!(
        w.coord
            .propose(&w.bob, &policy, &mut rng, NOW)
            .unwrap_err()
            .code(),
        "forbidden"
    );
    let proposed = w.coord.propose(&w.admin, &policy, &mut rng, NOW).unwrap();
    assert_eq!(
        w.coord
            .approve_proposal(&w.alice, proposed.proposal.id, &mut rng, NOW)
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(
        w.coord.add_customer(&w.admin, "c1", NOW).unwrap_err().code(),
        "already_exists"
    );
    let log = w.coord.admin_log(&w.admin, 100).unwrap();
    assert!(log
        .iter()
        .any(|e| e.action == "wallet create" && e.subject == "hot" && e.actor == "root"));
    assert!(log
        .iter()
        .any(|e| e.action == "staff add" && e.subject == "alice"));
}

#[test]
fn beneficiaries_must_be_for_our_network() {
    let mut w = world(MANUAL_2, BIG);
    let err = w
        .change(Change::BeneficiaryAdd {
            customer_id: "c1".into(),
            address: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4".into(),
            label: "x".into(),
        })
        .unwrap_err();
    assert_eq!(err.code(), "wrong_network");
    let err = w
        .change(Change::BeneficiaryAdd {
            customer_id: "c1".into(),
            address: regtest_address(1).to_string().to_uppercase(),
            label: "dup".into(),
        })
        .unwrap_err();
    assert_eq!(err.code(), "already_exists");
    assert_eq!(
        count(&w.coord, "proposals"),
        9,
        "refused changes are not proposed"
    );
}

#[test]
fn receive_addresses_are_new_each_time_and_recorded() {
    let mut w = world(MANUAL_2, BIG);
    let (i0, a0) = w.coord.next_receive_address(&w.admin, "hot", NOW).unwrap();
    let (i1, a1) = w.coord.next_receive_address(&w.admin, "hot", NOW).unwrap();
    assert_eq!((i0, i1), (0, 1));
    assert_ne!(a0, a1);
    assert!(a0.to_string().starts_with("bcrt1q"));
    assert_eq!(count(&w.coord, "wallet_addresses"), 2);
    let err = w.coord.next_receive_address(&w.admin, "nope", NOW).unwrap_err();
    assert_eq!(err.code(), "unknown_wallet");
}

#[test]
fn the_same_keys_make_one_wallet() {
    let mut w = world(MANUAL_2, BIG);
    let err = w
        .change(Change::WalletCreate(NewWalletRequest {
            name: "hot2".into(),
            kind: WalletKindArg::WshSortedMulti,
            threshold: Some(2),
            keys: vec![KEY_B.into(), KEY_A.into(), KEY_C.into()],
            policy: MANUAL_2,
            daily_limit: BIG,
        }))
        .unwrap_err();
    assert_eq!(err.code(), "already_exists", "{err}");
}

#[test]
fn listing_pages_newest_first() {
    let mut w = world(MANUAL_2, BIG);
    for i in 0..5 {
        w.coord
            .request_withdrawal(&w.rita, &format!("k{i}"), &request(1_000_000 + i), NOW)
            .unwrap();
    }
    let page = w
        .coord
        .list_withdrawals(
            &w.alice,
            &WithdrawalQuery {
                limit: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
    let ids: Vec<u64> = page.withdrawals.iter().map(|w| w.id).collect();
    assert_eq!(ids, [5, 4]);
    let next = w
        .coord
        .list_withdrawals(
            &w.alice,
            &WithdrawalQuery {
                limit: Some(2),
                before_id: Some(4),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(next.withdrawals.iter().map(|w| w.id).collect::<Vec<_>>(), [3, 2]);
    let approved = w
        .coord
        .list_withdrawals(
            &w.alice,
            &WithdrawalQuery {
                status: Some(WithdrawalStatus::Approved),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(approved.withdrawals.is_empty());
    assert_eq!(
        w.coord
            .list_withdrawals(
                &w.alice,
                &WithdrawalQuery {
                    limit: Some(0),
                    ..Default::default()
                }
            )
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    assert_eq!(w.coord.withdrawal(&w.alice, 99).unwrap_err().code(), "not_found");
}

#[test]
fn approvals_by_since_deactivated_approvers_do_not_count() {
    let mut w = world(MANUAL_2, BIG);
    let id = w
        .coord
        .request_withdrawal(&w.rita, "k", &request(1_000_000), NOW)
        .unwrap()
        .detail()
        .withdrawal
        .id;
    w.coord.approve(&w.alice, id, NOW).unwrap();
    w.change(Change::StaffSetActive {
        name: "alice".into(),
        active: false,
    })
    .unwrap();
    // Alice's approval is on record but she is no longer active: bob's alone is one of two.
    let after_bob = w.coord.approve(&w.bob, id, NOW).unwrap();
    assert_eq!(after_bob.withdrawal.status, WithdrawalStatus::PendingApproval);
    let after_carol = w.coord.approve(&w.carol, id, NOW).unwrap();
    assert_eq!(after_carol.withdrawal.status, WithdrawalStatus::Approved);
}

/// KYC (issue 11 item 3): a customer added now starts unverified; only compliance sets
/// the status; intake refuses anyone not verified at this moment (unverified, revoked,
/// or verified until a date that has passed), records nothing, and says why.
#[test]
fn withdrawals_need_a_customer_verified_now() {
    use crate::rules::kyc::KycStatus;
    let mut w = world(MANUAL_2, BIG);
    w.coord.add_customer(&w.admin, "c7", NOW).unwrap();
    w.change(Change::BeneficiaryAdd {
        customer_id: "c7".into(),
        address: regtest_address(7).to_string(),
        label: "c7".into(),
    })
    .unwrap();
    let mut wanted = request(1_000_000);
    wanted.customer_id = "c7".into();
    wanted.destination = regtest_address(7).to_string();
    let refused = w
        .coord
        .request_withdrawal(&w.rita, "k1", &wanted, NOW)
        .unwrap_err();
    assert_eq!(refused.code(), "customer_not_verified");
    assert_eq!(refused.kind(), super::ErrorKind::Refused);
    assert!(refused.to_string().contains("unverified"), "{refused}");

    let not_compliance = w
        .coord
        .set_kyc(&w.admin, "c7", VERIFIED, "admin tries", NOW)
        .unwrap_err();
    assert_eq!(not_compliance.code(), "forbidden");
    let past = KycStatus::Verified {
        until: Some(UnixTime::from_secs(NOW.secs() - 1)),
    };
    assert_eq!(
        w.coord
            .set_kyc(&w.cora, "c7", past, "stale", NOW)
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    let until = UnixTime::from_secs(NOW.secs() + 3_600);
    w.coord
        .set_kyc(
            &w.cora,
            "c7",
            KycStatus::Verified { until: Some(until) },
            "passport",
            NOW,
        )
        .unwrap();
    w.coord.request_withdrawal(&w.rita, "k2", &wanted, NOW).unwrap();
    let later = UnixTime::from_secs(until.secs() + 1);
    let expired = w
        .coord
        .request_withdrawal(&w.rita, "k3", &wanted, later)
        .unwrap_err();
    assert_eq!(expired.code(), "customer_not_verified");
    assert!(expired.to_string().contains("expired"), "{expired}");

    w.coord
        .set_kyc(&w.cora, "c7", KycStatus::Revoked, "sanctions hit", NOW)
        .unwrap();
    let revoked = w
        .coord
        .request_withdrawal(&w.rita, "k4", &wanted, NOW)
        .unwrap_err();
    assert!(revoked.to_string().contains("revoked"), "{revoked}");
    let history = w.coord.customer_kyc(&w.admin, "c7").unwrap().history;
    let statuses: Vec<&str> = history.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(statuses, ["verified", "revoked"]);
    assert_eq!(history[1].actor, "cora");
    let recorded: i64 = w
        .coord
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM withdrawals WHERE customer_id = 'c7'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recorded, 1, "only the request made while verified was recorded");
}

#[test]
fn a_database_held_by_another_writer_is_busy_not_internal_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coordinator.sqlite");
    let mut desk = AdminDesk::initialise(&path, Network::Regtest, ["root", "ops"], NOW).unwrap();
    // Another writer (a processor pass over a huge batch, say) holds the write lock for
    // longer than the busy timeout.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = desk.coord.add_customer(&desk.admin, "c9", NOW).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    assert_eq!(err.code(), "busy");
    other.execute_batch("ROLLBACK").unwrap();
    // Nothing was half-written: the same call succeeds once the lock is free.
    desk.coord.add_customer(&desk.admin, "c9", NOW).unwrap();
}

/// Group commit: one transaction, each request in order in its own savepoint. A refused
/// request records nothing and the others stand; later requests see earlier ones (limits,
/// a repeated key), exactly as if each had been committed alone in that order.
#[test]
fn a_group_of_requests_is_recorded_as_if_one_after_another() {
    let mut w = world(MANUAL_2, BIG);
    w.change(Change::CustomerDailyLimit {
        customer_id: "c1".into(),
        asset: Asset::Btc,
        daily_limit_sat: Amount::from_sat(2_000_000),
    })
    .unwrap();
    let group = |key: &str, sat: u64| IntakeRequest {
        actor: w.rita.clone(),
        idempotency_key: key.to_owned(),
        request: request(sat),
        now: NOW,
    };
    let mut requests = vec![
        group("a", 1_500_000),
        // Over the customer's limit only because of "a" in the same group.
        group("b", 600_000),
        group("c", 400_000),
    ];
    // These arrive while the group waits for its write turn, and join it.
    let mut arriving = vec![
        // Repeats: the same request finds "a", a different one under "a" is refused.
        group("a", 1_500_000),
        group("a", 1_000),
        group("bad key", 1_000),
    ];
    let outcomes = w
        .coord
        .request_withdrawals(&mut requests, &mut |group| group.append(&mut arriving))
        .unwrap();
    assert_eq!(requests.len(), 6);
    assert_eq!(outcomes.len(), requests.len());
    let created_a = match &outcomes[0] {
        Ok(Intake::Created(d)) => d.withdrawal.id,
        other => panic!("a: {other:?}"),
    };
    assert_eq!(outcomes[1].as_ref().unwrap_err().code(), "customer_daily_limit");
    assert!(matches!(outcomes[2], Ok(Intake::Created(_))));
    match &outcomes[3] {
        Ok(Intake::Existing(d)) => assert_eq!(d.withdrawal.id, created_a),
        other => panic!("a again: {other:?}"),
    }
    assert_eq!(outcomes[4].as_ref().unwrap_err().code(), "idempotency_conflict");
    assert!(outcomes[5].is_err());
    assert_eq!(count(&w.coord, "withdrawals"), 2);
    // Nothing of "b" was left behind by its rollback: its key is free for a fixed request.
    let retried = w
        .coord
        .request_withdrawal(&w.rita, "b", &request(50_000), NOW)
        .unwrap();
    assert!(matches!(retried, Intake::Created(_)));
    // Each created withdrawal has its full history, as alone.
    let events: i64 = w
        .coord
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM withdrawal_events WHERE withdrawal_id = ?1",
            [i64::try_from(created_a).unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert!(events >= 1);
}
