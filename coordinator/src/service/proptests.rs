//! Property: no sequence of operations (requests, approvals, rejections by anyone, policy
//! changes, suspensions, deactivations) moves a withdrawal into the queue unless the
//! wallet's policy in force at that moment is met, counting only approvals by approvers
//! still active at that moment. The check below re-derives "met" from
//! the raw tables with its own logic rather than calling `ApprovalPolicy::evaluate`.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::Amount;
use proptest::prelude::*;
use sluice_shared::api::WithdrawalStatus;

use super::tests::{regtest_address, request, world, World, NOW};
use super::*;
use crate::rules::intake::CustomerStatus;
use crate::rules::policy::ApprovalPolicy;

const CEILING: u64 = 5_000_000;

#[derive(Debug, Clone)]
enum Op {
    Request {
        staff: usize,
        key: u8,
        amount: u64,
        registered: bool,
    },
    Approve {
        staff: usize,
        withdrawal: u64,
    },
    Reject {
        staff: usize,
        withdrawal: u64,
    },
    SetPolicy(ApprovalPolicy),
    SetCustomer(bool),
    SetBeneficiary(bool),
    SetStaffActive {
        staff: usize,
        active: bool,
    },
}

fn policy() -> impl Strategy<Value = ApprovalPolicy> {
    prop_oneof![
        (1u32..=3).prop_map(|m| ApprovalPolicy::Manual {
            approvers_required: m
        }),
        any::<bool>().prop_map(|r| ApprovalPolicy::Auto {
            max_amount_sat: Amount::from_sat(CEILING),
            registered_destination_only: r,
        }),
        (any::<bool>(), 1u32..=3).prop_map(|(r, m)| ApprovalPolicy::Both {
            max_amount_sat: Amount::from_sat(CEILING),
            registered_destination_only: r,
            approvers_required: m,
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let amount = prop::sample::select(vec![1_000u64, 500_000, CEILING, CEILING + 1, 20_000_000]);
    prop_oneof![
        4 => (0usize..6, 0u8..6, amount, any::<bool>())
            .prop_map(|(staff, key, amount, registered)| Op::Request { staff, key, amount, registered }),
        6 => (0usize..6, 1u64..8).prop_map(|(staff, withdrawal)| Op::Approve { staff, withdrawal }),
        1 => (0usize..6, 1u64..8).prop_map(|(staff, withdrawal)| Op::Reject { staff, withdrawal }),
        1 => policy().prop_map(Op::SetPolicy),
        1 => any::<bool>().prop_map(Op::SetCustomer),
        1 => any::<bool>().prop_map(Op::SetBeneficiary),
        1 => (1usize..6, any::<bool>()).prop_map(|(staff, active)| Op::SetStaffActive { staff, active }),
    ]
}

fn actor(w: &World, index: usize) -> &Actor {
    [&w.admin, &w.rita, &w.rob, &w.alice, &w.bob, &w.carol][index]
}

const APPROVERS: [&str; 3] = ["alice", "bob", "carol"];

/// The raw facts about withdrawal `id`: (status, amount, requester, destination,
/// manual approvers, has automatic approval).
fn raw(coord: &Coordinator, id: u64) -> (String, u64, String, String, Vec<String>, bool) {
    let c = coord.connection();
    let (status, amount, requester, destination): (String, i64, String, String) = c
        .query_row(
            "SELECT status, amount_sat, requested_by, destination FROM withdrawals WHERE id = ?1",
            [id as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let mut stmt = c
        .prepare("SELECT approver, method FROM approvals WHERE withdrawal_id = ?1")
        .unwrap();
    let rows: Vec<(Option<String>, String)> = stmt
        .query_map([id as i64], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let manual = rows
        .iter()
        .filter(|(_, m)| m == "manual")
        .filter_map(|(a, _)| a.clone())
        .collect();
    let auto = rows.iter().any(|(a, m)| m == "auto-rule" && a.is_none());
    (status, amount as u64, requester, destination, manual, auto)
}

/// Whether `policy` is met, judged independently of the implementation.
fn policy_met(
    policy: &ApprovalPolicy,
    amount: u64,
    requester: &str,
    manual: &[String],
    auto: bool,
    registered: bool,
) -> bool {
    let (ceiling, registered_only, m) = match *policy {
        ApprovalPolicy::Manual { approvers_required } => (None, false, Some(approvers_required)),
        ApprovalPolicy::Auto {
            max_amount_sat,
            registered_destination_only,
        } => (Some(max_amount_sat.to_sat()), registered_destination_only, None),
        ApprovalPolicy::Both {
            max_amount_sat,
            registered_destination_only,
            approvers_required,
        } => (
            Some(max_amount_sat.to_sat()),
            registered_destination_only,
            Some(approvers_required),
        ),
    };
    let auto_ok = auto && ceiling.is_some_and(|c| amount <= c) && (!registered_only || registered);
    let distinct: BTreeSet<&String> = manual
        .iter()
        .filter(|a| a.as_str() != requester && APPROVERS.contains(&a.as_str()))
        .collect();
    let manual_ok = m.is_some_and(|m| distinct.len() >= m as usize);
    auto_ok || manual_ok
}

fn run(initial: ApprovalPolicy, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut w = world(initial.clone(), Amount::from_sat(1_000_000_000));
    let mut policy = initial;
    let mut customer_active = true;
    let mut beneficiary_active = true;
    let mut seen: BTreeMap<u64, String> = BTreeMap::new();
    let mut active_staff: BTreeSet<String> = APPROVERS.iter().map(|a| a.to_string()).collect();
    for op in ops {
        match op {
            Op::Request {
                staff,
                key,
                amount,
                registered,
            } => {
                let mut req = request(amount);
                if !registered {
                    req.destination = regtest_address(9).to_string();
                }
                let actor = actor(&w, staff).clone();
                let _ = w
                    .coord
                    .request_withdrawal(&actor, &format!("key-{key}"), &req, NOW);
            }
            Op::Approve { staff, withdrawal } => {
                let actor = actor(&w, staff).clone();
                let _ = w.coord.approve(&actor, withdrawal, NOW);
            }
            Op::Reject { staff, withdrawal } => {
                let actor = actor(&w, staff).clone();
                let _ = w.coord.reject(&actor, withdrawal, "no", NOW);
            }
            Op::SetPolicy(p) => {
                w.change(Change::WalletPolicy {
                    wallet: "hot".into(),
                    policy: p.clone(),
                })
                .unwrap();
                policy = p;
            }
            Op::SetCustomer(active) => {
                let admin = w.admin.clone();
                let status = if active {
                    CustomerStatus::Active
                } else {
                    CustomerStatus::Suspended
                };
                w.coord.set_customer_status(&admin, "c1", status, NOW).unwrap();
                customer_active = active;
            }
            Op::SetBeneficiary(active) => {
                w.change(Change::BeneficiarySetActive {
                    customer_id: "c1".into(),
                    address: regtest_address(1).to_string(),
                    active,
                })
                .unwrap();
                beneficiary_active = active;
            }
            Op::SetStaffActive { staff, active } => {
                let name = actor(&w, staff).name().to_owned();
                w.change(Change::StaffSetActive {
                    name: name.clone(),
                    active,
                })
                .unwrap();
                if active {
                    active_staff.insert(name);
                } else {
                    active_staff.remove(&name);
                }
            }
        }
        let ids: Vec<u64> = {
            let c = w.coord.connection();
            let mut stmt = c.prepare("SELECT id FROM withdrawals").unwrap();
            let ids = stmt
                .query_map([], |r| r.get::<_, i64>(0))
                .unwrap()
                .map(|r| r.unwrap() as u64)
                .collect();
            ids
        };
        for id in ids {
            let (status, amount, requester, destination, manual, auto) = raw(&w.coord, id);
            // Nobody but an approver other than the requester ever has an approval on record.
            for name in &manual {
                prop_assert!(APPROVERS.contains(&name.as_str()), "{name} approved {id}");
                prop_assert_ne!(name, &requester);
            }
            prop_assert!(
                ["rita", "rob"].contains(&requester.as_str()),
                "{requester} requested {id}"
            );
            let before = seen.insert(id, status.clone());
            let became_approved = status == WithdrawalStatus::Approved.as_str()
                && before.as_deref() != Some(WithdrawalStatus::Approved.as_str());
            if became_approved {
                let registered = destination == regtest_address(1).to_string() && beneficiary_active;
                // Only approvals by approvers active now count (issue 8 item 6).
                let manual: Vec<String> = manual.into_iter().filter(|a| active_staff.contains(a)).collect();
                prop_assert!(customer_active, "{id} approved for a suspended customer");
                prop_assert!(
                    policy_met(&policy, amount, &requester, &manual, auto, registered),
                    "withdrawal {id} approved without {policy:?}: manual {manual:?}, auto {auto}"
                );
            }
            prop_assert!(
                ["pending_approval", "approved", "rejected"].contains(&status.as_str()),
                "{id} reached {status} without a processor"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn nothing_is_approved_without_its_policy(initial in policy(), ops in prop::collection::vec(op(), 1..40)) {
        run(initial, ops)?;
    }
}
