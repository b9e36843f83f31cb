//! No sequence of sign requests, clock readings and limit commands lets outflow exceed
//! burst + rate × (monotonic time credited within boots), or the total allowance.
//!
//! Every bound is checked in exact integer arithmetic: rates are fractions (`amount` per
//! `per` nanoseconds), so each run fixes a common denominator `scale` (nanoseconds) that
//! every `per` in it divides, and compares `outflow × scale` with
//! `max_burst × scale + Σ amount × interval × (scale / per)`.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::time::Duration;

use bitcoin::Amount;
use proptest::prelude::*;
use sluice_shared::limiter::{FlowLimiter, LimitRefusal, MonotonicReading, RateLimit};

const NANOS_PER_MS: u64 = 1_000_000;

/// 7 hours in milliseconds: 2^7 · 3^2 · 5^5 · 7, so its 288 divisors give periods from
/// 1 ms to 7 h with a common denominator.
const SCALE_MS: u64 = 25_200_000;

#[derive(Debug, Clone)]
enum Op {
    /// The monotonic clock moves forward, within the same boot (nanoseconds).
    Advance(u64),
    /// The machine rebooted: a new boot id, and an arbitrary time since that boot.
    Reboot(u64),
    /// A reading earlier than the last one in the same boot (nanoseconds back).
    Backwards(u64),
    /// The wall clock jumps (spoofed time server, reset appliance clock): the limiter never
    /// sees wall time, so nothing reaches it.
    WallClockJump,
    Reserve(u64),
    RaiseTotal(u64),
    Pause,
    Resume,
    SetRate(RateLimit),
}

fn period_divisors() -> Vec<u64> {
    (1..=SCALE_MS).filter(|d| SCALE_MS % d == 0).collect()
}

/// A rate whose period (a whole number of ms dividing [`SCALE_MS`]) fits the common
/// denominator.
fn scaled_rate() -> impl Strategy<Value = RateLimit> {
    let periods = period_divisors();
    (1u64..200_000, proptest::sample::select(periods), 1u64..5_000_000).prop_map(|(amount, per_ms, burst)| {
        RateLimit {
            amount: Amount::from_sat(amount),
            per: Duration::from_millis(per_ms),
            burst: Amount::from_sat(burst),
        }
    })
}

/// Any rate, with a period of any number of nanoseconds.
fn any_rate() -> impl Strategy<Value = RateLimit> {
    (1u64..200_000, 1u64..200_000_000_000, 1u64..5_000_000).prop_map(|(amount, per_ns, burst)| RateLimit {
        amount: Amount::from_sat(amount),
        per: Duration::from_nanos(per_ns),
        burst: Amount::from_sat(burst),
    })
}

fn advance() -> impl Strategy<Value = u64> {
    prop_oneof![
        // Sub-microsecond steps exercise the fractions of a satoshi.
        1 => 0u64..1_000,
        3 => 0u64..120_000 * NANOS_PER_MS,
        // Rarely, a long quiet spell (up to a year) inside one boot.
        1 => 0u64..365 * 24 * 3600 * 1_000 * NANOS_PER_MS,
    ]
}

fn op(with_set_rate: bool) -> BoxedStrategy<Op> {
    let base = prop_oneof![
        4 => advance().prop_map(Op::Advance),
        1 => (0u64..u64::MAX / 2).prop_map(Op::Reboot),
        1 => (0u64..60_000 * NANOS_PER_MS).prop_map(Op::Backwards),
        1 => Just(Op::WallClockJump),
        6 => (0u64..3_000_000).prop_map(Op::Reserve),
        1 => (0u64..2_000_000).prop_map(Op::RaiseTotal),
        1 => Just(Op::Pause),
        2 => Just(Op::Resume),
    ];
    if with_set_rate {
        prop_oneof![10 => base, 1 => scaled_rate().prop_map(Op::SetRate)].boxed()
    } else {
        base.boxed()
    }
}

/// The test's own account of what the limiter may have let through.
struct Model {
    limiter: FlowLimiter,
    boot: u64,
    clock: Duration,
    /// Common denominator of every rate in force, in nanoseconds.
    scale_ns: u128,
    reserved: u128,
    total_allowed: u128,
    /// Σ amount × credited interval (ns) × (scale / per): rate × time in sat / scale.
    rate_credit_scaled: u128,
    max_burst: u128,
}

