//! Who may approve or reject a withdrawal, and when. Whether the approvals then meet the
//! wallet's policy is `policy::ApprovalPolicy::evaluate`'s question, not this module's.

use sluice_shared::api::WithdrawalStatus;

use super::roles::{Permission, Role};

/// The longest rejection reason kept, in characters.
pub const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalRefusal {
    #[error("role {0} cannot approve or reject withdrawals: that needs the approver role")]
    WrongRole(Role),
    #[error("you requested this withdrawal, so you cannot approve or reject it: another approver must")]
    OwnWithdrawal,
    #[error("you already approved this withdrawal; the policy needs a different approver")]
    AlreadyApproved,
    #[error("withdrawal is {0}, not pending approval: only pending withdrawals can be approved or rejected")]
    NotPending(WithdrawalStatus),
    #[error("a rejection needs a reason of 1 to {MAX_REASON_CHARS} characters")]
    BadReason,
    #[error("the customer was suspended after this withdrawal was requested: it cannot be approved (reject it, or an admin reactivates the customer)")]
    CustomerSuspended,
    #[error("the destination is no longer an active beneficiary: it cannot be approved (reject it, or an admin reactivates the beneficiary)")]
    BeneficiaryInactive,
    #[error("withdrawal is {0}: only an approved withdrawal not yet in a transaction can be cancelled (a pending one is rejected; once signers may have signed, it is paid or its coins are spent elsewhere)")]
    NotCancellable(WithdrawalStatus),
}

impl ApprovalRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            ApprovalRefusal::WrongRole(_) => "forbidden",
            ApprovalRefusal::OwnWithdrawal => "own_withdrawal",
            ApprovalRefusal::AlreadyApproved => "already_approved",
            ApprovalRefusal::NotPending(_) => "not_pending",
            ApprovalRefusal::BadReason => "invalid_reason",
            ApprovalRefusal::CustomerSuspended => "customer_suspended",
            ApprovalRefusal::BeneficiaryInactive => "beneficiary_inactive",
            ApprovalRefusal::NotCancellable(_) => "not_cancellable",
        }
    }
}

/// The withdrawal as the approval rules see it.
#[derive(Debug, Clone, Copy)]
pub struct ApprovalTarget<'a> {
    pub status: WithdrawalStatus,
    pub requested_by: &'a str,
    /// Staff who have already approved it manually.
    pub approved_by: &'a [String],
    /// The customer is active now.
    pub customer_active: bool,
    /// The destination is an active beneficiary of that customer now.
    pub beneficiary_active: bool,
}

fn check_common(actor: &str, role: Role, target: &ApprovalTarget<'_>) -> Result<(), ApprovalRefusal> {
    if !role.allows(Permission::ApproveWithdrawal) {
        return Err(ApprovalRefusal::WrongRole(role));
    }
    if actor == target.requested_by {
        return Err(ApprovalRefusal::OwnWithdrawal);
    }
    if target.status != WithdrawalStatus::PendingApproval {
        return Err(ApprovalRefusal::NotPending(target.status));
    }
    Ok(())
}

/// May `actor` record an approval now?
pub fn check_approve(actor: &str, role: Role, target: &ApprovalTarget<'_>) -> Result<(), ApprovalRefusal> {
    check_common(actor, role, target)?;
    if target.approved_by.iter().any(|name| name == actor) {
        return Err(ApprovalRefusal::AlreadyApproved);
    }
    // Compliance can change while a withdrawal waits: approve only what intake would
    // still accept. Rejecting stays possible.
    if !target.customer_active {
        return Err(ApprovalRefusal::CustomerSuspended);
    }
    if !target.beneficiary_active {
        return Err(ApprovalRefusal::BeneficiaryInactive);
    }
    Ok(())
}

/// May `actor` reject it now with `reason`? Any approver other than the requester may
/// reject a pending withdrawal, including one who approved it earlier: a veto only ever
/// stops a payment. Returns the trimmed reason.
pub fn check_reject<'r>(
    actor: &str,
    role: Role,
    target: &ApprovalTarget<'_>,
    reason: &'r str,
) -> Result<&'r str, ApprovalRefusal> {
    check_common(actor, role, target)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApprovalRefusal::BadReason);
    }
    Ok(reason)
}

