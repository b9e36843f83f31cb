//! The order of limit commands (issue 8 item 6).
//!
//! Officers may sign several commands and scan them in any order, so an older `resume`
//! or a generous old `set-rate`, signed but never applied, could undo a newer `pause` or
//! rate cut. Commands therefore carry their order in a field they already sign:
//! `not_before`, which `limitctl new` sets to the time of issue. A signer refuses a
//! command whose `not_before` is earlier than that of the last command of the same kind
//! it applied for the same asset. Kinds: `pause`/`resume` are one kind (each undoes the
//! other); `set-rate` is another (each replaces the last). `raise-total` is unordered:
//! every raise adds its own amount, so applying them in any order gives the same total,
//! and the id check already applies each at most once.
//!
//! Two commands of one kind with the same `not_before` (issued in the same second, or
//! with the same chosen `--not-before`) apply in the order they are scanned: the signer
//! cannot tell which is newer, and the officers can always issue a newer one.

use super::{LimitAction, LimitCommand};

/// The kinds of command whose order matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderedKind {
    /// `pause` and `resume`.
    PauseResume,
    /// `set-rate`.
    Rate,
}

impl OrderedKind {
    /// The kind of `action`, or `None` for `raise-total` (unordered).
    pub fn of(action: &LimitAction) -> Option<OrderedKind> {
        match action {
            LimitAction::Pause | LimitAction::Resume => Some(OrderedKind::PauseResume),
            LimitAction::SetRate { .. } => Some(OrderedKind::Rate),
            LimitAction::RaiseTotal { .. } | LimitAction::Release { .. } => None,
        }
    }

    /// The name stored with an applied command and shown in refusals.
    pub fn name(self) -> &'static str {
        match self {
            OrderedKind::PauseResume => "pause/resume",
            OrderedKind::Rate => "set-rate",
        }
    }
}

/// A command older than the last applied one of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this {} command was issued at {issued} (its not_before, Unix time), older than the last applied {} command (issued at {last_applied}): applying it would undo a newer decision of the officers; have them issue a new command", kind.name(), kind.name())]
pub struct OutOfOrder {
    pub kind: OrderedKind,
    pub issued: i64,
    pub last_applied: i64,
}

/// Checks `command` against the issue time of the last applied command of its kind
/// (`None`: none applied yet, or the command is unordered).
pub fn check_order(command: &LimitCommand, last_applied: Option<i64>) -> Result<(), OutOfOrder> {
    match (OrderedKind::of(&command.action), last_applied) {
        (Some(kind), Some(last_applied)) if command.not_before < last_applied => Err(OutOfOrder {
            kind,
            issued: command.not_before,
            last_applied,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asset::Asset;
    use crate::limit_command::CommandId;
    use bitcoin::Amount;

    fn command(action: LimitAction, not_before: i64) -> LimitCommand {
        LimitCommand {
            id: CommandId([1; 16]),
            signer: "0011223344556677".parse().unwrap(),
            asset: Asset::Btc,
            action,
            not_before,
            not_after: not_before + 100,
        }
    }

    #[test]
    fn an_older_command_of_the_same_kind_is_refused_and_raises_are_unordered() {
        let resume = command(LimitAction::Resume, 100);
        assert_eq!(check_order(&resume, None), Ok(()));
        assert_eq!(check_order(&resume, Some(100)), Ok(()));
        assert_eq!(check_order(&resume, Some(99)), Ok(()));
        let refused = check_order(&resume, Some(101)).unwrap_err();
        assert_eq!(refused.kind, OrderedKind::PauseResume);
        assert!(refused.to_string().contains("older than"), "{refused}");
        let rate = crate::limiter::RateLimit {
            amount: Amount::from_sat(1),
            per: std::time::Duration::from_secs(1),
            burst: Amount::from_sat(1),
        };
        assert!(check_order(&command(LimitAction::SetRate { rate }, 5), Some(6)).is_err());
        let raise = command(
            LimitAction::RaiseTotal {
                amount: Amount::from_sat(1),
            },
            5,
        );
        assert_eq!(OrderedKind::of(&raise.action), None);
        assert_eq!(check_order(&raise, Some(6)), Ok(()));
    }
}
