//! Which status changes a withdrawal may make. The database trigger
//! `withdrawals_status_edges` enforces the same edges.
//!
//! Once a PSBT has gone to signers (`signing`), a withdrawal never returns to the queue:
//! signatures may exist, so paying it again would need a transaction that conflicts with
//! the first on an input, which is the sender's fee-bump path, not a re-batch.

use sluice_shared::api::WithdrawalStatus;

pub fn can_transition(from: WithdrawalStatus, to: WithdrawalStatus) -> bool {
    use WithdrawalStatus::*;
    matches!(
        (from, to),
        (PendingApproval, Approved | Rejected)
            | (Approved, Batched | Failed)
            | (Batched, Signing | Approved | Failed)
            | (Signing, Signed | Failed)
            | (Signed, Broadcast | Failed)
            | (Broadcast, Confirmed | Failed)
            | (Confirmed, Broadcast)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use WithdrawalStatus::*;

    #[test]
    fn only_approval_leads_into_the_queue() {
        for from in WithdrawalStatus::ALL {
            if can_transition(from, Approved) {
                assert!(matches!(from, PendingApproval | Batched), "{from} -> approved");
            }
        }
    }

    #[test]
    fn rejected_and_failed_are_final() {
        for to in WithdrawalStatus::ALL {
            assert!(!can_transition(Rejected, to));
            assert!(!can_transition(Failed, to));
        }
    }

    #[test]
    fn nothing_skips_approval() {
        for to in [Batched, Signing, Signed, Broadcast, Confirmed] {
            assert!(!can_transition(PendingApproval, to));
        }
    }
}
