//! Risk flags raised at intake on withdrawals that look unlike the customer's usual ones.
//! Every rule is off until an admin turns it on (`risk set`, four-eyes).
//! A flag never refuses a withdrawal: it takes away the automatic approval, so a person
//! looks at it (`policy::ApprovalPolicy::at_intake` and `evaluate` with `flagged`).
//!
//! The rules, each with its reason in words:
//! - `new_beneficiary`: the customer never withdrew to this destination before (a
//!   rejected withdrawal does not count as having withdrawn);
//! - `large_amount`: more than `large_amount_multiple` × the median of the customer's
//!   last `history_size` withdrawals (judged only once they have `min_history` of them);
//! - `velocity`: with this one, more than `velocity_max_count` withdrawals, or more than
//!   `velocity_max_amount`, for the customer within `velocity_window_secs`;
//! - `shared_destination`: another customer has the destination registered or withdrew
//!   to it (one address paid for two customers is how mules and mistakes look).

use bitcoin::Amount;
use serde::{Deserialize, Serialize};
use sluice_shared::api::{RiskFlag, RiskFlagKind};
use sluice_shared::asset::format_btc;

/// Which risk rules are on, and their thresholds (admin, four-eyes: `risk set`). A
/// database starts with every rule off, so upgrading never stops automatic payouts by
/// surprise; `RiskSettings::recommended` is what the staff guide tells admins to turn on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSettings {
    /// Flag the customer's first withdrawal to a destination.
    pub new_beneficiary: bool,
    /// Flag an amount above this multiple of the median of the customer's last
    /// `history_size` withdrawals (`None`: off).
    pub large_amount_multiple: Option<u32>,
    /// How many of the customer's latest withdrawals the median is taken over.
    pub history_size: u32,
    /// The fewest earlier withdrawals a median is judged on.
    pub min_history: u32,
    /// The velocity window, in seconds.
    pub velocity_window_secs: u32,
    /// The most withdrawals per customer within the window, this one included (`None`: off).
    pub velocity_max_count: Option<u32>,
    /// The most per customer within the window, this one included (`None`: off).
    #[serde(with = "optional_sat")]
    pub velocity_max_amount: Option<Amount>,
    /// Flag a destination another customer registered or withdrew to.
    pub shared_destination: bool,
}

/// `Option<Amount>` as whole satoshis or `null` (the `bitcoin` crate's own helper does
/// not read `null` back).
mod optional_sat {
    use bitcoin::Amount;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(amount: &Option<Amount>, s: S) -> Result<S::Ok, S::Error> {
        amount.map(Amount::to_sat).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Amount>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Amount::from_sat))
    }
}

/// Settings that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskSettingsError {
    #[error("the large-amount multiple must be at least 2 (1 would flag anything above the median)")]
    Multiple,
    #[error(
        "the history size must be between 1 and 1000, and the minimum history between 1 and the history size"
    )]
    History,
    #[error("the velocity window must be between 1 second and 30 days, and the count at least 1")]
    Velocity,
}

impl RiskSettings {
    /// Every rule on: 5x the median of the last 20 withdrawals (judged from 3 on), more
    /// than 5 withdrawals per customer per hour, shared destinations, new beneficiaries.
    pub fn recommended() -> RiskSettings {
        RiskSettings {
            new_beneficiary: true,
            large_amount_multiple: Some(5),
            history_size: 20,
            min_history: 3,
            velocity_window_secs: 3600,
            velocity_max_count: Some(5),
            velocity_max_amount: None,
            shared_destination: true,
        }
    }

    pub fn validate(&self) -> Result<(), RiskSettingsError> {
        if self.large_amount_multiple.is_some_and(|k| k < 2) {
            return Err(RiskSettingsError::Multiple);
        }
        if self.large_amount_multiple.is_some()
            && (!(1..=1000).contains(&self.history_size)
                || self.min_history == 0
                || self.min_history > self.history_size)
        {
            return Err(RiskSettingsError::History);
        }
        let velocity = self.velocity_max_count.is_some() || self.velocity_max_amount.is_some();
        if velocity
            && (!(1..=30 * 86_400).contains(&self.velocity_window_secs) || self.velocity_max_count == Some(0))
        {
            return Err(RiskSettingsError::Velocity);
        }
        Ok(())
    }

    /// The settings in words, for the admin who approves them.
    pub fn describe(&self) -> String {
        let mut rules = Vec::new();
        if self.new_beneficiary {
            rules.push("first withdrawals to a destination".to_owned());
        }
        if let Some(k) = self.large_amount_multiple {
            rules.push(format!(
                "amounts above {k}x the median of the customer's last {} withdrawals (judged from {} on)",
                self.history_size, self.min_history
            ));
        }
        let mut velocity = Vec::new();
        if let Some(n) = self.velocity_max_count {
            velocity.push(format!("more than {n} withdrawals"));
        }
        if let Some(a) = self.velocity_max_amount {
            velocity.push(format!("more than {}", format_btc(a)));
        }
        if !velocity.is_empty() {
            rules.push(format!(
                "{} per customer within {} s",
                velocity.join(" or "),
                self.velocity_window_secs
            ));
        }
        if self.shared_destination {
            rules.push("destinations other customers use".to_owned());
        }
        if rules.is_empty() {
            "no risk flags (every rule off)".to_owned()
        } else {
            format!("flag {}", rules.join("; "))
        }
    }
}

