//! Which status changes a withdrawal may make. The database trigger
//! `withdrawals_status_edges` enforces the same edges.
//!
//! The processor moves a withdrawal from `approved` to `signing` as it opens the signing
//! session. `batched` (approved → batched → signing in that one transaction) is no longer
//! entered since migration 22; its edges stay for the histories already recorded.
//!
//! Once a PSBT has gone to signers (`signing`), a withdrawal returns to the queue only
//! through a released abandon: signatures may exist, so it may be paid again only after
//! a confirmed transaction outside its session's group spent that group's inputs (the
//! trigger `withdrawals_return_needs_release` checks the release is on record). A fee
//! bump changes no withdrawal status: the bump pays the same withdrawals from the same
//! inputs, and the withdrawals follow whichever of the group confirms.

use sluice_shared::api::WithdrawalStatus;

pub fn can_transition(from: WithdrawalStatus, to: WithdrawalStatus) -> bool {
    use WithdrawalStatus::*;
    matches!(
        (from, to),
        (PendingApproval, Approved | Rejected)
            | (Approved, Signing | Batched | Failed)
            | (Batched, Signing | Approved | Failed)
            | (Signing, Signed | Failed | Approved)
            | (Signed, Broadcast | Failed | Approved)
            | (Broadcast, Confirmed | Failed | Approved)
            | (Confirmed, Broadcast)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use WithdrawalStatus::*;

    #[test]
    fn only_approval_or_a_released_abandon_leads_into_the_queue() {
        for from in WithdrawalStatus::ALL {
            if can_transition(from, Approved) {
                assert!(
                    matches!(from, PendingApproval | Batched | Signing | Signed | Broadcast),
                    "{from} -> approved"
                );
            }
        }
        // A confirmed payment never goes back to the queue.
        assert!(!can_transition(Confirmed, Approved));
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
