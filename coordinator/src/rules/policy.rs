//! A wallet's approval policy and the one function that says whether recorded approvals
//! meet it. Both intake (the automatic rule) and manual approval go through `evaluate`,
//! so there is no second path into the queue.

use std::collections::BTreeSet;

use bitcoin::Amount;
use serde::{Deserialize, Serialize};
use sluice_shared::api::ApprovalMethod;
use sluice_shared::asset::format_btc;

/// More approvers than this is a typo, not a policy.
pub const MAX_APPROVERS_REQUIRED: u32 = 16;

/// Manual approvals a risk-flagged withdrawal needs on a wallet that approves only
/// automatically (a wallet with manual approval needs its own number).
pub const FLAGGED_AUTO_ONLY_APPROVERS: u32 = 1;

/// How withdrawals from a wallet get approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ApprovalPolicy {
    /// `approvers_required` distinct approvers, none of them the requester.
    Manual { approvers_required: u32 },
    /// Approved automatically at intake when the amount is at most `max_amount_sat` (and
    /// the destination is an active registered beneficiary, if required); anything else
    /// is refused at intake because nobody could approve it.
    Auto {
        #[serde(with = "bitcoin::amount::serde::as_sat")]
        max_amount_sat: Amount,
        registered_destination_only: bool,
    },
    /// The automatic rule under the ceiling, `approvers_required` manual approvals above.
    Both {
        #[serde(with = "bitcoin::amount::serde::as_sat")]
        max_amount_sat: Amount,
        registered_destination_only: bool,
        approvers_required: u32,
    },
}

/// A policy that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("approvers required must be between 1 and {MAX_APPROVERS_REQUIRED}, not {0}")]
    ApproverCount(u32),
    #[error("the automatic-approval ceiling must be above zero")]
    ZeroCeiling,
}

/// An approval already on record, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedApproval {
    /// Staff name for manual approvals; `None` for the automatic rule.
    pub approver: Option<String>,
    pub method: ApprovalMethod,
}

/// Everything `evaluate` needs to know about one withdrawal.
#[derive(Debug, Clone, Copy)]
pub struct ApprovalFacts<'a> {
    pub amount: Amount,
    /// The destination is an active beneficiary of an active customer right now.
    pub destination_registered: bool,
    pub requester: &'a str,
    pub approvals: &'a [RecordedApproval],
    /// Risk flags were raised at intake: the automatic rule does not count, people decide.
    pub flagged: bool,
}

/// Where a withdrawal stands against its wallet's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyState {
    /// The policy is met by approvals of this kind.
    Satisfied(ApprovalMethod),
    /// More manual approvals are needed.
    Pending { have: u32, need: u32 },
    /// Nothing can approve it under this policy.
    Unreachable(String),
}

/// What the automatic rule decides at intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeApproval {
    /// Approve now, recording this explanation with the approval.
    Automatic { detail: String },
    /// Wait for this many manual approvals.
    Manual { approvers_required: u32 },
}

impl ApprovalPolicy {
    pub fn validate(&self) -> Result<(), PolicyError> {
        if let Some(n) = self.approvers_required() {
            if n == 0 || n > MAX_APPROVERS_REQUIRED {
                return Err(PolicyError::ApproverCount(n));
            }
        }
        if let Some((max, _)) = self.auto_rule() {
            if max == Amount::ZERO {
                return Err(PolicyError::ZeroCeiling);
            }
        }
        Ok(())
    }

    /// The ceiling and registered-destination requirement of the automatic rule, if any.
    pub fn auto_rule(&self) -> Option<(Amount, bool)> {
        match *self {
            ApprovalPolicy::Manual { .. } => None,
            ApprovalPolicy::Auto {
                max_amount_sat,
                registered_destination_only,
            }
            | ApprovalPolicy::Both {
                max_amount_sat,
                registered_destination_only,
                ..
            } => Some((max_amount_sat, registered_destination_only)),
        }
    }

