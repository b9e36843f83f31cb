//! Four eyes on configuration: who may approve or reject a proposed change, and when.
//! Every change that can move money (staff, tokens, beneficiaries, approval policies,
//! limits, fees, signers, wallets) takes effect only when a second, different, active
//! admin approves the proposal, before it expires.

use std::time::Duration;

use super::approval::MAX_REASON_CHARS;
use crate::time::UnixTime;

/// How long a proposal waits for its second admin.
pub const PROPOSAL_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long an enrollment secret can be exchanged for a token.
pub const ENROLLMENT_LIFETIME: Duration = Duration::from_secs(3 * 24 * 3600);

/// `now` plus `lifetime`, saturating.
pub fn expiry(now: UnixTime, lifetime: Duration) -> UnixTime {
    let secs = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    UnixTime::from_secs(now.secs().saturating_add(secs))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalRefusal {
    #[error("you proposed this change, so you cannot approve it: another admin must (four eyes)")]
    OwnProposal,
    #[error(
        "proposal is {0}, not pending: a decided proposal cannot be decided again (propose the change anew)"
    )]
    NotPending(&'static str),
    #[error("proposal expired at {0}: propose the change anew")]
    Expired(UnixTime),
    #[error("{0} proposed this change and is no longer an active admin: the proposal cannot be approved (reject it)")]
    ProposerInactive(String),
    #[error("a rejection needs a reason of 1 to {MAX_REASON_CHARS} characters")]
    BadReason,
}

impl ProposalRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            ProposalRefusal::OwnProposal => "own_proposal",
            ProposalRefusal::NotPending(_) => "proposal_not_pending",
            ProposalRefusal::Expired(_) => "proposal_expired",
            ProposalRefusal::ProposerInactive(_) => "proposer_inactive",
            ProposalRefusal::BadReason => "invalid_reason",
        }
    }
}

/// A proposal as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct ProposalFacts<'a> {
    /// `pending`, `applied` or `rejected`.
    pub status: &'static str,
    pub proposed_by: &'a str,
    pub expires_at: UnixTime,
    /// The proposer is an active admin now.
    pub proposer_active_admin: bool,
}

fn check_pending(facts: &ProposalFacts<'_>) -> Result<(), ProposalRefusal> {
    if facts.status != "pending" {
        return Err(ProposalRefusal::NotPending(facts.status));
    }
    Ok(())
}

/// Whether `approver` (an active admin; the caller checked) may apply the proposal now.
pub fn check_approve_proposal(
    approver: &str,
    facts: &ProposalFacts<'_>,
    now: UnixTime,
) -> Result<(), ProposalRefusal> {
    check_pending(facts)?;
    if approver == facts.proposed_by {
        return Err(ProposalRefusal::OwnProposal);
    }
    if now >= facts.expires_at {
        return Err(ProposalRefusal::Expired(facts.expires_at));
    }
    if !facts.proposer_active_admin {
        return Err(ProposalRefusal::ProposerInactive(facts.proposed_by.to_owned()));
    }
    Ok(())
}

/// Whether an admin may reject (or the proposer withdraw) it: any pending proposal, even
/// an expired one, with a reason. Returns the trimmed reason.
pub fn check_reject_proposal<'r>(
    facts: &ProposalFacts<'_>,
    reason: &'r str,
) -> Result<&'r str, ProposalRefusal> {
    check_pending(facts)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ProposalRefusal::BadReason);
    }
    Ok(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = UnixTime::from_secs(1_000_000);

    fn facts(status: &'static str) -> ProposalFacts<'static> {
        ProposalFacts {
            status,
            proposed_by: "root",
            expires_at: expiry(NOW, PROPOSAL_LIFETIME),
            proposer_active_admin: true,
        }
    }

    #[test]
    fn a_second_admin_approves_a_pending_proposal_in_time() {
        assert_eq!(check_approve_proposal("ops", &facts("pending"), NOW), Ok(()));
        assert_eq!(
            check_approve_proposal("root", &facts("pending"), NOW),
            Err(ProposalRefusal::OwnProposal)
        );
        for decided in ["applied", "rejected"] {
            assert_eq!(
                check_approve_proposal("ops", &facts(decided), NOW),
                Err(ProposalRefusal::NotPending(decided))
            );
        }
        let late = expiry(NOW, PROPOSAL_LIFETIME);
        assert!(matches!(
            check_approve_proposal("ops", &facts("pending"), late),
            Err(ProposalRefusal::Expired(_))
        ));
        let gone = ProposalFacts {
            proposer_active_admin: false,
            ..facts("pending")
        };
        assert!(matches!(
            check_approve_proposal("ops", &gone, NOW),
            Err(ProposalRefusal::ProposerInactive(_))
        ));
    }

    #[test]
    fn rejection_needs_a_reason_and_a_pending_proposal() {
        assert_eq!(check_reject_proposal(&facts("pending"), " no "), Ok("no"));
        assert_eq!(
            check_reject_proposal(&facts("pending"), " "),
            Err(ProposalRefusal::BadReason)
        );
        assert!(check_reject_proposal(&facts("applied"), "no").is_err());
    }
}
