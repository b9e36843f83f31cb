//! The flow limiter: a token bucket (refill rate and burst capacity) plus a total
//! allowance that only goes down, for one asset on one signer.
//!
//! Time is passed in as [`MonotonicReading`]s of the signer machine's monotonic clock,
//! never wall-clock time: a spoofed time server or a reset appliance clock cannot refill
//! the bucket. Readings from a different boot, or that go backwards, credit nothing:
//! there is no credit for time the signer was down.
//!
//! Arithmetic is exact: the bucket level is kept in units of satoshi × nanosecond-of-
//! `per`, so refilling `amount` per `per` over `elapsed` adds exactly
//! `amount × elapsed` units and nothing is ever rounded in the signer's favour.

use std::time::Duration;

use bitcoin::Amount;
use serde::{Deserialize, Serialize};

/// A reading of the signer machine's monotonic clock (Linux `CLOCK_MONOTONIC`, which
/// wall-clock changes do not move), tagged with the boot it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonotonicReading {
    /// Identifies one boot of the machine (Linux: `/proc/sys/kernel/random/boot_id`).
    pub boot_id: String,
    /// Time since that boot.
    pub since_boot: Duration,
}

/// Refill rate and burst capacity of the bucket: `amount` per `per`, holding at most
/// `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub amount: Amount,
    pub per: Duration,
    pub burst: Amount,
}

/// The longest refill period accepted; keeps all arithmetic far inside `u128`.
pub const MAX_RATE_PERIOD: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

impl RateLimit {
    /// Checks the rate makes sense: a positive amount, period and burst.
    pub fn validate(&self) -> Result<(), LimitRefusal> {
        if self.amount == Amount::ZERO {
            return Err(LimitRefusal::InvalidRate(
                "the refill amount must be more than zero".to_owned(),
            ));
        }
        if self.per.is_zero() || self.per > MAX_RATE_PERIOD {
            return Err(LimitRefusal::InvalidRate(
                "the refill period must be between 1 ns and 10 years".to_owned(),
            ));
        }
        if self.burst == Amount::ZERO {
            return Err(LimitRefusal::InvalidRate(
                "the burst capacity must be more than zero".to_owned(),
            ));
        }
        if self.amount > Amount::MAX_MONEY || self.burst > Amount::MAX_MONEY {
            return Err(LimitRefusal::InvalidRate(
                "amounts above 21 million BTC".to_owned(),
            ));
        }
        Ok(())
    }

    fn per_ns(&self) -> u128 {
        self.per.as_nanos()
    }

    fn capacity_units(&self) -> u128 {
        u128::from(self.burst.to_sat()) * self.per_ns()
    }
}

/// Why the limiter refuses an outflow. Each names the limit and what would change it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitRefusal {
    #[error("signing is paused by a limit command; a signed `resume` command is needed")]
    Paused,
    #[error("total allowance exhausted: outflow {needed} but only {remaining} remains; a signed limit command (raise-total) from the security officers is needed")]
    TotalExhausted { needed: Amount, remaining: Amount },
    #[error("outflow {needed} exceeds the burst capacity {burst}: it can never fit the rate limit; split the withdrawal or have the officers issue set-rate")]
    ExceedsBurst { needed: Amount, burst: Amount },
    #[error("rate limit: outflow {needed} but only {available} is available now; retry in about {}s", whole_seconds_rounded_up(*retry_after))]
    RateExceeded {
        needed: Amount,
        available: Amount,
        retry_after: Duration,
    },
    #[error("invalid rate: {0}")]
    InvalidRate(String),
}

impl LimitRefusal {
    /// The stable name a signer reports to the coordinator (`signer_api::REFUSAL_REASONS`).
    pub fn code(&self) -> &'static str {
        match self {
            LimitRefusal::Paused => "paused",
            LimitRefusal::TotalExhausted { .. } => "total_spent",
            LimitRefusal::ExceedsBurst { .. } => "exceeds_burst",
            LimitRefusal::RateExceeded { .. } => "rate",
            LimitRefusal::InvalidRate(_) => "invalid_rate",
        }
    }
}