    /// How many manual approvals the policy can accept instead of the automatic rule.
    pub fn approvers_required(&self) -> Option<u32> {
        match *self {
            ApprovalPolicy::Auto { .. } => None,
            ApprovalPolicy::Manual { approvers_required }
            | ApprovalPolicy::Both {
                approvers_required, ..
            } => Some(approvers_required),
        }
    }

    /// The policy in words, for operators.
    pub fn describe(&self) -> String {
        let auto = |max: Amount, registered: bool| {
            format!(
                "automatic up to {}{}",
                format_btc(max),
                if registered {
                    " to registered destinations"
                } else {
                    ""
                }
            )
        };
        match *self {
            ApprovalPolicy::Manual { approvers_required } => {
                format!("manual: {approvers_required} approver(s)")
            }
            ApprovalPolicy::Auto {
                max_amount_sat,
                registered_destination_only,
            } => format!(
                "{}; larger withdrawals refused",
                auto(max_amount_sat, registered_destination_only)
            ),
            ApprovalPolicy::Both {
                max_amount_sat,
                registered_destination_only,
                approvers_required,
            } => format!(
                "{}, otherwise {approvers_required} approver(s)",
                auto(max_amount_sat, registered_destination_only)
            ),
        }
    }

    /// Whether the automatic rule applies to this amount and destination.
    fn auto_applies(&self, amount: Amount, destination_registered: bool) -> Result<String, String> {
        let Some((max, registered_only)) = self.auto_rule() else {
            return Err("the wallet has no automatic approval rule".to_owned());
        };
        if amount > max {
            return Err(format!(
                "{} is above the automatic-approval ceiling of {}",
                format_btc(amount),
                format_btc(max)
            ));
        }
        if registered_only && !destination_registered {
            return Err("the destination is not an active registered beneficiary".to_owned());
        }
        Ok(format!(
            "auto-rule: {} <= ceiling {}{}",
            format_btc(amount),
            format_btc(max),
            if registered_only {
                ", registered destination"
            } else {
                ""
            }
        ))
    }

    /// How many manual approvals a withdrawal the automatic rule covers needs when it is
    /// risk-flagged.
    fn flagged_approvers(&self) -> u32 {
        self.approvers_required().unwrap_or(FLAGGED_AUTO_ONLY_APPROVERS)
    }

    /// At intake, before any approval: approve automatically, wait for people, or refuse
    /// (an `Auto` wallet cannot approve what its rule does not cover). A risk-flagged
    /// withdrawal the automatic rule would approve waits for people instead.
    pub fn at_intake(
        &self,
        amount: Amount,
        destination_registered: bool,
        flagged: bool,
    ) -> Result<IntakeApproval, String> {
        match self.auto_applies(amount, destination_registered) {
            Ok(_) if flagged => Ok(IntakeApproval::Manual {
                approvers_required: self.flagged_approvers(),
            }),
            Ok(detail) => Ok(IntakeApproval::Automatic { detail }),
            Err(why) => match self.approvers_required() {
                Some(approvers_required) => Ok(IntakeApproval::Manual { approvers_required }),
                None => Err(format!("{why}, and the wallet has no manual approval")),
            },
        }
    }