/// What the database says about a request, for the risk rules. Intake reads a fact only
/// when a rule that uses it is on; for a rule that is off it holds the value that raises
/// nothing (`earlier_to_destination` true, the others empty or zero).
#[derive(Debug, Clone)]
pub struct RiskFacts<'a> {
    pub customer_id: &'a str,
    pub amount: Amount,
    /// Whether the customer withdrew to this destination before (not rejected).
    pub earlier_to_destination: bool,
    /// The amounts of the customer's latest withdrawals (not rejected), at most
    /// `history_size` of them.
    pub recent_amounts: Vec<Amount>,
    /// The customer's withdrawals (not rejected) within the velocity window, before this one.
    pub window_count: u64,
    pub window_sum: Amount,
    /// Other customers who have the destination registered or withdrew to it.
    pub other_customers: Vec<String>,
}

fn median(amounts: &[Amount]) -> Option<Amount> {
    let mut sorted = amounts.to_vec();
    sorted.sort();
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => sorted.get(n / 2).copied(),
        _ => {
            let (a, b) = (sorted.get(n / 2 - 1)?.to_sat(), sorted.get(n / 2)?.to_sat());
            Some(Amount::from_sat(a / 2 + b / 2 + (a % 2 + b % 2) / 2))
        }
    }
}

