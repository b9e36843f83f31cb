//! The self-protecting signer's rule (issue 8 item 7): a coordinator that sends PSBTs the
//! signer's inspection refuses is compromised or broken, so after `refusals` such
//! sessions within `window` an online signer pauses itself for the asset until the
//! officers sign a `resume`.
//!
//! Time is the signer machine's monotonic clock ([`MonotonicReading`]), passed in as a
//! value: wall-clock changes cannot stretch or shrink the window. A reading from another
//! boot, or one earlier than a counted refusal, forgets what was counted (the count
//! restarts; it never credits).

use std::collections::VecDeque;
use std::time::Duration;

use crate::limiter::MonotonicReading;

/// After how many refused sessions within how long the signer pauses itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfPauseRule {
    /// 0 turns self-pausing off.
    pub refusals: u32,
    pub window: Duration,
}

impl SelfPauseRule {
    /// 3 refused sessions within 10 minutes.
    pub const DEFAULT: SelfPauseRule = SelfPauseRule {
        refusals: 3,
        window: Duration::from_secs(600),
    };

    /// The rule in words, for `limits show` and the journal.
    pub fn describe(&self) -> String {
        if self.refusals == 0 {
            return "off".to_owned();
        }
        format!(
            "after {} refused sessions within {} s",
            self.refusals,
            self.window.as_secs()
        )
    }
}

/// The refusals counted so far against a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalWindow {
    rule: SelfPauseRule,
    recent: VecDeque<MonotonicReading>,
}

impl RefusalWindow {
    pub fn new(rule: SelfPauseRule) -> RefusalWindow {
        RefusalWindow {
            rule,
            recent: VecDeque::new(),
        }
    }

    pub fn rule(&self) -> SelfPauseRule {
        self.rule
    }

    /// How many refusals now count.
    pub fn counted(&self) -> usize {
        self.recent.len()
    }

    /// Counts one refused session at `now`; true when it completes `refusals` within
    /// `window`, i.e. the signer must pause now (the count then starts again).
    pub fn record(&mut self, now: MonotonicReading) -> bool {
        if self.rule.refusals == 0 {
            return false;
        }
        let window = self.rule.window;
        self.recent.retain(|r| {
            r.boot_id == now.boot_id
                && r.since_boot <= now.since_boot
                && now.since_boot - r.since_boot < window
        });
        self.recent.push_back(now);
        if self.recent.len() >= self.rule.refusals as usize {
            self.recent.clear();
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(boot: &str, secs: u64) -> MonotonicReading {
        MonotonicReading {
            boot_id: boot.to_owned(),
            since_boot: Duration::from_secs(secs),
        }
    }

    #[test]
    fn k_refusals_within_the_window_pause_and_older_ones_do_not_count() {
        let mut w = RefusalWindow::new(SelfPauseRule::DEFAULT);
        assert!(!w.record(at("a", 0)));
        assert!(!w.record(at("a", 100)));
        // The first has left the 600 s window when the third comes.
        assert!(!w.record(at("a", 600)));
        assert_eq!(w.counted(), 2);
        assert!(w.record(at("a", 650)));
        assert_eq!(w.counted(), 0);
    }

    #[test]
    fn another_boot_or_a_clock_going_back_restarts_the_count_and_zero_is_off() {
        let mut w = RefusalWindow::new(SelfPauseRule::DEFAULT);
        assert!(!w.record(at("a", 10)));
        assert!(!w.record(at("a", 11)));
        assert!(!w.record(at("b", 12)));
        assert_eq!(w.counted(), 1);
        assert!(!w.record(at("b", 5)));
        assert_eq!(w.counted(), 1);
        let mut off = RefusalWindow::new(SelfPauseRule {
            refusals: 0,
            window: Duration::from_secs(600),
        });
        assert!((0..100).all(|i| !off.record(at("a", i))));
        let mut one = RefusalWindow::new(SelfPauseRule {
            refusals: 1,
            window: Duration::from_secs(1),
        });
        assert!(one.record(at("a", 0)));
    }
}