/// The bucket level in its exact stored units (satoshi × nanoseconds of `per`), read
/// from the serialized state so the test sees fractions of a satoshi too.
fn level_units(limiter: &FlowLimiter) -> u128 {
    let value = serde_json::to_value(limiter).unwrap();
    value["level"].as_str().unwrap().parse().unwrap()
}

fn reading(boot: u64, since_boot: Duration) -> MonotonicReading {
    MonotonicReading {
        boot_id: format!("boot-{boot}"),
        since_boot,
    }
}

impl Model {
    fn new(rate: RateLimit, total: u64, scale_ns: u128) -> Model {
        assert_eq!(scale_ns % rate.per.as_nanos(), 0);
        Model {
            limiter: FlowLimiter::new(rate, Amount::from_sat(total), reading(0, Duration::ZERO)).unwrap(),
            boot: 0,
            clock: Duration::ZERO,
            scale_ns,
            reserved: 0,
            total_allowed: u128::from(total),
            rate_credit_scaled: 0,
            max_burst: u128::from(rate.burst.to_sat()),
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let level_before = level_units(&self.limiter);
        match op {
            Op::Advance(ns) => {
                let rate = self.limiter.rate();
                let credit = u128::from(rate.amount.to_sat()) * u128::from(*ns);
                self.rate_credit_scaled += credit * (self.scale_ns / rate.per.as_nanos());
                self.clock += Duration::from_nanos(*ns);
                self.limiter.observe(reading(self.boot, self.clock));
                // Exactly the elapsed time's worth, capped at the burst: no more, no less.
                let capacity = u128::from(rate.burst.to_sat()) * rate.per.as_nanos();
                prop_assert_eq!(level_units(&self.limiter), (level_before + credit).min(capacity));
            }
            Op::Reboot(ns) => {
                self.boot += 1;
                self.clock = Duration::from_nanos(*ns);
                self.limiter.observe(reading(self.boot, self.clock));
                prop_assert_eq!(level_units(&self.limiter), level_before, "credit for downtime");
            }
            Op::Backwards(ns) => {
                self.clock = self.clock.saturating_sub(Duration::from_nanos(*ns));
                self.limiter.observe(reading(self.boot, self.clock));
                prop_assert_eq!(level_units(&self.limiter), level_before, "credit going backwards");
            }
            Op::WallClockJump => {}
            Op::Reserve(sats) => self.reserve(Amount::from_sat(*sats))?,
            Op::RaiseTotal(sats) => {
                self.limiter.raise_total(Amount::from_sat(*sats));
                self.total_allowed += u128::from(*sats);
            }
            Op::Pause => self.limiter.pause(),
            Op::Resume => self.limiter.resume(),
            Op::SetRate(rate) => {
                prop_assert_eq!(self.scale_ns % rate.per.as_nanos(), 0);
                let old_per = self.limiter.rate().per.as_nanos();
                self.limiter.set_rate(*rate).unwrap();
                // level_after / new_per ≤ level_before / old_per: not even a fraction of a
                // satoshi is gained by rescaling; and never more than the new burst.
                let level_after = level_units(&self.limiter);
                prop_assert!(
                    level_after * old_per <= level_before * rate.per.as_nanos(),
                    "set_rate gained"
                );
                prop_assert!(level_after <= u128::from(rate.burst.to_sat()) * rate.per.as_nanos());
                self.max_burst = self.max_burst.max(u128::from(rate.burst.to_sat()));
            }
        }
        self.check_invariants()
    }

    fn reserve(&mut self, outflow: Amount) -> Result<(), TestCaseError> {
        let before = self.limiter.clone();
        let checked = self.limiter.check(outflow);
        prop_assert_eq!(&self.limiter, &before, "check changed the limiter");
        let reserved = self.limiter.reserve(outflow);
        prop_assert_eq!(&checked, &reserved, "check and reserve disagree");
        match reserved {
            Ok(()) => {
                prop_assert!(!before.is_paused(), "reserved while paused");
                self.reserved += u128::from(outflow.to_sat());
                let per = before.rate().per.as_nanos();
                prop_assert_eq!(
                    level_units(&self.limiter),
                    level_units(&before) - u128::from(outflow.to_sat()) * per
                );
            }
            Err(refusal) => {
                prop_assert_eq!(
                    &self.limiter,
                    &before,
                    "a refusal changed the limiter: {}",
                    refusal
                );
                let status = before.status();
                // Refusals come in a fixed order: paused, burst, total, rate.
                let expected = if status.paused {
                    Some(LimitRefusal::Paused)
                } else if outflow > status.rate.burst {
                    Some(LimitRefusal::ExceedsBurst {
                        needed: outflow,
                        burst: status.rate.burst,
                    })
                } else if outflow > status.total_remaining {
                    Some(LimitRefusal::TotalExhausted {
                        needed: outflow,
                        remaining: status.total_remaining,
                    })
                } else {
                    None
                };
                match expected {
                    Some(expected) => prop_assert_eq!(refusal, expected),
                    None => {
                        let LimitRefusal::RateExceeded {
                            retry_after,
                            available,
                            ..
                        } = refusal
                        else {
                            return Err(TestCaseError::fail(format!("unexpected {refusal:?}")));
                        };
                        prop_assert_eq!(available, status.bucket_available);
                        prop_assert!(available < outflow);
                        check_retry_after(&before, outflow, retry_after)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn check_invariants(&self) -> Result<(), TestCaseError> {
        // (a) within the total allowance...
        prop_assert!(
            self.reserved <= self.total_allowed,
            "outflow {} above initial total + raises {}",
            self.reserved,
            self.total_allowed
        );
        // ...and within burst + rate × credited time, exactly.
        let bound = self.max_burst * self.scale_ns + self.rate_credit_scaled;
        prop_assert!(
            self.reserved * self.scale_ns <= bound,
            "outflow {} sat above burst + rate × time = {}/{} sat",
            self.reserved,
            bound,
            self.scale_ns
        );
        let status = self.limiter.status();
        prop_assert!(status.bucket_available <= status.rate.burst);
        prop_assert_eq!(u128::from(status.total_spent.to_sat()), self.reserved);
        prop_assert_eq!(
            u128::from(status.total_remaining.to_sat()),
            self.total_allowed - self.reserved
        );
        // (d) the stored form reads back as the same limiter.
        let text = serde_json::to_string(&self.limiter).unwrap();
        let round_trip: FlowLimiter = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&round_trip, &self.limiter);
        Ok(())
    }
}

/// `retry_after` is exact: waiting that long (same boot, nothing else happening) makes the
/// outflow fit, and one nanosecond less does not.
fn check_retry_after(
    limiter: &FlowLimiter,
    outflow: Amount,
    retry_after: Duration,
) -> Result<(), TestCaseError> {
    prop_assert!(retry_after > Duration::ZERO);
    let anchor = limiter.anchor().clone();
    let mut waited = limiter.clone();
    waited.observe(MonotonicReading {
        since_boot: anchor.since_boot + retry_after,
        ..anchor.clone()
    });
    prop_assert_eq!(waited.check(outflow), Ok(()), "still refused after retry_after");
    let mut early = limiter.clone();
    early.observe(MonotonicReading {
        since_boot: anchor.since_boot + retry_after - Duration::from_nanos(1),
        ..anchor
    });
    prop_assert!(
        matches!(early.check(outflow), Err(LimitRefusal::RateExceeded { .. })),
        "fits 1 ns before retry_after"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// One rate for the whole run, with any period down to the nanosecond.
    #[test]
    fn outflow_never_exceeds_burst_plus_rate_times_credited_time_or_the_total(
        rate in any_rate(),
        total in 0u64..20_000_000,
        ops in proptest::collection::vec(op(false), 0..100),
    ) {
        let mut model = Model::new(rate, total, rate.per.as_nanos());
        for op in &ops {
            model.step(op)?;
        }
    }

    /// With signed set-rate commands in the sequence: outflow ≤ Σ (rate in force ×
    /// interval) + the largest burst ever set.
    #[test]
    fn with_rate_changes_outflow_stays_within_the_rates_in_force(
        rate in scaled_rate(),
        total in 0u64..20_000_000,
        ops in proptest::collection::vec(op(true), 0..100),
    ) {
        let mut model = Model::new(rate, total, u128::from(SCALE_MS) * u128::from(NANOS_PER_MS));
        for op in &ops {
            model.step(op)?;
        }
    }

    /// (c) While paused, nothing is reserved, whatever else happens.
    #[test]
    fn while_paused_nothing_is_reserved(
        rate in scaled_rate(),
        ops in proptest::collection::vec(op(true), 0..60),
    ) {
        let mut model = Model::new(rate, 10_000_000, u128::from(SCALE_MS) * u128::from(NANOS_PER_MS));
        model.limiter.pause();
        for op in ops.iter().filter(|op| !matches!(op, Op::Resume)) {
            model.step(op)?;
            prop_assert_eq!(model.reserved, 0);
        }
    }
}