    /// Whether the approvals on record meet this policy. An automatic approval counts only
    /// if the rule still covers the withdrawal; a manual one only from a distinct person
    /// who is not the requester.
    pub fn evaluate(&self, facts: &ApprovalFacts<'_>) -> PolicyState {
        let has_auto = facts
            .approvals
            .iter()
            .any(|a| a.method == ApprovalMethod::AutoRule && a.approver.is_none());
        let auto_covers = self
            .auto_applies(facts.amount, facts.destination_registered)
            .is_ok();
        if has_auto && auto_covers && !facts.flagged {
            return PolicyState::Satisfied(ApprovalMethod::AutoRule);
        }
        let need = match self.approvers_required() {
            Some(need) => need,
            None if facts.flagged && auto_covers => self.flagged_approvers(),
            None => {
                return PolicyState::Unreachable(
                    "the wallet approves only automatically and its rule does not cover this withdrawal"
                        .to_owned(),
                )
            }
        };
        let approvers: BTreeSet<&str> = facts
            .approvals
            .iter()
            .filter(|a| a.method == ApprovalMethod::Manual)
            .filter_map(|a| a.approver.as_deref())
            .filter(|name| *name != facts.requester)
            .collect();
        let have = u32::try_from(approvers.len()).unwrap_or(u32::MAX);
        if need > 0 && have >= need {
            PolicyState::Satisfied(ApprovalMethod::Manual)
        } else {
            PolicyState::Pending { have, need }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn btc(x: f64) -> Amount {
        Amount::from_btc(x).unwrap()
    }

    fn manual(name: &str) -> RecordedApproval {
        RecordedApproval {
            approver: Some(name.to_owned()),
            method: ApprovalMethod::Manual,
        }
    }

    fn auto() -> RecordedApproval {
        RecordedApproval {
            approver: None,
            method: ApprovalMethod::AutoRule,
        }
    }

    fn facts<'a>(amount: Amount, approvals: &'a [RecordedApproval]) -> ApprovalFacts<'a> {
        ApprovalFacts {
            amount,
            destination_registered: true,
            requester: "rita",
            approvals,
            flagged: false,
        }
    }

    const BOTH: ApprovalPolicy = ApprovalPolicy::Both {
        max_amount_sat: Amount::from_sat(10_000_000),
        registered_destination_only: true,
        approvers_required: 2,
    };

    #[test]
    fn manual_needs_m_distinct_approvers_other_than_the_requester() {
        let policy = ApprovalPolicy::Manual {
            approvers_required: 2,
        };
        assert_eq!(
            policy.evaluate(&facts(btc(1.0), &[])),
            PolicyState::Pending { have: 0, need: 2 }
        );
        let one = [manual("alice")];
        assert_eq!(
            policy.evaluate(&facts(btc(1.0), &one)),
            PolicyState::Pending { have: 1, need: 2 }
        );
        let same_twice = [manual("alice"), manual("alice")];
        assert_eq!(
            policy.evaluate(&facts(btc(1.0), &same_twice)),
            PolicyState::Pending { have: 1, need: 2 }
        );
        let with_requester = [manual("alice"), manual("rita")];
        assert_eq!(
            policy.evaluate(&facts(btc(1.0), &with_requester)),
            PolicyState::Pending { have: 1, need: 2 }
        );
        let two = [manual("alice"), manual("bob")];
        assert_eq!(
            policy.evaluate(&facts(btc(1.0), &two)),
            PolicyState::Satisfied(ApprovalMethod::Manual)
        );
    }

    #[test]
    fn manual_ignores_an_automatic_approval() {
        let policy = ApprovalPolicy::Manual {
            approvers_required: 1,
        };
        assert_eq!(
            policy.evaluate(&facts(btc(0.001), &[auto()])),
            PolicyState::Pending { have: 0, need: 1 }
        );
        assert!(matches!(
            policy.at_intake(btc(0.001), true, false),
            Ok(IntakeApproval::Manual { .. })
        ));
    }

    #[test]
    fn auto_approves_up_to_the_ceiling_inclusive() {
        let policy = ApprovalPolicy::Auto {
            max_amount_sat: btc(0.1),
            registered_destination_only: false,
        };
        assert!(matches!(
            policy.at_intake(btc(0.1), false, false),
            Ok(IntakeApproval::Automatic { .. })
        ));
        assert!(policy
            .at_intake(Amount::from_sat(10_000_001), true, false)
            .is_err());
        assert_eq!(
            policy.evaluate(&facts(btc(0.1), &[auto()])),
            PolicyState::Satisfied(ApprovalMethod::AutoRule)
        );
        // An automatic approval recorded for an amount the rule does not cover counts for nothing.
        assert!(matches!(
            policy.evaluate(&facts(btc(0.2), &[auto()])),
            PolicyState::Unreachable(_)
        ));
        // Manual approvals do not help an auto-only wallet.
        assert!(matches!(
            policy.evaluate(&facts(btc(0.2), &[manual("alice"), manual("bob")])),
            PolicyState::Unreachable(_)
        ));
    }