/// Every flag the request raises, in a fixed order (empty: nothing unusual).
pub fn evaluate(settings: &RiskSettings, facts: &RiskFacts<'_>) -> Vec<RiskFlag> {
    let mut flags = Vec::new();
    let customer = facts.customer_id;
    if settings.new_beneficiary && !facts.earlier_to_destination {
        flags.push(RiskFlag {
            kind: RiskFlagKind::NewBeneficiary,
            reason: format!("first withdrawal of customer {customer:?} to this destination"),
        });
    }
    let judged = u32::try_from(facts.recent_amounts.len()).unwrap_or(u32::MAX) >= settings.min_history;
    let median = median(&facts.recent_amounts).filter(|_| judged);
    if let (Some(multiple), Some(median)) = (settings.large_amount_multiple, median) {
        let ceiling = median.checked_mul(u64::from(multiple)).unwrap_or(Amount::MAX);
        if facts.amount > ceiling {
            flags.push(RiskFlag {
                kind: RiskFlagKind::LargeAmount,
                reason: format!(
                    "{} is more than {}x the median {} of customer {customer:?}'s last {} withdrawals",
                    format_btc(facts.amount),
                    multiple,
                    format_btc(median),
                    facts.recent_amounts.len()
                ),
            });
        }
    }
    let count = facts.window_count.saturating_add(1);
    let sum = facts.window_sum.checked_add(facts.amount).unwrap_or(Amount::MAX);
    let too_many = settings
        .velocity_max_count
        .is_some_and(|max| count > u64::from(max));
    let too_much = settings.velocity_max_amount.is_some_and(|max| sum > max);
    if too_many || too_much {
        flags.push(RiskFlag {
            kind: RiskFlagKind::Velocity,
            reason: format!(
                "customer {customer:?} has {count} withdrawals totalling {} within {} s ({})",
                format_btc(sum),
                settings.velocity_window_secs,
                settings.describe()
            ),
        });
    }
    if settings.shared_destination && !facts.other_customers.is_empty() {
        flags.push(RiskFlag {
            kind: RiskFlagKind::SharedDestination,
            reason: format!(
                "the destination is also used by customer(s) {}",
                facts
                    .other_customers
                    .iter()
                    .map(|c| format!("{c:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sat(n: u64) -> Amount {
        Amount::from_sat(n)
    }

    fn usual<'a>() -> RiskFacts<'a> {
        RiskFacts {
            customer_id: "c1",
            amount: sat(100_000),
            earlier_to_destination: true,
            recent_amounts: vec![sat(100_000), sat(90_000), sat(110_000)],
            window_count: 0,
            window_sum: Amount::ZERO,
            other_customers: Vec::new(),
        }
    }

    fn kinds(flags: &[RiskFlag]) -> Vec<RiskFlagKind> {
        flags.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn a_usual_withdrawal_raises_nothing() {
        assert!(evaluate(&RiskSettings::recommended(), &usual()).is_empty());
    }

    #[test]
    fn with_every_rule_off_nothing_is_flagged() {
        let facts = RiskFacts {
            amount: sat(90_000_000),
            earlier_to_destination: false,
            window_count: 100,
            other_customers: vec!["c2".into()],
            ..usual()
        };
        assert_eq!(kinds(&evaluate(&RiskSettings::recommended(), &facts)).len(), 4);
        assert!(evaluate(&RiskSettings::default(), &facts).is_empty());
    }

    #[test]
    fn first_withdrawal_to_a_destination_is_flagged() {
        let facts = RiskFacts {
            earlier_to_destination: false,
            ..usual()
        };
        let flags = evaluate(&RiskSettings::recommended(), &facts);
        assert_eq!(kinds(&flags), [RiskFlagKind::NewBeneficiary]);
        assert!(
            flags[0].reason.contains("first withdrawal"),
            "{}",
            flags[0].reason
        );
    }

    #[test]
    fn large_amount_is_judged_against_the_median_once_there_is_history() {
        let settings = RiskSettings::recommended();
        let at_ceiling = RiskFacts {
            amount: sat(500_000),
            ..usual()
        };
        assert!(
            evaluate(&settings, &at_ceiling).is_empty(),
            "5x the median is not above it"
        );
        let above = RiskFacts {
            amount: sat(500_001),
            ..usual()
        };
        let flags = evaluate(&settings, &above);
        assert_eq!(kinds(&flags), [RiskFlagKind::LargeAmount]);
        assert!(
            flags[0].reason.contains("median 0.001 BTC"),
            "{}",
            flags[0].reason
        );
        // One outlier in the history does not move the median.
        let outlier = RiskFacts {
            amount: sat(600_000),
            recent_amounts: vec![sat(100_000), sat(100_000), sat(90_000_000)],
            ..usual()
        };
        assert_eq!(kinds(&evaluate(&settings, &outlier)), [RiskFlagKind::LargeAmount]);
        // Two earlier withdrawals are too few to judge with the default minimum of three.
        let short = RiskFacts {
            amount: sat(50_000_000),
            recent_amounts: vec![sat(1_000), sat(1_000)],
            ..usual()
        };
        assert!(evaluate(&settings, &short).is_empty());
    }

    #[test]
    fn velocity_counts_this_withdrawal_and_can_sum() {
        let mut settings = RiskSettings::recommended();
        let fifth = RiskFacts {
            window_count: 4,
            window_sum: sat(400_000),
            ..usual()
        };
        assert!(evaluate(&settings, &fifth).is_empty());
        let sixth = RiskFacts {
            window_count: 5,
            ..fifth.clone()
        };
        assert_eq!(kinds(&evaluate(&settings, &sixth)), [RiskFlagKind::Velocity]);
        settings.velocity_max_amount = Some(sat(450_000));
        let flags = evaluate(&settings, &fifth);
        assert_eq!(kinds(&flags), [RiskFlagKind::Velocity]);
        assert!(
            flags[0].reason.contains("totalling 0.005 BTC"),
            "{}",
            flags[0].reason
        );
    }

    #[test]
    fn a_destination_of_another_customer_is_flagged_with_their_names() {
        let facts = RiskFacts {
            other_customers: vec!["c2".into(), "c3".into()],
            ..usual()
        };
        let flags = evaluate(&RiskSettings::recommended(), &facts);
        assert_eq!(kinds(&flags), [RiskFlagKind::SharedDestination]);
        assert!(flags[0].reason.contains("\"c2\", \"c3\""), "{}", flags[0].reason);
    }

    #[test]
    fn median_of_even_counts_does_not_overflow() {
        assert_eq!(median(&[sat(1), sat(2)]), Some(sat(1)));
        assert_eq!(median(&[sat(3), sat(5)]), Some(sat(4)));
        assert_eq!(median(&[Amount::MAX, Amount::MAX]), Some(Amount::MAX));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn settings_are_validated_and_stored_as_stable_json() {
        assert!(RiskSettings::recommended().validate().is_ok());
        let bad = RiskSettings {
            large_amount_multiple: Some(1),
            ..RiskSettings::recommended()
        };
        assert_eq!(bad.validate(), Err(RiskSettingsError::Multiple));
        let bad = RiskSettings {
            min_history: 30,
            ..RiskSettings::recommended()
        };
        assert_eq!(bad.validate(), Err(RiskSettingsError::History));
        let json = serde_json::to_string(&RiskSettings::recommended()).unwrap();
        assert_eq!(
            json,
            r#"{"new_beneficiary":true,"large_amount_multiple":5,"history_size":20,"min_history":3,"velocity_window_secs":3600,"velocity_max_count":5,"velocity_max_amount":null,"shared_destination":true}"#
        );
        assert_eq!(
            serde_json::from_str::<RiskSettings>(&json).unwrap(),
            RiskSettings::recommended()
        );
    }
}