/// May an approver cancel a withdrawal in `status` with `reason`? Only an approved one
/// that no transaction pays yet: it ends `failed`, with the reason in its history.
/// Returns the trimmed reason.
pub fn check_cancel(role: Role, status: WithdrawalStatus, reason: &str) -> Result<&str, ApprovalRefusal> {
    if !role.allows(Permission::ApproveWithdrawal) {
        return Err(ApprovalRefusal::WrongRole(role));
    }
    if status != WithdrawalStatus::Approved {
        return Err(ApprovalRefusal::NotCancellable(status));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApprovalRefusal::BadReason);
    }
    Ok(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending<'a>(approved_by: &'a [String]) -> ApprovalTarget<'a> {
        ApprovalTarget {
            status: WithdrawalStatus::PendingApproval,
            requested_by: "rita",
            approved_by,
            customer_active: true,
            beneficiary_active: true,
        }
    }

    #[test]
    fn only_approvers_approve() {
        assert!(check_approve("alice", Role::Approver, &pending(&[])).is_ok());
        assert_eq!(
            check_approve("adam", Role::Admin, &pending(&[])),
            Err(ApprovalRefusal::WrongRole(Role::Admin))
        );
        assert_eq!(
            check_approve("rob", Role::Requester, &pending(&[])),
            Err(ApprovalRefusal::WrongRole(Role::Requester))
        );
    }

    #[test]
    fn the_requester_never_approves_or_rejects_their_own() {
        // Even if the requester somehow held the approver role.
        assert_eq!(
            check_approve("rita", Role::Approver, &pending(&[])),
            Err(ApprovalRefusal::OwnWithdrawal)
        );
        assert_eq!(
            check_reject("rita", Role::Approver, &pending(&[]), "no"),
            Err(ApprovalRefusal::OwnWithdrawal)
        );
    }

    #[test]
    fn an_approver_approves_once() {
        let already = ["alice".to_owned()];
        assert_eq!(
            check_approve("alice", Role::Approver, &pending(&already)),
            Err(ApprovalRefusal::AlreadyApproved)
        );
        assert!(check_approve("bob", Role::Approver, &pending(&already)).is_ok());
        // ...but may still veto.
        assert_eq!(
            check_reject("alice", Role::Approver, &pending(&already), " fraud "),
            Ok("fraud")
        );
    }

    #[test]
    fn only_pending_withdrawals_change() {
        for status in WithdrawalStatus::ALL {
            if status == WithdrawalStatus::PendingApproval {
                continue;
            }
            let target = ApprovalTarget {
                status,
                requested_by: "rita",
                approved_by: &[],
                customer_active: true,
                beneficiary_active: true,
            };
            assert_eq!(
                check_approve("alice", Role::Approver, &target),
                Err(ApprovalRefusal::NotPending(status))
            );
            assert_eq!(
                check_reject("alice", Role::Approver, &target, "late"),
                Err(ApprovalRefusal::NotPending(status))
            );
        }
    }

    #[test]
    fn approval_waits_for_compliance_but_rejection_does_not() {
        let mut target = pending(&[]);
        target.customer_active = false;
        assert_eq!(
            check_approve("alice", Role::Approver, &target),
            Err(ApprovalRefusal::CustomerSuspended)
        );
        assert_eq!(
            check_reject("alice", Role::Approver, &target, "suspended"),
            Ok("suspended")
        );
        let mut target = pending(&[]);
        target.beneficiary_active = false;
        assert_eq!(
            check_approve("alice", Role::Approver, &target),
            Err(ApprovalRefusal::BeneficiaryInactive)
        );
    }

    #[test]
    fn a_rejection_needs_a_reason() {
        assert_eq!(
            check_reject("alice", Role::Approver, &pending(&[]), "   "),
            Err(ApprovalRefusal::BadReason)
        );
        let long = "x".repeat(MAX_REASON_CHARS + 1);
        assert_eq!(
            check_reject("alice", Role::Approver, &pending(&[]), &long),
            Err(ApprovalRefusal::BadReason)
        );
    }
}