    #[test]
    fn auto_can_require_a_registered_destination() {
        let policy = ApprovalPolicy::Auto {
            max_amount_sat: btc(0.1),
            registered_destination_only: true,
        };
        assert!(policy.at_intake(btc(0.01), false, false).is_err());
        let approvals = [auto()];
        let mut f = facts(btc(0.01), &approvals);
        f.destination_registered = false;
        assert!(matches!(policy.evaluate(&f), PolicyState::Unreachable(_)));
    }

    #[test]
    fn both_falls_back_to_manual_above_the_ceiling() {
        assert!(matches!(
            BOTH.at_intake(btc(0.1), true, false),
            Ok(IntakeApproval::Automatic { .. })
        ));
        assert_eq!(
            BOTH.at_intake(btc(0.5), true, false),
            Ok(IntakeApproval::Manual {
                approvers_required: 2
            })
        );
        assert_eq!(
            BOTH.at_intake(btc(0.01), false, false),
            Ok(IntakeApproval::Manual {
                approvers_required: 2
            })
        );
        assert_eq!(
            BOTH.evaluate(&facts(btc(0.5), &[auto()])),
            PolicyState::Pending { have: 0, need: 2 }
        );
        assert_eq!(
            BOTH.evaluate(&facts(btc(0.5), &[manual("a"), manual("b")])),
            PolicyState::Satisfied(ApprovalMethod::Manual)
        );
    }

    #[test]
    fn a_flag_takes_the_automatic_rule_away() {
        let auto_only = ApprovalPolicy::Auto {
            max_amount_sat: btc(0.1),
            registered_destination_only: false,
        };
        assert_eq!(
            auto_only.at_intake(btc(0.01), true, true),
            Ok(IntakeApproval::Manual {
                approvers_required: FLAGGED_AUTO_ONLY_APPROVERS
            })
        );
        assert_eq!(
            BOTH.at_intake(btc(0.01), true, true),
            Ok(IntakeApproval::Manual {
                approvers_required: 2
            })
        );
        // Above an auto-only ceiling a flag changes nothing: still refused.
        assert!(auto_only.at_intake(btc(0.2), true, true).is_err());
        let approvals = [auto()];
        let mut f = facts(btc(0.01), &approvals);
        f.flagged = true;
        assert_eq!(BOTH.evaluate(&f), PolicyState::Pending { have: 0, need: 2 });
        assert_eq!(auto_only.evaluate(&f), PolicyState::Pending { have: 0, need: 1 });
        let approvals = [auto(), manual("alice")];
        let mut f = facts(btc(0.01), &approvals);
        f.flagged = true;
        assert_eq!(
            auto_only.evaluate(&f),
            PolicyState::Satisfied(ApprovalMethod::Manual)
        );
    }

    #[test]
    fn validation_refuses_unusable_policies() {
        assert!(ApprovalPolicy::Manual {
            approvers_required: 0
        }
        .validate()
        .is_err());
        assert!(ApprovalPolicy::Manual {
            approvers_required: 17
        }
        .validate()
        .is_err());
        assert!(ApprovalPolicy::Auto {
            max_amount_sat: Amount::ZERO,
            registered_destination_only: true
        }
        .validate()
        .is_err());
        assert!(BOTH.validate().is_ok());
    }

    #[test]
    fn stored_form_is_stable_json() {
        let json = serde_json::to_string(&BOTH).unwrap();
        assert_eq!(
            json,
            r#"{"type":"both","max_amount_sat":10000000,"registered_destination_only":true,"approvers_required":2}"#
        );
        assert_eq!(serde_json::from_str::<ApprovalPolicy>(&json).unwrap(), BOTH);
        assert!(
            serde_json::from_str::<ApprovalPolicy>(r#"{"type":"manual","approvers_required":1,"x":1}"#)
                .is_err()
        );
    }
}
