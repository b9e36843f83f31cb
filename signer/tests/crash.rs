//! Limits hold under crashes: the signer is killed with SIGKILL at random points while
//! signing a stream of PSBTs. Afterwards the journal verifies, recorded outflow never
//! exceeds the limits, and no signed PSBT exists without its reservation.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use sluice_shared::asset::Asset;
use support::*;

#[test]
fn sigkill_at_random_points_never_releases_an_unreserved_signature_or_exceeds_limits() {
    let fx = fixtures();
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    let (r, c, wallet) = wpkh_wallet(&fx);
    s.register("hot", &r, &c);
    // Burst 0.05, refill 0.04 per second, total 0.07: the demand (80 × 0.0101 BTC) is far
    // above both, so the rate and then the total bind while processes are being killed.
    let rate_per_sec = btc("0.04");
    let burst = btc("0.05");
    let total = btc("0.07");
    let limits_set = Instant::now();
    s.limits("0.04", "1", "0.05", "0.07");

    // Calibrate the kill window on this machine: an `inspect` run does everything a
    // `sign` run does up to the reservation, and consumes nothing.
    let probe = s.path("probe.psbt");
    write_psbt(
        &probe,
        &make_psbt(&wallet, 2, btc("0.05"), btc("0.01"), btc("0.0001"), 99),
    );
    // The fastest of three: one probe slowed by something else on the machine (the test
    // binary before this one still stopping its processes) made the window so wide that
    // most runs finished before their kill, and the test failed for want of kills.
    let probe_us = (0..3)
        .map(|_| {
            let timer = Instant::now();
            s.ok(&["inspect", "--in", probe.to_str().unwrap()]);
            u64::try_from(timer.elapsed().as_micros()).unwrap()
        })
        .min()
        .unwrap();
    let window_us = probe_us.max(500) * 2;

    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_5105);
    let started = Instant::now();
    let mut killed = 0;
    let count = 80u32;
    for i in 0..count {
        let psbt = make_psbt(&wallet, 2, btc("0.05"), btc("0.01"), btc("0.0001"), 100 + i);
        let input = s.path(&format!("p{i}.psbt"));
        write_psbt(&input, &psbt);
        let output = s.path(&format!("p{i}-signed.psbt"));
        let mut child = s
            .command(&[
                "sign",
                "--yes",
                "--in",
                input.to_str().unwrap(),
                "--out",
                output.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill most runs at a random point of their lifetime; every fourth run is left to
        // finish, so that some signatures do get out while the limits still allow.
        if i % 4 != 0 && rng.gen_bool(0.9) {
            std::thread::sleep(Duration::from_micros(rng.gen_range(0..window_us)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                killed += 1;
            }
        }
        child.wait().unwrap();
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(50), "the stream took {elapsed:?}");
    assert!(
        killed >= 20,
        "only {killed} runs were killed mid-way; the test would prove little"
    );

    let out = s.ok(&["journal", "verify"]);
    assert!(out.contains("Journal OK"), "{out}");
    let state = s.state();
    let reserved = state.reserved_total(Asset::Btc).unwrap();
    assert!(reserved <= total, "reserved {reserved} above the total {total}");
    // The bucket started full when the limits were set; since then at most rate × time
    // has been added (rounded up to the satoshi).
    let since_limits = limits_set.elapsed();
    let refill_sat = (u128::from(rate_per_sec.to_sat()) * since_limits.as_nanos()).div_ceil(1_000_000_000);
    let rate_bound = burst + bitcoin::Amount::from_sat(u64::try_from(refill_sat).unwrap());
    assert!(
        reserved <= rate_bound,
        "reserved {reserved} above burst + rate × time = {rate_bound}"
    );
    let status_total = {
        let limits = state.limits(Asset::Btc).unwrap().unwrap();
        limits.limiter.status().total_spent
    };
    assert_eq!(status_total, reserved, "limiter and reservations agree");

    let mut signed = 0;
    for i in 0..count {
        let output = s.path(&format!("p{i}-signed.psbt"));
        if output.exists() {
            let psbt = read_psbt(&output);
            let txid = psbt.unsigned_tx.compute_txid().to_string();
            assert!(
                state.has_reservation(&txid).unwrap(),
                "p{i} was signed without a reservation"
            );
            signed += 1;
        }
        // No temporary file is left looking like an output.
    }
    eprintln!("{count} runs, {killed} killed mid-way, {signed} signed outputs, {reserved} reserved");
    assert!(signed >= 1, "some runs completed");
    assert!(state.reservation_count().unwrap() >= signed);
}