/// Seconds to tell a person to wait: rounded up, so "retry in 0s" is never said of a wait
/// that is still running.
fn whole_seconds_rounded_up(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// `nanos` as a `Duration`, saturating at `Duration::MAX` (a wait that long only arises
/// from a rate of a few satoshis per decade).
fn duration_from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    match u64::try_from(nanos / NANOS_PER_SEC) {
        // The remainder is below 10^9, so it fits a u32.
        Ok(secs) => Duration::new(secs, (nanos % NANOS_PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}

/// What `limits show` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimiterStatus {
    pub rate: RateLimit,
    /// Whole satoshis available in the bucket now.
    pub bucket_available: Amount,
    pub total_remaining: Amount,
    /// Everything ever reserved through this limiter.
    pub total_spent: Amount,
    pub paused: bool,
}

mod u128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The limiter's whole state; the signer persists it (serde) in its database and reads
/// it back, so it round-trips exactly. Reading it back checks the same invariants the
/// methods keep (a valid rate, a level within the burst, a total within 21 million BTC),
/// so a damaged or hand-edited row is refused instead of panicking or over-crediting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredLimiter", into = "StoredLimiter")]
pub struct FlowLimiter {
    rate: RateLimit,
    /// Bucket level in satoshi × nanosecond units of `rate.per`: one satoshi is
    /// `rate.per` nanoseconds' worth, and each nanosecond of credited time adds exactly
    /// `rate.amount` units.
    level: u128,
    total_remaining: Amount,
    total_spent: Amount,
    paused: bool,
    anchor: MonotonicReading,
}

/// The serialized form of [`FlowLimiter`]: the same fields, the level as decimal text
/// (JSON numbers cannot carry a `u128` everywhere).
#[derive(Serialize, Deserialize)]
struct StoredLimiter {
    rate: RateLimit,
    #[serde(with = "u128_text")]
    level: u128,
    total_remaining: Amount,
    total_spent: Amount,
    paused: bool,
    anchor: MonotonicReading,
}

impl From<FlowLimiter> for StoredLimiter {
    fn from(l: FlowLimiter) -> Self {
        StoredLimiter {
            rate: l.rate,
            level: l.level,
            total_remaining: l.total_remaining,
            total_spent: l.total_spent,
            paused: l.paused,
            anchor: l.anchor,
        }
    }
}

impl TryFrom<StoredLimiter> for FlowLimiter {
    type Error = String;

    fn try_from(s: StoredLimiter) -> Result<Self, Self::Error> {
        s.rate
            .validate()
            .map_err(|e| format!("stored limiter state: {e}"))?;
        if s.level > s.rate.capacity_units() {
            return Err("stored limiter state: the bucket holds more than its burst".to_owned());
        }
        if s.total_remaining > Amount::MAX_MONEY {
            return Err("stored limiter state: the remaining total is above 21 million BTC".to_owned());
        }
        Ok(FlowLimiter {
            rate: s.rate,
            level: s.level,
            total_remaining: s.total_remaining,
            total_spent: s.total_spent,
            paused: s.paused,
            anchor: s.anchor,
        })
    }
}

impl FlowLimiter {
    /// A new limiter with a full bucket and `total` allowance, anchored at `now`.
    pub fn new(rate: RateLimit, total: Amount, now: MonotonicReading) -> Result<Self, LimitRefusal> {
        rate.validate()?;
        if total > Amount::MAX_MONEY {
            return Err(LimitRefusal::InvalidRate("total above 21 million BTC".to_owned()));
        }
        Ok(FlowLimiter {
            rate,
            level: rate.capacity_units(),
            total_remaining: total,
            total_spent: Amount::ZERO,
            paused: false,
            anchor: now,
        })
    }

    /// Credits the time elapsed since the last reading, if `now` is from the same boot and
    /// not earlier; otherwise credits nothing. Either way `now` becomes the anchor.
    pub fn observe(&mut self, now: MonotonicReading) {
        if now.boot_id == self.anchor.boot_id && now.since_boot >= self.anchor.since_boot {
            let elapsed = (now.since_boot - self.anchor.since_boot).as_nanos();
            let credit = u128::from(self.rate.amount.to_sat()).saturating_mul(elapsed);
            self.level = self.level.saturating_add(credit).min(self.rate.capacity_units());
        }
        self.anchor = now;
    }

    /// Whether `outflow` fits now, without changing anything.
    pub fn check(&self, outflow: Amount) -> Result<(), LimitRefusal> {
        if self.paused {
            return Err(LimitRefusal::Paused);
        }
        if outflow > self.rate.burst {
            return Err(LimitRefusal::ExceedsBurst {
                needed: outflow,
                burst: self.rate.burst,
            });
        }
        if outflow > self.total_remaining {
            return Err(LimitRefusal::TotalExhausted {
                needed: outflow,
                remaining: self.total_remaining,
            });
        }
        let needed_units = u128::from(outflow.to_sat()) * self.rate.per_ns();
        if needed_units > self.level {
            let deficit = needed_units - self.level;
            let per_ns_credit = u128::from(self.rate.amount.to_sat());
            let wait_ns = deficit.div_ceil(per_ns_credit);
            let retry_after = duration_from_nanos(wait_ns);
            return Err(LimitRefusal::RateExceeded {
                needed: outflow,
                available: self.bucket_available(),
                retry_after,
            });
        }
        Ok(())
    }

    /// Takes `outflow` from both the bucket and the total, or refuses and changes nothing.
    pub fn reserve(&mut self, outflow: Amount) -> Result<(), LimitRefusal> {
        self.check(outflow)?;
        // `check` proved both subtractions stay at or above zero.
        self.level -= u128::from(outflow.to_sat()) * self.rate.per_ns();
        self.total_remaining -= outflow;
        // Informational only; saturating keeps a (practically unreachable) overflow from
        // panicking after a reservation was already taken.
        self.total_spent = self.total_spent.checked_add(outflow).unwrap_or(Amount::MAX);
        Ok(())
    }

    /// Adds to the total allowance (a signed `raise-total` command). Saturates at 21
    /// million BTC.
    pub fn raise_total(&mut self, by: Amount) {
        self.total_remaining = self
            .total_remaining
            .checked_add(by)
            .unwrap_or(Amount::MAX_MONEY)
            .min(Amount::MAX_MONEY);
    }

    /// Replaces rate and burst (a signed `set-rate` command). The bucket keeps its level,
    /// rescaled to the new `per` and rounded down (it never gains, not even a fraction of
    /// a satoshi), capped at the new burst.
    ///
    /// The limiter does not know when time passed since the last [`observe`]: call
    /// `observe(now)` first, or that time is later credited at the new rate.
    ///
    /// [`observe`]: FlowLimiter::observe
    pub fn set_rate(&mut self, rate: RateLimit) -> Result<(), LimitRefusal> {
        rate.validate()?;
        let (old_per, new_per) = (self.rate.per_ns(), rate.per_ns());
        // floor(level × new_per / old_per), split so no product leaves u128: whole
        // satoshis ≤ 21e14 times new_per < 2^59, and the remainder < old_per < 2^59 times
        // new_per.
        let whole_sats = self.level / old_per;
        let fraction = self.level % old_per;
        let rescaled = whole_sats * new_per + fraction * new_per / old_per;
        self.rate = rate;
        self.level = rescaled.min(rate.capacity_units());
        Ok(())
    }

    pub fn pause(&mut self) {
        self.paused = true;
    }

    pub fn resume(&mut self) {
        self.paused = false;
    }

    pub fn rate(&self) -> RateLimit {
        self.rate
    }

    pub fn anchor(&self) -> &MonotonicReading {
        &self.anchor
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    pub fn total_remaining(&self) -> Amount {
        self.total_remaining
    }

    fn bucket_available(&self) -> Amount {
        let sats = self.level / self.rate.per_ns();
        Amount::from_sat(u64::try_from(sats).unwrap_or(u64::MAX))
    }

    pub fn status(&self) -> LimiterStatus {
        LimiterStatus {
            rate: self.rate,
            bucket_available: self.bucket_available(),
            total_remaining: self.total_remaining,
            total_spent: self.total_spent,
            paused: self.paused,
        }
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

    fn btc(v: f64) -> Amount {
        Amount::from_btc(v).unwrap()
    }

    /// 0.04 BTC per minute, burst 0.1 BTC, total 1 BTC.
    fn limiter() -> FlowLimiter {
        let rate = RateLimit {
            amount: btc(0.04),
            per: Duration::from_secs(60),
            burst: btc(0.1),
        };
        FlowLimiter::new(rate, btc(1.0), at("boot-1", 1000)).unwrap()
    }

    #[test]
    fn starts_full_and_refills_at_the_rate() {
        let mut l = limiter();
        l.reserve(btc(0.1)).unwrap();
        assert!(matches!(
            l.reserve(btc(0.01)),
            Err(LimitRefusal::RateExceeded { .. })
        ));
        l.observe(at("boot-1", 1030)); // half a minute: 0.02 BTC
        assert_eq!(l.status().bucket_available, btc(0.02));
        l.reserve(btc(0.02)).unwrap();
        assert_eq!(l.status().total_spent, btc(0.12));
        assert_eq!(l.status().total_remaining, btc(0.88));
    }

    #[test]
    fn retry_after_is_when_it_fits() {
        let mut l = limiter();
        l.reserve(btc(0.1)).unwrap();
        let Err(LimitRefusal::RateExceeded { retry_after, .. }) = l.check(btc(0.04)) else {
            panic!()
        };
        assert_eq!(retry_after, Duration::from_secs(60));
        l.observe(at("boot-1", 1000 + retry_after.as_secs()));
        assert!(l.check(btc(0.04)).is_ok());
    }

    #[test]
    fn no_credit_for_downtime_or_backwards_clocks() {
        let mut l = limiter();
        l.reserve(btc(0.1)).unwrap();
        l.observe(at("boot-2", 999_999)); // rebooted: however long it was down, nothing
        assert_eq!(l.status().bucket_available, Amount::ZERO);
        l.observe(at("boot-2", 10)); // backwards within a boot: nothing
        assert_eq!(l.status().bucket_available, Amount::ZERO);
        l.observe(at("boot-2", 40)); // from the new anchor: 30 s
        assert_eq!(l.status().bucket_available, btc(0.02));
    }

    #[test]
    fn a_year_forward_fills_at_most_the_burst() {
        let mut l = limiter();
        l.reserve(btc(0.1)).unwrap();
        l.observe(at("boot-1", 1000 + 365 * 24 * 3600));
        assert_eq!(l.status().bucket_available, btc(0.1));
    }

    #[test]
    fn total_exhaustion_asks_for_a_signed_command() {
        let rate = RateLimit {
            amount: btc(1.0),
            per: Duration::from_secs(1),
            burst: btc(1.0),
        };
        let mut l = FlowLimiter::new(rate, btc(0.5), at("b", 0)).unwrap();
        l.reserve(btc(0.5)).unwrap();
        l.observe(at("b", 100));
        let err = l.reserve(btc(0.01)).unwrap_err();
        assert!(matches!(err, LimitRefusal::TotalExhausted { .. }));
        assert!(err.to_string().contains("signed limit command"), "{err}");
        l.raise_total(btc(0.2));
        l.reserve(btc(0.2)).unwrap();
        assert!(l.reserve(Amount::from_sat(1)).is_err());
    }

    #[test]
    fn pause_stops_everything_until_resume() {
        let mut l = limiter();
        l.pause();
        assert_eq!(l.reserve(Amount::from_sat(1)), Err(LimitRefusal::Paused));
        l.resume();
        assert!(l.reserve(Amount::from_sat(1)).is_ok());
    }

    #[test]
    fn set_rate_never_gains() {
        let mut l = limiter();
        l.reserve(btc(0.07)).unwrap(); // 0.03 left
        l.set_rate(RateLimit {
            amount: btc(1.0),
            per: Duration::from_secs(1),
            burst: btc(5.0),
        })
        .unwrap();
        assert_eq!(l.status().bucket_available, btc(0.03));
        l.set_rate(RateLimit {
            amount: btc(1.0),
            per: Duration::from_secs(1),
            burst: btc(0.01),
        })
        .unwrap();
        assert_eq!(l.status().bucket_available, btc(0.01));
        assert!(l
            .set_rate(RateLimit {
                amount: Amount::ZERO,
                per: Duration::from_secs(1),
                burst: btc(1.0)
            })
            .is_err());
    }

    #[test]
    fn refusals_change_nothing_and_serde_round_trips() {
        let mut l = limiter();
        let before = l.clone();
        assert!(l.reserve(btc(0.5)).is_err());
        assert_eq!(l, before);
        let text = serde_json::to_string(&l).unwrap();
        assert_eq!(serde_json::from_str::<FlowLimiter>(&text).unwrap(), l);
    }
    #[test]
    fn set_rate_rescales_fractions_down_exactly() {
        // 1 sat per 3 ns: after 2 ns the bucket holds 2/3 sat, i.e. 2 units of 1 sat×ns.
        let rate = RateLimit {
            amount: Amount::from_sat(1),
            per: Duration::from_nanos(3),
            burst: Amount::from_sat(10),
        };
        let mut l = FlowLimiter::new(rate, Amount::from_sat(100), at("b", 0)).unwrap();
        l.reserve(Amount::from_sat(10)).unwrap();
        l.observe(MonotonicReading {
            boot_id: "b".to_owned(),
            since_boot: Duration::from_nanos(2),
        });
        assert_eq!(l.level, 2);
        // Per 3 ns → per 4 ns: 2/3 sat is 8/3 units of the new scale, rounded down to 2.
        l.set_rate(RateLimit {
            per: Duration::from_nanos(4),
            ..rate
        })
        .unwrap();
        assert_eq!(l.level, 2);
        // Back to per 3 ns: 2/4 sat is 1.5 units, rounded down to 1: never a gain.
        l.set_rate(rate).unwrap();
        assert_eq!(l.level, 1);
    }

    #[test]
    fn invalid_rates_are_refused_and_change_nothing() {
        let mut l = limiter();
        let before = l.clone();
        let good = l.rate();
        for bad in [
            RateLimit {
                amount: Amount::ZERO,
                ..good
            },
            RateLimit {
                per: Duration::ZERO,
                ..good
            },
            RateLimit {
                burst: Amount::ZERO,
                ..good
            },
            RateLimit {
                per: MAX_RATE_PERIOD + Duration::from_nanos(1),
                ..good
            },
            RateLimit {
                burst: Amount::MAX_MONEY + Amount::from_sat(1),
                ..good
            },
        ] {
            assert!(
                matches!(l.set_rate(bad), Err(LimitRefusal::InvalidRate(_))),
                "{bad:?}"
            );
            assert!(FlowLimiter::new(bad, btc(1.0), at("b", 0)).is_err());
            assert_eq!(l, before);
        }
    }

    #[test]
    fn retry_message_rounds_the_wait_up() {
        let mut l = limiter();
        l.reserve(btc(0.1)).unwrap();
        // 1 sat at 0.04 BTC/min takes 15 µs: say 1 s, not 0 s.
        let err = l.check(Amount::from_sat(1)).unwrap_err();
        assert!(matches!(
            err,
            LimitRefusal::RateExceeded { retry_after, .. } if retry_after == Duration::from_micros(15)
        ));
        assert!(err.to_string().contains("retry in about 1s"), "{err}");
    }

    #[test]
    fn very_long_waits_are_reported_without_overflow() {
        // 1 sat per 10 years, burst 21 million BTC: refilling takes ~2e16 years.
        let rate = RateLimit {
            amount: Amount::from_sat(1),
            per: MAX_RATE_PERIOD,
            burst: Amount::MAX_MONEY,
        };
        let mut l = FlowLimiter::new(rate, Amount::MAX_MONEY, at("b", 0)).unwrap();
        l.reserve(Amount::MAX_MONEY - Amount::from_sat(1)).unwrap();
        l.raise_total(Amount::MAX_MONEY);
        let Err(LimitRefusal::RateExceeded { retry_after, .. }) = l.check(Amount::MAX_MONEY) else {
            panic!("expected a rate refusal")
        };
        assert_eq!(retry_after, Duration::MAX);
        // A reading far in the future of the same boot credits, capped, without overflow.
        l.observe(MonotonicReading {
            boot_id: "b".to_owned(),
            since_boot: Duration::MAX,
        });
        assert!(l.status().bucket_available <= Amount::MAX_MONEY);
    }

    #[test]
    fn damaged_stored_state_is_refused() {
        let l = limiter();
        let good: serde_json::Value = serde_json::to_value(&l).unwrap();
        assert!(good["level"].is_string(), "the u128 level is stored as text");

        let mut over_burst = good.clone();
        let capacity = l.rate().capacity_units();
        over_burst["level"] = (capacity + 1).to_string().into();
        let err = serde_json::from_value::<FlowLimiter>(over_burst).unwrap_err();
        assert!(err.to_string().contains("more than its burst"), "{err}");

        let mut zero_period = good.clone();
        zero_period["rate"]["per"] = serde_json::json!({"secs": 0, "nanos": 0});
        assert!(serde_json::from_value::<FlowLimiter>(zero_period).is_err());

        let mut huge_total = good.clone();
        huge_total["total_remaining"] = serde_json::json!(u64::MAX);
        assert!(serde_json::from_value::<FlowLimiter>(huge_total).is_err());

        let mut not_a_number = good;
        not_a_number["level"] = "12x".into();
        assert!(serde_json::from_value::<FlowLimiter>(not_a_number).is_err());
    }
}
