//! Four eyes on configuration: every money-moving change waits for a second, different,
//! active admin, and a proposal is decided once, in time.

use bitcoin::Amount;
use sluice_shared::asset::Asset;
use sluice_shared::identity::SignerId;

use super::tests::{enrolled, regtest_address, world, KEY_A, NOW};
use super::*;
use crate::rules::fees::FeeSchedule;
use crate::rules::policy::ApprovalPolicy;
use crate::time::UnixTime;
use crate::wallet_spec::WalletKindArg;

const MANUAL_2: ApprovalPolicy = ApprovalPolicy::Manual {
    approvers_required: 2,
};
const BIG: Amount = Amount::from_sat(100_000_000_000);

/// Everything configuration that can move money, as one text (proposals and the logs
/// excluded).
fn configuration(coord: &Coordinator) -> String {
    let mut all = String::new();
    for table in [
        "staff",
        "beneficiaries",
        "fee_schedules",
        "customer_limits",
        "wallets",
        "signers",
    ] {
        let c = coord.connection();
        let mut stmt = c.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let columns = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                (0..columns)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap();
        for row in rows {
            all.push_str(&format!("{table}: {}\n", row.unwrap().join(", ")));
        }
    }
    all
}

#[test]
fn every_money_moving_change_waits_for_a_second_admin() {
    let mut w = world(MANUAL_2, BIG);
    let mut rng = rand::thread_rng();
    let generator_x = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    let signer_id = SignerId::from_identity_key(&generator_x.parse().unwrap()).to_string();
    let changes = vec![
        Change::StaffAdd {
            name: "mallory".into(),
            role: Role::Admin,
        },
        Change::StaffRotateToken { name: "rita".into() },
        Change::StaffSetActive {
            name: "rob".into(),
            active: false,
        },
        Change::BeneficiaryAdd {
            customer_id: "c1".into(),
            address: regtest_address(5).to_string(),
            label: "attacker".into(),
        },
        Change::BeneficiarySetActive {
            customer_id: "c1".into(),
            address: regtest_address(1).to_string(),
            active: false,
        },
        Change::FeesSet {
            asset: Asset::Btc,
            schedule: FeeSchedule::Flat(Amount::ZERO),
        },
        Change::CustomerDailyLimit {
            customer_id: "c1".into(),
            asset: Asset::Btc,
            daily_limit_sat: Amount::MAX_MONEY,
        },
        Change::WalletDailyLimit {
            wallet: "hot".into(),
            daily_limit_sat: Amount::MAX_MONEY,
        },
        Change::WalletPolicy {
            wallet: "hot".into(),
            policy: ApprovalPolicy::Auto {
                max_amount_sat: Amount::MAX_MONEY,
                registered_destination_only: false,
            },
        },
        Change::WalletCreate(NewWalletRequest {
            name: "drain".into(),
            kind: WalletKindArg::Wpkh,
            threshold: None,
            keys: vec![KEY_A.into()],
            policy: ApprovalPolicy::Auto {
                max_amount_sat: Amount::MAX_MONEY,
                registered_destination_only: false,
            },
            daily_limit: Amount::MAX_MONEY,
        }),
        Change::SignerAdd {
            name: "rogue".into(),
            identity_key: generator_x.into(),
            fingerprint: "1bbaa5fe".into(),
            tor_key: None,
        },
        Change::SignerSetActive {
            signer_id,
            active: false,
        },
    ];
    for change in changes {
        let before = configuration(&w.coord);
        let id = w
            .coord
            .propose(&w.admin, &change, &mut rng, NOW)
            .unwrap()
            .proposal
            .id;
        assert_eq!(
            configuration(&w.coord),
            before,
            "proposing {change:?} changed nothing"
        );
        let err = w.coord.approve_proposal(&w.admin, id, &mut rng, NOW).unwrap_err();
        assert_eq!(err.code(), "own_proposal", "{change:?}");
        assert_eq!(err.kind(), ErrorKind::Forbidden);
        assert_eq!(
            configuration(&w.coord),
            before,
            "{change:?} took effect with one admin"
        );
        let (applied, _) = w.coord.approve_proposal(&w.admin2, id, &mut rng, NOW).unwrap();
        assert_eq!(applied.status, "applied");
        assert_eq!(applied.decided_by.as_deref(), Some("ops"));
        assert_ne!(
            configuration(&w.coord),
            before,
            "{change:?} applied once approved"
        );
        let err = w
            .coord
            .approve_proposal(&w.admin2, id, &mut rng, NOW)
            .unwrap_err();
        assert_eq!(err.code(), "proposal_not_pending");
    }
}

