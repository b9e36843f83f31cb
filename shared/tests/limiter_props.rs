//! No sequence of sign requests and clock readings lets outflow exceed
//! rate × time + burst, or the total.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::time::Duration;

use bitcoin::Amount;
use proptest::prelude::*;
use sluice_shared::limiter::{FlowLimiter, LimitRefusal, MonotonicReading, RateLimit};

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Reboot(u64),
    Backwards(u64),
    /// A wall-clock jump: the limiter never sees wall time, so the signer passes nothing.
    WallClockJump,
    Reserve(u64),
    RaiseTotal(u64),
    Pause,
    Resume,
    SetRate {
        amount: u64,
        per_ms: u64,
        burst: u64,
    },
}

fn op(with_set_rate: bool) -> impl Strategy<Value = Op> {
    let base = prop_oneof![
        4 => (0u64..120_000).prop_map(Op::Advance),
        1 => (0u64..10_000_000).prop_map(Op::Reboot),
        1 => (0u64..60_000).prop_map(Op::Backwards),
        1 => Just(Op::WallClockJump),
        6 => (1u64..3_000_000).prop_map(Op::Reserve),
        1 => (1u64..2_000_000).prop_map(Op::RaiseTotal),
        1 => Just(Op::Pause),
        2 => Just(Op::Resume),
    ];
    if with_set_rate {
        prop_oneof![
            10 => base,
            1 => (1u64..100_000, 1u64..120_000, 1u64..5_000_000)
                .prop_map(|(amount, per_ms, burst)| Op::SetRate { amount, per_ms, burst }),
        ]
        .boxed()
    } else {
        base.boxed()
    }
}

struct Run {
    limiter: FlowLimiter,
    boot: u64,
    clock_ms: u64,
    reserved: u128,
    total_allowed: u128,
    /// Σ rate_in_force × credited interval, in sat·ms / per_ms kept as a rational sum.
    credit_bound_sats: f64,
    max_burst: u64,
}

fn reading(boot: u64, ms: u64) -> MonotonicReading {
    MonotonicReading {
        boot_id: format!("boot-{boot}"),
        since_boot: Duration::from_millis(ms),
    }
}

fn run(ops: &[Op], initial: RateLimit, total: u64) -> Result<(), TestCaseError> {
    let mut r = Run {
        limiter: FlowLimiter::new(initial, Amount::from_sat(total), reading(0, 0)).unwrap(),
        boot: 0,
        clock_ms: 0,
        reserved: 0,
        total_allowed: u128::from(total),
        credit_bound_sats: 0.0,
        max_burst: initial.burst.to_sat(),
    };
    for op in ops {
        match op {
            Op::Advance(ms) => {
                let rate = r.limiter.rate();
                r.credit_bound_sats +=
                    rate.amount.to_sat() as f64 * (*ms as f64) / rate.per.as_millis() as f64;
                r.clock_ms += ms;
                r.limiter.observe(reading(r.boot, r.clock_ms));
            }
            Op::Reboot(ms) => {
                r.boot += 1;
                r.clock_ms = *ms;
                r.limiter.observe(reading(r.boot, r.clock_ms));
            }
            Op::Backwards(ms) => {
                r.clock_ms = r.clock_ms.saturating_sub(*ms);
                r.limiter.observe(reading(r.boot, r.clock_ms));
            }
            Op::WallClockJump => {}
            Op::Reserve(sats) => {
                let before = r.limiter.clone();
                let paused = before.status().paused;
                match r.limiter.reserve(Amount::from_sat(*sats)) {
                    Ok(()) => {
                        prop_assert!(!paused, "reserved while paused");
                        r.reserved += u128::from(*sats);
                    }
                    Err(refusal) => {
                        prop_assert_eq!(&r.limiter, &before, "a refusal changed the limiter: {}", refusal);
                        if paused {
                            prop_assert_eq!(refusal, LimitRefusal::Paused);
                        }
                    }
                }
            }
            Op::RaiseTotal(sats) => {
                r.limiter.raise_total(Amount::from_sat(*sats));
                r.total_allowed += u128::from(*sats);
            }
            Op::Pause => r.limiter.pause(),
            Op::Resume => r.limiter.resume(),
            Op::SetRate {
                amount,
                per_ms,
                burst,
            } => {
                let rate = RateLimit {
                    amount: Amount::from_sat(*amount),
                    per: Duration::from_millis(*per_ms),
                    burst: Amount::from_sat(*burst),
                };
                r.limiter.set_rate(rate).unwrap();
                r.max_burst = r.max_burst.max(*burst);
            }
        }
        // The invariants, after every step.
        prop_assert!(
            r.reserved <= r.total_allowed,
            "outflow {} above total {}",
            r.reserved,
            r.total_allowed
        );
        let rate_bound = r.max_burst as f64 + r.credit_bound_sats;
        prop_assert!(
            r.reserved as f64 <= rate_bound + 1e-6,
            "outflow {} above burst + rate × time = {}",
            r.reserved,
            rate_bound
        );
        let status = r.limiter.status();
        prop_assert_eq!(u128::from(status.total_spent.to_sat()), r.reserved);
        let round_trip: FlowLimiter =
            serde_json::from_str(&serde_json::to_string(&r.limiter).unwrap()).unwrap();
        prop_assert_eq!(&round_trip, &r.limiter);
    }
    Ok(())
}

fn initial_rate() -> impl Strategy<Value = RateLimit> {
    (1u64..100_000, 1u64..120_000, 1u64..5_000_000).prop_map(|(amount, per_ms, burst)| RateLimit {
        amount: Amount::from_sat(amount),
        per: Duration::from_millis(per_ms),
        burst: Amount::from_sat(burst),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn outflow_never_exceeds_rate_time_burst_or_total(
        rate in initial_rate(),
        total in 0u64..20_000_000,
        ops in proptest::collection::vec(op(false), 0..80),
    ) {
        run(&ops, rate, total)?;
    }

    #[test]
    fn with_rate_changes_outflow_stays_within_the_rates_in_force(
        rate in initial_rate(),
        total in 0u64..20_000_000,
        ops in proptest::collection::vec(op(true), 0..80),
    ) {
        run(&ops, rate, total)?;
    }
}