#[test]
fn proposals_are_decided_once_in_time_by_active_admins() {
    let mut w = world(MANUAL_2, BIG);
    let mut rng = rand::thread_rng();
    let zed = enrolled(&mut w.coord, &w.admin, &w.admin2, "zed", Role::Admin);
    let fee = |bps| Change::FeesSet {
        asset: Asset::Btc,
        schedule: FeeSchedule::Percent { basis_points: bps },
    };

    // Rejected: cannot be approved afterwards; rejection needs a reason.
    let id = w
        .coord
        .propose(&w.admin, &fee(1), &mut rng, NOW)
        .unwrap()
        .proposal
        .id;
    assert_eq!(
        w.coord
            .reject_proposal(&w.admin2, id, " ", NOW)
            .unwrap_err()
            .code(),
        "invalid_reason"
    );
    let rejected = w.coord.reject_proposal(&w.admin2, id, "too low", NOW).unwrap();
    assert_eq!(rejected.status, "rejected");
    assert_eq!(
        w.coord
            .approve_proposal(&zed, id, &mut rng, NOW)
            .unwrap_err()
            .code(),
        "proposal_not_pending"
    );

    // Expired after seven days.
    let id = w
        .coord
        .propose(&w.admin, &fee(2), &mut rng, NOW)
        .unwrap()
        .proposal
        .id;
    let late = UnixTime::from_secs(NOW.secs() + 7 * 24 * 3600);
    assert_eq!(
        w.coord
            .approve_proposal(&w.admin2, id, &mut rng, late)
            .unwrap_err()
            .code(),
        "proposal_expired"
    );
    assert_eq!(w.coord.proposal(&w.admin2, id, late).unwrap().status, "expired");

    // A deactivated admin's approval does not count: their session is refused.
    let id = w
        .coord
        .propose(&w.admin, &fee(3), &mut rng, NOW)
        .unwrap()
        .proposal
        .id;
    w.change(Change::StaffSetActive {
        name: "zed".into(),
        active: false,
    })
    .unwrap();
    assert_eq!(
        w.coord
            .approve_proposal(&zed, id, &mut rng, NOW)
            .unwrap_err()
            .code(),
        "unauthenticated"
    );
    assert_eq!(
        w.coord.fee_schedule(Asset::Btc).unwrap(),
        Some(FeeSchedule::Percent { basis_points: 10 })
    );

    // A proposal by an admin deactivated since cannot be applied.
    w.change(Change::StaffSetActive {
        name: "zed".into(),
        active: true,
    })
    .unwrap();
    let by_zed = w.coord.propose(&zed, &fee(4), &mut rng, NOW).unwrap().proposal.id;
    w.change(Change::StaffSetActive {
        name: "zed".into(),
        active: false,
    })
    .unwrap();
    assert_eq!(
        w.coord
            .approve_proposal(&w.admin, by_zed, &mut rng, NOW)
            .unwrap_err()
            .code(),
        "proposer_inactive"
    );
    // Non-admins neither propose nor see proposals.
    assert_eq!(
        w.coord.list_proposals(&w.alice, 10, NOW).unwrap_err().code(),
        "forbidden"
    );
    let listed = w.coord.list_proposals(&w.admin, 100, NOW).unwrap();
    assert!(listed.iter().any(|p| p.id == id && p.status == "pending"));
}
